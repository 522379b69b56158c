import { describe, expect, it } from 'vitest';
import { lex, splitLines, tokenizeLine, dedent } from '../../cli/src/datafile/lexer.js';
import { joinValue, substituteEnv, unquote } from '../../cli/src/datafile/values.js';
import { parseDatasource, parsePipe, formatDiagnostic, tinybirdMessage } from '../../cli/src/datafile/index.js';

const words = (line: string) => tokenizeLine(line).tokens.map((t) => t.text);

describe('lexer: lines and words (spec 1.1)', () => {
  it('splits on universal newlines', () => {
    expect(splitLines('a\r\nb\rc\nd')).toEqual(['a', 'b', 'c', 'd']);
    expect(splitLines('a\n')).toEqual(['a']);
    expect(splitLines('\uFEFFa')).toEqual(['a']);
  });

  it('groups quoted words and keeps the quotes', () => {
    expect(words('TOKEN "read api" READ')).toEqual(['TOKEN', '"read api"', 'READ']);
    expect(words("ENGINE_SORTING_KEY 'a, b'")).toEqual(['ENGINE_SORTING_KEY', "'a, b'"]);
    expect(words('\tA   b\tc ')).toEqual(['A', 'b', 'c']);
  });

  it('treats # as a comment, also right after a word', () => {
    expect(words('COPY_SCHEDULE 0 * * * *   # or @on-demand')).toEqual(['COPY_SCHEDULE', '0', '*', '*', '*', '*']);
    expect(words('abc#def')).toEqual(['abc']);
    expect(words('   # only a comment')).toEqual([]);
    expect(words('"a # b"')).toEqual(['"a # b"']);
  });

  it('makes a line with unbalanced quotes one word', () => {
    const r = tokenizeLine('  ENGINE "MergeTree');
    expect(r.unbalanced).toBe(true);
    expect(r.tokens).toEqual([{ text: 'ENGINE "MergeTree', col: 3 }]);
  });

  it('keeps the rest of an unbalanced line as its argument, a U+2028 inside it included (found by the property test)', () => {
    const [st] = lex("'Import_strategy x\u2028y", new Set(['IMPORT_STRATEGY']));
    expect(st).toMatchObject({ cmd: "'IMPORT_STRATEGY", unbalanced: true, args: [{ text: 'x\u2028y', col: 18 }] });
    const r = parseDatasource('SCHEMA >\n    a Int32\n\nENGINE "MergeTree\u2028x', 'x.datasource');
    expect(r.diagnostics.map((d) => d.message).join('\n')).not.toContain('Unexpected error');
  });

  it('records token columns', () => {
    expect(tokenizeLine('  NODE  x').tokens).toEqual([
      { text: 'NODE', col: 3 },
      { text: 'x', col: 9 },
    ]);
  });
});

describe('lexer: blocks (spec 1.2)', () => {
  const known = new Set(['SQL', 'NODE', 'TYPE']);
  it('closes a block only at an unindented known keyword; drops blank and comment lines', () => {
    const st = lex('NODE a\nSQL >\n    SELECT 1\n\n    # gone\nFROM x\n  TYPE indented\nselect 2\ntype endpoint\n', known);
    expect(st.map((s) => s.cmd)).toEqual(['NODE', 'SQL', 'TYPE']);
    expect(st[1]!.block!.map((l) => [l.line, l.text])).toEqual([
      [3, '    SELECT 1'],
      [6, 'FROM x'],
      [7, '  TYPE indented'],
      [8, 'select 2'],
    ]);
  });
  it('ignores anything after > and closes at EOF', () => {
    const st = lex('SQL > trailing words\n  x', known);
    expect(st[0]!.block!.map((l) => l.text)).toEqual(['  x']);
  });
  it('commands are case-insensitive', () => {
    expect(lex('node A\nNode B\nNODE C', known).map((s) => s.cmd)).toEqual(['NODE', 'NODE', 'NODE']);
  });
  it('dedent behaves like textwrap.dedent', () => {
    expect(dedent('    a\n      b\n\n    c\n')).toBe('a\n  b\n\nc\n');
    expect(dedent('\ta\n  b')).toBe('\ta\n  b');
  });
});

