// Copy pipes and table rewrites on a real ClickHouse 18.16: a rewrite (deploy or datasource replace) waits for a
// copy already writing into one of its tables, by the copy's query id, before it copies that table; and a serve
// that sees the rewrite record answers a copy into that table with 409 and who is rewriting it, then runs it
// again once the record ends.
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
import { chQuery, deployCli, eventually, PROD_TOKEN, startServe, type ServeProcess } from '../helpers/serve.js';

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

    let copyDoneAt = 0;
    const copy = runCopyPipe(ws, project.pipes.get('slow_total')!).then((r) => ((copyDoneAt = performance.now()), r));
    // The copy's INSERT is running on the server (named by its query id) before the rewrite begins.
    await eventually(async () => (await engine.queryRows("SELECT 1 FROM system.processes WHERE query_id LIKE 'emailstats-copy-totals:%'")).length > 0, 10_000, 'the copy running');
    const hold = await recordHold(store, 41, ['totals'], { pollMs: 50, leaseMs: 60_000, conflicts: () => [] });
    const heldAt = performance.now();
    expect((await copy).rowsWritten).toBe(1);
    expect(copyDoneAt).toBeGreaterThan(0);
    expect(copyDoneAt).toBeLessThanOrEqual(heldAt);
    expect((await store.rewriting()).map((r) => r.tables)).toEqual([['totals']]);
    await hold.end();
    expect(await engine.queryRows('SELECT total FROM totals')).toEqual([{ total: 21 }]);
  }, 60_000);

  it('answers a copy into a table being rewritten with 409 naming the rewrite, in a serve, and runs it once the rewrite ends', async () => {
    const db = 'copy_rewrite_serve';
    const deployed = await deployCli(write(COPY_SCHEDULE_PROJECT), ch.url, db, [], { EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN });
    expect(deployed.exitCode, deployed.all).toBe(0);
    const serve = await startServe(ch.url, db, 200);
    serves.push(serve);
    const store = new DeploymentStore(await ServerEngine.open({ url: ch.url, database: db }));
    const copy = () => fetch(`${serve.url}/v0/pipes/snapshot_clicks/copy`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` } });
    try {
      await store.startRewrite(77, ['click_snapshots'], 60_000);
      await serve.waitFor('» deployment #77 is rewriting click_snapshots');
      const refused = await copy();
      expect(refused.status).toBe(409);
      expect(refused.headers.get('retry-after')).toBe('30');
      expect(((await refused.json()) as { error: string }).error).toBe(
        'copy snapshot_clicks -> click_snapshots did not run: deployment #77 is rewriting click_snapshots right now; run it again when that is done (a scheduled copy runs again at its next minute)',
      );
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
