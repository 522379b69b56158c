// JSON numbers a double cannot hold reach ClickHouse with the digits they were sent with: 64-bit ids, Int128,
// Decimal(38, 10), inside arrays, objects kept as text, and the quarantine's raw values. Before, JSON.parse
// rounded 12345678901234567891 to 12345678901234567000 and the row was stored so, without a word.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convertBody, type ConvertOptions } from '../../cli/src/ingest/convert.js';
import { TargetPlan } from '../../cli/src/ingest/plan.js';
import { col } from '../helpers/ingest-fixture.js';
import { compileConverter } from '../../cli/src/ingest/coerce.js';
import { addJsonBodyParams } from '../../cli/src/server/json-params.js';
import type { Request } from '../../cli/src/server/http.js';

const opts: ConvertOptions = { maxBodyBytes: 10 * 1024 * 1024, nowSec: 1_700_000_000, maxReasons: 100 };
const plan = new TargetPlan([
  col('id', 'UInt64'), col('signed', 'Int64'), col('wide', 'Int128'), col('amount', 'Decimal(38, 10)'), col('ratio', 'Float64'),
  col('ids', 'Array(UInt64)'), col('maybe', 'Nullable(UInt64)'), col('text', 'String'), col('doc', 'String', { jsonpath: '$' }),
]);

function convert(body: string) {
  const r = convertBody(plan, Buffer.from(body), opts);
  const rows = r.good ? Buffer.from(r.good).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  const bad = r.bad ? Buffer.from(r.bad).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  return { rows, bad, reasons: r.reasons };
}

