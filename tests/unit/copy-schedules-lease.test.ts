// The copy schedules lease on chDB (the deploy lock's SQL, which tests/e2e/copy-schedule-serve.test.ts runs on
// 18.16 with two serve processes): of two serves exactly one runs the schedules and the other says once who does;
// the other takes over once the runner ends its lease, or once a lease nobody renews lapses, and runs from the
// minute after the one it took the lease in (the runner may have run that one). And the scheduler
// asks the lease at a minute with something due, and runs nothing when the lease is another serve's.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { COPY_SCHEDULES_LEASE, COPY_SCHEDULES_LEASE_ENV, CopySchedulesLease } from '../../cli/src/server/copy-schedules-lease.js';
import { CopyScheduler, type SchedulesLease } from '../../cli/src/server/copy-schedules.js';
import type { Workspace } from '../../cli/src/server/workspace.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';

const chdb = useEmbeddedEngine('copy-schedules-lease');
const env = { [COPY_SCHEDULES_LEASE_ENV]: '3000' };

describe('copy schedules lease', () => {
  it('lets one of two serves run the schedules; the other says once who does and takes over when the lease ends', async () => {
    const logA: string[] = [];
    const logB: string[] = [];
    // The serves' clock, moved by the test past a minute boundary (the lease itself runs on the server's clock).
    let clock = Date.now();
    const a = new CopySchedulesLease(chdb.engine, (l) => logA.push(l), env, () => clock);
    const b = new CopySchedulesLease(chdb.engine, (l) => logB.push(l), env, () => clock);
    try {
      const [mineA, mineB] = await Promise.all([a.mine(), b.mine()]);
      expect([mineA, mineB].filter(Boolean)).toHaveLength(1);
      const [runner, standby, standbyLog] = mineA ? [a, b, logB] : [b, a, logA];
      // Asked again (every minute), each keeps its part; the standby said who runs them once.
      expect(await runner.mine()).toBe(true);
      await sleep(3500); // past the lease: the runner's heartbeat renewed it
      expect(await standby.mine()).toBe(false);
      expect(await standby.mine()).toBe(false);
      const said = standbyLog.filter((l) => l.startsWith('» copy schedules: run by'));
      expect(said).toHaveLength(1);
      expect(said[0]).toMatch(new RegExp(`^» copy schedules: run by the serve with pid ${process.pid} on .* \\(it holds the copy schedules lease since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\); this serve takes over if that one stops$`));
      // The runner runs the next minute (it held the lease before it began), then stops just after it.
      const minute = new Date(Math.ceil((clock + 1) / 60_000) * 60_000);
      expect(await runner.mine(minute)).toBe(true);
      clock = minute.getTime() + 500;
      await runner.release();
      // Taking the lease over during a minute the runner may have run: the standby starts with the next minute.
      expect(await standby.mine(minute)).toBe(false);
      expect(standbyLog[standbyLog.length - 1]).toMatch(/^» copy schedules: this serve runs them from the next minute on/);
      expect(await standby.mine(new Date(minute.getTime() + 60_000))).toBe(true);
      expect(await runner.mine()).toBe(false);
    } finally {
      await a.release();
      await b.release();
    }
  });

  it('keeps a day of ended leases: the holder renews for as long as it runs', async () => {
    const [{ ddl }] = await chdb.engine.queryRows<{ ddl: string }>(`SELECT create_table_query AS ddl FROM system.tables WHERE database = currentDatabase() AND name = '${COPY_SCHEDULES_LEASE.table}'`);
    expect(ddl).toMatch(/TTL until \+ toIntervalDay\(1\)/);
  });

  it('takes over a lease that nobody renews once it lapses', async () => {
    // A claim as a serve killed on another machine leaves it (its pid cannot be checked from here).
    await chdb.engine.command(
      `INSERT INTO ${COPY_SCHEDULES_LEASE.table} (nonce, version, what, who, host, pid, machine, started, renewed, until, active) SELECT 'killed', 1, 'the copy schedules runner', 'serve on box', 'box', 4242, 'elsewhere', now(), now(), now() + 3, 1`,
    );
    const log: string[] = [];
    const lease = new CopySchedulesLease(chdb.engine, (l) => log.push(l), env);
    expect(await lease.mine()).toBe(false);
    expect(log).toContainEqual(expect.stringMatching(/^» copy schedules: run by the serve with pid 4242 on box /));
    let mine = false;
    for (let i = 0; i < 20 && !mine; i++) {
      await sleep(500);
      mine = await lease.mine();
    }
    expect(mine).toBe(true);
    await lease.release();
  });
});

describe('CopyScheduler with a lease', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // A workspace with one copy pipe due every minute; tick() is watched, not run.
  const ws = { project: { pipes: new Map([['snap', { name: 'snap', nodes: [{ type: 'copy', copySchedule: '* * * * *' }] }]]) } } as unknown as Workspace;

  it('asks the lease at each minute with something due and ticks only while it holds it', async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-03-01T10:00:30.000Z'));
    let holds = false;
    const asked: number[] = [];
    const lease: SchedulesLease = {
      mine: async () => {
        asked.push(Date.now());
        return holds;
      },
      release: async () => {},
    };
    const scheduler = new CopyScheduler(() => ws, () => {}, undefined, Date.now, lease);
    const ticks: string[] = [];
    scheduler.tick = (minute: Date) => {
      ticks.push(minute.toISOString());
      return [];
    };
    scheduler.start();
    expect(asked).toHaveLength(1); // at start: says who runs them
    await vi.advanceTimersByTimeAsync(30_000);
    expect(asked).toHaveLength(2);
    expect(ticks).toEqual([]);
    holds = true;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(asked).toHaveLength(3);
    expect(ticks).toEqual(['2026-03-01T10:02:00.000Z']);
    await scheduler.stop();
  });
});
