// Property-based tests: hostile values never escape their literal, typed functions never render
// anything but a number of their type, and the parser never crashes or hangs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TemplateError, renderTemplate } from '../../cli/src/template/index.js';
import { tokenizeSql, type SqlToken } from '../../cli/src/sql/lexer.js';

const HOSTILE = ["'", '"', '\\', '\0', '\n', '\r', '\t', '\b', '\x1a', '-', '--', '/*', '*/', '#', '#!', '`', '%', '{', '}', '{{', '}}', ';', '$', '$$', 'a', 'é', '𝔘', '\ud800', '\udc00', ' ', ',', '.', '0', 'x'];
const hostile = fc.oneof(
  fc.string({ unit: fc.constantFrom(...HOSTILE), maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);

const PREFIX = 'SELECT a FROM t WHERE x = ';
const SUFFIX = ' AND y = 1 -- end';
const strip = (ts: SqlToken[]) => ts.filter((t) => t.kind !== 'ws').map((t) => `${t.kind}:${t.text}`);

/** Tokens of the rendered value; asserts the SQL around it tokenizes exactly as the template text. */
function middle(sql: string): SqlToken[] {
  expect(sql.startsWith(PREFIX)).toBe(true);
  expect(sql.endsWith(SUFFIX)).toBe(true);
  const toks = tokenizeSql(sql);
  const a = PREFIX.length;
  const b = sql.length - SUFFIX.length;
  expect(toks.some((t) => t.start === a)).toBe(true);
  expect(toks.some((t) => t.end === b)).toBe(true);
  expect(strip(toks.filter((t) => t.end <= a))).toEqual(strip(tokenizeSql(PREFIX)));
  expect(strip(toks.filter((t) => t.start >= b))).toEqual(strip(tokenizeSql(SUFFIX)));
  return toks.filter((t) => t.start >= a && t.end <= b);
}

function kinds(ts: SqlToken[]): string {
  return ts.filter((t) => t.kind !== 'ws').map((t) => (t.kind === 'op' ? t.text : t.kind)).join(' ');
}

function render(expr: string, x: string): string {
  return renderTemplate(`${PREFIX}${expr}${SUFFIX}`, { x }).sql;
}

describe('injection safety', () => {
  const RUNS = { numRuns: 300 };
  it.each([
    ['{{x}}', /^string$/],
    ['{{String(x)}}', /^string$/],
    ['{{sql_unescape(String(x), "%")}}', /^string$/],
    ['{{column(x)}}', /^quoted_ident( \. quoted_ident)*$/],
    ['{{symbol(x)}}', /^quoted_ident$/],
    ['{{columns(x)}}', /^quoted_ident( \. quoted_ident)*( , quoted_ident( \. quoted_ident)*)*$/],
    ['{{Array(x)}}', /^\[ string( , string)* \]$/],
    ['{{split_to_array(x)}}', /^\[ string( , string)* \]$/],
    ['{{sql_and(col=x, c2__lt=String(x))}}', /^ident = string ident ident < string$/],
    // x is pre-split into a list because it is also used as Array(x)
    ['{{sql_and(col=x, c2__in=Array(x))}}', /^ident = \[ string( , string)* \] ident ident ident \[ string( , string)* \]$/],
  ])('%s keeps the value inside its literal', (expr, shape) => {
    fc.assert(
      fc.property(hostile, (x) => {
        let sql: string;
        try {
          sql = render(expr, x);
        } catch (e) {
          // only validation errors are acceptable (e.g. a required value that is empty)
          expect(e).toBeInstanceOf(TemplateError);
          return;
        }
        expect(kinds(middle(sql))).toMatch(shape);
      }),
      RUNS,
    );
  });

  it('Array(x, Int32) renders only validated integers', () => {
    fc.assert(
      fc.property(fc.oneof(hostile, fc.array(fc.integer(), { minLength: 1 }).map((a) => a.join(','))), (x) => {
        try {
          const m = middle(render("{{Array(x, 'Int32')}}", x));
          expect(kinds(m)).toMatch(/^\[ (- )?number( , (- )?number)* \]$/);
          expect(m.map((t) => t.text).join('')).toMatch(/^\[-?\d+(,-?\d+)*\]$/);
        } catch (e) {
          expect(e).toBeInstanceOf(TemplateError);
          expect((e as Error).message).toMatch(/^Template Syntax Error: Error validating \[/);
        }
      }),
      RUNS,
    );
  });

  const INT_LIMITS: Record<string, [bigint, bigint]> = {
    Int8: [-(2n ** 7n), 2n ** 7n - 1n], Int32: [-(2n ** 31n), 2n ** 31n - 1n], Int64: [-(2n ** 63n), 2n ** 63n - 1n],
    Int256: [-(2n ** 255n), 2n ** 255n - 1n], UInt8: [0n, 255n], UInt64: [0n, 2n ** 64n - 1n], UInt256: [0n, 2n ** 256n - 1n],
  };
  const numeric = fc.oneof(hostile, fc.bigInt({ min: -(2n ** 260n), max: 2n ** 260n }).map(String), fc.double().map(String), fc.integer().map((n) => `+${n}`));
  it.each(Object.keys(INT_LIMITS))('%s accepts only in-range integers', (type) => {
    const [lo, hi] = INT_LIMITS[type]!;
    fc.assert(
      fc.property(numeric, (x) => {
        const ok = (type.startsWith('U') && !type.endsWith('128') && !type.endsWith('256') ? /^\d+$/ : /^[+-]?\d+$/).test(x) && BigInt(x.replace(/^\+/, '')) >= lo && BigInt(x.replace(/^\+/, '')) <= hi;
        let sql: string | null = null;
        try {
          sql = render(`{{${type}(x)}}`, x);
        } catch (e) {
          expect(e).toBeInstanceOf(TemplateError);
          expect((e as Error).message).toBe(`Template Syntax Error: Error validating '${x}' to type ${type}`);
        }
        expect(sql !== null).toBe(ok);
        if (sql !== null) {
          const m = middle(sql);
          expect(kinds(m)).toBe('ident ( string )');
          expect(m[2]!.text).toBe(`'${BigInt(x.replace(/^\+/, '')).toString()}'`);
        }
      }),
      RUNS,
    );
  });
  it.each(['Float32', 'Float64'])('%s accepts only numbers', (type) => {
    fc.assert(
      fc.property(numeric, (x) => {
        try {
          const m = middle(render(`{{${type}(x)}}`, x));
          expect(kinds(m)).toBe('ident ( string )');
          expect(m[2]!.text).toMatch(/^'(-?\d+\.\d+|-?\d(\.\d+)?e[+-]\d\d+|-?inf|nan)'$/);
          expect(Number.isNaN(Number(x.trim())) && !/^\s*[+-]?(inf|infinity|nan)\s*$/i.test(x)).toBe(false);
        } catch (e) {
          expect(e).toBeInstanceOf(TemplateError);
          expect((e as Error).message).toBe(`Template Syntax Error: Error validating '${x}' to type ${type}`);
        }
      }),
      RUNS,
    );
  });
  it('a value after a minus never starts a comment (`-{{Int(x)}}` with x = -1 would make `--1`)', () => {
    const numbers = fc.oneof(fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }).map(String), fc.double({ noNaN: true }).map(String), hostile);
    fc.assert(
      fc.property(fc.constantFrom('Int(x)', 'Integer(x)', 'int(x)', 'float(x)', 'x'), numbers, (expr, x) => {
        let sql: string;
        try {
          sql = renderTemplate(`SELECT today()-{{${expr}}} AND tenant = {{String(t)}}`, { x, t: 'acme' }).sql;
        } catch (e) {
          expect(e).toBeInstanceOf(TemplateError);
          return;
        }
        const toks = tokenizeSql(sql);
        expect(toks.filter((t) => t.kind === 'comment'), sql).toEqual([]);
        expect(toks.filter((t) => t.kind === 'string').map((t) => t.text).at(-1), sql).toBe("'acme'");
      }),
      RUNS,
    );
  });

  it('Int / Boolean render bare numbers only', () => {
    fc.assert(
      fc.property(numeric, (x) => {
        for (const f of ['Int', 'Boolean']) {
          try {
            const m = middle(render(`{{${f}(x)}}`, x));
            expect(kinds(m)).toMatch(/^(- )?number$/);
          } catch (e) {
            expect(e).toBeInstanceOf(TemplateError);
          }
        }
      }),
      RUNS,
    );
  });
});

describe('parser fuzzing', () => {
  const PIECES = [
    '{{', '}}', '{%', '%}', '{#', '#}', '{{!', ' if ', ' elif ', ' else ', ' end ', ' for ', ' in ', ' while ', ' try ', ' except ', ' finally ',
    ' set ', ' break ', ' continue ', ' whitespace oneline ', ' comment ', ' import ', 'x', 'y', '=', '==', '(', ')', '[', ']', ',', "'", '"',
    '\\', '\n', ' ', '1', '0.5', 'None', 'True', 'not', 'and', 'or', '+', '-', '*', '/', '%', ':', 'defined(x)', 'Int32(x)', 'String(y, "d")',
    "Array(x, 'Int8')", 'JSON(x)', 'split_to_array(x)', 'range(3)', '.get(', '.split(', 'f"{x}"', 'lambda', 'SELECT', '`', '{', '}',
    // Found by review: plain JavaScript errors (500s) from lookups by inherited names and missing arguments.
    'range()', "Array(x, '__proto__')", "Array(x, 'toString')", "cache_ttl('toString')", 'sql_and(a__constructor=x)', "columns(x, 'a', x)",
    "symbol(x, '')", 'max_threads(x)', "round(1.5, 400)", ".replace('', '-')", 'Float32(x)', 'int(x)',
  ];
  it('renders or throws TemplateError, never anything else', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...PIECES), { maxLength: 40 }), fc.boolean(), fc.constantFrom(undefined, '1', 'a,b', '[{"a":1}]'), (parts, test, x) => {
        const tpl = parts.join('');
        try {
          const res = renderTemplate(tpl, { x, y: x }, { testMode: test });
          expect(typeof res.sql).toBe('string');
        } catch (e) {
          if (!(e instanceof TemplateError)) throw e;
          expect(typeof e.status).toBe('number');
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('deep nesting is an error, not a stack overflow', () => {
    expect(() => renderTemplate('{{' + '('.repeat(5000) + '1' + ')'.repeat(5000) + '}}', {})).toThrow(TemplateError);
    expect(() => renderTemplate('{% if 1 %}'.repeat(500) + '{% end %}'.repeat(500), {})).toThrow(TemplateError);
    expect(() => renderTemplate('{{' + '-'.repeat(5000) + '1}}', {})).toThrow(TemplateError);
  });
});
