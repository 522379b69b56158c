// `emailstats deploy` and `serve` against a private ClickHouse 18.16: deploy the email project, ingest through
// serve, read every endpoint, then deploy one change of each kind and check counts and answers after each;
// --check leaves the server untouched; a second deploy of the same content is a no-op; rollback; --rebuild of a rollup.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { rollback } from '../../cli/src/deploy/deploy.js';
import { ServerEngine } from '../../cli/src/engine/server.js';
import { DeploymentStore } from '../../cli/src/deploy/store.js';
import { copyProject, removeDir, runCli, REPO } from '../helpers/cli.js';
import { kindOf, type RawEvent } from '../helpers/email-expectations.js';
import { chExec, chQuery, currentDeployment, deployCli, eventually, PROD_TOKEN, startServe, targetEnv, type ServeProcess } from '../helpers/serve.js';

const DB = 'prod';
const EVENTS = readFileSync(path.join(REPO, 'fixtures/email_events.ndjson'), 'utf8').split('\n').filter(Boolean).slice(0, 3000);
const events = EVENTS.map((l) => JSON.parse(l) as RawEvent);

describe('deploy to ClickHouse 18.16 and serve', () => {
  let ch: ClickHouseServer;
  let project: string;
  let serve: ServeProcess;

  const count = async (table: string): Promise<number> => Number((await chQuery<{ c: number }>(ch.url, `SELECT count() AS c FROM ${DB}.${table}`))[0].c);
  const totals = async (): Promise<Record<string, number>> => {
    const r = await serve.get('/v0/pipes/campaign_stats.json');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const sum = (k: string) => r.body.data.reduce((a, row) => a + Number(row[k]), 0);
    return { campaigns: r.body.data.length, sends: sum('sends'), opens: sum('opens'), clicks: sum('clicks'), bounces: sum('bounces') };
  };
  const expectedTotals = { campaigns: new Set(events.map((e) => e.campaign_id)).size, sends: events.filter((e) => kindOf(e) === 'send').length, opens: events.filter((e) => kindOf(e) === 'open').length, clicks: events.filter((e) => kindOf(e) === 'click').length, bounces: events.filter((e) => kindOf(e) === 'bounce').length };
  const deploy = async (args: string[] = []) => {
    const r = await deployCli(project, ch.url, DB, args);
    expect(r.exitCode, r.all).toBe(0);
    return r;
  };
  const liveId = async (): Promise<number> => Number((await chQuery<{ id: number }>(ch.url, `SELECT deployment_id AS id FROM ${DB}._emailstats_live ORDER BY version DESC LIMIT 1`))[0].id);
  /** Waits until serve has switched to the newest live deployment. */
  const served = async (): Promise<void> => {
    const id = await liveId();
    await eventually(async () => currentDeployment(serve.output()) === id, 10_000, `serve to switch to deployment #${id}`);
  };
  const edit = (rel: string, from: string | RegExp, to: string): void => {
    const file = path.join(project, rel);
    const text = readFileSync(file, 'utf8');
    const next = text.replace(from, to);
    expect(next, `${rel} edit`).not.toBe(text);
    writeFileSync(file, next);
  };

  beforeAll(async () => {
    ch = await startClickHouseServer();
    project = copyProject();
    await deploy();
    serve = await startServe(ch.url, DB);
    await served();
    const res = await fetch(`${serve.url}/v0/events?name=email_events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` }, body: EVENTS.join('\n') });
    expect(res.status, await res.clone().text()).toBe(200);
  }, 90_000);

  afterAll(async () => {
    await serve?.stop();
    await ch?.stop();
    if (project) removeDir(project);
  });

  it('serves every endpoint of the first deployment with the ingested events', async () => {
    expect(await count('email_events')).toBe(EVENTS.length);
    expect(await totals()).toEqual(expectedTotals);
    const camp = events[0].campaign_id;
    const list = await serve.get('/v0/pipes');
    expect(list.status).toBe(200);
    for (const p of ['campaign_stats', 'campaign_timeline', 'recipient_activity']) {
      const r = await serve.get(`/v0/pipes/${p}.json?campaign_id=${camp}`);
      expect(r.status, `${p}: ${JSON.stringify(r.body)}`).toBe(200);
      expect(r.body.data.length, p).toBeGreaterThan(0);
    }
    expect((await fetch(`${serve.url}/health`)).status).toBe(200);
  });

  it('adds a column with a default in place', async () => {
    edit('datasources/email_events.datasource', /(`is_machine_open` UInt8 DEFAULT [^\n]*)\n/, "$1,\n    `provider` String DEFAULT 'unknown' `json:$.provider`\n");
    const r = await deploy();
    expect(r.stdout).toMatch(/datasource email_events: change \(ALTER in place: added column provider\)/);
    await served();
    expect(await count('email_events')).toBe(EVENTS.length);
    const sql = await serve.get(`/v0/sql?q=${encodeURIComponent('SELECT provider, count() AS n FROM email_events GROUP BY provider FORMAT JSON')}`);
    expect(sql.body.data).toEqual([{ provider: 'unknown', n: EVENTS.length }]);
    expect(await totals()).toEqual(expectedTotals);
  });

  it('rewrites a datasource whose sorting key changes, through its FORWARD_QUERY', async () => {
    edit('datasources/email_events.datasource', 'ENGINE_SORTING_KEY "campaign_id, event_type, timestamp"', 'ENGINE_SORTING_KEY "campaign_id, timestamp, event_id"\n\nFORWARD_QUERY >\n    SELECT *');
    const r = await deploy();
    expect(r.stdout).toMatch(/datasource email_events: change \(rewrite into a new table \(engine, keys or indexes changed\), backfill through FORWARD_QUERY/);
    await served();
    expect(await count('email_events')).toBe(EVENTS.length);
    const create = await (await fetch(`${ch.url}/?query=${encodeURIComponent(`SHOW CREATE TABLE ${DB}.email_events`)}`)).text();
    expect(create.replace(/\\n/g, ' ')).toMatch(/ORDER BY \(campaign_id, timestamp, event_id\)/);
    expect(await totals()).toEqual(expectedTotals);
    const tables = await chQuery<{ name: string }>(ch.url, `SELECT name FROM system.tables WHERE database = '${DB}' AND name LIKE '%emailstats_%' AND name NOT LIKE '\\_emailstats%'`);
    expect(tables).toEqual([]);
  });

  it('creates a new materialized view and backfills it, then keeps it fed', async () => {
    writeFileSync(path.join(project, 'datasources/campaign_daily.datasource'), 'SCHEMA >\n    `campaign_id` String,\n    `day` Date,\n    `events` UInt64\n\nENGINE "SummingMergeTree"\nENGINE_SORTING_KEY "campaign_id, day"\n');
    writeFileSync(path.join(project, 'pipes/campaign_daily_mv.pipe'), 'NODE daily\nSQL >\n    SELECT campaign_id, toDate(timestamp) AS day, count() AS events FROM email_events GROUP BY campaign_id, day\n\nTYPE materialized\nDATASOURCE campaign_daily\n');
    writeFileSync(path.join(project, 'pipes/campaign_daily_totals.pipe'), 'NODE daily_totals\nSQL >\n    SELECT campaign_id, sum(events) AS events FROM campaign_daily GROUP BY campaign_id ORDER BY campaign_id\n\nTYPE endpoint\n');
    const r = await deploy();
    expect(r.stdout).toMatch(/\+ datasource campaign_daily: create/);
    expect(r.stdout).toMatch(/\+ materialized view campaign_daily_mv: create \(backfill campaign_daily from email_events\)/);
    expect(r.stdout).toMatch(/\+ pipe campaign_daily_totals: create/);
    await served();
    const daily = async () => (await serve.get('/v0/pipes/campaign_daily_totals.json')).body.data.reduce((a, row) => a + Number(row.events), 0);
    expect(await daily()).toBe(EVENTS.length);
    // New events flow through the view.
    const extra = events.slice(0, 10).map((e, i) => JSON.stringify({ ...e, event_id: `ev_mv_${i}` }));
    const res = await fetch(`${serve.url}/v0/events?name=email_events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` }, body: extra.join('\n') });
    expect(res.status).toBe(200);
    expect(await daily()).toBe(EVENTS.length + 10);
    expect(await count('email_events')).toBe(EVENTS.length + 10);
  });

  it('serves a changed pipe and stops serving a removed one', async () => {
    edit('pipes/campaign_stats.pipe', 'max(last_ts) AS last_activity', "max(last_ts) AS last_activity,\n        'v2' AS stats_version");
    rmSync(path.join(project, 'pipes/recipient_activity.pipe'));
    const r = await deploy();
    expect(r.stdout).toMatch(/~ pipe campaign_stats: change/);
    expect(r.stdout).toMatch(/- pipe recipient_activity: delete/);
    await served();
    const stats = await serve.get('/v0/pipes/campaign_stats.json');
    expect(stats.body.data[0].stats_version).toBe('v2');
    expect((await serve.get(`/v0/pipes/recipient_activity.json?campaign_id=${events[0].campaign_id}`)).status).toBe(404);
    expect(await count('email_events')).toBeGreaterThanOrEqual(EVENTS.length);
  });

  it('does nothing when the same content is deployed again, and says so', async () => {
    const before = await liveId();
    const r = await deploy();
    expect(r.stdout).toContain(`No changes: deployment #${before} is live with this content`);
    expect(await liveId()).toBe(before);
    const ls = await runCli(['deployment', 'ls'], { env: targetEnv(ch.url, DB) });
    expect(ls.exitCode, ls.all).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`\\* +${before} +live`));
  });

  it('--check reports the server message for a broken node and leaves system.tables as it was', async () => {
    // The system database is left out: the server creates its own query_log tables whenever it likes.
    const tables = () => chQuery(ch.url, "SELECT database, name, engine FROM system.tables WHERE database != 'system' ORDER BY database, name");
    const before = await tables();
    const good = await deployCli(project, ch.url, DB, ['--check']);
    expect(good.exitCode, good.all).toBe(0);
    expect(good.stdout).toContain('Check passed');
    appendFileSync(path.join(project, 'pipes/broken.pipe'), 'NODE broken_node\nSQL >\n    SELECT campaign_id, no_such_column FROM email_events\n\nTYPE endpoint\n');
    const bad = await deployCli(project, ch.url, DB, ['--check']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/pipes\/broken\.pipe:3:\d+: node broken_node: .*no_such_column/);
    expect(await tables()).toEqual(before);
    rmSync(path.join(project, 'pipes/broken.pipe'));
  });

  // A type every value fits (UInt8 → UInt16) is copied; one that may change values (UInt8 → Int8: 255 wraps) is not.
  it('fails the plan when a rewrite changes a column type with no FORWARD_QUERY, changing nothing', async () => {
    const file = path.join(project, 'datasources/email_events.datasource');
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, original.replace(/\nFORWARD_QUERY >\n    SELECT \*\n?/, '\n').replace('"campaign_id, timestamp, event_id"', '"campaign_id, event_id"').replace('`is_machine_open` UInt8', '`is_machine_open` Int8'));
    const before = await liveId();
    const r = await deployCli(project, ch.url, DB);
    writeFileSync(file, original);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/datasources\/email_events\.datasource: no safe path for datasource email_events: column\(s\) is_machine_open change type[\s\S]*FORWARD_QUERY/);
    expect(await liveId()).toBe(before);
  });

  it('rolls back to the previous pipes and says that schema changes stay applied', async () => {
    // Declined: nothing changes.
    const engine = await ServerEngine.open({ url: ch.url, database: DB });
    const before = await liveId();
    const out: string[] = [];
    let asked = '';
    try {
      const sink = { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream;
      expect(await rollback(engine, sink, {}, async (q) => ((asked = q), false))).toBeUndefined();
      // A deploy promoted while the question waits is not silently undone.
      const previous = Number(/#(\d+) live again/.exec(asked)![1]);
      const store = new DeploymentStore(engine);
      const racing = rollback(engine, sink, {}, async () => (await store.setLive(previous, 'test', 'promote'), true));
      await expect(racing).rejects.toThrow(`deployment #${previous} became live while you were asked; nothing changed`);
      await store.setLive(before, 'test', 'promote');
    } finally {
      await engine.close();
    }
    expect(asked).toMatch(new RegExp(`^Make deployment #\\d+ live again instead of #${before}\\?$`));
    expect(out.join('')).toContain(`deployment #${before} is still live`);
    expect(await liveId()).toBe(before);

    const r = await runCli(['deployment', 'rollback', '--yes'], { env: targetEnv(ch.url, DB) });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain('Schema changes stay applied');
    await served();
    const stats = await serve.get('/v0/pipes/campaign_stats.json');
    expect(stats.status).toBe(200);
    expect(stats.body.data[0].stats_version).toBeUndefined();
    expect((await serve.get(`/v0/pipes/recipient_activity.json?campaign_id=${events[0].campaign_id}`)).status).toBe(200);
  });

  it('refuses to delete a datasource without --allow-destructive-operations', async () => {
    rmSync(path.join(project, 'pipes/campaign_daily_totals.pipe'));
    rmSync(path.join(project, 'pipes/campaign_daily_mv.pipe'));
    rmSync(path.join(project, 'datasources/campaign_daily.datasource'));
    const refused = await deployCli(project, ch.url, DB);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/datasource campaign_daily: deleting it drops the table and its \d+ rows[\s\S]*--allow-destructive-operations/);
    const r = await deploy(['--allow-destructive-operations']);
    expect(r.stdout).toMatch(/- datasource campaign_daily: delete/);
    await served();
    expect((await serve.get('/v0/pipes/campaign_stats.json')).body.data[0].stats_version).toBe('v2');
    expect((await serve.get('/v0/pipes/campaign_daily_totals.json')).status).toBe(404);
    expect(await count('email_events')).toBeGreaterThanOrEqual(EVENTS.length);
  });

  it('--rebuild recomputes a rollup from its source, and refuses a datasource no view feeds', async () => {
    const good = await totals();
    // Rows counted twice in the rollup, as a replica killed between the events and the views could leave them short.
    await chExec(ch.url, `INSERT INTO ${DB}.email_campaign_totals SELECT * FROM ${DB}.email_campaign_totals WHERE event_kind = 'send'`);
    expect((await totals()).sends).toBe(2 * good.sends);
    const r = await deploy(['--rebuild', 'email_campaign_totals']);
    expect(r.stdout).toMatch(/email_campaign_totals.*rebuild asked for \(--rebuild\)/);
    await served();
    expect(await totals()).toEqual(good);
    const bad = await deployCli(project, ch.url, DB, ['--rebuild', 'email_events']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/--rebuild email_events: .*materialized view/);
    const unknown = await deployCli(project, ch.url, DB, ['--rebuild', 'no_such_table']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toMatch(/no_such_table/);
  });
});
