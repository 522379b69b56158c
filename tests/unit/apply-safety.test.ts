// Schema changes that could lose or double rows, found by review: a type change MODIFY would cast (wrap, cut) is
// data loss to confirm or a rewrite through FORWARD_QUERY, a key column is always rewritten; a rollup is recomputed
// from its views only when their sources keep every row (not ENGINE "Null", no TTL); a changed view whose target is
// rewritten by copying its rows is not backfilled on top of them.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { useEmbeddedEngine } from '../helpers/embedded.js';
import { writeFiles } from '../helpers/project-files.js';
import { applyProject, EMPTY_STATE, planApply, type ResourceState } from '../../cli/src/project/apply.js';
import { loadProject } from '../../cli/src/project/model.js';
import { keyTypeChangeInPlace, typeChangeKeepsValues } from '../../cli/src/project/type-change.js';

const ds = (columns: string, extra = '') => `SCHEMA >\n    ${columns}\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "k"\n${extra}`;
const TOTALS = 'SCHEMA >\n    `k` String,\n    `total` UInt64\n\nENGINE "SummingMergeTree"\nENGINE_SORTING_KEY "k"\n';
const view = (source: string, factor: number) => `NODE m\nSQL >\n    SELECT k, sum(v * ${factor}) AS total FROM ${source} GROUP BY k\n\nTYPE materialized\nDATASOURCE totals\n`;

