// WAL durability against chDB: crash replay, insert-without-checkpoint, group commit, wait=true,
// ClickHouse outages, backpressure and segments ClickHouse rejects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ingestor, IngestError, type IngestTarget } from '../../cli/src/ingest/index.js';
import { ChdbTestEngine } from '../helpers/chdb-engine.js';
import { col, count, createTarget, tempDir } from '../helpers/ingest-fixture.js';

let engine: ChdbTestEngine;
const cols = () => [col('id', 'UInt64'), col('v', 'String')];
const body = (from: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => JSON.stringify({ id: from + i, v: `r${from + i}` })).join('\n'));
const exactlyOnce = async (table: string) => ({
  rows: await count(engine, `SELECT count() AS c FROM ${table}`),
  distinct: await count(engine, `SELECT uniqExact(id) AS c FROM ${table}`),
});

beforeAll(() => {
  engine = new ChdbTestEngine(tempDir('dur-db'));
});
afterAll(async () => {
  await engine.close();
});

describe('WAL durability', () => {
  it('replays acknowledged rows after a crash, exactly once', async () => {
    const t = await createTarget(engine, 'crash1', cols());
    const walDir = tempDir('wal');
    // Nothing is flushed by age: the "crashed" process leaves every row only in the WAL.
    // No lock: `a` plays a process that crashed, whose lock the OS would see gone (tests/unit/wal-lock.test.ts).
    const a = new Ingestor({ engine, walDir, flushIntervalMs: 3_600_000, walLock: false });
    for (let i = 0; i < 10; i++) await a.ingest(t, body(i * 100, 100), {});
    expect(await count(engine, 'SELECT count() AS c FROM crash1')).toBe(0);
    // Crash: `a` is dropped without close(); a new process replays the same directory.
    const b = new Ingestor({ engine, walDir });
    await b.start();
    await b.flush();
    expect(await exactlyOnce('crash1')).toEqual({ rows: 1000, distinct: 1000 });
    await b.close();
    // A third start finds nothing left to replay.
    const c = new Ingestor({ engine, walDir });
    await c.start();
    await c.flush();
    expect(await exactlyOnce('crash1')).toEqual({ rows: 1000, distinct: 1000 });
    await c.close();
  });

  it('insert done + checkpoint lost → replay is deduplicated by the token', async () => {
    const t = await createTarget(engine, 'crash3', cols());
    const walDir = tempDir('wal');
    const copy = tempDir('walcopy');
    const a = new Ingestor({ engine, walDir, flushIntervalMs: 3_600_000, maxBatchRows: 300 });
    engine.failInserts = new Error('connect ECONNREFUSED'); // hold the flusher back while the WAL fills
    for (let i = 0; i < 4; i++) await a.ingest(t, body(i * 250, 250), {}); // one segment each (300-row limit)
    cpSync(walDir, copy, { recursive: true }); // WAL state just before the inserts
    engine.failInserts = undefined;
    await a.flush(); // inserts + checkpoints
    await a.close();
    expect(await count(engine, 'SELECT count() AS c FROM crash3')).toBe(1000);
    // Crash between insert and checkpoint = the WAL as it was before, while ClickHouse has the rows.
    const b = new Ingestor({ engine, walDir: copy });
    const inserts = engine.fileInserts;
    await b.start();
    await b.flush();
    expect(engine.fileInserts - inserts).toBe(4); // every segment was re-sent...
    expect(await exactlyOnce('crash3')).toEqual({ rows: 1000, distinct: 1000 }); // ...and dropped by ClickHouse
    await b.close();
  });

  it('group commit: 200 concurrent ingests share few fsyncs', async () => {
    const t = await createTarget(engine, 'gc', cols());
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 3_600_000 });
    await ing.start();
    const before = ing.stats().fsyncs;
    const res = await Promise.all(Array.from({ length: 200 }, (_, i) => ing.ingest(t, body(i, 1), {})));
    const fsyncs = ing.stats().fsyncs - before;
    console.log(`group commit: 200 concurrent ingests → ${fsyncs} fsyncs`);
    expect(res.every((r) => r.successful_rows === 1)).toBe(true);
    expect(fsyncs).toBeLessThan(20);
    await ing.flush();
    expect(await exactlyOnce('gc')).toEqual({ rows: 200, distinct: 200 });
    await ing.close();
  });

  it('wait=true resolves only once the rows are visible', async () => {
    const t = await createTarget(engine, 'waited', cols());
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 3_600_000 });
    for (let i = 0; i < 5; i++) {
      await ing.ingest(t, body(i * 10, 10), { wait: true });
      expect(await count(engine, 'SELECT count() AS c FROM waited')).toBe((i + 1) * 10);
    }
    await ing.close();
  });

  it('counts bodies still being converted against the backlog cap (concurrent large bodies)', async () => {
    const t = await createTarget(engine, 'reserve', cols());
    // Flushes held: the WAL only grows; bodies of ~40 KB go to conversion workers, all 10 at once.
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), maxWalBytes: 150_000 });
    await ing.hold('reserve');
    const bodies = Array.from({ length: 10 }, (_, i) => body(i * 2000, 2000));
    expect(bodies[0].length).toBeGreaterThan(30_000);
    const results = await Promise.allSettled(bodies.map((b) => ing.ingest(t, b, {})));
    const accepted = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    // Without the reservation all ten pass the check before any reaches the WAL.
    expect(accepted * bodies[0].length).toBeLessThanOrEqual(150_000);
    expect(accepted).toBeGreaterThan(0);
    for (const r of refused) expect((r.reason as IngestError).status).toBe(429);
    ing.release('reserve');
    await ing.flush();
    expect(await count(engine, 'SELECT count() AS c FROM reserve')).toBe(accepted * 2000);
    await ing.close();
  });

  it('keeps retrying while ClickHouse is down, refuses wait=true, and applies backpressure', async () => {
    const t = await createTarget(engine, 'outage', cols());
    const logs: string[] = [];
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 20, maxWalBytes: 20_000, log: (m) => logs.push(m) });
    engine.failInserts = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), {});
    try {
      expect((await ing.ingest(t, body(0, 50), {})).successful_rows).toBe(50);
      await new Promise((r) => setTimeout(r, 500));
      const err1 = await ing.ingest(t, body(50, 10), { wait: true }).catch((e: IngestError) => e);
      expect((err1 as IngestError).status).toBe(503);
      let got429: IngestError | undefined;
      for (let i = 0; i < 100 && !got429; i++) {
        got429 = await ing.ingest(t, body(1000 + i * 20, 20), {}).then(() => undefined, (e: IngestError) => e);
      }
      expect(got429?.status).toBe(429);
      expect(got429?.retryAfterSeconds).toBeGreaterThan(0);
      expect(logs.some((l) => /retry in/.test(l))).toBe(true);
    } finally {
      engine.failInserts = undefined;
    }
    await ing.flush();
    const n = await count(engine, 'SELECT count() AS c FROM outage');
    expect(n).toBe(await count(engine, 'SELECT uniqExact(id) AS c FROM outage'));
    expect(n).toBe(ing.stats().flushedRows);
    expect(ing.stats().walBytes).toBe(0);
    await ing.close();
  });

  it('finishes a split that failed part-way without inserting its rows again (a server without dedup tokens)', async () => {
    // As on 18.16: no dedup tokens, so only the flusher can keep a split's inserted ranges from going in twice.
    const caps = engine.caps as { insertDeduplicationToken: boolean };
    caps.insertDeduplicationToken = false;
    try {
      const t: IngestTarget = await createTarget(engine, 'splitagain', [col('id', 'UInt64'), col('n', 'String')], { n: 'UInt32' });
      // The split inserts row 1, finds row 2 bad, and then loses the server (once) as it sends rows 3-4.
      let lost = false;
      engine.beforeInsertLines = (table, lines) => {
        if (table !== 'splitagain' || lost || !lines.some((l) => (JSON.parse(l) as { id: number }).id === 3) || lines.length !== 2) return;
        lost = true;
        throw new Error('connect ECONNREFUSED 127.0.0.1:8123');
      };
      const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 50 });
      const lines = ['{"id":1,"n":"5"}', '{"id":2,"n":"abc"}', '{"id":3,"n":"7"}', '{"id":4,"n":"x"}'];
      await ing.ingest(t, Buffer.from(lines.join('\n')), {});
      await ing.flush();
      await ing.flush(); // the quarantine's own stream, written by the split
      expect(lost).toBe(true);
      expect(await engine.queryRows('SELECT id, n FROM splitagain ORDER BY id')).toEqual([{ id: 1, n: 5 }, { id: 3, n: 7 }]);
      const q = await engine.queryRows<{ c__line: string }>('SELECT c__line FROM splitagain_quarantine ORDER BY c__line');
      expect(q.map((r) => JSON.parse(r.c__line).id)).toEqual([2, 4]);
      await ing.close();
    } finally {
      engine.beforeInsertLines = undefined;
      caps.insertDeduplicationToken = true;
    }
  }, 60_000);

  it('sends the rows of a split with every digit they were stored with', async () => {
    // A Decimal(38, 10) has more digits than a double: a split that parsed the lines and sent them again rounded it.
    const t: IngestTarget = await createTarget(engine, 'splitdigits', [col('id', 'UInt64'), col('d', 'Decimal(38, 10)'), col('n', 'String')], { n: 'UInt32' });
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 50 });
    const lines = ['{"id":1,"d":"12345678901234567890.1234567891","n":"5"}', '{"id":2,"d":"1","n":"abc"}', '{"id":3,"d":"-98765432109876543210.0000000001","n":"7"}'];
    await ing.ingest(t, Buffer.from(lines.join('\n')), {});
    await ing.flush();
    await ing.flush(); // the quarantine's own stream, written by the split
    expect(await engine.queryRows('SELECT id, toString(d) AS d FROM splitdigits ORDER BY id')).toEqual([
      { id: 1, d: '12345678901234567890.1234567891' },
      { id: 3, d: '-98765432109876543210.0000000001' },
    ]);
    expect(await count(engine, 'SELECT count() AS c FROM splitdigits_quarantine')).toBe(1);
    await ing.close();
  });

  it('isolates rows ClickHouse rejects with a code it added later (632: data after a parsed value)', async () => {
    // The datafile says String, the live table says IPv6: ClickHouse parses `fe80::1` and refuses what follows.
    const t: IngestTarget = await createTarget(engine, 'drift6', [col('id', 'UInt64'), col('ip', 'String')], { ip: 'IPv6' });
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 50 });
    await ing.ingest(t, Buffer.from(['{"id":1,"ip":"::1"}', '{"id":2,"ip":"fe80::1%eth0"}'].join('\n')), {});
    await ing.flush();
    await ing.flush(); // the quarantine's own stream, written by the split
    expect(await engine.queryRows('SELECT id FROM drift6 ORDER BY id')).toEqual([{ id: 1 }]);
    const q = await engine.queryRows<{ c__line: string; c__error: string[] }>('SELECT c__line, c__error FROM drift6_quarantine');
    expect(q.map((r) => JSON.parse(r.c__line).id)).toEqual([2]);
    expect(q[0].c__error[0]).toMatch(/Unexpected data '%eth0/);
    await ing.close();
  });

  it('isolates rows ClickHouse rejects and quarantines them', async () => {
    // The datafile says String, the live table says UInt32: TypeScript accepts "abc", ClickHouse does not.
    const t: IngestTarget = await createTarget(engine, 'drift', [col('id', 'UInt64'), col('n', 'String')], { n: 'UInt32' });
    const walDir = tempDir('wal');
    const ing = new Ingestor({ engine, walDir });
    const lines = ['{"id":1,"n":"5"}', '{"id":2,"n":"abc"}', '{"id":3,"n":"7"}', '{"id":4,"n":"x"}'];
    const res = await ing.ingest(t, Buffer.from(lines.join('\n')), { wait: true });
    expect(res.successful_rows).toBe(4);
    await ing.flush();
    expect(await engine.queryRows('SELECT id, n FROM drift ORDER BY id')).toEqual([{ id: 1, n: 5 }, { id: 3, n: 7 }]);
    const q = await engine.queryRows<{ c__line: string; c__error: string[] }>('SELECT c__line, c__error FROM drift_quarantine ORDER BY c__line');
    expect(q.map((r) => JSON.parse(r.c__line).id)).toEqual([2, 4]);
    expect(q[0].c__error[0]).toMatch(/ClickHouse rejected the row/);
    await ing.close();
    expect(readdirSync(join(walDir, 'drift')).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
  });

  it('quarantines a row ClickHouse rejects with the exact digits of its numbers', async () => {
    const t: IngestTarget = await createTarget(engine, 'drift_digits', [col('id', 'UInt64'), col('amount', 'Decimal(38, 10)'), col('n', 'String')], { n: 'UInt32' });
    const ing = new Ingestor({ engine, walDir: tempDir('wal') });
    const body = '{"id":18446744073709551615,"amount":1234567890123456789.0123456789,"n":"abc"}';
    expect((await ing.ingest(t, Buffer.from(body), { wait: true })).successful_rows).toBe(1);
    await ing.flush();
    expect(await engine.queryRows('SELECT id, amount, n FROM drift_digits_quarantine')).toEqual([
      { id: '18446744073709551615', amount: '1234567890123456789.0123456789', n: 'abc' },
    ]);
    await ing.close();
  });
});
