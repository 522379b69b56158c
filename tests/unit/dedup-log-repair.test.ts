// The embedded engine's repair of deduplication records whose part never reached the disk, on chDB: a SIGKILL
// between ClickHouse writing the record of an insert's block and renaming its part into place leaves the record
// alone (simulated here by removing the part's folder, and a `status` file of a dead process, as a crash leaves
// both). A replay of that insert with its dedup token must then insert the rows, where before it was dropped as
// a duplicate; a replay of an insert whose part is on disk, or merged into another, must still be dropped.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedEngine } from '../../cli/src/engine/embedded.js';
import { tempDir } from '../helpers/ingest-fixture.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

const insert = (engine: EmbeddedEngine, token: string, ids: number[]) =>
  engine.insertRows('t', ids.map((id) => ({ id })), { settings: { insert_deduplication_token: token, insert_deduplicate: 1 } });
const count = async (engine: EmbeddedEngine) => Number((await engine.queryRows<{ c: number }>('SELECT count() AS c FROM t'))[0].c);

/** Two inserts (tokens seg-1 and seg-2), then the engine closed as a crash would leave it: seg-2's part gone. */
async function crashedAfterSecondInsert(statusPid: number, opts: { mergeFirst?: boolean } = {}): Promise<{ dataDir: string; tableDir: string }> {
  const dataDir = path.join(tempDir('dedup-repair'), '.data');
  dirs.push(path.dirname(dataDir));
  const engine = await EmbeddedEngine.open(dataDir);
  await engine.command('CREATE TABLE t (id UInt32) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100');
  await insert(engine, 'seg-1', [1, 2]);
  await insert(engine, 'seg-2', [3, 4]);
  if (opts.mergeFirst) await engine.command('OPTIMIZE TABLE t FINAL');
  const [{ p }] = await engine.queryRows<{ p: string[] }>("SELECT data_paths AS p FROM system.tables WHERE database = currentDatabase() AND name = 't'");
  await engine.close();
  const tableDir = p[0];
  if (!opts.mergeFirst) rmSync(path.join(tableDir, 'all_2_2_0'), { recursive: true });
  writeFileSync(path.join(dataDir, 'status'), `PID: ${statusPid}\nStarted at: 2026-12-06 00:00:00\nRevision: 54513\n`);
  return { dataDir, tableDir };
}

describe('dedup records without their part', () => {
  it('are ended at open, so the replay inserts the lost rows, while a replay of a part on disk is still dropped', async () => {
    const { dataDir, tableDir } = await crashedAfterSecondInsert(deadPid());
    // A record the crash cut off mid-line, too.
    const logDir = path.join(tableDir, 'deduplication_logs');
    const newest = readdirSync(logDir).sort().at(-1)!;
    appendFileSync(path.join(logDir, newest), '1\tall_7_7_0\tall_1234');
    const engine = await EmbeddedEngine.open(dataDir);
    try {
      expect(engine.dedupRepairs).toEqual([{ table: expect.stringMatching(/\.t$/), parts: ['all_2_2_0'] }]);
      expect(readdirSync(logDir).map((f) => readFileSync(path.join(logDir, f), 'utf8')).join('')).not.toContain('all_1234'); // the torn line is cut off
      expect(await count(engine)).toBe(2);
      await insert(engine, 'seg-2', [3, 4]); // the write-ahead log's replay
      expect(await count(engine)).toBe(4);
      await insert(engine, 'seg-1', [1, 2]); // its part is on disk: still a duplicate
      await insert(engine, 'seg-2', [3, 4]); // and now this one too
      expect(await count(engine)).toBe(4);
    } finally {
      await engine.close();
    }
  });

  it('keeps the records of parts merged into another part', async () => {
    const { dataDir } = await crashedAfterSecondInsert(deadPid(), { mergeFirst: true });
    const engine = await EmbeddedEngine.open(dataDir);
    try {
      expect(engine.dedupRepairs).toEqual([]);
      await insert(engine, 'seg-1', [1, 2]);
      await insert(engine, 'seg-2', [3, 4]);
      expect(await count(engine)).toBe(4);
    } finally {
      await engine.close();
    }
  });

  it('leaves a folder alone while its status file names a live process (this one here), so that replay is lost as before', async () => {
    const { dataDir } = await crashedAfterSecondInsert(process.pid);
    const engine = await EmbeddedEngine.open(dataDir);
    try {
      expect(engine.dedupRepairs).toEqual([]);
      await insert(engine, 'seg-2', [3, 4]);
      expect(await count(engine)).toBe(2); // what every crash in that window did before the repair
    } finally {
      await engine.close();
    }
    expect(existsSync(dataDir)).toBe(true);
  });
});
