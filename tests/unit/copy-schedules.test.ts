// COPY_SCHEDULE: which minutes a 5-field cron schedule fires at (UTC), and the runner dev and serve use, on a
// real chDB engine: a due copy pipe runs once with job_timestamp = its minute, a pipe not due and an
// @on-demand pipe do not, a run still going makes the next minute skip (said in the log), a failing copy is
// reported and the next minute runs again; a copy into a table that a deploy or a replace is rewriting does not
// run, and a replace-mode copy holds its target like a datasource replace.
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { buildProject } from '../../cli/src/project/build.js';
import { loadProject } from '../../cli/src/project/model.js';
import { CopyScheduler, describeCopySchedules, firesAt, scheduledCopies } from '../../cli/src/server/copy-schedules.js';
import { CopyHeldError, runCopyPipe } from '../../cli/src/server/copy-pipe.js';
import { RewriteBusyError } from '../../cli/src/deploy/rewrite-hold.js';
import { buildTokenStore, DEFAULT_LIMITS, type Workspace } from '../../cli/src/server/workspace.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';
import { useProjectFiles } from '../helpers/project-files.js';

const at = (iso: string) => new Date(`${iso}:00.000Z`);

describe('firesAt', () => {
  it('reads schedules as Tinybird does: five fields, UTC', () => {
    const cases: [string, string, boolean][] = [
      ['* * * * *', '2026-03-01T10:17', true],
      ['*/15 * * * *', '2026-03-01T10:45', true],
      ['*/15 * * * *', '2026-03-01T10:46', false],
      ['0 * * * *', '2026-03-01T10:00', true],
      ['0 * * * *', '2026-03-01T10:30', false],
      ['30 2 * * 1', '2026-03-02T02:30', true], // a Monday
      ['30 2 * * 1', '2026-03-03T02:30', false],
      ['0 0 1 * *', '2026-04-01T00:00', true],
      ['5,35 9-17 * * 1-5', '2026-03-06T17:35', true], // a Friday
      ['5,35 9-17 * * 1-5', '2026-03-07T17:35', false], // a Saturday
    ];
    for (const [schedule, minute, fires] of cases) expect(firesAt(schedule, at(minute)), `${schedule} at ${minute}`).toBe(fires);
  });

  it('fires on exactly the minutes whose UTC minute and hour match a fixed time, over random minutes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 5_000_000 }), (m, h, k) => {
        const minute = new Date(Date.UTC(2025, 0, 1) + k * 60_000);
        expect(firesAt(`${m} ${h} * * *`, minute)).toBe(minute.getUTCMinutes() === m && minute.getUTCHours() === h);
        expect(firesAt('* * * * *', minute)).toBe(true);
      }),
    );
  });
});

describe('CopyScheduler timer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ticks once at every minute boundary, also when the clock steps back just after a tick', async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-03-01T10:00:30.000Z'));
    let offset = 0; // the wall clock the scheduler reads, stepped by the test
    // The workspace has no pipes: this is about the timer, and tick() is watched, not run.
    const scheduler = new CopyScheduler(() => ({ project: { pipes: new Map() } }) as unknown as Workspace, () => {}, undefined, () => Date.now() + offset);
    const ticks: string[] = [];
    const real = scheduler.tick.bind(scheduler);
    scheduler.tick = (minute: Date) => {
      ticks.push(minute.toISOString());
      // A clock step backwards right after the tick (NTP): the next arm must still aim at the next minute.
      if (ticks.length === 1) offset = -2_000;
      return real(minute);
    };
    scheduler.start();
    await vi.advanceTimersByTimeAsync(29_000);
    expect(ticks).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ticks).toEqual(['2026-03-01T10:01:00.000Z']);
    await vi.advanceTimersByTimeAsync(63_000);
    expect(ticks).toEqual(['2026-03-01T10:01:00.000Z', '2026-03-01T10:02:00.000Z']);
    await scheduler.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ticks).toHaveLength(2);
  });
});

