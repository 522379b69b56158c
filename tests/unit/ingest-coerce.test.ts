import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileConverter, CoerceError } from '../../cli/src/ingest/coerce.js';
import { compileJsonPath, MISSING } from '../../cli/src/ingest/jsonpath.js';
import { formatUtc, parseInstant } from '../../cli/src/ingest/datetime.js';
import { splitBody, decodeBody } from '../../cli/src/ingest/body.js';
import { IngestError } from '../../cli/src/ingest/errors.js';
import { gzipSync } from 'node:zlib';

const conv = (t: string, v: unknown) => compileConverter(t)(v);
const bad = (t: string, v: unknown) => {
  expect(() => conv(t, v)).toThrow(CoerceError);
};

describe('jsonpath', () => {
  const o = { a: { b: 1, 'x-y': 'q' }, 'a-b': 2, tags: ['t1', 't2'], items: [{ id: 1 }, { id: 2 }, {}], n: null };
  it('extracts the supported forms', () => {
    expect(compileJsonPath('$.a.b', 'c')(o)).toBe(1);
    expect(compileJsonPath("$['a-b']", 'c')(o)).toBe(2);
    expect(compileJsonPath('$.a["x-y"]', 'c')(o)).toBe('q');
    expect(compileJsonPath('$.tags[0]', 'c')(o)).toBe('t1');
    expect(compileJsonPath('$.tags[:]', 'c')(o)).toEqual(['t1', 't2']);
    expect(compileJsonPath('$.items[:].id', 'c')(o)).toEqual([1, 2]);
    expect(compileJsonPath('$', 'c')(o)).toBe(o);
    expect(compileJsonPath(undefined, 'a-b')(o)).toBe(2);
    expect(compileJsonPath('$.n', 'c')(o)).toBeNull();
  });
  it('reports missing fields as MISSING', () => {
    expect(compileJsonPath('$.a.z', 'c')(o)).toBe(MISSING);
    expect(compileJsonPath('$.tags[5]', 'c')(o)).toBe(MISSING);
    expect(compileJsonPath('$.a.b.c', 'c')(o)).toBe(MISSING);
    expect(compileJsonPath(undefined, 'zz')(o)).toBe(MISSING);
  });
  it('rejects malformed paths at compile time', () => {
    expect(() => compileJsonPath('a.b', 'c')).toThrow();
    expect(() => compileJsonPath('$.a[', 'c')).toThrow();
    expect(() => compileJsonPath('$.a[x]', 'c')).toThrow();
  });
});

