// Bad-input corpus through the whole path: body → WAL → chDB, checking statuses, counts and reasons.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { Ingestor, IngestError, type IngestTarget } from '../../cli/src/ingest/index.js';
import { ChdbTestEngine } from '../helpers/chdb-engine.js';
import { col, count, createTarget, tempDir } from '../helpers/ingest-fixture.js';

let engine: ChdbTestEngine;
let ing: Ingestor;
let t: IngestTarget;

beforeAll(async () => {
  engine = new ChdbTestEngine(tempDir('corpus-db'));
  t = await createTarget(engine, 'events', [
    col('id', 'UInt32'),
    col('ts', 'DateTime', { jsonpath: '$.ts' }),
    col('kind', "Enum8('open' = 1, 'click' = 2)"),
    col('email', 'String', { jsonpath: '$.user.email', default: "'nobody'" }),
    col('tags', 'Array(String)', { jsonpath: '$.tags[:]' }),
    col('score', 'Nullable(Float64)'),
    col('amount', 'Decimal(10, 2)', { default: '0' }),
    col('uid', 'UUID', { default: 'generateUUIDv4()' }),
    col('raw', 'String', { jsonpath: '$' }),
  ]);
  ing = new Ingestor({ engine, walDir: tempDir('corpus-wal'), flushIntervalMs: 50 });
  await ing.start();
});
afterAll(async () => {
  await ing.close();
  await engine.close();
});

const good = (id: number, extra: object = {}) => JSON.stringify({ id, ts: '2024-05-01T10:00:00Z', kind: 'open', user: { email: `u${id}@x.io` }, tags: ['a'], score: 1.5, ...extra });

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof IngestError) return e.status;
    throw e;
  }
  return 200;
}

describe('events corpus', () => {
  it('mixes malformed, wrong-typed, missing and extra fields with good rows', async () => {
    const lines = [
      good(1),
      '{"id": 2, "ts": ', // malformed JSON
      good(3, { extra_field: 'ignored', nested: { x: 1 } }),
      good(4, { id: -1 }), // out of range UInt32
      good(5, { kind: 'bounce' }), // not an enum member
      good(6, { ts: 'not a date', score: 'high' }), // two bad columns
      JSON.stringify({ id: 7, ts: 1714557600, kind: 2 }), // missing email/tags/score/amount/uid → defaults
      good(8, { tags: 'notarray' }),
      '[1,2,3]', // valid JSON, not an object
      good(9, { score: null, amount: '12.5' }),
      good(10, { user: { email: 'x'.repeat(200_000) } }), // huge string is fine
    ];
    const res = await ing.ingest(t, Buffer.from(lines.join('\n')), { wait: true });
    expect(res.successful_rows).toBe(5);
    expect(res.quarantined_rows).toBe(6);
    const byLine = Object.fromEntries(res.quarantine!.map((q) => [q.line, q.error]));
    expect(byLine[2]).toMatch(/invalid JSON/);
    expect(byLine[4]).toMatch(/column id: value -1: out of range for UInt32/);
    expect(byLine[5]).toMatch(/column kind: value "bounce": not a member of Enum8/);
    expect(byLine[6]).toMatch(/column ts: .*column score: /);
    expect(byLine[8]).toMatch(/column tags: value "notarray": expected a JSON array/);
    expect(byLine[9]).toMatch(/not a JSON object/);

    const rows = await engine.queryRows<Record<string, unknown>>('SELECT id, toUnixTimestamp(ts) AS ts, kind, email, tags, score, amount, length(raw) > 10 AS has_raw, uid != toUUID(\'00000000-0000-0000-0000-000000000000\') AS has_uid FROM events ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([1, 3, 7, 9, 10]);
    const r7 = rows.find((r) => r.id === 7)!;
    expect(r7).toMatchObject({ ts: 1714557600, kind: 'click', email: 'nobody', tags: [], score: null, amount: 0, has_uid: 1 });
    expect(rows.find((r) => r.id === 9)).toMatchObject({ score: null, amount: 12.5 });
    expect(String(rows.find((r) => r.id === 10)!.email).length).toBe(200_000);

    const q = await engine.queryRows<Record<string, unknown>>('SELECT c__error_column, c__error, c__line, id, ts, score FROM events_quarantine ORDER BY c__line');
    expect(q.length).toBe(6);
    const q6 = q.find((r) => (r.c__error_column as string[]).includes('ts'))!;
    expect(q6).toMatchObject({ c__error_column: ['ts', 'score'], id: '6', ts: 'not a date', score: 'high' });
    expect(q.find((r) => r.c__line === '[1,2,3]')).toMatchObject({ c__error: ['line is not a JSON object'], id: null });
  });

  it('accepts gzip bodies, JSON arrays and single objects', async () => {
    const gz = gzipSync(Buffer.from([good(100), good(101)].join('\n')));
    expect(await ing.ingest(t, gz, { contentEncoding: 'gzip', wait: true })).toEqual({ successful_rows: 2, quarantined_rows: 0 });
    expect((await ing.ingest(t, Buffer.from(`[${good(102)},${good(103)}]`), { wait: true })).successful_rows).toBe(2);
    expect((await ing.ingest(t, Buffer.from(JSON.stringify(JSON.parse(good(104)), null, 2)), { wait: true })).successful_rows).toBe(1);
    expect(await count(engine, 'SELECT count() AS c FROM events WHERE id BETWEEN 100 AND 104')).toBe(5);
  });

  it('quarantines invalid UTF-8 lines with their line number', async () => {
    const body = Buffer.concat([Buffer.from(good(200) + '\n' + '{"id":201,"email":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
    const res = await ing.ingest(t, body, { wait: true });
    expect(res).toMatchObject({ successful_rows: 1, quarantined_rows: 1, quarantine: [{ line: 2, error: 'invalid UTF-8' }] });
  });

  it('rejects unusable requests without writing anything', async () => {
    const before = ing.stats();
    expect(await status(ing.ingest(t, Buffer.alloc(0), {}))).toBe(400);
    expect(await status(ing.ingest(t, Buffer.from('just text\nmore text'), {}))).toBe(400);
    expect(await status(ing.ingest(t, Buffer.from(good(1)), { contentEncoding: 'gzip' }))).toBe(400);
    const small = new Ingestor({ engine, walDir: tempDir('corpus-wal2'), maxBodyBytes: 100 });
    expect(await status(small.ingest(t, Buffer.from(good(1) + '\n' + good(2)), {}))).toBe(413);
    expect(await status(small.ingest(t, gzipSync(Buffer.from((good(1) + '\n').repeat(50))), { contentEncoding: 'gzip' }))).toBe(413);
    await small.close();
    expect(ing.stats().quarantinedRows).toBe(before.quarantinedRows);
  });
});
