// One process per write-ahead log folder (cli/src/ingest/wal-lock.ts), with real processes: a live holder is
// named, a killed one is replaced at once, a lock that stopped being refreshed is taken over, a holder that lost
// its folder hears about it, processes racing for a folder hold it one at a time, and a full disk does not stop a
// restart from taking its folder.
import { execa, type ResultPromise } from 'execa';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { lutimes } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Ingestor, IngestError } from '../../cli/src/ingest/index.js';
import { WAL_LOCK_FILE, WalInUseError, WalLock } from '../../cli/src/ingest/wal-lock.js';
import { MACHINE_TAG } from '../../cli/src/util/process.js';
import { ChdbTestEngine } from '../helpers/chdb-engine.js';
import { REPO } from '../helpers/cli.js';
import { col, createTarget, tempDir } from '../helpers/ingest-fixture.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

const HOLDER = path.join(REPO, 'tests/helpers/wal-lock-holder.ts');
const RUN_TS = path.join(REPO, 'bin/run-ts.mjs');
const children: ResultPromise[] = [];
afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

function child(args: string[]): ResultPromise {
  const p = execa('node', [RUN_TS, HOLDER, ...args], { reject: false, all: true, buffer: true });
  children.push(p);
  return p;
}

/** Wrapped: an execa process is a promise, which an async function's return would wait for. */
async function holdInChild(dir: string): Promise<{ proc: ResultPromise }> {
  const p = child(['hold', dir]);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    p.all!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('held')) resolve();
    });
    void p.then(() => reject(new Error(`the holder exited before taking the lock:\n${out}`)));
  });
  return { proc: p };
}

const quiet = { hint: 'test hint', onLost: () => {} };

/**
 * A lock as another process would have left it: `pid` started at `start`, `machine` tag, last refreshed `ageMs`
 * ago (negative: in the future, so it never goes stale). `name`: the lock's file, or its takeover claim.
 */
async function plantLock(dir: string, pid: number, machine: string, ageMs: number, start = '-', name = WAL_LOCK_FILE): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  symlinkSync(`00112233aabbccdd.${pid}.${start}.${machine}`, file);
  const t = new Date(Date.now() - ageMs);
  await lutimes(file, t, t);
}

/** Puts another holder's link in place of `dir`'s lock in one step (rename over it), as a takeover leaves it. */
function replaceLock(dir: string, text: string): void {
  const tmp = path.join(dir, 'other-holder.tmp');
  symlinkSync(text, tmp);
  renameSync(tmp, path.join(dir, WAL_LOCK_FILE));
}