describe('CopyScheduler on chDB', () => {
  const ctx = useEmbeddedEngine('copy-schedules');
  const write = useProjectFiles('copy-schedules');

  const project = () =>
    write({
      'datasources/events.datasource': 'SCHEMA >\n    `id` UInt32,\n    `n` UInt32\n',
      'datasources/snapshots.datasource': 'SCHEMA >\n    `taken` DateTime,\n    `total` UInt64\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "taken"\n',
      'pipes/every_five.pipe':
        'NODE snap\nSQL >\n    %\n    SELECT toDateTime({{DateTime(job_timestamp)}}) AS taken, sum(n) AS total FROM events\n\nTYPE copy\nTARGET_DATASOURCE snapshots\nCOPY_SCHEDULE */5 * * * *\n',
      'pipes/by_hand.pipe': 'NODE snap\nSQL >\n    SELECT now() AS taken, toUInt64(1) AS total\n\nTYPE copy\nTARGET_DATASOURCE snapshots\nCOPY_SCHEDULE @on-demand\n',
      'pipes/broken_at_run.pipe':
        'NODE snap\nSQL >\n    SELECT now() AS taken, throwIf(count() >= 0, \'refused on purpose\') AS total FROM events\n\nTYPE copy\nTARGET_DATASOURCE snapshots\nCOPY_SCHEDULE 0 * * * *\n',
    });

  async function workspace(): Promise<Workspace> {
    const p = await loadProject(project());
    expect(p.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const report = await buildProject(ctx.engine, p, { fixtures: false });
    expect(report.diagnostics).toEqual([]);
    await ctx.engine.command('INSERT INTO events VALUES (1, 10), (2, 32)');
    return { project: p, engine: ctx.engine, tokens: buildTokenStore(p, { admin: 'a', resource: {} }), limits: DEFAULT_LIMITS, endpointColumns: new Map() };
  }

  it('runs a due copy once with its minute as job_timestamp, skips a minute while a run is going, reports a failure and goes on', async () => {
    const ws = await workspace();
    expect(scheduledCopies(ws)).toEqual([
      { pipe: 'broken_at_run', schedule: '0 * * * *' },
      { pipe: 'every_five', schedule: '*/5 * * * *' },
    ]);
    expect(describeCopySchedules(ws, false, 'use --copy-schedules')).toBe("» copy schedules not run by this process: broken_at_run ('0 * * * *'), every_five ('*/5 * * * *'); use --copy-schedules");
    const log: string[] = [];
    const scheduler = new CopyScheduler(() => ws, (l) => log.push(l));
    const snapshots = async () => ctx.engine.queryRows<{ taken: string; total: string }>('SELECT toString(taken) AS taken, toString(total) AS total FROM snapshots ORDER BY taken');

    // 10:01: nothing is due.
    expect(scheduler.tick(at('2026-03-01T10:01'))).toHaveLength(0);
    // 10:05: every_five is due; a second tick for the same minute while it runs is skipped and said.
    const first = scheduler.tick(at('2026-03-01T10:05'));
    expect(first).toHaveLength(1);
    expect(scheduler.tick(at('2026-03-01T10:05'))).toHaveLength(0);
    expect(log.some((l) => l.includes('every_five: the run started earlier is still going') && l.includes('2026-03-01T10:05'))).toBe(true);
    await Promise.all(first);
    expect(await snapshots()).toEqual([{ taken: '2026-03-01 10:05:00', total: '42' }]);
    expect(log.some((l) => l.startsWith('» copy every_five -> snapshots (append') && l.includes('1 rows written'))).toBe(true);

    // 11:00: both scheduled pipes are due; the failing one is reported, the other runs.
    await Promise.all(scheduler.tick(at('2026-03-01T11:00')));
    expect(await snapshots()).toEqual([{ taken: '2026-03-01 10:05:00', total: '42' }, { taken: '2026-03-01 11:00:00', total: '42' }]);
    const failure = log.find((l) => l.startsWith('✗ scheduled copy broken_at_run'));
    expect(failure).toContain('refused on purpose');
    expect(failure).toContain('the next run is at its next scheduled minute');
    // The @on-demand pipe never ran (its constant total 1 is not there); the next due minute runs again.
    await Promise.all(scheduler.tick(at('2026-03-01T11:05')));
    expect((await snapshots()).map((r) => r.total)).toEqual(['42', '42', '42']);
    await scheduler.stop();
  });
});

describe('copies and rewrites on chDB', () => {
  const ctx = useEmbeddedEngine('copy-held');
  const write = useProjectFiles('copy-held');

  async function workspace(): Promise<Workspace> {
    const p = await loadProject(
      write({
        'datasources/events.datasource': 'SCHEMA >\n    `id` UInt32,\n    `n` UInt32\n',
        'datasources/snapshots.datasource': 'SCHEMA >\n    `taken` DateTime,\n    `total` UInt64\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "taken"\n',
        'pipes/snap.pipe': 'NODE snap\nSQL >\n    %\n    SELECT toDateTime({{DateTime(job_timestamp)}}) AS taken, sum(n) AS total FROM events\n\nTYPE copy\nTARGET_DATASOURCE snapshots\nCOPY_SCHEDULE * * * * *\n',
      }),
    );
    const report = await buildProject(ctx.engine, p, { fixtures: false });
    expect(report.diagnostics).toEqual([]);
    await ctx.engine.command('INSERT INTO events VALUES (1, 10), (2, 32)');
    return { project: p, engine: ctx.engine, tokens: buildTokenStore(p, { admin: 'a', resource: {} }), limits: DEFAULT_LIMITS, endpointColumns: new Map() };
  }
  const snapshots = async () => (await ctx.engine.queryRows<{ taken: string }>('SELECT toString(taken) AS taken FROM snapshots ORDER BY taken')).map((r) => r.taken);

  it('skips a scheduled minute while its target is being rewritten, saying who rewrites it, and runs the next one', async () => {
    const ws = await workspace();
    let owner: string | undefined = 'deployment #12';
    ws.rewritingBy = async (table) => (table === 'snapshots' && owner ? { owner, remainingMs: 60_000 } : undefined);
    const log: string[] = [];
    const scheduler = new CopyScheduler(() => ws, (l) => log.push(l));
    await Promise.all(scheduler.tick(at('2026-03-01T10:01')));
    expect(await snapshots()).toEqual([]);
    expect(log).toEqual(['△ scheduled copy snap of 2026-03-01T10:01:00.000Z skipped: deployment #12 is rewriting snapshots right now; it runs again at its next scheduled minute']);
    owner = undefined;
    await Promise.all(scheduler.tick(at('2026-03-01T10:02')));
    expect(await snapshots()).toEqual(['2026-03-01 10:02:00']);
    await scheduler.stop();
  });

  it('refuses a copy into a table being rewritten; a replace-mode copy takes the hold of a replace and does not swap once it lapsed', async () => {
    const ws = await workspace();
    const pipe = ws.project.pipes.get('snap')!;
    await runCopyPipe(ws, pipe, { now: at('2026-03-01T09:00') });
    const copied = await snapshots(); // with the rows of the test before
    expect(copied).toContain('2026-03-01 09:00:00');
    ws.rewritingBy = async () => ({ owner: 'a datasource replace', remainingMs: 42_000 });
    const refused = await runCopyPipe(ws, pipe, { now: at('2026-03-01T09:01') }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CopyHeldError);
    expect((refused as CopyHeldError).message).toBe('copy snap -> snapshots did not run: a datasource replace is rewriting snapshots right now; run it again when that is done');
    expect((refused as CopyHeldError).retryAfterMs).toBe(42_000);
    ws.rewritingBy = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:8123');
    };
    await expect(runCopyPipe(ws, pipe, { now: at('2026-03-01T09:01') })).rejects.toThrow(
      'copy snap -> snapshots did not run: could not read the rewrite record (connect ECONNREFUSED 127.0.0.1:8123)',
    );
    ws.rewritingBy = async () => undefined;
    // Replace mode: the hold of the other serve processes (serve's rewrite record) is refused...
    ws.holdOtherWriters = async () => {
      throw new RewriteBusyError('deployment #13 is rewriting snapshots right now (for 50 s more at most); try again when it is done', 50_000, 'deployment #13');
    };
    await expect(runCopyPipe(ws, pipe, { mode: 'replace', now: at('2026-03-01T09:02') })).rejects.toThrow('copy snap -> snapshots did not run: deployment #13 is rewriting snapshots right now');
    // ...or taken, and found lapsed once the staging table is full: no swap, the hold is ended.
    const calls: string[] = [];
    ws.holdOtherWriters = async (tables) => {
      calls.push(`hold ${tables.join(',')}`);
      return { stillHeld: async () => (calls.push('stillHeld'), false), end: async () => void calls.push('end') };
    };
    await expect(runCopyPipe(ws, pipe, { mode: 'replace', now: at('2026-03-01T09:03') })).rejects.toThrow(/copy snap -> snapshots failed: the copy outlasted its hold on the other serve processes \(EMAILSTATS_DEPLOY_HOLD_MS\); the target was left as it was/);
    expect(calls).toEqual(['hold snapshots', 'stillHeld', 'end']);
    expect(await snapshots()).toEqual(copied);
    const tables = await ctx.engine.queryRows<{ name: string }>("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'snapshots%' ORDER BY name");
    expect(tables.map((t) => t.name)).toEqual(['snapshots', 'snapshots_quarantine']); // no staging table left
    // A hold that lasts: the replace runs and swaps.
    calls.length = 0;
    ws.holdOtherWriters = async (tables) => {
      calls.push(`hold ${tables.join(',')}`);
      return { stillHeld: async () => (calls.push('stillHeld'), true), end: async () => void calls.push('end') };
    };
    const r = await runCopyPipe(ws, pipe, { mode: 'replace', now: at('2026-03-01T09:04') });
    expect(r.rowsWritten).toBe(1);
    expect(calls).toEqual(['hold snapshots', 'stillHeld', 'end']);
    expect(await snapshots()).toEqual(['2026-03-01 09:04:00']);
  });
});