describe('schema changes that keep every row once', () => {
  const chdb = useEmbeddedEngine('apply-safety');
  let state: ResourceState = EMPTY_STATE;
  const write = (files: Record<string, string>) => writeFiles(chdb.dir, files);
  const plan = async () => planApply(chdb.engine, await loadProject(chdb.dir), state);
  const apply = async () => {
    const r = await applyProject(chdb.engine, await loadProject(chdb.dir), state);
    expect(r.diagnostics).toEqual([]);
    state = r.state;
    return r.changes;
  };
  const one = async (sql: string) => Number(Object.values((await chdb.engine.queryRows<Record<string, number>>(sql))[0])[0]);

  it('a type change that could alter stored values is data loss to confirm, or a rewrite through FORWARD_QUERY', async () => {
    write({ 'datasources/n.datasource': ds('`k` String `json:$.k`,\n    `amount` Int64 `json:$.amount`') });
    await apply();
    await chdb.engine.insertRows('n', [{ k: 'a', amount: 3_000_000_000 }, { k: 'b', amount: 7 }]);
    // Int64 → Int32 would wrap 3,000,000,000 to a negative number.
    write({ 'datasources/n.datasource': ds('`k` String `json:$.k`,\n    `amount` Int32 `json:$.amount`') });
    const narrowing = await plan();
    expect(narrowing.destructive).toEqual([expect.stringContaining('datasource n: changing column(s) amount from Int64 to Int32 casts the values of its 2 rows')]);
    // With a FORWARD_QUERY the table is rewritten through it, and the plan loses nothing.
    write({ 'datasources/n.datasource': ds('`k` String `json:$.k`,\n    `amount` Int32 `json:$.amount`', 'FORWARD_QUERY >\n    SELECT k, toInt32(least(amount, 2147483647)) AS amount\n') });
    const forward = await plan();
    expect(forward.destructive).toEqual([]);
    expect(forward.datasources.find((s) => s.ds.name === 'n')).toMatchObject({ how: 'rewrite', backfill: 'forward_query', reason: 'column(s) amount (Int64 → Int32) change type' });
    await apply();
    expect(await one("SELECT amount FROM n WHERE k = 'a'")).toBe(2147483647);
    // A widening is an ALTER, and loses nothing.
    write({ 'datasources/n.datasource': ds('`k` String `json:$.k`,\n    `amount` Int64 `json:$.amount`') });
    const widening = await plan();
    expect(widening.destructive).toEqual([]);
    expect(widening.datasources.find((s) => s.ds.name === 'n')?.how).toBe('alter');
    await apply();
  });

  it('a key column that changes type is rewritten (ClickHouse will not MODIFY it)', async () => {
    write({ 'datasources/kk.datasource': 'SCHEMA >\n    `k` UInt8 `json:$.k`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "k"\n' });
    await apply();
    await chdb.engine.insertRows('kk', [{ k: 1 }, { k: 2 }]);
    write({ 'datasources/kk.datasource': 'SCHEMA >\n    `k` UInt16 `json:$.k`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "k"\n' });
    const p = await plan();
    expect(p.datasources.find((s) => s.ds.name === 'kk')).toMatchObject({ how: 'rewrite', reason: 'key column(s) k (UInt8 → UInt16) change type' });
    expect(p.datasources.find((s) => s.ds.name === 'kk')?.backfill).toBe('copy_columns');
    expect(p.datasources.find((s) => s.ds.name === 'kk')?.unsafe).toBeUndefined(); // every UInt8 fits a UInt16
    await apply();
    expect(await one('SELECT sum(k) FROM kk')).toBe(3);
    // A key column made LowCardinality keeps its stored form: ClickHouse modifies it in place.
    write({ 'datasources/lk.datasource': 'SCHEMA >\n    `k` String `json:$.k`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "k"\n' });
    await apply();
    await chdb.engine.insertRows('lk', [{ k: 'a' }]);
    write({ 'datasources/lk.datasource': 'SCHEMA >\n    `k` LowCardinality(String) `json:$.k`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "k"\n' });
    expect((await plan()).datasources.find((s) => s.ds.name === 'lk')?.how).toBe('alter');
    await apply();
    expect(await one("SELECT count() FROM lk WHERE k = 'a'")).toBe(1);
  });

  it('a changed view on a target rewritten for another reason counts every source row once', async () => {
    const src = ds('`k` String `json:$.k`,\n    `v` UInt32 `json:$.v`');
    write({ 'datasources/a.datasource': src, 'datasources/totals.datasource': TOTALS, 'pipes/from_a.pipe': view('a', 1) });
    await apply();
    await chdb.engine.insertRows('a', [{ k: 'x', v: 1 }, { k: 'x', v: 2 }]);
    expect(await one('SELECT sum(total) FROM totals')).toBe(3);
    // The target's key and its view change together, the target keeping a FORWARD_QUERY: it is recomputed from
    // the view (3 x 10), not copied (3) and backfilled on top (3 + 30).
    write({ 'datasources/totals.datasource': TOTALS.replace('ENGINE_SORTING_KEY "k"', 'ENGINE_SORTING_KEY "k, total"') + 'FORWARD_QUERY >\n    SELECT k, total\n', 'pipes/from_a.pipe': view('a', 10) });
    await apply();
    expect(await one('SELECT sum(total) FROM totals')).toBe(30);
  });

  it('a rollup whose source keeps no rows (ENGINE "Null") is copied, not recomputed into less', async () => {
    const nul = 'SCHEMA >\n    `k` String `json:$.k`,\n    `v` UInt32 `json:$.v`\n\nENGINE "Null"\n';
    const rollup = (key: string) => 'SCHEMA >\n    `k` String,\n    `total` UInt64\n\nENGINE "SummingMergeTree"\n' + `ENGINE_SORTING_KEY "${key}"\n`;
    const into = (source: string, factor: number) => view(source, factor).replace('DATASOURCE totals', 'DATASOURCE null_totals');
    write({ 'datasources/landing.datasource': nul, 'datasources/null_totals.datasource': rollup('k'), 'pipes/from_landing.pipe': into('landing', 1) });
    await apply();
    await chdb.engine.insertRows('landing', [{ k: 'x', v: 5 }, { k: 'y', v: 6 }]);
    expect(await one('SELECT sum(total) FROM null_totals')).toBe(11);
    // Its key changes: recomputing it from the view would read the empty Null table and leave it empty.
    write({ 'datasources/null_totals.datasource': rollup('k, total') });
    const p = await plan();
    expect(p.datasources.find((s) => s.ds.name === 'null_totals')?.backfill).toBe('copy_columns');
    await apply();
    expect(await one('SELECT sum(total) FROM null_totals')).toBe(11);
    // Its view changes: the rows it made are kept (copied), and not counted again.
    write({ 'pipes/from_landing.pipe': into('landing', 2) });
    await apply();
    expect(await one('SELECT sum(total) FROM null_totals')).toBe(11);
    await chdb.engine.insertRows('landing', [{ k: 'z', v: 1 }]);
    expect(await one('SELECT sum(total) FROM null_totals')).toBe(13);
  });
});