describe('coerce', () => {
  it('String', () => {
    expect(conv('String', 'hé"')).toBe('"hé\\""');
    expect(conv('String', 12.5)).toBe('"12.5"');
    expect(conv('String', { a: [1] })).toBe(JSON.stringify('{"a":[1]}'));
    expect(conv('String', true)).toBe('"true"');
    expect(conv('LowCardinality(String)', 'x')).toBe('"x"');
  });
  it('integers', () => {
    expect(conv('Int8', -128)).toBe('-128');
    bad('Int8', 128);
    bad('UInt8', -1);
    expect(conv('UInt8', true)).toBe('1');
    bad('Int32', true);
    expect(conv('Int32', ' 42 ')).toBe('42');
    bad('Int32', 1.5);
    bad('Int32', 'abc');
    expect(conv('UInt64', '18446744073709551615')).toBe('"18446744073709551615"');
    bad('UInt64', '18446744073709551616');
    expect(conv('Int256', '-' + '9'.repeat(70))).toBe(`"-${'9'.repeat(70)}"`);
  });
  it('floats and decimals', () => {
    expect(conv('Float64', '1e3')).toBe('1000');
    expect(conv('Float32', 'nan')).toBe('"nan"');
    bad('Float32', 1e39);
    bad('Float64', 'x');
    expect(conv('Decimal(10,2)', 12.345)).toBe('12.35');
    expect(conv('Decimal(10,2)', '12.30')).toBe('12.30');
    expect(conv('Decimal(10,2)', '+.5')).toBe('0.5');
    bad('Decimal(10,2)', '12.345');
    bad('Decimal(4,2)', 123.4);
    expect(conv('Decimal64(3)', '-1.5')).toBe('-1.5');
  });
  it('Bool', () => {
    expect(conv('Bool', true)).toBe('true');
    expect(conv('Bool', '0')).toBe('false');
    bad('Bool', 'yes');
  });
  it('Date and DateTime', () => {
    expect(conv('Date', '2024-02-29')).toBe('"2024-02-29"');
    bad('Date', '2023-02-29');
    expect(conv('Date', '2024-01-01T23:30:00-02:00')).toBe('"2024-01-02"');
    expect(conv('DateTime', '2023-11-14 22:13:20')).toBe('1700000000');
    expect(conv("DateTime('UTC')", '2023-11-14T23:13:20+01:00')).toBe('1700000000');
    expect(conv('DateTime', 1700000000000)).toBe('1700000000');
    expect(conv('DateTime', '1700000000')).toBe('1700000000');
    bad('DateTime', '1969-12-31 23:59:59');
    bad('DateTime', '2106-02-07 06:28:16');
    bad('DateTime', 'yesterday');
    expect(conv('DateTime64(3)', '2023-11-14T22:13:20.1234Z')).toBe('"1700000000.123"');
    expect(conv('DateTime64(6)', 1700000000123)).toBe('"1700000000.123000"');
    expect(conv('DateTime64(3)', '1950-01-01 00:00:00.5')).toBe('"1950-01-01 00:00:00.500"');
  });
  it('UUID, IPs, Enum', () => {
    expect(conv('UUID', '0123ABCD-89ab-cdef-0123-456789abcdef')).toBe('"0123abcd-89ab-cdef-0123-456789abcdef"');
    bad('UUID', 'nope');
    expect(conv('IPv4', '10.0.0.1')).toBe('"10.0.0.1"');
    expect(conv('IPv4', 167772161)).toBe('"10.0.0.1"');
    bad('IPv4', '10.0.0.256');
    expect(conv('IPv6', '::1')).toBe('"::1"');
    expect(conv('IPv6', '1.2.3.4')).toBe('"::ffff:1.2.3.4"');
    bad('IPv6', 'fe80::1%eth0'); // a zone id: Node takes it, ClickHouse does not
    expect(conv("Enum8('a' = 1, 'b''c' = 2)", "b'c")).toBe('"b\'c"');
    expect(conv("Enum8('a' = 1, 'b' = 2)", 2)).toBe('"b"');
    bad("Enum8('a' = 1, 'b' = 2)", 'z');
  });
  it('containers and wrappers', () => {
    expect(conv('Nullable(Int32)', null)).toBe('null');
    expect(conv('Array(Int32)', [1, '2'])).toBe('[1,2]');
    expect(() => conv('Array(Int32)', [1, 'x'])).toThrow(/element \[1\]/);
    expect(conv('Array(Nullable(String))', ['a', null])).toBe('["a",null]');
    expect(conv('Map(String, UInt8)', { a: 1, b: true })).toBe('{"a":1,"b":1}');
    bad('Map(String, UInt8)', [1]);
    expect(conv('Tuple(Int32, String)', [1, 'a'])).toBe('[1,"a"]');
    expect(conv('JSON', { a: 1 })).toBe('{"a":1}');
    expect(conv('SimpleAggregateFunction(max, UInt32)', '7')).toBe('7');
  });
  it('error messages name the value and truncate it', () => {
    try {
      conv('Int32', 'x'.repeat(500));
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(/^value "x{50,}…\(502 chars\): expected an integer for Int32$/);
    }
  });
});

const TYPES = [
  'String', 'Int8', 'UInt8', 'Int64', 'UInt64', 'Int256', 'Float32', 'Float64', 'Decimal(9,3)', 'Bool', 'Date', 'Date32',
  'DateTime', 'DateTime64(3)', 'UUID', 'IPv4', 'IPv6', "Enum8('a' = 1)", 'Nullable(Int32)', 'LowCardinality(String)',
  'Array(Int32)', 'Map(String, Float64)', 'FixedString(3)', 'JSON', 'Tuple(Int8, String)',
];

describe('properties', () => {
  it('random JSON values only ever raise a CoerceError', () => {
    const convs = TYPES.map((t) => compileConverter(t));
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(TYPES.length - 1), (v, i) => {
        if (v === null) return;
        try {
          const out = convs[i](v);
          JSON.parse(out); // the fragment is always valid JSON
        } catch (e) {
          if (!(e instanceof CoerceError)) throw e;
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('every accepted DateTime form equals the expected UTC string', () => {
    const d = fc.date({ min: new Date('1970-01-02T00:00:00Z'), max: new Date('2106-01-01T00:00:00Z'), noInvalidDate: true });
    fc.assert(
      fc.property(d, fc.integer({ min: -14 * 60, max: 14 * 60 }), (date, offMin) => {
        const sec = Math.floor(date.getTime() / 1000);
        const expected = new Date(sec * 1000).toISOString().replace('T', ' ').slice(0, 19);
        const local = new Date((sec + offMin * 60) * 1000).toISOString().slice(0, 19);
        const sign = offMin < 0 ? '-' : '+';
        const oh = String(Math.floor(Math.abs(offMin) / 60)).padStart(2, '0');
        const om = String(Math.abs(offMin) % 60).padStart(2, '0');
        const forms: unknown[] = [
          expected,
          expected.replace(' ', 'T'),
          expected.replace(' ', 'T') + 'Z',
          `${local}${sign}${oh}:${om}`,
          `${local}${sign}${oh}${om}`,
          sec,
          String(sec),
        ];
        // Milliseconds are recognised from 1e11 up (1973-03-03 onwards); below that a number is seconds.
        if (sec * 1000 >= 1e11) forms.push(sec * 1000, String(sec * 1000 + 999));
        for (const f of forms) expect(formatUtc(parseInstant(f, 0))).toBe(expected);
        expect(conv('DateTime', expected)).toBe(String(sec));
      }),
      { numRuns: 1000 },
    );
  });

  it('the YYYY-MM-DD hh:mm:ss shortcut accepts exactly the valid dates and times, as the Date object reads them', () => {
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 })),
        fc.tuple(fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.integer({ min: 0, max: 61 })),
        fc.constantFrom(' ', 'T', '_'),
        fc.integer({ min: 0, max: 9 }),
        ([y, m, d], [h, mi, s], sep, precision) => {
          const text = `${pad(y, 4)}-${pad(m)}-${pad(d)}${sep}${pad(h)}:${pad(mi)}:${pad(s)}`;
          const day = new Date(0);
          day.setUTCFullYear(y, m - 1, d);
          const valid = sep !== '_' && m >= 1 && m <= 12 && day.getUTCDate() === d && h <= 23 && mi <= 59 && s <= 59;
          if (!valid) expect(() => parseInstant(text, precision)).toThrow();
          else expect(parseInstant(text, precision)).toEqual({ sec: day.getTime() / 1000 + h * 3600 + mi * 60 + s, frac: '0'.repeat(precision) });
        },
      ),
      { numRuns: 20_000 },
    );
  });
});