describe('one process per write-ahead log folder', () => {
  it('refuses a second claim in the same process, naming it, and hands the folder on after release', async () => {
    const dir = tempDir('wal-lock-self');
    const a = await WalLock.acquire(dir, quiet);
    const refused = await WalLock.acquire(dir, quiet).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WalInUseError);
    expect((refused as Error).message).toContain(`pid ${process.pid}, this process`);
    expect((refused as Error).message).toContain('test hint');
    await a.release();
    expect(existsSync(path.join(dir, WAL_LOCK_FILE))).toBe(false);
    const b = await WalLock.acquire(dir, quiet);
    await b.release();
  });

  it('names a live holder process at once, and takes the folder at once when that process is killed', async () => {
    const dir = tempDir('wal-lock-kill');
    const { proc: holder } = await holdInChild(dir);
    const refusedLogs: string[] = [];
    const refused = await WalLock.acquire(dir, { ...quiet, log: (m) => refusedLogs.push(m) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WalInUseError);
    expect((refused as Error).message).toContain(`pid ${holder.pid} on `);
    expect((refused as Error).message).toContain('(wal-lock-holder hold, since ');
    expect(refusedLogs).toEqual([]); // refused at once: a live process here is not waited for

    holder.kill('SIGKILL');
    await holder;
    const logs: string[] = [];
    const lock = await WalLock.acquire(dir, { ...quiet, log: (m) => logs.push(m) });
    expect(logs.join('\n')).toMatch(new RegExp(`took over the write-ahead log .* from pid ${holder.pid} .*which is no longer running`));
    expect(logs.join('\n')).not.toContain('waiting');
    await lock.release();
  });

  it('takes over a lock of another machine that stays unchanged, and refuses one that keeps being refreshed after waiting for it', async () => {
    // However old its mtime (another clock), a link from elsewhere is watched for staleMs of this clock first.
    const stale = tempDir('wal-lock-stale');
    await plantLock(stale, 4242, 'ffffffffffff', -3_600_000);
    const logs: string[] = [];
    const lock = await WalLock.acquire(stale, { ...quiet, staleMs: 1_000, log: (m) => logs.push(m) });
    expect(logs.join('\n')).toContain('pid 4242 on another machine or container');
    expect(logs.join('\n')).toMatch(/has not refreshed its lock for \d+ s/);
    expect(readlinkSync(path.join(stale, WAL_LOCK_FILE))).toContain(`.${process.pid}.`);
    await lock.release();

    // Refreshed every 100 ms, as its holder would (every second): it never stays unchanged for 3 s.
    const fresh = tempDir('wal-lock-fresh');
    await plantLock(fresh, 4242, 'ffffffffffff', 0);
    let tick = 0;
    const refresh = setInterval(() => {
      const t = new Date(Date.now() + ++tick);
      void lutimes(path.join(fresh, WAL_LOCK_FILE), t, t);
    }, 100);
    try {
      const waitLogs: string[] = [];
      const refused = await WalLock.acquire(fresh, { ...quiet, staleMs: 3_000, heartbeatMs: 200, log: (m) => waitLogs.push(m) }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(WalInUseError);
      expect((refused as Error).message).toContain('pid 4242 on another machine or container');
      expect(waitLogs.join('\n')).toMatch(/waiting up to \d+ s in case it has stopped/);
    } finally {
      clearInterval(refresh);
    }
  });

  it('tells a holder whose folder was taken over, and its release leaves the new holder alone', async () => {
    const dir = tempDir('wal-lock-lost');
    const lost: string[] = [];
    let heard!: () => void;
    const told = new Promise<void>((r) => (heard = r));
    const lock = await WalLock.acquire(dir, { ...quiet, heartbeatMs: 100, onLost: (m) => (lost.push(m), heard()) });
    const file = path.join(dir, WAL_LOCK_FILE);
    // What a takeover leaves: another holder's link in its place. The heartbeat finds it.
    replaceLock(dir, '99887766aabbccdd.4242.-.ffffffffffff');
    await told;
    expect(lost).toHaveLength(1);
    expect(lost[0]).toContain(`the write-ahead log folder ${dir} was taken over by pid 4242`);
    expect(lost[0]).toContain('stopped taking events');
    expect(await lock.verify()).toBe(false);
    await lock.release();
    expect(readlinkSync(file)).toBe('99887766aabbccdd.4242.-.ffffffffffff');
  });

  it('stops holding a folder whose lock was removed (the process that removed it may have replayed the folder and left)', async () => {
    const dir = tempDir('wal-lock-removed');
    const lost: string[] = [];
    const lock = await WalLock.acquire(dir, { ...quiet, onLost: (m) => lost.push(m) });
    unlinkSync(path.join(dir, WAL_LOCK_FILE));
    expect(await lock.verify()).toBe(false);
    expect(lost).toEqual([expect.stringContaining(`another process, or nobody: its lock ${path.join(dir, WAL_LOCK_FILE)} was removed`)]);
    expect(existsSync(path.join(dir, WAL_LOCK_FILE))).toBe(false);
    await lock.release();
  });

  it('takes a lock of this machine whose pid now runs another process (a pid reused), and refuses a live holder however old its lock', async () => {
    const reused = tempDir('wal-lock-reused');
    // This process's own pid, recorded with another start time: the process that wrote it is gone.
    await plantLock(reused, process.pid, MACHINE_TAG, 0, '1');
    const logs: string[] = [];
    const lock = await WalLock.acquire(reused, { ...quiet, log: (m) => logs.push(m) });
    expect(logs.join('\n')).toContain(`from pid ${process.pid} on `);
    expect(logs.join('\n')).toContain('which is no longer running');
    await lock.release();

    // A holder frozen (SIGSTOP) long enough for its lock to look stale is still alive: refused, not taken over.
    const frozenDir = tempDir('wal-lock-frozen');
    const { proc: frozen } = await holdInChild(frozenDir);
    frozen.kill('SIGSTOP');
    const old = new Date(Date.now() - 60_000);
    await lutimes(path.join(frozenDir, WAL_LOCK_FILE), old, old);
    const refused = await WalLock.acquire(frozenDir, { ...quiet, staleMs: 2_000 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WalInUseError);
    expect((refused as Error).message).toContain(`pid ${frozen.pid} on `);
    frozen.kill('SIGCONT');
    frozen.kill('SIGKILL');
  });

  it('removes a takeover claim its taker left when it died, then takes the folder', async () => {
    const dir = tempDir('wal-lock-claim');
    // Both written by a process of this pid that started at another time: gone.
    await plantLock(dir, process.pid, MACHINE_TAG, 0, '1');
    await plantLock(dir, process.pid, MACHINE_TAG, 0, '1', `${WAL_LOCK_FILE}.takeover`);
    const lock = await WalLock.acquire(dir, quiet);
    expect(readlinkSync(path.join(dir, WAL_LOCK_FILE))).toContain(`.${process.pid}.`);
    expect(existsSync(path.join(dir, `${WAL_LOCK_FILE}.takeover`))).toBe(false);
    await lock.release();
  });

  it('lets exactly one of twenty claims racing over a stale lock win (their takeovers interleave at every await)', async () => {
    for (let round = 0; round < 5; round++) {
      const dir = tempDir('wal-lock-takeover');
      await plantLock(dir, 4242, 'ffffffffffff', 60_000);
      const claims = await Promise.allSettled(Array.from({ length: 20 }, () => WalLock.acquire(dir, { ...quiet, staleMs: 500 })));
      const won = claims.filter((c): c is PromiseFulfilledResult<WalLock> => c.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const c of claims) if (c.status === 'rejected') expect(c.reason).toBeInstanceOf(WalInUseError);
      expect(readlinkSync(path.join(dir, WAL_LOCK_FILE))).toContain(`.${process.pid}.`);
      await won[0].value.release();
    }
  });

  it('hands a folder to racing processes one at a time, starting from a dead holder and from a stale lock', async () => {
    for (const start of ['dead', 'stale'] as const) {
      const dir = tempDir(`wal-lock-race-${start}`);
      // Dead: this test's own pid with another start time (a pid reused); stale: another machine's, unchanged.
      if (start === 'dead') await plantLock(dir, process.pid, MACHINE_TAG, 0, '1');
      else await plantLock(dir, 4242, 'ffffffffffff', 60_000);
      const log = path.join(dir, 'holders.log');
      writeFileSync(log, '');
      const racers = Array.from({ length: 4 }, () => child(['contend', dir, log, '300', '1000']));
      const results = await Promise.all(racers);
      for (const r of results) expect(r.exitCode, String(r.all)).toBe(0);
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(8);
      // Appended while holding: every acquire is followed by the same process's release before the next acquire.
      for (let i = 0; i < lines.length; i += 2) {
        const [what, pid] = lines[i].split(' ');
        expect(what).toBe('acquire');
        expect(lines[i + 1]).toBe(`release ${pid}`);
      }
      expect(new Set(lines.map((l) => l.split(' ')[1])).size).toBe(4);
    }
  }, 60_000);

  it('takes its folder on a full disk (the lock needs no data block), the details file left out', async () => {
    const disk = mountTmpfs(1024 * 1024);
    try {
      const dir = path.join(disk.dir, 'wal');
      mkdirSync(dir);
      let fill = 0;
      try {
        for (;;) {
          disk.ballast(64 * 1024);
          fill++;
        }
      } catch {
        /* full */
      }
      for (;;) {
        try {
          disk.ballast(512);
        } catch {
          break;
        }
      }
      expect(fill).toBeGreaterThan(0);
      expect(() => writeFileSync(path.join(dir, 'probe'), 'x'.repeat(4096))).toThrow(/ENOSPC/);
      const lock = await WalLock.acquire(dir, quiet);
      expect(lstatSync(path.join(dir, WAL_LOCK_FILE)).isSymbolicLink()).toBe(true);
      const refused = await WalLock.acquire(dir, quiet).catch((e: unknown) => e);
      expect((refused as Error).message).toContain(`pid ${process.pid}, this process`);
      await lock.release();
    } finally {
      disk.unmount();
    }
  });
});

describe('the ingestor and its folder (chDB)', () => {
  it('refuses a folder another ingestor holds, names it, and takes it once that one is closed; refused events say why', async () => {
    const engine = new ChdbTestEngine(tempDir('wal-lock-db'));
    try {
      const t = await createTarget(engine, 'locked', [col('id', 'UInt64')]);
      const walDir = tempDir('wal-lock-ingestor');
      const a = new Ingestor({ engine, walDir, walLock: { hint: 'give it another folder' } });
      await a.ingest(t, Buffer.from('{"id":1}\n'));
      const b = new Ingestor({ engine, walDir, walLock: { hint: 'give it another folder' } });
      const refused = await b.start().catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(WalInUseError);
      expect((refused as Error).message).toContain('give it another folder');
      await b.close(); // a failed start leaves nothing to flush and nothing held

      const c = new Ingestor({ engine, walDir });
      c.refuseEvents('the folder is busy: try later');
      const err = await c.ingest(t, Buffer.from('{"id":2}\n')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IngestError);
      expect((err as IngestError).status).toBe(503);
      expect((err as Error).message).toBe('the folder is busy: try later');
      await c.close();

      await a.close();
      const d = new Ingestor({ engine, walDir });
      await d.ingest(t, Buffer.from('{"id":3}\n'), { wait: true });
      await d.close();
      const rows = await engine.queryRows<{ id: string }>(`SELECT id FROM ${t.table} ORDER BY id`);
      expect(rows.map((r) => Number(r.id))).toEqual([1, 3]);

      // A folder taken over while held: the next event is refused (503, naming the new holder) before a byte is
      // written, nothing more is inserted from the folder, and closing leaves its files and the new lock as they are.
      const walTaken = tempDir('wal-lock-taken');
      const lost: string[] = [];
      const e = new Ingestor({ engine, walDir: walTaken, flushIntervalMs: 3_600_000, walLock: { onLost: (m) => lost.push(m) } });
      await e.ingest(t, Buffer.from('{"id":4}\n'));
      const lockFile = path.join(walTaken, WAL_LOCK_FILE);
      replaceLock(walTaken, '99887766aabbccdd.4242.-.ffffffffffff');
      const files = () => readdirSync(walTaken, { recursive: true, withFileTypes: true }).filter((f) => f.isFile()).map((f) => `${f.name} ${statSync(path.join(f.parentPath, f.name)).size}`).sort();
      const before = files();
      const taken = await e.ingest(t, Buffer.from('{"id":5}\n')).catch((x: unknown) => x);
      expect(taken).toBeInstanceOf(IngestError);
      expect((taken as IngestError).status).toBe(503);
      expect((taken as Error).message).toContain(`the write-ahead log folder ${walTaken} was taken over by pid 4242`);
      expect(lost).toHaveLength(1);
      // Nor is a stream of another table opened (its recovery would cut and delete files) in a lost folder.
      const t2 = await createTarget(engine, 'locked_other', [col('id', 'UInt64')]);
      const other = await e.ingest(t2, Buffer.from('{"id":6}\n')).catch((x: unknown) => x);
      expect((other as IngestError).status).toBe(503);
      expect(existsSync(path.join(walTaken, 'locked_other'))).toBe(false);
      await e.close();
      expect(files()).toEqual(before);
      expect(readlinkSync(lockFile)).toBe('99887766aabbccdd.4242.-.ffffffffffff');
      const after = await engine.queryRows<{ id: string }>(`SELECT id FROM ${t.table} WHERE id >= 4`);
      expect(after).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});