describe('a swap that fails', () => {
  const chdb = useEmbeddedEngine('apply-swap');
  it('leaves the views of its table for the next deploy instead of recording the new SQL over the old table', async () => {
    const src = ds('`k` String `json:$.k`,\n    `v` UInt32 `json:$.v`');
    writeFiles(chdb.dir, { 'datasources/a.datasource': src, 'datasources/totals.datasource': TOTALS, 'pipes/from_a.pipe': view('a', 1) });
    let r = await applyProject(chdb.engine, await loadProject(chdb.dir), EMPTY_STATE);
    expect(r.diagnostics).toEqual([]);
    await chdb.engine.insertRows('a', [{ k: 'x', v: 1 }, { k: 'x', v: 2 }]);
    writeFiles(chdb.dir, { 'pipes/from_a.pipe': view('a', 10) });
    const before = r.state;
    // The rebuilt table disappears before the swap: the swap fails.
    r = await applyProject(chdb.engine, await loadProject(chdb.dir), before, { beforeSwap: () => chdb.engine.command('DROP TABLE totals__emailstats_new') });
    expect(r.diagnostics.map((d) => d.message).join('\n')).toContain('materialized node m: not created, because the swap of totals failed; rows inserted into a do not reach totals until it is: run the deploy again');
    // Its old record stays, so that the next deploy plans it as changed (not as new, backfilled on top).
    expect(r.state.views.from_a).toEqual(before.views.from_a);
    expect(r.changes.map((c) => c.resource)).not.toContain('from_a');
    // The next deploy finds the view unrecorded and the table as it was, and finishes the change.
    r = await applyProject(chdb.engine, await loadProject(chdb.dir), r.state);
    expect(r.diagnostics).toEqual([]);
    expect(Number((await chdb.engine.queryRows<{ t: number }>('SELECT sum(total) AS t FROM totals'))[0].t)).toBe(30);
    await chdb.engine.insertRows('a', [{ k: 'y', v: 1 }]);
    expect(Number((await chdb.engine.queryRows<{ t: number }>('SELECT sum(total) AS t FROM totals'))[0].t)).toBe(40);
  });
});

describe('a swap that fails under an unchanged view', () => {
  const chdb = useEmbeddedEngine('apply-swap-copy');
  it('recreates the view as it was over the table still live, and the next deploy counts nothing twice', async () => {
    const src = ds('`k` String `json:$.k`,\n    `v` UInt32 `json:$.v`');
    const totals = (key: string) => TOTALS.replace('ENGINE_SORTING_KEY "k"', `ENGINE_SORTING_KEY "${key}"`) + 'FORWARD_QUERY >\n    SELECT k, total\n';
    writeFiles(chdb.dir, { 'datasources/a.datasource': src, 'datasources/totals.datasource': totals('k'), 'pipes/from_a.pipe': view('a', 1) });
    let r = await applyProject(chdb.engine, await loadProject(chdb.dir), EMPTY_STATE);
    expect(r.diagnostics).toEqual([]);
    await chdb.engine.insertRows('a', [{ k: 'x', v: 1 }, { k: 'x', v: 2 }]);
    const sum = async () => Number((await chdb.engine.queryRows<{ t: number }>('SELECT sum(total) AS t FROM totals'))[0].t);
    // The target's key changes (copied through FORWARD_QUERY), its view does not; the swap fails.
    writeFiles(chdb.dir, { 'datasources/totals.datasource': totals('k, total') });
    r = await applyProject(chdb.engine, await loadProject(chdb.dir), r.state, { beforeSwap: () => chdb.engine.command('DROP TABLE totals__emailstats_new') });
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(r.state.views).toHaveProperty('from_a');
    // No gap: the view is back over the live table.
    await chdb.engine.insertRows('a', [{ k: 'y', v: 4 }]);
    expect(await sum()).toBe(7);
    r = await applyProject(chdb.engine, await loadProject(chdb.dir), r.state);
    expect(r.diagnostics).toEqual([]);
    expect(await sum()).toBe(7);
  });
});

describe('an in-place change an earlier run half made', () => {
  const chdb = useEmbeddedEngine('apply-rerun');
  it('skips the DROP and ADD the table already shows, so that the re-run finishes instead of failing at the DROP', async () => {
    writeFiles(chdb.dir, { 'datasources/t.datasource': ds('`k` String `json:$.k`,\n    `foo` String `json:$.foo`') });
    let r = await applyProject(chdb.engine, await loadProject(chdb.dir), EMPTY_STATE);
    expect(r.diagnostics).toEqual([]);
    writeFiles(chdb.dir, { 'datasources/t.datasource': ds('`k` String `json:$.k`,\n    `bar` String `json:$.bar`') });
    // What a run that stopped after its first ALTER left: foo dropped, bar not added, nothing recorded.
    await chdb.engine.command('ALTER TABLE t DROP COLUMN foo');
    r = await applyProject(chdb.engine, await loadProject(chdb.dir), r.state);
    expect(r.diagnostics).toEqual([]);
    expect(r.changes.find((c) => c.resource === 't')?.detail).toBe('altered in place, data kept: added column bar');
    expect((await chdb.engine.queryRows<{ name: string }>("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 't' ORDER BY position")).map((c) => c.name)).toEqual(['k', 'bar']);
  });
});

