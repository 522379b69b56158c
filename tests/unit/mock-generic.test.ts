// Generic schema-driven mock rows: determinism, jsonpath shaping, the type parser, and that ClickHouse (chDB) accepts
// every generated value as NDJSON and as CSV.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import type { Column } from '../../cli/src/datafile/types.js';
import { compileSchema, generateRows, getPath } from '../../cli/src/mock/generic.js';
import { jsonPathKeys as parseJsonPath } from '../../cli/src/datafile/jsonpath.js';
import { formatType, parseType } from '../../cli/src/sql/types.js';
import { Rng } from '../../cli/src/mock/random.js';
import { csvSerializer } from '../../cli/src/mock/write.js';

const col = (name: string, type: string, extra: Partial<Column> = {}): Column => ({
  name,
  type,
  nullable: /^Nullable\(/.test(type),
  pos: { line: 1, col: 1 },
  ...extra,
});

// Every type family a datasource may declare (AggregateFunction is skipped by design and checked separately).
const TYPES: [string, string][] = [
  ['i8', 'Int8'], ['i16', 'Int16'], ['i32', 'Int32'], ['i64', 'Int64'], ['i128', 'Int128'], ['i256', 'Int256'],
  ['u8', 'UInt8'], ['u16', 'UInt16'], ['u32', 'UInt32'], ['u64', 'UInt64'], ['u128', 'UInt128'], ['u256', 'UInt256'],
  ['f32', 'Float32'], ['f64', 'Float64'],
  ['dec', 'Decimal(10, 2)'], ['dec38', 'Decimal(38, 10)'], ['dec32', 'Decimal32(4)'], ['dec64', 'Decimal64(6)'], ['dec128', 'Decimal128(12)'], ['dec256', 'Decimal256(20)'],
  ['s', 'String'], ['email', 'String'], ['link_url', 'String'], ['user_id', 'String'], ['fs', 'FixedString(16)'], ['uuid', 'UUID'],
  ['d', 'Date'], ['d32', 'Date32'], ['ts', 'DateTime'], ['tstz', "DateTime('Europe/Madrid')"], ['t64', 'DateTime64(3)'], ['t64tz', "DateTime64(6, 'UTC')"], ['t64z', 'DateTime64(0)'], ['t649', "DateTime64(9, 'Asia/Tokyo')"],
  ['b', 'Bool'], ['ip4', 'IPv4'], ['ip6', 'IPv6'],
  ['e8', "Enum8('a' = 1, 'b' = 2, 'it\\'s' = 3)"], ['e16', "Enum16('x' = 1000, 'y' = -5)"],
  ['lc', 'LowCardinality(String)'], ['lcn', 'LowCardinality(Nullable(String))'],
  ['n', 'Nullable(Int32)'], ['ns', 'Nullable(String)'], ['nts', 'Nullable(DateTime64(3))'],
  ['arr', 'Array(String)'], ['arrn', 'Array(Nullable(Int64))'], ['arr2', 'Array(Array(UInt8))'], ['arrd', 'Array(Decimal(20, 4))'],
  ['m', 'Map(String, Int32)'], ['mi', 'Map(UInt16, String)'], ['mlc', 'Map(LowCardinality(String), Array(Float64))'],
  ['tup', 'Tuple(String, Int32)'], ['ntup', 'Tuple(a String, b Nullable(Float64), c Array(Date))'],
  ['j', 'JSON'], ['pt', 'Point'], ['ring', 'Ring'], ['poly', 'Polygon'], ['mpoly', 'MultiPolygon'],
  ['sagg', 'SimpleAggregateFunction(max, UInt64)'], ['var', 'Variant(String, UInt64)'], ['dyn', 'Dynamic'],
];
const COLUMNS: Column[] = TYPES.map(([n, t]) => col(n, t));

let dir: string;
let client: ClickHouseClient;

beforeAll(async () => {
  // chDB: one process per data directory, so a fresh temp dir for this test file.
  dir = mkdtempSync(path.join(tmpdir(), 'mock-generic-'));
  client = createClient({ connection: createChdbConnection({ path: dir }) } as Parameters<typeof createClient>[0]);
});
afterAll(async () => {
  await client?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs an insert; a failure is rethrown with a short message (chDB errors can quote the whole body). */
async function guarded(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    throw new Error(String((e as Error).message).slice(0, 2000));
  }
}

async function createTable(name: string, columns: Column[]): Promise<void> {
  const ddl = columns.map((c) => `\`${c.name}\` ${c.type}`).join(', ');
  await client.command({ query: `CREATE TABLE ${name} (${ddl}) ENGINE = MergeTree ORDER BY tuple()` });
}

describe('type parser', () => {
  it('parses nested types, quotes, enums and named tuples', () => {
    const t = parseType("Map(String, Array(Nullable(DateTime64(3, 'UTC'))))");
    expect(formatType(t)).toBe("Map(String, Array(Nullable(DateTime64(3, 'UTC'))))");
    const e = parseType("Enum8('a,b' = 1, 'it\\'s (x)' = -2)");
    expect(e.args).toEqual([
      { kind: 'enum', name: 'a,b', value: '1' },
      { kind: 'enum', name: "it's (x)", value: '-2' },
    ]);
    const nt = parseType('Tuple(a String, `b c` Nullable(Int8))');
    expect(nt.args.map((a) => (a.kind === 'type' ? a.field : null))).toEqual(['a', 'b c']);
    expect(() => parseType('Array(String')).toThrow(/expected '\)'/);
  });

  it('parses jsonpaths', () => {
    expect(parseJsonPath('$.a.b')).toEqual(['a', 'b']);
    expect(parseJsonPath('$.tags[:]')).toEqual(['tags']);
    expect(parseJsonPath("$['weird key'].x")).toEqual(['weird key', 'x']);
    expect(parseJsonPath('$')).toBeNull();
  });
});

describe('generateRows', () => {
  it('is deterministic for a seed and differs across seeds; numbers and numeric strings seed alike', () => {
    const a = JSON.stringify([...generateRows(COLUMNS, { rows: 200, seed: 'x' })]);
    const b = JSON.stringify([...generateRows(COLUMNS, { rows: 200, seed: 'x' })]);
    const c = JSON.stringify([...generateRows(COLUMNS, { rows: 200, seed: 'y' })]);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(JSON.stringify([...generateRows(COLUMNS, { rows: 50, seed: 7 })])).toBe(JSON.stringify([...generateRows(COLUMNS, { rows: 50, seed: '7' })]));
    expect(new Rng(1).u32()).toBe(new Rng(1).u32());
  });

  it('shapes rows by jsonpath', () => {
    const cols = [
      col('a_b', 'Int32', { jsonpath: '$.a.b' }),
      col('a_c', 'String', { jsonpath: '$.a.c' }),
      col('tags', 'Array(String)', { jsonpath: '$.tags[:]' }),
      col('plain', 'UInt8'),
      col('weird', 'String', { jsonpath: "$['x y'].z" }),
      col('whole', 'String', { jsonpath: '$' }),
      col('with_default', 'DateTime', { default: 'now()' }),
    ];
    const [row] = [...generateRows(cols, { rows: 1, seed: 1 })];
    expect(Object.keys(row).sort()).toEqual(['a', 'plain', 'tags', 'x y']);
    expect(typeof (row.a as Record<string, unknown>).b).toBe('number');
    expect(typeof (row.a as Record<string, unknown>).c).toBe('string');
    expect(Array.isArray(row.tags)).toBe(true);
    expect(typeof (row['x y'] as Record<string, unknown>).z).toBe('string');
    const { skipped } = compileSchema(cols, 1);
    expect(skipped.map((s) => s.column)).toEqual(['whole', 'with_default']);
  });

  it('skips AggregateFunction with a message', () => {
    const { fields, skipped } = compileSchema([col('st', 'AggregateFunction(uniq, String)'), col('x', 'Int8')], 1);
    expect(fields.map((f) => f.column.name)).toEqual(['x']);
    expect(skipped[0].reason).toMatch(/AggregateFunction/);
  });

  it('emits 64-bit+ integers beyond 2^53 as strings and keeps nulls in Nullable columns', () => {
    const rows = [...generateRows(COLUMNS, { rows: 2000, seed: 3 })];
    for (const r of rows) {
      for (const k of ['i128', 'i256', 'u128', 'u256']) expect(typeof r[k]).toBe('string');
      for (const k of ['i64', 'u64']) {
        const v = r[k];
        if (typeof v === 'number') expect(Number.isSafeInteger(v)).toBe(true);
        else expect(typeof v).toBe('string');
      }
    }
    expect(rows.some((r) => r.u64 === '18446744073709551615')).toBe(true);
    expect(rows.some((r) => r.n === null)).toBe(true);
    expect(rows.some((r) => r.n !== null)).toBe(true);
    expect(new Set(rows.map((r) => r.lc)).size).toBeLessThanOrEqual(12);
  });

  it('every type is accepted by ClickHouse as NDJSON (JSONEachRow)', async () => {
    await createTable('all_types', COLUMNS);
    const rows = [...generateRows(COLUMNS, { rows: 3000, seed: 'ch' })];
    const ndjson = rows.map((r) => JSON.stringify(r) + '\n').join('');
    // The NDJSON lines we write, parsed back and inserted as JSONEachRow; default input settings suffice (quoted
    // big integers, named tuples as objects and nested JSON objects are all accepted by default).
    const values = ndjson.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    await guarded(client.insert({ table: 'all_types', values, format: 'JSONEachRow' }));
    const res = await client.query({ query: 'SELECT count() AS c, countIf(isNull(n)) AS nulls, toString(max(u64)) AS mx FROM all_types', format: 'JSONEachRow' });
    const [stats] = (await res.json()) as { c: string | number; nulls: string | number; mx: string }[];
    expect(Number(stats.c)).toBe(3000);
    expect(Number(stats.nulls)).toBeGreaterThan(0);
    expect(String(stats.mx)).toBe('18446744073709551615');
    // Values round-trip: strings with quotes/backslashes/newlines and big integers come back unchanged.
    const back = await client.query({ query: 'SELECT s, toString(i256) AS i256, toString(dec38) AS dec38 FROM all_types', format: 'JSONEachRow' });
    const got = (await back.json()) as { s: string; i256: string; dec38: string }[];
    expect(new Set(got.map((g) => g.s))).toEqual(new Set(rows.map((r) => r.s)));
    expect(new Set(got.map((g) => g.i256))).toEqual(new Set(rows.map((r) => String(r.i256))));
  });

  it('every type is accepted by ClickHouse as CSV', async () => {
    await createTable('all_types_csv', COLUMNS);
    const ser = csvSerializer(COLUMNS);
    const csv = [...generateRows(COLUMNS, { rows: 2000, seed: 'csv' })].map(ser).join('');
    await guarded(client.insert({ table: 'all_types_csv', values: Readable.from([csv], { objectMode: false }), format: 'CSV' }));
    const res = await client.query({ query: 'SELECT count() AS c FROM all_types_csv', format: 'JSONEachRow' });
    expect(Number(((await res.json()) as { c: string }[])[0].c)).toBe(2000);
  });

  it('jsonpath-shaped rows hold every column value at its path', () => {
    const cols = COLUMNS.map((c, i) => ({ ...c, jsonpath: i % 2 ? `$.grp${i % 5}.${c.name}` : `$.${c.name}` }));
    const { fields } = compileSchema(cols, 1);
    for (const row of generateRows(cols, { rows: 20, seed: 1 })) {
      for (const f of fields) expect(getPath(row, f.path)).not.toBeUndefined();
    }
  });
});
