// Copy pipes and table rewrites on a real ClickHouse 18.16: a rewrite (deploy or datasource replace) waits for a
// copy already writing into one of its tables, by the copy's query id, before it copies that table; and serve
// answers a copy (append or replace mode) into a table that a deploy is rewriting with 409, who is rewriting it
// and a Retry-After from its lease, then runs it once the record ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordHold } from '../../cli/src/deploy/rewrite-hold.js';
import { DeploymentStore } from '../../cli/src/deploy/store.js';
import { ServerEngine } from '../../cli/src/engine/server.js';
import { buildProject } from '../../cli/src/project/build.js';
import { loadProject } from '../../cli/src/project/model.js';
import { runCopyPipe } from '../../cli/src/server/copy-pipe.js';
import { buildTokenStore, DEFAULT_LIMITS, type Workspace } from '../../cli/src/server/workspace.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { COPY_SCHEDULE_PROJECT } from '../helpers/copy-schedule-project.js';
import { useProjectFiles } from '../helpers/project-files.js';
import { chQuery, deployCli, eventually, PROD_TOKEN, startServe, targetEnv, type ServeProcess } from '../helpers/serve.js';
import { runCli } from '../helpers/cli.js';

describe('copy pipes during table rewrites, on ClickHouse 18.16', () => {
  const write = useProjectFiles('copy-during-rewrite');
  let ch: ClickHouseServer;
  let engine: ServerEngine;
  const serves: ServeProcess[] = [];

  beforeAll(async () => {
    ch = await startClickHouseServer();
    engine = await ServerEngine.open({ url: ch.url, database: 'copy_rewrite' });
  }, 60_000);

  afterAll(async () => {
    for (const s of serves) await s.stop();
    await engine?.close();
    await ch?.stop();
  });

  it('waits for a copy still writing into a table before it holds that table for a rewrite', async () => {
    // A copy that takes ~3 s: half a second per source row.
    const project = await loadProject(
      write({
        'datasources/events.datasource': 'SCHEMA >\n    `n` UInt32\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "n"\n',
        'datasources/totals.datasource': 'SCHEMA >\n    `total` UInt64\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "total"\n',
        'pipes/slow_total.pipe': 'NODE t\nSQL >\n    SELECT sum(n + sleepEachRow(0.5)) AS total FROM events\n\nTYPE copy\nTARGET_DATASOURCE totals\n',
      }),
    );
    const report = await buildProject(engine, project, { fixtures: false });
    expect(report.diagnostics).toEqual([]);
    await engine.command('INSERT INTO events VALUES (1), (2), (3), (4), (5), (6)');
    const ws: Workspace = { project, engine, tokens: buildTokenStore(project, { admin: 'a', resource: {} }), limits: DEFAULT_LIMITS, endpointColumns: new Map() };
    const store = new DeploymentStore(engine);
    await store.ensureTables();

    const copy = runCopyPipe(ws, project.pipes.get('slow_total')!);
    // The copy's INSERT is running on the server (named by its query id) before the rewrite begins; its own wait
    // (two polls + 1 s here) ends long before the copy's ~3 s.
    await eventually(async () => (await engine.queryRows("SELECT 1 FROM system.processes WHERE query_id LIKE 'emailstats-copy-totals:%'")).length > 0, 10_000, 'the copy running');
    const hold = await recordHold(store, 41, ['totals'], { pollMs: 50, leaseMs: 60_000, conflicts: () => [] });
    // When the hold is taken the copy's rows are in: a rewrite copying the table now keeps them.
    expect(await engine.queryRows('SELECT total FROM totals')).toEqual([{ total: 21 }]);
    expect((await copy).rowsWritten).toBe(1);
    expect((await store.rewriting()).map((r) => r.tables)).toEqual([['totals']]);
    await hold.end();
  }, 60_000);

  it('refuses a copy into a table being rewritten: serve with 409 naming the rewrite, copy run straight at the server with the same message; both run once it ends', async () => {
    const db = 'copy_rewrite_serve';
    const dir = write(COPY_SCHEDULE_PROJECT);
    const deployed = await deployCli(dir, ch.url, db, [], { EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN });
    expect(deployed.exitCode, deployed.all).toBe(0);
    const serve = await startServe(ch.url, db, 200);
    serves.push(serve);
    const store = new DeploymentStore(await ServerEngine.open({ url: ch.url, database: db }));
    const copy = (mode = 'append') => fetch(`${serve.url}/v0/pipes/snapshot_clicks/copy?_mode=${mode}`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` } });
    try {
      await store.startRewrite(77, ['click_snapshots'], 60_000);
      await serve.waitFor('» deployment #77 is rewriting click_snapshots'); // serve's poll saw it (the copy reads the record itself)
      for (const mode of ['append', 'replace']) {
        const refused = await copy(mode);
        expect(refused.status).toBe(409);
        const retryAfter = Number(refused.headers.get('retry-after'));
        expect(retryAfter).toBeGreaterThan(0);
        expect(retryAfter).toBeLessThanOrEqual(60); // the record's lease
        expect(((await refused.json()) as { error: string }).error).toBe(
          'copy snapshot_clicks -> click_snapshots did not run: deployment #77 is rewriting click_snapshots right now; run it again when that is done',
        );
      }
      // `emailstats copy run` straight at the server (an external scheduler's way) reads the record too.
      const byHand = await runCli(['copy', 'run', 'snapshot_clicks', '--project', dir], { env: targetEnv(ch.url, db), reject: false });
      expect(byHand.exitCode, byHand.all).toBe(1);
      expect(byHand.all).toContain('copy snapshot_clicks -> click_snapshots did not run: deployment #77 is rewriting click_snapshots right now; run it again when that is done');
      expect(await chQuery(ch.url, `SELECT count() AS c FROM ${db}.click_snapshots`)).toEqual([{ c: 0 }]);
      await store.endRewrite(77);
      await serve.waitFor('» click_snapshots is no longer being rewritten');
      const ran = await copy();
      expect(ran.status, await ran.clone().text()).toBe(200);
      expect(await chQuery(ch.url, `SELECT count() AS c FROM ${db}.click_snapshots`)).toEqual([{ c: 1 }]);
    } finally {
      await store.engine.close();
    }
  }, 120_000);
});