describe('values (spec 1.3)', () => {
  it('joins, strips and removes one pair of quotes', () => {
    expect(joinValue([{ text: '"MergeTree"', col: 1 }])).toBe('MergeTree');
    expect(joinValue([{ text: '"a, b"', col: 1 }])).toBe('a, b');
    expect(joinValue([{ text: 'a,', col: 1 }, { text: 'b', col: 4 }])).toBe('a, b');
    expect(unquote('"\'x\'"')).toBe("'x'");
    expect(unquote('"x\'')).toBe('"x\'');
    expect(unquote('"')).toBe('"');
  });
  it('substitutes $VAR and ${VAR} safely', () => {
    const env = { A: '1', B_2: 'two' };
    expect(substituteEnv('$A-${B_2}-$C-${C}-$$-$ -$1', env)).toBe('1-two-$C-${C}-$-$ -$1');
    expect(substituteEnv('x$Ay', env)).toBe('x$Ay');
  });
});

describe('env substitution in datafiles', () => {
  it('applies to ENGINE_* values and NODE names', () => {
    const ds = parseDatasource('SCHEMA >\n    a Int32\nENGINE $ENG\nENGINE_SORTING_KEY ${KEY}\nENGINE_TTL "$UNSET"\n', 'x.datasource', {
      env: { ENG: 'ReplacingMergeTree', KEY: 'a' },
    });
    expect(ds.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(ds.file!.engine.type).toBe('ReplacingMergeTree');
    expect(ds.file!.engine.sortingKey).toBe('a');
    expect(ds.file!.engine.ttl).toBe('$UNSET');
    const p = parsePipe('NODE $N\nSQL >\n    SELECT 1\n', 'p.pipe', { env: { N: 'n1' } });
    expect(p.file!.nodes[0]!.name).toBe('n1');
  });
  it('renders tb_secret in datasource files', () => {
    const ds = parseDatasource(
      "SCHEMA >\n    a Int32\nENGINE_SORTING_KEY {{ tb_secret('K', 'a') }}\nENGINE_TTL {{ tb_secret('MISSING') }}\n",
      'x.datasource',
      { env: {} },
    );
    const errs = ds.diagnostics.filter((d) => d.severity === 'error');
    expect(errs.map((d) => [d.line, d.col, d.message])).toEqual([
      [4, 12, "Cannot access secret 'MISSING'. Check the secret exists in the Workspace and the token has the required scope."],
    ]);
  });
});

describe('universal newlines and blocks in whole files', () => {
  const base = 'NODE n\nSQL >\n    SELECT a,\n\n    # not sql\n    b\n    FROM t\nTYPE endpoint\n';
  it('CRLF, CR and LF give the same model', () => {
    const lf = parsePipe(base, 'p.pipe').file!;
    for (const nl of ['\r\n', '\r']) {
      const other = parsePipe(base.replace(/\n/g, nl), 'p.pipe').file!;
      expect(other).toEqual(lf);
    }
    expect(lf.nodes[0]!.sql).toBe('SELECT a,\nb\nFROM t');
    expect(lf.nodes[0]!.sqlLines).toEqual([3, 6, 7]);
  });
});

describe('diagnostic format (spec 1.4)', () => {
  it('prints path:line:col, hint and a caret excerpt', () => {
    const src = 'SCHEMA >\n    a Int32,\n    col Int32 NULL\n';
    const r = parseDatasource(src, 'ds/x.datasource');
    const d = r.diagnostics.find((x) => x.severity === 'error')!;
    expect(formatDiagnostic(d, src)).toBe(
      [
        'ds/x.datasource:3:15: NULL column syntax not supported',
        '  hint: use Nullable(...)',
        '  1: SCHEMA >',
        '  2:     a Int32,',
        '  3:     col Int32 NULL',
        '                   ^',
      ].join('\n'),
    );
    expect(formatDiagnostic(d)).toBe('ds/x.datasource:3:15: NULL column syntax not supported\n  hint: use Nullable(...)');
    expect(tinybirdMessage(d)).toBe('NULL column syntax not supported at 3:15.\nuse Nullable(...).');
  });
  it('marks warnings and keeps tabs under the caret', () => {
    const text = '\tVERSION 1';
    const out = formatDiagnostic({ file: 'p.pipe', line: 1, col: 2, message: 'm', severity: 'warning' }, text);
    expect(out).toBe('p.pipe:1:2: warning: m\n  1: \tVERSION 1\n     \t^');
  });
});
