import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDatafile, parseDatasource, type Column } from '../../cli/src/datafile/index.js';
import { DATASOURCE_KEYWORDS, PIPE_KEYWORDS, CONNECTION_KEYWORDS } from '../../cli/src/datafile/keywords.js';

const KEYWORDS = [...new Set([...DATASOURCE_KEYWORDS, ...PIPE_KEYWORDS, ...CONNECTION_KEYWORDS, 'NODE', 'SQL', 'FOO'])];

/** Case-mangled keywords, quotes, comments, blocks, tabs, unicode, SQL and schema fragments. */
const piece = fc.oneof(
  fc.constantFrom(...KEYWORDS).chain((k) => fc.constantFrom(k, k.toLowerCase(), k[0] + k.slice(1).toLowerCase())),
  fc.constantFrom('>', '"', "'", '`', '#', '--', '%', '{{', '}}', '{%', '%}', '{#', '#}', "tb_secret('X')", "tb_secret('S', 0)", 'tb_secret(', '(', ')', ',', '$X', '${X}', '$', 'tuple()', '`json:$.a`'),
  fc.constantFrom(' ', '  ', '\t', '\n', '\r\n', '\r', '\n    ', '\n\t'),
  fc.constantFrom('Int32', 'Nullable(String)', 'DEFAULT', 'CODEC(ZSTD(1))', 'NULL', 'NOT NULL', 'TYPE', 'GRANULARITY', 'INDEX'),
  fc.constantFrom('endpoint', 'materialized', 'copy', 'sink', 'READ', 'APPEND', '@on-demand', '0 * * * *', 'MergeTree', 'ReplacingMergeTree'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
);
const hostile = fc.array(piece, { maxLength: 120 }).map((xs) => xs.join(''));

function checkNeverThrows(text: string, path: string) {
  const r = parseDatafile(text, path, { env: { X: 'x' } });
  const lines = text.split(/\r\n|\r|\n/).length;
  for (const d of r.diagnostics) {
    expect(d.message.startsWith('Unexpected error')).toBe(false);
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.line).toBeLessThanOrEqual(lines + 1);
    expect(d.col).toBeGreaterThanOrEqual(1);
    expect(['error', 'warning']).toContain(d.severity);
  }
  if (r.file) expect(r.diagnostics.every((d) => d.severity === 'warning')).toBe(true);
  else expect(r.diagnostics.some((d) => d.severity === 'error')).toBe(true);
}

describe('hostile input never throws (property)', () => {
  for (const ext of ['datasource', 'pipe', 'connection']) {
    it(`.${ext}`, () => {
      fc.assert(
        fc.property(hostile, (text) => checkNeverThrows(text, `x.${ext}`)),
        { numRuns: 400 },
      );
    });
  }
  it('inside SCHEMA, INDEXES and SQL blocks', () => {
    fc.assert(
      fc.property(fc.constantFrom('SCHEMA >\n', 'INDEXES >\nSCHEMA >\n    a Int32\nINDEXES >\n', 'NODE n\nSQL >\n'), hostile, (head, body) => {
        checkNeverThrows(head + body, head.startsWith('NODE') ? 'p.pipe' : 'd.datasource');
      }),
      { numRuns: 400 },
    );
  });
  it('huge lines and many lines', () => {
    const big = 'SCHEMA >\n    ' + Array.from({ length: 5000 }, (_, i) => `c${i} Int32`).join(', ') + '\n';
    const r = parseDatasource(big, 'big.datasource');
    expect(r.file!.columns).toHaveLength(5000);
    checkNeverThrows('SQL > ' + '"'.repeat(100001) + '\n' + '\t'.repeat(50000), 'p.pipe');
    checkNeverThrows('SCHEMA >\n    a ' + '('.repeat(20000) + '\n', 'p.datasource');
  });
});

// ---- A generated valid SCHEMA round-trips.
const plainName = fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/);
const backtickName = fc.stringMatching(/^[A-Za-z0-9._!@#$%^&*()\-+=:;?/]{1,12}$/);
const type = fc.constantFrom(
  'Int32',
  'UInt64',
  'String',
  'Float64',
  'Bool',
  'DateTime',
  "DateTime64(3, 'UTC')",
  'Nullable(Int32)',
  'LowCardinality(String)',
  'Array(String)',
  'Map(String, Array(String))',
  'Decimal(10, 2)',
  "Enum8('a' = 1, 'b' = 2)",
  'Tuple(a Int32, b String)',
  'AggregateFunction(sum, UInt64)',
  'SimpleAggregateFunction(max, Float64)',
);
const def = fc.constantFrom('0', "'x'", 'now()', '[]', "toDate('2020-01-01')", '-1', "map('a', 1)", '1 + 2');
const codec = fc.constantFrom('CODEC(ZSTD(1))', 'CODEC(Delta, LZ4)', 'CODEC(T64, ZSTD)');
const jsonpath = fc.constantFrom('$', '$.a', '$.a.b', '$.tags[:]', '$.a-b', "$.x['y']", '$.aa--aa');
const column = fc.record({
  name: fc.oneof(plainName, backtickName),
  type,
  default: fc.option(def, { nil: undefined }),
  codec: fc.option(codec, { nil: undefined }),
  jsonpath: fc.option(jsonpath, { nil: undefined }),
  jsonFirst: fc.boolean(),
  ws: fc.constantFrom(' ', '  ', '\t'),
  comment: fc.boolean(),
});

describe('SCHEMA round-trip (property)', () => {
  it('columns, types, defaults, codecs and jsonpaths are recovered exactly', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(column, { minLength: 1, maxLength: 12, selector: (c) => c.name }),
        fc.boolean(),
        (cols, trailingComma) => {
          const lines = cols.map((c, i) => {
            const w = c.ws;
            const json = c.jsonpath ? `${w}\`json:${c.jsonpath}\`` : '';
            let s = `\`${c.name}\`${w}${c.type}`;
            if (c.jsonFirst) s += json;
            if (c.default) s += `${w}DEFAULT ${c.default}`;
            if (c.codec) s += `${w}${c.codec}`;
            if (!c.jsonFirst) s += json;
            if (i < cols.length - 1 || trailingComma) s += ',';
            if (c.comment) s += ' -- a comment, with `json:$.no`';
            return '    ' + s;
          });
          const r = parseDatasource(`SCHEMA >\n${lines.join('\n')}\n\nENGINE Null\n`, 'r.datasource');
          expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
          const got = r.file!.columns;
          expect(got.map((c: Column) => c.name)).toEqual(cols.map((c) => c.name));
          got.forEach((c, i) => {
            const want = cols[i]!;
            expect(c.type).toBe(want.type);
            expect(c.nullable).toBe(want.type.startsWith('Nullable('));
            expect(c.default).toBe(want.default);
            expect(c.codec).toBe(want.codec);
            expect(c.jsonpath).toBe(want.jsonpath);
            expect(c.pos).toEqual({ line: i + 2, col: 5 });
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