describe('exact JSON numbers on the way in', () => {
  it('keeps every digit of integers past 2^53, decimals past 17 digits, in arrays and in objects kept as text', () => {
    const line = '{"id":18446744073709551615,"signed":-9223372036854775807,"wide":170141183460469231731687303715884105727,' +
      '"amount":1234567890123456789.0123456789,"ratio":0.1,"ids":[9007199254740993,1],"maybe":9007199254740993,' +
      '"text":12345678901234567891,"nested":{"n":99999999999999999999}}';
    const { rows, bad } = convert(line);
    expect(bad).toEqual([]);
    expect(rows).toEqual([{
      id: '18446744073709551615', signed: '-9223372036854775807', wide: '170141183460469231731687303715884105727',
      amount: expect.any(Number), ratio: 0.1, ids: ['9007199254740993', 1], maybe: '9007199254740993', text: '12345678901234567891', doc: line,
    }]);
    // The decimal is written unquoted with its digits (18.16 refuses quoted decimals): read the converted text itself.
    const text = Buffer.from(convertBody(plan, Buffer.from(line), opts).good!).toString('utf8');
    expect(text).toContain('"amount":1234567890123456789.0123456789,');
  });

  it('takes the same digits from a JSON array body and a pretty-printed object body', () => {
    const arr = convert('[{"id":9007199254740993},{"id":18446744073709551615}]');
    expect(arr.rows.map((r) => r.id)).toEqual(['9007199254740993', '18446744073709551615']);
    const pretty = convert('{\n  "id": 9007199254740993,\n  "text": 1.00000000000000000001\n}');
    expect(pretty.rows).toEqual([expect.objectContaining({ id: '9007199254740993', text: '1.00000000000000000001' })]);
  });

  it('refuses a fraction or an out-of-range value by its exact digits, and the quarantine keeps them', () => {
    const { rows, bad, reasons } = convert('{"id":18446744073709551616}\n{"signed":1.0000000000000000001}\n{"id":90071992547409930.000}');
    expect(rows).toEqual([expect.objectContaining({ id: '90071992547409930' })]);
    expect(reasons).toEqual([
      { line: 1, error: 'column id: value 18446744073709551616: out of range for UInt64' },
      { line: 2, error: 'column signed: value 1.0000000000000000001: not an integer for Int64' },
    ]);
    expect(bad.map((b) => [b.id ?? null, b.signed ?? null])).toEqual([['18446744073709551616', null], [null, '1.0000000000000000001']]);
  });

  it('does not take a big number line, or a path into a big number, for an object', () => {
    const { rows, reasons } = convert('12345678901234567891\n{"id":1,"text":{"value":"x"}}');
    expect(reasons).toEqual([{ line: 1, error: 'line is not a JSON object' }]);
    expect(rows).toEqual([expect.objectContaining({ id: 1, text: '{"value":"x"}' })]);
    const viaPath = new TargetPlan([col('v', 'String', { jsonpath: '$.n.value' }), col('n', 'String')]);
    const r = convertBody(viaPath, Buffer.from('{"n":12345678901234567891}'), opts);
    expect(Buffer.from(r.good!).toString('utf8')).toBe('{"n":"12345678901234567891"}\n');
  });

  it('takes a bare big number in an array body for a number, not an event', () => {
    const { rows, reasons } = convert('[{"id":1},12345678901234567891]');
    expect(rows).toEqual([expect.objectContaining({ id: 1 })]);
    expect(reasons).toEqual([{ line: 2, error: 'array element is not a JSON object' }]);
  });

  it('keeps the digits of an array body whose other element is nested too deep to parse recursively', () => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const { rows, reasons } = convert(`[{"id":9007199254740993},{"text":${deep}},{"id":18446744073709551615}]`);
    expect(rows.map((r) => r.id)).toEqual(['9007199254740993', '18446744073709551615']);
    expect(reasons).toEqual([{ line: 2, error: expect.stringMatching(/^JSON nested more than 1000 levels deep/) }]);
  });

  it('keeps the digits through a [:] path, and when a key is given twice takes the last, as JSON.parse does', () => {
    const viaAll = new TargetPlan([col('ids', 'String', { jsonpath: '$.items[:].id' })]);
    const r = convertBody(viaAll, Buffer.from('{"items":[{"id":12345678901234567891},{"id":2}]}'), opts);
    expect(Buffer.from(r.good!).toString('utf8')).toBe('{"ids":"[12345678901234567891,2]"}\n');
    expect(convert('[{"id":9007199254740993},{"id":1,"id":9007199254740995}]').rows.map((x) => x.id)).toEqual(['9007199254740993', '9007199254740995']);
  });

  it('reads Decimal and Int numbers from their digits, exponents included, rounding decimals half away from zero', () => {
    expect(compileConverter('Decimal(38, 20)')(0.1)).toBe('0.1');
    expect(compileConverter('Decimal(10, 2)')(1.005)).toBe('1.01');
    expect(compileConverter('Decimal(10, 2)')(-1.005)).toBe('-1.01');
    expect(compileConverter('Decimal(10, 2)')(-0.001)).toBe('0');
    expect(compileConverter('Decimal(10, 2)')(1.5e3)).toBe('1500');
    expect(compileConverter('UInt128')(1e23)).toBe('"100000000000000000000000"');
    expect(compileConverter('Int32')(1.5e3)).toBe('1500');
    expect(() => compileConverter('Int32')(1.5e-3)).toThrow('not an integer for Int32');
    expect(() => compileConverter('Int256')(1e400)).toThrow('value Infinity: out of range for Int256');
    expect(convert('{"wide":1e400}\n{"wide":1e101}\n{"amount":-1e400}').reasons).toEqual([
      { line: 1, error: 'column wide: value Infinity: out of range for Int128' },
      { line: 2, error: 'column wide: value 1e+101: out of range for Int128' },
      { line: 3, error: 'column amount: value -Infinity: out of range for Decimal(38, 10)' },
    ]);
  });

  it('keeps the nanoseconds of an epoch number for DateTime64(9), and reads exponents for dates', () => {
    const plan9 = new TargetPlan([col('at', "DateTime64(9, 'UTC')"), col('day', 'Date')]);
    const r = convertBody(plan9, Buffer.from('{"at":1700000000.123456789,"day":1.7e9}\n{"at":-1.000000001}'), opts);
    expect(Buffer.from(r.good!).toString('utf8')).toBe('{"at":"1700000000.123456789","day":"2023-11-14"}\n{"at":"1969-12-31 23:59:58.999999999"}\n');
  });

  it('gives a Decimal column any decimal sent as a JSON number with its own digits', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n - 10n ** 28n, max: 10n ** 28n - 1n }), fc.nat({ max: 10 }), (units, places) => {
        const text = places === 0 ? String(units) : `${units < 0n ? '-' : ''}${(units < 0n ? -units : units).toString().padStart(places + 1, '0').replace(new RegExp(`(\\d{${places}})$`), '.$1')}`;
        const r = convertBody(new TargetPlan([col('amount', 'Decimal(38, 10)')]), Buffer.from(`{"amount":${text}}`), opts);
        const written = /"amount":([^,}]+)/.exec(Buffer.from(r.good!).toString('utf8'))![1];
        // The same number: compare as exact fractions, without a double.
        const scaled = (t: string) => { const [i, f = ''] = t.replace('-', '').split('.'); const v = BigInt(i + f.padEnd(10, '0')); return t.startsWith('-') ? -v : v; };
        expect(scaled(written)).toBe(scaled(text));
      }),
      { numRuns: 300 },
    );
  });

  it('hands endpoint parameters sent as big JSON numbers over as their digits, in objects too', () => {
    const req = (body: string) => ({ headers: { 'content-type': 'application/json' }, body: Buffer.from(body), params: new Map() }) as unknown as Request;
    const r = req('{"user_id":18446744073709551615,"ids":[9007199254740993,2],"n":1.5,"filter":{"id":18446744073709551615}}');
    addJsonBodyParams(r);
    expect(Object.fromEntries(r.params)).toEqual({ user_id: ['18446744073709551615'], ids: ['9007199254740993', '2'], n: ['1.5'], filter: ['{"id":18446744073709551615}'] });
    expect(() => addJsonBodyParams(req('18446744073709551615'))).toThrow('the JSON body must be an object of parameters');
  });

  it('reads a megabyte-long number or numeric string in linear time (no regex backtracking over its digits)', () => {
    // Quadratic forms of these took hours on such input; linear ones take milliseconds, well inside the test's limit.
    const zeros = '0'.repeat(1_000_000);
    const small = new TargetPlan([col('amount', 'Decimal(38, 10)'), col('signed', 'Int64'), col('ratio', 'Float64'), col('at', 'DateTime64(3)'), col('text', 'String')]);
    const r = convertBody(small, Buffer.from(`{"amount":0.1${zeros}1}\n{"signed":1${zeros}}\n{"ratio":"1${zeros}x"}\n{"amount":"1${zeros}x"}\n{"at":"1${zeros}"}`), opts);
    // A number rounds to the column's places; the others are refused, each with its reason.
    expect(Buffer.from(r.good!).toString('utf8')).toBe('{"amount":0.1000000000}\n');
    expect(r.reasons.map((x) => x.error.replace(/value "?\d.*?: /, ''))).toEqual([
      'column signed: out of range for Int64',
      'column ratio: expected a number for Float64',
      'column amount: expected a decimal number for Decimal(38, 10)',
      'column at: out of range for DateTime64(3)',
    ]);
  });

  it('converts any 64-bit integer, sent as a JSON number, to its own digits', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (u, s) => {
        const { rows } = convert(`{"id":${u},"signed":${s},"ids":[${u},${s < 0n ? -s : s}]}`);
        const digits = (n: bigint) => (n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : String(n));
        const abs = s < 0n ? -s : s;
        expect(rows).toEqual([expect.objectContaining({ id: digits(u), signed: digits(s), ids: [digits(u), digits(abs)] })]);
      }),
      { numRuns: 300 },
    );
  });

  it('parses a line the same way with or without a long number in a string, whatever the string holds', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.integer(), (s, n) => {
        const line = JSON.stringify({ id: Math.abs(n), text: `${s}1234567890123456789` });
        const { rows } = convert(line);
        expect(rows).toEqual([{ id: Math.abs(n), text: `${s}1234567890123456789`, doc: line }]);
        // `$` gives the event's own JSON text back.
        const doc = convertBody(new TargetPlan([col('doc', 'String', { jsonpath: '$' })]), Buffer.from(line), opts);
        expect(JSON.parse(JSON.parse(Buffer.from(doc.good!).toString('utf8')).doc)).toEqual(JSON.parse(line));
      }),
      { numRuns: 300 },
    );
  });
});
