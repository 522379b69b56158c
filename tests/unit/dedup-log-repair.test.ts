// The embedded engine's repair of deduplication records whose part never reached the disk, on chDB: a SIGKILL
// between ClickHouse writing the record of an insert's block and renaming its part into place leaves the record
// alone (simulated here as a crash leaves it: the part's folder gone, its temporary folder and an unlocked
// `status` file left behind). A replay of that insert with its dedup token must then insert the rows, where
// before it was dropped as a duplicate; a replay of an insert whose part is on disk, or merged into another, must
// still be dropped; and a folder whose `status` another process holds locked is not touched.
import { spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedEngine } from '../../cli/src/engine/embedded.js';
import { repairDedupLogs } from '../../cli/src/engine/dedup-log-repair.js';
import { tempDir } from '../helpers/ingest-fixture.js';

const dirs: string[] = [];
async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(check()).toBe(true);
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const insert = (engine: EmbeddedEngine, token: string, ids: number[]) =>
  engine.insertRows('t', ids.map((id) => ({ id })), { settings: { insert_deduplication_token: token, insert_deduplicate: 1 } });
const count = async (engine: EmbeddedEngine) => Number((await engine.queryRows<{ c: number }>('SELECT count() AS c FROM t'))[0].c);

/** Two inserts (tokens seg-1 and seg-2), then the engine closed as a crash would leave it: seg-2's part gone. */
async function crashedAfterSecondInsert(opts: { mergeFirst?: boolean } = {}): Promise<{ dataDir: string; tableDir: string }> {
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
  if (opts.mergeFirst) {
    // Only the merged part is left, as once ClickHouse has removed the outdated ones.
    expect(existsSync(path.join(tableDir, 'all_1_2_1'))).toBe(true);
    for (const part of ['all_1_1_0', 'all_2_2_0']) rmSync(path.join(tableDir, part), { recursive: true, force: true });
  } else {
    rmSync(path.join(tableDir, 'all_2_2_0'), { recursive: true });
    mkdirSync(path.join(tableDir, 'tmp_insert_all_2_2_0'));
  }
  writeFileSync(path.join(dataDir, 'status'), `PID: 4194000\nStarted at: 2026-12-06 00:00:00\nRevision: 54513\n`);
  return { dataDir, tableDir };
}

describe('dedup records without their part', () => {
  it('are ended at open, so the replay inserts the lost rows, while a replay of a part on disk is still dropped', async () => {
    const { dataDir, tableDir } = await crashedAfterSecondInsert();
    // A record the crash cut off mid-line, too.
    const logDir = path.join(tableDir, 'deduplication_logs');
    const newest = readdirSync(logDir).sort().at(-1)!;
    appendFileSync(path.join(logDir, newest), '1\tall_7_7_0\tall_1234');
    // The state is the bug: a copy of the folder opened without the repair drops the replay.
    const unrepaired = `${dataDir}-as-it-was`;
    cpSync(dataDir, unrepaired, { recursive: true, verbatimSymlinks: true });
    const before = await EmbeddedEngine.open(unrepaired, { repairDedupLogs: false });
    try {
      await insert(before, 'seg-2', [3, 4]);
      expect(await count(before)).toBe(2);
    } finally {
      await before.close();
    }
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
    const { dataDir } = await crashedAfterSecondInsert({ mergeFirst: true });
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

  it('leaves a folder alone while another process holds its status file locked, as a running chDB does', async () => {
    const { dataDir, tableDir } = await crashedAfterSecondInsert();
    const logs = () => readdirSync(path.join(tableDir, 'deduplication_logs')).sort();
    const before = logs();
    // flock(1) holds the same kind of lock ClickHouse's status file takes.
    const holder = spawn('flock', ['--exclusive', path.join(dataDir, 'status'), 'sleep', '30'], { stdio: 'ignore', detached: true });
    try {
      await eventually(() => readFileSync('/proc/locks', 'utf8').includes(`:${statSync(path.join(dataDir, 'status')).ino} `));
      expect(repairDedupLogs(dataDir)).toEqual([]);
      expect(logs()).toEqual(before);
    } finally {
      const exited = new Promise((r) => holder.once('exit', r));
      process.kill(-holder.pid!, 'SIGKILL'); // flock and its sleep, which shares the lock
      await exited;
      await eventually(() => !readFileSync('/proc/locks', 'utf8').includes(`:${statSync(path.join(dataDir, 'status')).ino} `));
    }
    // Once nobody holds it, the same folder is repaired, and the replay is inserted.
    expect(repairDedupLogs(dataDir)).toEqual([{ table: expect.stringMatching(/\.t$/), parts: ['all_2_2_0'] }]);
    const engine = await EmbeddedEngine.open(dataDir);
    try {
      expect(engine.dedupRepairs).toEqual([]); // nothing left to end
      await insert(engine, 'seg-2', [3, 4]);
      expect(await count(engine)).toBe(4);
    } finally {
      await engine.close();
    }
  });
});
