// A deploy killed during a rewrite converges when run again, while the old deployment keeps serving; two
// serve processes switch to a newly promoted deployment within seconds without failing a request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { BIN, copyProject, removeDir, REPO } from '../helpers/cli.js';
import { chQuery, currentDeployment, deployCli, eventually, startServe, targetEnv, type ServeProcess } from '../helpers/serve.js';

const RAW_COLUMNS = ['event_id', 'timestamp', 'event_type', 'campaign_id', 'email_id', 'recipient_id', 'recipient_email', 'link_url', 'metadata', 'user_agent'];
const EVENTS = readFileSync(path.join(REPO, 'fixtures/email_events.ndjson'), 'utf8').split('\n').filter(Boolean).slice(0, 5000);

describe('interrupted deploys and live switches', () => {
  let ch: ClickHouseServer;
  let project: string;
  const serves: ServeProcess[] = [];

  const load = async (db: string): Promise<void> => {
    // Naming the raw columns makes 18.16 compute the DEFAULT ones (event_kind, is_machine_open).
    const res = await fetch(`${ch.url}/?query=${encodeURIComponent(`INSERT INTO ${db}.email_events (${RAW_COLUMNS.join(', ')}) FORMAT JSONEachRow`)}`, { method: 'POST', body: EVENTS.join('\n') });
    expect(res.status, await res.text()).toBe(200);
  };
  /** Everything a deployment leaves behind in a database, to compare two of them (serve's own tinybird_* logs aside). */
  const snapshot = async (db: string) => ({
    tables: await chQuery(ch.url, `SELECT name, engine FROM system.tables WHERE database = '${db}' AND name NOT LIKE '\\_emailstats%' AND name NOT LIKE 'tinybird\\_%' ORDER BY name`),
    columns: await chQuery(ch.url, `SELECT table, name, type, default_expression FROM system.columns WHERE database = '${db}' AND table NOT LIKE '\\_emailstats%' AND table NOT LIKE 'tinybird\\_%' ORDER BY table, name`),
    events: await chQuery(ch.url, `SELECT count() AS c, sum(cityHash64(event_id, event_kind)) AS h FROM ${db}.email_events`),
    rollup: await chQuery(ch.url, `SELECT campaign_id, event_kind, countMerge(events) AS n FROM ${db}.email_activity_hourly GROUP BY campaign_id, event_kind ORDER BY campaign_id, event_kind`),
  });
  const sortingKeyChange = (): void => {
    const file = path.join(project, 'datasources/email_events.datasource');
    writeFileSync(file, readFileSync(file, 'utf8').replace('ENGINE_SORTING_KEY "campaign_id, event_type, timestamp"', 'ENGINE_SORTING_KEY "campaign_id, timestamp, event_id"\n\nFORWARD_QUERY >\n    SELECT *'));
  };

  beforeAll(async () => {
    ch = await startClickHouseServer();
    project = copyProject();
    for (const db of ['killed', 'clean']) {
      const r = await deployCli(project, ch.url, db);
      expect(r.exitCode, r.all).toBe(0);
      await load(db);
    }
  }, 90_000);

  afterAll(async () => {
    for (const s of serves) await s.stop();
    await ch?.stop();
    if (project) removeDir(project);
  });

  it('a deploy killed before its swap leaves the old deployment serving, and a re-run ends where an uninterrupted deploy does', async () => {
    const serve = await startServe(ch.url, 'killed');
    serves.push(serve);
    await eventually(async () => currentDeployment(serve.output()) === 1, 10_000, 'serve to load deployment #1');
    const before = await serve.get('/v0/pipes/campaign_stats.json');
    expect(before.status).toBe(200);

    sortingKeyChange();
    const clean = await deployCli(project, ch.url, 'clean');
    expect(clean.exitCode, clean.all).toBe(0);

    // Start the same deploy on the other database, let it fill the new table, and kill it before the swap.
    const proc = execa('node', [BIN, 'deploy', '--project', project, '--yes'], { env: { ...targetEnv(ch.url, 'killed'), EMAILSTATS_DEPLOY_PAUSE_BEFORE_SWAP_MS: '600000', NO_COLOR: '1' }, reject: false, all: true, buffer: false });
    let out = '';
    proc.all!.on('data', (c: Buffer) => void (out += c.toString()));
    await eventually(async () => out.includes('paused before swap') || proc.exitCode !== null, 30_000, 'the deploy to pause');
    expect(out).toContain('paused before swap');
    const building = await chQuery(ch.url, "SELECT name FROM system.tables WHERE database = 'killed' AND name = 'email_events__emailstats_new'");
    expect(building).toHaveLength(1);
    proc.kill('SIGKILL');
    await proc;

    // In between, the old deployment answers as before.
    const during = await serve.get('/v0/pipes/campaign_stats.json');
    expect(during.status).toBe(200);
    expect(during.body.data).toEqual(before.body.data);

    const rerun = await deployCli(project, ch.url, 'killed');
    expect(rerun.exitCode, rerun.all).toBe(0);
    expect(rerun.stdout).toMatch(/Deployment #\d+ is live/);
    expect(await snapshot('killed')).toEqual(await snapshot('clean'));
    const hashes = await Promise.all(['killed', 'clean'].map((db) => chQuery<{ h: string }>(ch.url, `SELECT content_hash AS h FROM ${db}._emailstats_deployments FINAL WHERE id = (SELECT deployment_id FROM ${db}._emailstats_live ORDER BY version DESC LIMIT 1)`)));
    expect(hashes[0]).toEqual(hashes[1]);
    const after = await serve.get('/v0/pipes/campaign_stats.json');
    await eventually(async () => currentDeployment(serve.output()) !== 1, 10_000, 'serve to switch');
    expect(after.body.data).toEqual(before.body.data);
  });

  it('two serve processes switch to a promoted deployment within seconds, failing no request', async () => {
    const a = await startServe(ch.url, 'clean', 500);
    const b = await startServe(ch.url, 'clean', 500);
    serves.push(a, b);
    let failures = 0;
    let requests = 0;
    let running = true;
    const loop = async (s: ServeProcess): Promise<void> => {
      while (running) {
        try {
          const r = await s.get('/v0/pipes/campaign_stats.json');
          requests++;
          if (r.status !== 200) failures++;
        } catch {
          failures++;
        }
      }
    };
    const loops = [loop(a), loop(b), loop(a), loop(b)];
    const file = path.join(project, 'pipes/campaign_stats.pipe');
    writeFileSync(file, readFileSync(file, 'utf8').replace('max(last_ts) AS last_activity', "max(last_ts) AS last_activity,\n        'v2' AS stats_version"));
    const r = await deployCli(project, ch.url, 'clean');
    expect(r.exitCode, r.all).toBe(0);
    const promotedAt = Date.now();
    for (const s of [a, b]) {
      await eventually(async () => (await s.get('/v0/pipes/campaign_stats.json')).body.data[0]?.stats_version === 'v2', 5_000, 'the new pipe');
    }
    const switchMs = Date.now() - promotedAt;
    await new Promise((res) => setTimeout(res, 500));
    running = false;
    await Promise.all(loops);
    expect(switchMs).toBeLessThan(5_000);
    expect(requests).toBeGreaterThan(20);
    expect(failures).toBe(0);
  });
});
