// Ingestor.hold/release against chDB: a held table gets no insert (the one in flight finishes first), ingest
// keeps acknowledging into the WAL, and after a rewrite + swap the release puts every row in the new table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ingestor } from '../../cli/src/ingest/index.js';
import { withWritersHeld } from '../../cli/src/server/table-rewrite.js';
import type { Workspace } from '../../cli/src/server/workspace.js';
import type { QueryOptions } from '../../cli/src/engine/types.js';
import { ChdbTestEngine } from '../helpers/chdb-engine.js';
import { col, count, createTarget, tempDir } from '../helpers/ingest-fixture.js';

/** Lets a test keep an insert "in flight" until it opens the gate. */
class GatedEngine extends ChdbTestEngine {
  gate?: Promise<void>;
  override async insertNdjsonFile(table: string, path: string, opts: QueryOptions & { dedupToken?: string } = {}): Promise<void> {
    if (this.gate) await this.gate;
    return super.insertNdjsonFile(table, path, opts);
  }
}

let engine: GatedEngine;
const cols = () => [col('id', 'UInt64'), col('v', 'String')];
const body = (from: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => JSON.stringify({ id: from + i, v: `r${from + i}` })).join('\n'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exactlyOnce = async (table: string) => ({
  rows: await count(engine, `SELECT count() AS c FROM ${table}`),
  distinct: await count(engine, `SELECT uniqExact(id) AS c FROM ${table}`),
});
async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}

beforeAll(() => {
  engine = new GatedEngine(tempDir('hold-db'));
});
afterAll(async () => {
  await engine.close();
});

describe('Ingestor hold/release', () => {
  it('waits for the insert in flight, holds later ones, and after a swap puts every row in the new table exactly once', async () => {
    const t = await createTarget(engine, 'held1', cols());
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 30 });
    await ing.ingest(t, body(0, 100), { wait: true });
    let open!: () => void;
    engine.gate = new Promise<void>((r) => (open = r));
    await ing.ingest(t, body(100, 100)); // sealed by age; its insert waits at the gate
    await sleep(150); // sealed (30 ms) and handed to the insert, which waits at the gate
    let holdDone = false;
    const held = ing.hold('held1').then(() => (holdDone = true));
    await sleep(200);
    expect(holdDone).toBe(false); // the insert in flight is not finished yet
    engine.gate = undefined;
    open();
    await held;
    expect(await count(engine, 'SELECT count() AS c FROM held1')).toBe(200);

    // Held: acknowledged (single and batch) but not inserted.
    for (let i = 0; i < 10; i++) await ing.ingest(t, body(200 + i, 1));
    await ing.ingest(t, body(210, 290));
    await sleep(300);
    expect(await count(engine, 'SELECT count() AS c FROM held1')).toBe(200);
    expect(ing.stats().pendingRows).toBe(300);
    await ing.flush(); // does not wait for a held table
    expect(await count(engine, 'SELECT count() AS c FROM held1')).toBe(200);

    // The rewrite a deploy does: copy into a new table, swap, drop the old one.
    await engine.command('CREATE TABLE held1__new (id UInt64, v String) ENGINE = MergeTree ORDER BY id');
    await engine.command('INSERT INTO held1__new SELECT * FROM held1');
    await engine.command('EXCHANGE TABLES held1 AND held1__new');
    await engine.command('DROP TABLE held1__new');
    ing.release('held1');
    await ing.flush();
    expect(await exactlyOnce('held1')).toEqual({ rows: 500, distinct: 500 });
    expect(ing.held()).toEqual([]);
    await ing.close();
  });

  it('a hold taken before the stream exists (or before start) holds the replay and the first rows too', async () => {
    const t = await createTarget(engine, 'held2', cols());
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 30 });
    await ing.hold('held2');
    await ing.ingest(t, body(0, 50));
    await sleep(300);
    expect(await count(engine, 'SELECT count() AS c FROM held2')).toBe(0);
    ing.release('held2');
    await until(async () => (await count(engine, 'SELECT count() AS c FROM held2')) === 50);
    await ing.close();
  });

  it('counts holds: a table held by two operations stays held until both release it', async () => {
    const t = await createTarget(engine, 'held5', cols());
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 30 });
    await ing.hold('held5'); // e.g. a replace
    await ing.hold('held5'); // and a dev rebuild of the same table
    await ing.ingest(t, body(0, 30));
    ing.release('held5'); // the first one ends
    await sleep(300);
    expect(await count(engine, 'SELECT count() AS c FROM held5')).toBe(0);
    expect(ing.held()).toEqual(['held5']);
    ing.release('held5');
    await until(async () => (await count(engine, 'SELECT count() AS c FROM held5')) === 30);
    expect(ing.held()).toEqual([]);
    ing.release('held5'); // one release too many is harmless
    await ing.close();
  });

  it('a hold nobody releases ends after its timeout, with a warning', async () => {
    const t = await createTarget(engine, 'held3', cols());
    const logs: string[] = [];
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 30, maxHoldMs: 400, log: (m) => logs.push(m) });
    await ing.hold('held3');
    await ing.ingest(t, body(0, 20));
    await sleep(200);
    expect(await count(engine, 'SELECT count() AS c FROM held3')).toBe(0);
    await until(async () => (await count(engine, 'SELECT count() AS c FROM held3')) === 20);
    expect(logs.join('\n')).toMatch(/flushes to held3 held for \d+ s without release; resuming/);
    await ing.close();
  });

  it("a rewrite holds this process's flushes for as long as it runs, and knows when its hold ended anyway", async () => {
    // Found by review: under dev the hold lapsed after the ingestor's 15 minutes while a long replace ran on, and
    // the swap then dropped the rows flushed meanwhile. The rewrite now holds longer than its statements may run,
    // and stillHeld() turns false if its own hold ended all the same.
    const t = await createTarget(engine, 'held7', cols());
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 30, maxHoldMs: 200 });
    const ws = { ingestor: ing } as unknown as Workspace;
    await withWritersHeld(ws, ['held7'], async (stillHeld) => {
      await ing.ingest(t, body(0, 20), { wait: false });
      await sleep(500); // past the ingestor's own 200 ms default
      expect(await stillHeld()).toBe(true);
      expect(await count(engine, 'SELECT count() AS c FROM held7')).toBe(0);
      ing.release('held7'); // someone ends the hold under the rewrite
      await sleep(5);
      await ing.hold('held7'); // and another operation takes one: flushes may have run in between
      expect(await stillHeld()).toBe(false);
      ing.release('held7');
    });
    await ing.flush();
    expect(await exactlyOnce('held7')).toEqual({ rows: 20, distinct: 20 });
    await ing.close();
  });

  it('a hold cuts a retry backoff short instead of waiting for ClickHouse to come back', async () => {
    const t = await createTarget(engine, 'held4', cols());
    const ing = new Ingestor({ engine, walDir: tempDir('wal'), flushIntervalMs: 30 });
    engine.failInserts = new Error('connect ECONNREFUSED');
    const before = engine.fileInserts;
    await ing.ingest(t, body(0, 30));
    await until(async () => engine.fileInserts >= before + 3); // in backoff (200, 400, 800 ms ...)
    const t0 = Date.now();
    await ing.hold('held4');
    expect(Date.now() - t0).toBeLessThan(500);
    engine.failInserts = undefined;
    await sleep(300);
    expect(await count(engine, 'SELECT count() AS c FROM held4')).toBe(0);
    ing.release('held4');
    await ing.flush();
    expect(await exactlyOnce('held4')).toEqual({ rows: 30, distinct: 30 });
    await ing.close();
  });
});