describe('body', () => {
  it('splits NDJSON, arrays and single objects', () => {
    expect(splitBody(Buffer.from('{"a":1}\n\n{"a":2}\r\n')).map((i) => [i.line, i.obj])).toEqual([[1, { a: 1 }], [3, { a: 2 }]]);
    expect(splitBody(Buffer.from('[{"a":1},{"a":2}]')).length).toBe(2);
    expect(splitBody(Buffer.from('{\n "a": 1\n}')).map((i) => i.obj)).toEqual([{ a: 1 }]);
    const mixed = splitBody(Buffer.from('{"a":1}\nnot json\n[1]\n'));
    expect(mixed.map((i) => [i.line, !!i.obj, i.error?.slice(0, 12)])).toEqual([[1, true, undefined], [2, false, 'invalid JSON'], [3, false, 'line is not ']]);
  });
  it('fails whole requests only when nothing is usable', () => {
    const status = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as IngestError).status;
      }
      return 0;
    };
    expect(status(() => splitBody(Buffer.from('')))).toBe(400);
    expect(status(() => splitBody(Buffer.from(' \n \n')))).toBe(400);
    expect(status(() => splitBody(Buffer.from('hello\nworld')))).toBe(400);
    expect(status(() => decodeBody(Buffer.from('{"a":1}'), 'gzip'))).toBe(400);
    expect(status(() => decodeBody(Buffer.alloc(11), undefined, 10))).toBe(413);
    expect(status(() => decodeBody(gzipSync(Buffer.alloc(1000, 32)), 'gzip', 100))).toBe(413);
    expect(decodeBody(gzipSync(Buffer.from('{"a":1}')), 'gzip').toString()).toBe('{"a":1}');
  });
  it('keeps invalid UTF-8 lines as per-line failures', () => {
    const buf = Buffer.concat([Buffer.from('{"a":1}\n{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]);
    const items = splitBody(buf);
    expect(items[1].error).toBe('invalid UTF-8');
    expect(items[1].line).toBe(2);
  });
});
