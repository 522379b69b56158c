// COPY_SCHEDULE under `serve` on ClickHouse 18.16: only the serve started with --copy-schedules runs the
// deployment's scheduled copy pipes (real clock: this waits up to a minute for the next minute boundary);
// another serve of the same database says at start that it leaves them alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { chQuery, deployCli, eventually, PROD_TOKEN, startServe, targetEnv, type ServeProcess } from '../helpers/serve.js';
import { runCli } from '../helpers/cli.js';
import { useProjectFiles } from '../helpers/project-files.js';
import { COPY_SCHEDULE_PROJECT } from '../helpers/copy-schedule-project.js';

const DB = 'copy_schedule';

describe('scheduled copy pipes under serve', () => {
  const write = useProjectFiles('copy-schedule-serve');
  let ch: ClickHouseServer;
  const serves: ServeProcess[] = [];

  beforeAll(async () => {
    ch = await startClickHouseServer();
    const deployed = await deployCli(write(COPY_SCHEDULE_PROJECT), ch.url, DB, [], { EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN });
    expect(deployed.exitCode, deployed.all).toBe(0);
  }, 90_000);

  afterAll(async () => {
    for (const s of serves) await s.stop();
    await ch?.stop();
  });

  it('runs them in the serve given --copy-schedules only, at the minute they name', async () => {
    const runner = await startServe(ch.url, DB, 300, { EMAILSTATS_COPY_SCHEDULES: '1' });
    const other = await startServe(ch.url, DB, 300);
    serves.push(runner, other);
    await runner.waitFor("» copy schedules (UTC): snapshot_clicks ('* * * * *')");
    await other.waitFor("» copy schedules not run by this process: snapshot_clicks ('* * * * *'); start exactly one serve of this database with --copy-schedules to run them");
    const post = await fetch(`${other.url}/v0/events?name=clicks&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` }, body: '{"page":"a"}\n{"page":"b"}\n{"page":"c"}\n' });
    expect(post.status, await post.clone().text()).toBe(200);
    // A run after the post: count the runs logged so far, wait for one more.
    const runs = () => runner.output().split('» copy snapshot_clicks -> click_snapshots').length - 1;
    const seen = runs();
    await eventually(async () => runs() > seen, 75_000, 'a scheduled run after the post');
    const rows = await chQuery<{ taken: string; clicks: number }>(ch.url, `SELECT toString(taken) AS taken, clicks FROM ${DB}.click_snapshots ORDER BY taken`);
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(Number(rows[rows.length - 1].clicks)).toBe(3);
    for (const r of rows) expect(r.taken).toMatch(/:00$/);
    // The serve without the option never ran it: every row came from the runner's minutes, one per minute.
    expect(new Set(rows.map((r) => r.taken)).size).toBe(rows.length);
    expect(other.output()).not.toContain('» copy snapshot_clicks');
  }, 150_000);

  it('refuses an EMAILSTATS_COPY_SCHEDULES that is not a switch, before listening', async () => {
    const r = await runCli(['serve', '--port', '0'], { env: { ...targetEnv(ch.url, DB), EMAILSTATS_COPY_SCHEDULES: 'sometimes' }, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.all).toContain('EMAILSTATS_COPY_SCHEDULES=sometimes is not a switch: set it to 1 (run scheduled copy pipes) or 0');
    expect(r.all).not.toContain('listening on');
  });
});