describe('type changes that keep every value, judged by ClickHouse', () => {
  const chdb = useEmbeddedEngine('type-change');
  const TYPES = [
    'Int8', 'Int16', 'Int32', 'Int64', 'UInt8', 'UInt16', 'UInt32', 'UInt64', 'Float32', 'Float64', 'String', 'Nullable(Int32)', 'Nullable(Int64)', 'LowCardinality(String)',
    'Date', 'Date32', 'DateTime', "DateTime('Asia/Tokyo')", 'DateTime64(3)', 'DateTime64(6)', 'Decimal(10, 2)', 'Decimal(18, 2)', 'Decimal(18, 4)', "Enum8('a' = 1)", "Enum8('a' = 1, 'b' = 2)",
  ];
  /** Values at the edges of each type, as text ClickHouse parses. */
  const SAMPLES: Record<string, string[]> = {
    Int8: ['-128', '127'], Int16: ['-32768', '32767'], Int32: ['-2147483648', '2147483647'], Int64: ['-9223372036854775808', '9223372036854775807'],
    UInt8: ['255'], UInt16: ['65535'], UInt32: ['4294967295'], UInt64: ['18446744073709551615'], Float32: ['0.1', '1e30'], Float64: ['0.1', '1e300'],
    String: ['abc'], 'Nullable(Int32)': ['\\N', '5'], 'Nullable(Int64)': ['\\N', '-9223372036854775808'], 'LowCardinality(String)': ['x'],
    Date: ['2149-06-06', '1970-01-02'], Date32: ['2299-12-31'], DateTime: ['2106-02-07 06:28:15'], "DateTime('Asia/Tokyo')": ['2106-02-07 15:28:15'],
    'DateTime64(3)': ['2299-12-31 23:59:59.999', '1900-01-01 00:00:00.001'], 'DateTime64(6)': ['2299-12-31 23:59:59.999999'],
    'Decimal(10, 2)': ['99999999.99', '-0.01'], 'Decimal(18, 2)': ['9999999999999999.99'], 'Decimal(18, 4)': ['99999999999999.9999'],
    "Enum8('a' = 1)": ['a'], "Enum8('a' = 1, 'b' = 2)": ['b'],
  };

  it('says a change keeps values only when casting every edge value there and back gives it again', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TYPES), fc.constantFrom(...TYPES), async (from, to) => {
        if (!typeChangeKeepsValues(from, to)) return;
        for (const value of SAMPLES[from]!) {
          const v = value === '\\N' ? 'NULL' : `'${value}'`;
          // A DateTime is compared in one time zone: the value is the instant, its zone only how it is shown.
          const shown = (x: string) => (from.startsWith('DateTime') ? `toString(toTimeZone(${x}, 'UTC'))` : `toString(${x})`);
          const sql = `SELECT ${shown(`CAST(${v} AS ${from})`)} AS a, ${shown(`CAST(CAST(CAST(${v} AS ${from}) AS ${to}) AS ${from})`)} AS b`;
          const [row] = await chdb.engine.queryRows<{ a: string | null; b: string | null }>(sql);
          expect(row.b, `${value}: ${from} → ${to}`).toBe(row.a);
        }
      }),
      { numRuns: 200 },
    );
    // And it does call the common widenings safe.
    for (const [a, b] of [
      ['Int32', 'Int64'], ['UInt8', 'UInt16'], ['UInt32', 'Int64'], ['Float32', 'Float64'], ['String', 'Nullable(String)'], ['String', 'LowCardinality(String)'], ["Enum8('a' = 1)", "Enum8('a' = 1, 'b' = 2)"],
      ['Int64', 'String'], ['DateTime', "DateTime('UTC')"], ['Decimal(10,2)', 'Decimal(18,2)'], ['Decimal32(2)', 'Decimal64(2)'], ['DateTime64(3)', 'DateTime64(6)'], ['Int32', 'Float64'],
    ])
      expect(typeChangeKeepsValues(a, b), `${a} → ${b}`).toBe(true);
    for (const [a, b] of [
      ['Int64', 'Int32'], ['Int8', 'UInt8'], ['Float64', 'Float32'], ['Nullable(Int32)', 'Int32'], ['String', 'UInt8'], ['DateTime', 'Date'], ['Date', 'DateTime'], ["Enum8('a' = 1, 'b' = 2)", "Enum8('a' = 1)"],
      ['Int64', 'Float64'], ['Decimal(18,4)', 'Decimal(18,2)'], ["Enum8('a, b' = 1)", "Enum8('a,b' = 1)"],
    ])
      expect(typeChangeKeepsValues(a, b), `${a} → ${b}`).toBe(false);
    // Key columns: only a change that keeps the stored form is made in place.
    expect(keyTypeChangeInPlace('String', 'LowCardinality(String)')).toBe(true);
    expect(keyTypeChangeInPlace("Enum8('a' = 1)", "Enum8('a' = 1, 'b' = 2)")).toBe(true);
    expect(keyTypeChangeInPlace('UInt8', 'UInt16')).toBe(false);
  });
});
