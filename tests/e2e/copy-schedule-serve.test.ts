// COPY_SCHEDULE under `serve` on ClickHouse 18.16: of two serves started with --copy-schedules, the one holding
// the copy schedules lease runs the deployment's scheduled copy pipes and the other says who does; when the runner
// is killed (kill -9) the other takes over at its next minute, and no minute is copied twice. A serve without the
// option says at start that it leaves them alone. A copy into a target another copy still writes is skipped. Real clock: this waits for minute boundaries (up to ~3.5 min).
import { readdirSync } from 'node:fs';
import path from 'node:path';
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

  it('runs them in one serve given --copy-schedules at a time, at the minute they name; another takes over when it is killed', async () => {
    const lease = { EMAILSTATS_COPY_SCHEDULES: '1', EMAILSTATS_COPY_SCHEDULES_LEASE_MS: '4000' };
    const runner = await startServe(ch.url, DB, 300, lease);
    serves.push(runner);
    await runner.waitFor("» copy schedules (UTC): snapshot_clicks ('* * * * *')");
    await runner.waitFor('» copy schedules: this serve runs them from the next minute on');
    const standby = await startServe(ch.url, DB, 300, lease);
    const other = await startServe(ch.url, DB, 300);
    serves.push(standby, other);
    await standby.waitFor(`» copy schedules: run by the serve with pid ${runner.process.pid} on `);
    await other.waitFor("» copy schedules not run by this process: snapshot_clicks ('* * * * *'); start serves of this database with --copy-schedules to run them (one of them at a time does)");
    const postClicks = async (body: string) => {
      const post = await fetch(`${other.url}/v0/events?name=clicks&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` }, body });
      expect(post.status, await post.clone().text()).toBe(200);
    };
    await postClicks('{"page":"a"}\n{"page":"b"}\n{"page":"c"}\n');
    // A run after the post: count the runs logged so far, wait for one more.
    const runsOf = (s: typeof runner) => () => s.output().split('» copy snapshot_clicks -> click_snapshots').length - 1;
    const runs = runsOf(runner);
    const seen = runs();
    await eventually(async () => runs() > seen, 75_000, 'a scheduled run after the post');
    let rows = await chQuery<{ taken: string; clicks: number }>(ch.url, `SELECT toString(taken) AS taken, clicks FROM ${DB}.click_snapshots ORDER BY taken`);
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(Number(rows[rows.length - 1].clicks)).toBe(3);
    // Neither the standby nor the serve without the option ran it.
    expect(standby.output()).not.toContain('» copy snapshot_clicks');
    expect(other.output()).not.toContain('» copy snapshot_clicks');

    // The runner dies without ending its lease: the standby takes over at its next minute (the 4 s lease has lapsed
    // by then; a claim still live would be ended at once, the runner's pid being gone from this machine).
    runner.process.kill('SIGKILL');
    await runner.process;
    await postClicks('{"page":"d"}\n{"page":"e"}\n');
    // It takes the lease at the first minute after the kill and runs from the one after (up to two minutes).
    await eventually(async () => runsOf(standby)() > 0, 135_000, 'a scheduled run by the standby');
    expect(standby.output()).toContain('» copy schedules: this serve runs them from the next minute on');
    rows = await chQuery<{ taken: string; clicks: number }>(ch.url, `SELECT toString(taken) AS taken, clicks FROM ${DB}.click_snapshots ORDER BY taken`);
    expect(Number(rows[rows.length - 1].clicks)).toBe(5);
    for (const r of rows) expect(r.taken).toMatch(/:00$/);
    // One row per minute: no minute was copied by both.
    expect(new Set(rows.map((r) => r.taken)).size).toBe(rows.length);
    expect(other.output()).not.toContain('» copy snapshot_clicks');
  }, 300_000);

  it('a pause made through a serve that does not run the schedules holds the runner; resumed, its next minute runs', async () => {
    const [, runner, other] = serves; // the standby runs them since the first test's kill
    const act = async (serve: ServeProcess, action: string) => {
      const res = await fetch(`${serve.url}/v0/pipes/snapshot_clicks/copy/${action}`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` } });
      expect(res.status, await res.clone().text()).toBe(200);
      return ((await res.json()) as { schedule: { status: string } }).schedule.status;
    };
    const said = () => runner.output().split('» copy snapshot_clicks: its schedule is paused').length - 1;
    const taken = async () => (await chQuery<{ taken: string }>(ch.url, `SELECT toString(taken) AS taken FROM ${DB}.click_snapshots ORDER BY taken`)).map((r) => r.taken);
    expect(said()).toBe(0);
    expect(await act(other, 'pause')).toBe('paused');
    // At its next minute the runner reads the pause (ClickHouse 18.16's table of it) and copies nothing.
    await eventually(async () => said() === 1, 75_000, 'the runner to skip a paused minute');
    const before = await taken();
    expect(await act(runner, 'resume')).toBe('running');
    await eventually(async () => (await taken()).length > before.length, 75_000, 'a run after the resume');
    const after = await taken();
    expect(after.length).toBe(before.length + 1);
    // The skipped minute left a gap of two minutes or more between the last two snapshots.
    const gap = Date.parse(`${after[after.length - 1].replace(' ', 'T')}Z`) - Date.parse(`${before[before.length - 1].replace(' ', 'T')}Z`);
    expect(gap).toBeGreaterThanOrEqual(120_000);
  }, 200_000);

  it('the CLI pointed at the deployed database acts on its live deployment (copy ls, pause, resume, sql) and never builds the local datafiles into it', async () => {
    // Local datafiles that differ from the deployment: built into the database they would rewrite `clicks`.
    const dir = write({ ...COPY_SCHEDULE_PROJECT, 'datasources/clicks.datasource': 'SCHEMA >\n    `page` String `json:$.page`,\n    `referrer` String `json:$.referrer`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "referrer, page"\n' });
    const tables = () => chQuery(ch.url, `SELECT name, create_table_query AS ddl, toString(metadata_modification_time) AS changed FROM system.tables WHERE database = '${DB}' ORDER BY name`);
    const before = await tables();
    const cli = async (...args: string[]) => {
      const r = await runCli([...args, '--project', dir], { env: targetEnv(ch.url, DB) });
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).toContain(`(database ${DB}): deployment #1 is live there; this command acts on it (the local datafiles are not built into a deployed database: emailstats deploy does that)`);
      return r.stdout;
    };
    expect(await cli('copy', 'pause', 'snapshot_clicks')).toBe("✓ snapshot_clicks: schedule '* * * * *' (UTC) paused");
    // A serve of the database sees the pause made from the CLI.
    const serve = serves[2];
    const described = (await (await fetch(`${serve.url}/v0/pipes/snapshot_clicks`, { headers: { authorization: `Bearer ${PROD_TOKEN}` } })).json()) as { schedule: { status: string } };
    expect(described.schedule.status).toBe('paused');
    expect(await cli('copy', 'ls')).toMatch(/^snapshot_clicks +click_snapshots +append +\* \* \* \* \* +paused$/m);
    expect(await cli('copy', 'resume', 'snapshot_clicks')).toBe("✓ snapshot_clicks: schedule '* * * * *' (UTC) running");
    expect(await cli('sql', 'SELECT count() AS n FROM clicks')).toMatch(/^n\n─+\n\d+\n\(1 row/);
    expect(await cli('token', 'ls')).not.toContain('session'); // the command's own token, dead once it ends
    const url = await runCli(['endpoint', 'url', 'snapshot_clicks', '--project', dir], { env: targetEnv(ch.url, DB) });
    expect(url.exitCode).toBe(1);
    expect(url.stderr).toContain('snapshot_clicks is a copy pipe, not an endpoint: it has no URL to call');
    // The deployment's tables as they were (new: the status record of the pause, and the request log of the
    // commands' requests, as serve writes it), nothing rewritten.
    const ours = (t: Record<string, unknown>) => t.name !== '_emailstats_copy_schedule_status' && !String(t.name).startsWith('tinybird_');
    const after = await tables();
    expect(after.filter(ours)).toEqual(before.filter(ours));
    // Events for this database are kept in a write-ahead log of its own, never in dev's (.emailstats/wal).
    const state = readdirSync(path.join(dir, '.emailstats'));
    expect(state).not.toContain('wal');
    expect(state.filter((f) => /^wal-[0-9a-f]{12}$/.test(f))).toHaveLength(1);
    // dev will not build the local datafiles into it either.
    const dev = await runCli(['dev', '--project', dir, '--port', '0'], { env: targetEnv(ch.url, DB) });
    expect(dev.exitCode).toBe(1);
    expect(dev.all).toContain(`(database ${DB}) is managed by emailstats deploy (deployment #1 is live there): dev would build the local datafiles into it and rewrite its tables.`);
    expect((await tables()).filter(ours)).toEqual(before.filter(ours));
  }, 120_000);

  it('skips a copy while another into its target still runs on the server (what a serve killed mid-copy leaves): 409, then runs', async () => {
    const serve = await startServe(ch.url, DB, 300);
    serves.push(serve);
    // A killed serve's INSERT ... SELECT goes on on the server, under its copy's query id.
    const orphanId = 'emailstats-copy-click_snapshots:orphan';
    const orphan = fetch(`${ch.url}/?query_id=${orphanId}&max_block_size=1`, {
      method: 'POST',
      body: `INSERT INTO ${DB}.click_snapshots SELECT toDateTime('2000-01-01 00:00:00') + number, 0 FROM numbers(6) WHERE sleepEachRow(1) = 0`,
    });
    await eventually(async () => (await chQuery(ch.url, `SELECT 1 AS one FROM system.processes WHERE query_id = '${orphanId}'`)).length === 1, 10_000, 'the orphaned copy to run');
    const copy = () => fetch(`${serve.url}/v0/pipes/snapshot_clicks/copy`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` } });
    const refused = await copy();
    expect(refused.status).toBe(409);
    expect(refused.headers.get('retry-after')).toBe('10');
    expect(((await refused.json()) as { error: string }).error).toBe(
      `copy snapshot_clicks -> click_snapshots did not run: a copy into click_snapshots started earlier (query id ${orphanId}) is still running on the server; run it again when that is done`,
    );
    expect((await orphan).status).toBe(200);
    const ran = await copy();
    expect(ran.status, await ran.clone().text()).toBe(200);
    expect(((await ran.json()) as { rows_written: number }).rows_written).toBe(1);
  });

  it('refuses an EMAILSTATS_COPY_SCHEDULES that is not a switch, before listening', async () => {
    const r = await runCli(['serve', '--port', '0'], { env: { ...targetEnv(ch.url, DB), EMAILSTATS_COPY_SCHEDULES: 'sometimes' }, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.all).toContain('EMAILSTATS_COPY_SCHEDULES=sometimes is not a switch: set it to 1 (run scheduled copy pipes) or 0');
    expect(r.all).not.toContain('listening on');
  });
});
