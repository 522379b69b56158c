// COPY_SCHEDULE in a real `emailstats dev`: the startup banner lists the scheduled copy pipes, and at the next
// minute boundary (real clock, so this waits up to a minute) the copy has run and its rows are in the target.
// `--no-copy-schedules` says they are not run. The scheduler's minute logic is in tests/unit/copy-schedules.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { startDev, type DevServer } from '../helpers/cli.js';
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

  it('says the schedules are not run when started with --no-copy-schedules', async () => {
    const dev = await startDev(write(COPY_SCHEDULE_PROJECT), ['--no-copy-schedules']);
    devs.push(dev);
    await dev.waitFor("» copy schedules not run by this process: snapshot_clicks ('* * * * *'); started with --no-copy-schedules");
  }, 60_000);
});
