// COPY_SCHEDULE in a real `emailstats dev`: the startup banner lists the scheduled copy pipes, and at the next
// minute boundary (real clock, so this waits up to a minute) the copy has run and its rows are in the target.
// `--no-copy-schedules` says they are not run. `copy pause` holds the minutes until `copy resume`. The scheduler's minute logic is in tests/unit/copy-schedules.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startDev, type DevServer } from '../helpers/cli.js';
import { useProjectFiles } from '../helpers/project-files.js';
import { COPY_SCHEDULE_PROJECT } from '../helpers/copy-schedule-project.js';

describe('scheduled copy pipes in dev', () => {
  const write = useProjectFiles('copy-schedule');
  const devs: DevServer[] = [];
  afterAll(async () => {
    for (const d of devs) await d.stop();
  });

  it('runs a copy pipe at every minute its COPY_SCHEDULE names, with that minute as job_timestamp', async () => {
    const dev = await startDev(write(COPY_SCHEDULE_PROJECT));
    devs.push(dev);
    await dev.waitFor("» copy schedules (UTC): snapshot_clicks ('* * * * *')");
    const post = await fetch(`${dev.url}/v0/events?name=clicks&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: '{"page":"a"}\n{"page":"b"}\n' });
    expect(post.status).toBe(200);
    // A run after the post (a minute boundary may have passed between dev's start and the post).
    await dev.waitFor(/» copy snapshot_clicks -> click_snapshots \(append, scheduled '\* \* \* \* \*'\): 1 rows written/, 75_000, dev.output().length);
    const res = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent('SELECT toString(taken) AS taken, clicks FROM click_snapshots ORDER BY taken FORMAT JSON')}`, { headers: { authorization: `Bearer ${dev.token}` } });
    const rows = ((await res.json()) as { data: { taken: string; clicks: number }[] }).data;
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(Number(rows[rows.length - 1].clicks)).toBe(2);
    // job_timestamp is the scheduled minute itself, not the moment the run started; one row per minute.
    for (const r of rows) expect(r.taken).toMatch(/:00$/);
    expect(new Set(rows.map((r) => r.taken)).size).toBe(rows.length);
  }, 120_000);

  it('copy ls, pause and resume from the CLI: a pause outlives the process, dev says so at start and skips its minutes until resumed', async () => {
    const dir = write(COPY_SCHEDULE_PROJECT);
    const cli = async (...args: string[]) => {
      const r = await runCli([...args, '--project', dir]);
      expect(r.exitCode, r.all).toBe(0);
      return r.stdout;
    };
    expect(await cli('copy', 'ls')).toMatch(/^snapshot_clicks +click_snapshots +append +\* \* \* \* \* +running$/m);
    expect(await cli('copy', 'pause', 'snapshot_clicks')).toBe("✓ snapshot_clicks: schedule '* * * * *' (UTC) paused");
    expect(await cli('copy', 'ls')).toMatch(/^snapshot_clicks .* paused$/m);

    const dev = await startDev(dir);
    devs.push(dev);
    await dev.waitFor('» copy schedules paused: snapshot_clicks; their runs are skipped until resumed (emailstats copy resume <pipe>)');
    // A minute boundary passes under dev: nothing is copied.
    const nextMinute = Math.floor(Date.now() / 60_000) * 60_000 + 60_000;
    await new Promise((r) => setTimeout(r, nextMinute + 5_000 - Date.now()));
    const count = async () => {
      const res = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent('SELECT count() AS n FROM click_snapshots FORMAT JSON')}`, { headers: { authorization: `Bearer ${dev.token}` } });
      return Number(((await res.json()) as { data: { n: number }[] }).data[0].n);
    };
    expect(await count()).toBe(0);
    expect(dev.output()).not.toContain('» copy snapshot_clicks ->');

    // Resumed through the running dev: the next minute runs.
    expect(await cli('copy', 'resume', 'snapshot_clicks')).toBe("✓ snapshot_clicks: schedule '* * * * *' (UTC) running");
    await dev.waitFor(/» copy snapshot_clicks -> click_snapshots \(append, scheduled/, 75_000);
    expect(await count()).toBeGreaterThanOrEqual(1);
  }, 200_000);

  it('says the schedules are not run when started with --no-copy-schedules', async () => {
    const dev = await startDev(write(COPY_SCHEDULE_PROJECT), ['--no-copy-schedules']);
    devs.push(dev);
    await dev.waitFor("» copy schedules not run by this process: snapshot_clicks ('* * * * *'); started with --no-copy-schedules");
  }, 60_000);
});
