// Adding or changing a materialized view rebuilds its target from every view that feeds it, beside the live
// table, then swaps it in: no feeder's rows are doubled, and readers never see the target empty.
import { beforeAll, describe, expect, it } from 'vitest';
import { useEmbeddedEngine } from '../helpers/embedded.js';
import { writeFiles } from '../helpers/project-files.js';
import { applyProject, EMPTY_STATE, type ResourceState } from '../../cli/src/project/apply.js';
import { loadProject } from '../../cli/src/project/model.js';

const SRC = 'SCHEMA >\n    `k` String `json:$.k`,\n    `v` UInt32 `json:$.v`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "k"\n';
const TOTALS = 'SCHEMA >\n    `k` String,\n    `total` UInt64\n\nENGINE "SummingMergeTree"\nENGINE_SORTING_KEY "k"\n';
const view = (source: string, factor: number) => `NODE m\nSQL >\n    SELECT k, sum(v * ${factor}) AS total FROM ${source} GROUP BY k\n\nTYPE materialized\nDATASOURCE totals\n`;

describe('materialized view changes', () => {
  const chdb = useEmbeddedEngine('views');
  let state: ResourceState = EMPTY_STATE;

  const write = (files: Record<string, string>) => writeFiles(chdb.dir, files);
  const apply = async () => {
    const r = await applyProject(chdb.engine, await loadProject(chdb.dir), state);
    expect(r.diagnostics).toEqual([]);
    state = r.state;
    return r.changes;
  };
  const total = async () => Number((await chdb.engine.queryRows<{ t: number }>('SELECT sum(total) AS t FROM totals'))[0].t);

  beforeAll(async () => {
    write({ 'datasources/a.datasource': SRC, 'datasources/b.datasource': SRC, 'datasources/totals.datasource': TOTALS, 'pipes/from_a.pipe': view('a', 1) });
    await apply();
    await chdb.engine.insertRows('a', [{ k: 'x', v: 1 }, { k: 'x', v: 2 }]);
    await chdb.engine.insertRows('b', [{ k: 'x', v: 10 }]);
  });

  it('a new second feeder rebuilds the target from both views, once each', async () => {
    expect(await total()).toBe(3);
    write({ 'pipes/from_b.pipe': view('b', 1) });
    const changes = await apply();
    expect(changes.find((c) => c.resource === 'totals')?.detail).toMatch(/materialized view from_b added/);
    expect(await total()).toBe(13);
  });

  it('a changed view definition rebuilds the target, without doubling the other feeder', async () => {
    write({ 'pipes/from_a.pipe': view('a', 100) });
    await apply();
    expect(await total()).toBe(300 + 10);
    await chdb.engine.insertRows('a', [{ k: 'y', v: 1 }]);
    expect(await total()).toBe(300 + 10 + 100);
  });

  it('an unchanged project changes nothing', async () => {
    expect(await apply()).toEqual([]);
    expect(await total()).toBe(410);
  });

  it('a changed view recomputes its target even when the target has a FORWARD_QUERY (no old aggregates kept)', async () => {
    write({ 'datasources/totals.datasource': `${TOTALS}FORWARD_QUERY >\n    SELECT k, total\n` });
    await apply();
    expect(await total()).toBe(410);
    write({ 'pipes/from_a.pipe': view('a', 1) });
    const changes = await apply();
    expect(changes.find((c) => c.resource === 'totals')?.detail).toMatch(/materialized view from_a changed/);
    expect(await total()).toBe(4 + 10);
  });

  it('DEPLOYMENT_METHOD alter: a changed view keeps the rows of its target, and new rows go through the new SQL', async () => {
    const alter = (factor: number) => view('a', factor).replace('DATASOURCE totals\n', 'DATASOURCE totals\nDEPLOYMENT_METHOD alter\n');
    write({ 'pipes/from_a.pipe': alter(1) });
    await apply();
    expect(await total()).toBe(14);
    write({ 'pipes/from_a.pipe': alter(1000) });
    const changes = await apply();
    // No rewrite of totals: only the view changed.
    expect(changes.map((c) => [c.resource, c.detail])).toEqual([['from_a', 'materialized view into totals; its totals rows kept (DEPLOYMENT_METHOD alter)']]);
    expect(await total()).toBe(14);
    await chdb.engine.insertRows('a', [{ k: 'z', v: 2 }]);
    expect(await total()).toBe(14 + 2000);
  });

  it('DEPLOYMENT_METHOD alter: the plan holds every table upstream of the swapped view, through other views', async () => {
    const { planApply, rewrittenTables } = await import('../../cli/src/project/apply.js');
    // raw -> (to_a) -> a -> (from_a, alter) -> totals: a flush into raw reaches a through to_a while from_a is away.
    write({
      'datasources/raw.datasource': SRC,
      'pipes/to_a.pipe': 'NODE m\nSQL >\n    SELECT k, v FROM raw\n\nTYPE materialized\nDATASOURCE a\n',
    });
    await apply();
    write({ 'pipes/from_a.pipe': view('a', 7).replace('DATASOURCE totals\n', 'DATASOURCE totals\nDEPLOYMENT_METHOD alter\n') });
    const plan = await planApply(chdb.engine, await loadProject(chdb.dir), state);
    expect(plan.datasources.filter((d) => d.how === 'rewrite')).toEqual([]);
    expect(rewrittenTables(plan).sort()).toEqual(['a', 'raw']);
  });

  it('holds the source of a new view while it is created and backfilled (a flush in between would be counted twice)', async () => {
    const { planApply, rewrittenTables } = await import('../../cli/src/project/apply.js');
    write({
      'datasources/counts.datasource': 'SCHEMA >\n    `k` String,\n    `n` UInt64\n\nENGINE "SummingMergeTree"\nENGINE_SORTING_KEY "k"\n',
      'pipes/count_b.pipe': 'NODE m\nSQL >\n    SELECT k, count() AS n FROM b GROUP BY k\n\nTYPE materialized\nDATASOURCE counts\n',
    });
    const plan = await planApply(chdb.engine, await loadProject(chdb.dir), state);
    expect(plan.createViews.find((c) => c.view.name === 'count_b')?.backfill).toBe(true);
    expect(rewrittenTables(plan)).toContain('b');
  });
});
