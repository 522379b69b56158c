// Applies a project to an engine: creates, alters, rewrites and drops tables and materialized views so that
// the engine matches the datafiles. Used by `build` (fresh engine), `dev` (persistent engine, on every change)
// and `deploy` (a ClickHouse server). It works in two halves: `planApply` decides what to do without changing
// anything (deploy prints it and may refuse it), `executeApply` does it. It keeps data whenever it can: columns
// added/dropped/modified are ALTERed in place; other table changes build a new table beside the live one, fill
// it (through FORWARD_QUERY, by re-running the materialized view that feeds it, or by copying the columns they
// share) and swap it in at the end with EXCHANGE TABLES (or RENAME where the server lacks it).
import { createHash } from 'node:crypto';
import type { DatasourceFile, Diagnostic, PipeFile, PipeNode } from '../datafile/types.js';
import { quoteIdent } from '../sql/quote.js';
import { runAll, swapIn } from '../engine/swap.js';
import { rowCount, tableColumns } from '../engine/tables.js';
import { EngineError, toEngineError } from '../engine/errors.js';
import type { Engine } from '../engine/types.js';
import type { TableSpec } from '../engine/placement.js';
import { compatQuerySettings } from '../engine/capabilities.js';
import { quarantineTableSpec, quarantineColumnsFor } from '../ingest/index.js';
import { columnDefinition, createMaterializedViewSql, datasourceShardingKey, tableEngine, tableSpec, viewNameFor, viewSelectOnShards } from './ddl.js';
import type { Project } from './model.js';
import { findTableReferences, identName } from './references.js';
import { tokenizeSql } from '../sql/lexer.js';
import { NodeRenderError, renderNode } from './render.js';
import { ensureServiceTables, usesServiceDatasources } from './service-datasources.js';
import { engineErrorPosition } from './error-position.js';
import { inferClassicTargets, withoutDatasources } from './classic-targets.js';
import { unmetRequirements } from './requirements.js';
import { UserError } from '../util/fatal.js';
import { keyTypeChangeInPlace, typeChangeKeepsValues } from './type-change.js';

export interface AppliedColumn {
  name: string;
  definition: string;
}

export interface AppliedDatasource {
  hash: string;
  columns: AppliedColumn[];
  engine: string;
}

export interface AppliedView {
  hash: string;
  target: string;
  source?: string;
  pipe: string;
}

/** What was applied last time, so the next apply only does the difference. */
export interface ResourceState {
  datasources: Record<string, AppliedDatasource>;
  views: Record<string, AppliedView>;
  /** The cluster the tables were built across (engine/placement.ts); absent on one ClickHouse. */
  cluster?: string;
}

export const EMPTY_STATE: ResourceState = { datasources: {}, views: {} };

export type ChangeAction = 'created' | 'changed' | 'deleted';

export interface Change {
  path: string;
  resource: string;
  action: ChangeAction;
  /** How it was done, e.g. `altered in place: added column provider` or `rewritten: sorting key changed, 5000 rows copied`. */
  detail?: string;
}

/** `✓ <path> <action> (<detail>)`: how build, dev and deploy print a change. */
export function formatChange(c: Change): string {
  return `✓ ${c.path} ${c.action}${c.detail ? ` (${c.detail})` : ''}`;
}

export interface ApplyResult {
  state: ResourceState;
  changes: Change[];
  diagnostics: Diagnostic[];
}

export interface DesiredView {
  name: string;
  pipe: PipeFile;
  node: PipeNode;
  target: string;
  source?: string;
  sql: string;
  hash: string;
}

/** How a rewritten table gets its rows. */
export type Backfill = 'forward_query' | 'materialized_view' | 'copy_columns';

export interface DatasourceStep {
  ds: DatasourceFile;
  desired: AppliedDatasource;
  how: 'create' | 'alter' | 'rewrite' | 'none';
  reason?: string;
  backfill?: Backfill;
  /** Column changes an ALTER makes, e.g. `add column provider`. */
  alterations: string[];
  /** Columns of the live table that the new schema no longer has. */
  droppedColumns: string[];
  /** Why no migration keeps the data (deploy refuses the plan; dev tries the column copy anyway). */
  unsafe?: string;
}

export interface ViewStep {
  view: DesiredView;
  /** Re-run the view's query into its target after creating it. */
  backfill: boolean;
  /** A changed view with DEPLOYMENT_METHOD alter whose target is not rewritten: the target keeps its rows. */
  keptByAlter: boolean;
}

export interface ApplyPlan {
  previous: ResourceState;
  /** Every materialized view the project wants. */
  views: DesiredView[];
  datasources: DatasourceStep[];
  /** Datasources in the previous state that the project no longer has. */
  removedDatasources: string[];
  /** Views to drop: changed, removed, or on a table that is rewritten or removed. */
  staleViews: string[];
  /** Views to create (new, changed, or dropped as stale). */
  createViews: ViewStep[];
  /** Views that exist in the engine without a record (state lost): dropped and recreated. */
  orphanViews: string[];
  /** Steps that lose data; deploy needs --allow-destructive-operations for them. */
  destructive: string[];
  diagnostics: Diagnostic[];
}

export interface ApplyHooks {
  /** Called after every step with the state applied so far, so that an interrupted apply resumes from there. */
  onState?: (state: ResourceState) => Promise<void>;
  /** Called when every rewritten table is built and filled, before anything is swapped or dropped. */
  beforeSwap?: () => Promise<void>;
  /**
   * Called before any rewritten table is filled, with the tables whose inserts the fill would miss: the
   * rewritten tables and the sources of views writing into them. Ingestion into them must pause (rows
   * inserted into a live table after its copy started are gone at the swap) until `afterRewrite`.
   */
  beforeRewrite?: (tables: string[]) => Promise<void>;
  /** Called with the same tables once the swaps are done and the views recreated, or the apply failed. */
  afterRewrite?: (tables: string[]) => Promise<void>;
}

/** The tables whose inserts a plan's rewrites would miss (see ApplyHooks.beforeRewrite). */
export function rewrittenTables(plan: ApplyPlan): string[] {
  const out = new Set(plan.datasources.filter((s) => s.how === 'rewrite').map((s) => s.ds.name));
  // A view dropped and created again over a live target (BACKFILL skip, DEPLOYMENT_METHOD alter): rows flushed into
  // its source between the two would never reach the target.
  const recreated = new Set(plan.createViews.map((c) => c.view.name));
  for (const name of plan.staleViews) {
    const source = plan.previous.views[name]?.source;
    if (source !== undefined && recreated.has(name)) out.add(source);
  }
  // A view created and then backfilled: a row flushed into its source between the CREATE and the backfill's read
  // would be counted by both.
  for (const c of plan.createViews) if (c.backfill && c.view.source !== undefined) out.add(c.view.source);
  // Every table upstream of those through views: views writing into a rewritten table keep writing into the old
  // one until they are recreated, and a flush into a table reaches the ones below it through its views.
  const views = [...Object.values(plan.previous.views), ...plan.views];
  for (let grew = true; grew; ) {
    grew = false;
    for (const v of views) {
      if (v.source !== undefined && out.has(v.target) && !out.has(v.source)) {
        out.add(v.source);
        grew = true;
      }
    }
  }
  return [...out];
}

/**
 * A changed materialized node with `DEPLOYMENT_METHOD alter` that still writes into the same table: changing it
 * keeps the rows that table holds. A view moved to another table fills it as a new view would.
 */
function altersInPlace(view: DesiredView, applied: AppliedView | undefined): boolean {
  return view.node.deploymentMethod === 'alter' && applied !== undefined && applied.target === view.target;
}

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

function desiredDatasource(ds: DatasourceFile, engine: Engine): AppliedDatasource {
  const columns = ds.columns.map((c) => ({ name: c.name, definition: columnDefinition(c) }));
  let engineText = tableEngine(ds, engine.caps) + '|' + ds.indexes.map((i) => `${i.name} ${i.expr} ${i.type} ${i.granularity ?? ''}`).join(';');
  // On a cluster a new sharding key rebuilds the table (its rows move between shards); elsewhere it means nothing.
  if (engine.placement.cluster) engineText += `|shard by ${datasourceShardingKey(ds)}`;
  return { columns, engine: engineText, hash: hash(JSON.stringify({ columns, engineText })) };
}

function errorAt(file: string, line: number, col: number, message: string, hint?: string): Diagnostic {
  return { file, line, col, message, hint, severity: 'error' };
}

/** Tables and views by the names the project uses (a cluster's shard tables are part of their datasource). */
async function existingTables(engine: Engine): Promise<Set<string>> {
  const rows = await engine.queryRows<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase()');
  return new Set(rows.map((r) => r.name).filter((n) => !engine.placement.isLocalTable(n)));
}

/**
 * Where the applied tables were built, when that is not where `engine` puts tables (a cluster, or one
 * ClickHouse): `across cluster NAME` / `on one ClickHouse server, without a cluster`; undefined when they match.
 * Neither a deploy nor a serve may use the tables the other way (deploy: placementMismatch; commands/serve.ts).
 */
export function builtElsewhere(engine: Engine, applied: ResourceState): string | undefined {
  if (!Object.keys(applied.datasources).length || applied.cluster === engine.placement.cluster) return undefined;
  return applied.cluster ? `across cluster ${applied.cluster}` : 'on one ClickHouse server, without a cluster';
}

/** Tables built on one ClickHouse cannot be taken over by a cluster deploy, nor the other way round. */
function placementMismatch(engine: Engine, project: Project, previous: ResourceState): Diagnostic | undefined {
  const cluster = engine.placement.cluster;
  const built = builtElsewhere(engine, previous);
  if (!built) return undefined;
  const first = project.datasources.values().next().value as DatasourceFile | undefined;
  return errorAt(
    first?.path ?? 'datasources', 1, 1,
    `the tables of ${engine.description} were built ${built}; this deploy ${cluster ? `targets cluster ${cluster}` : 'names no cluster'}`,
    previous.cluster ? `pass --clickhouse-cluster ${previous.cluster}` : 'deploy the cluster to a new database (--clickhouse-database), then move the data with INSERT ... SELECT',
  );
}


/** Columns in both lists whose type differs. */
function retypedColumns(before: AppliedColumn[], after: AppliedColumn[]): { name: string; from: string; to: string }[] {
  const old = new Map(before.map((c) => [c.name, definitionType(c.definition)]));
  return after.filter((c) => old.has(c.name) && old.get(c.name) !== definitionType(c.definition)).map((c) => ({ name: c.name, from: old.get(c.name)!, to: definitionType(c.definition) }));
}

/** The names the keys of the table's engine (sorting, primary, partition, sampling) mention. */
function keyNames(ds: DatasourceFile): Set<string> {
  const e = ds.engine;
  const keys = [e.sortingKey, e.primaryKey, e.partitionKey, e.samplingKey].filter((k): k is string => k !== undefined);
  return new Set(keys.flatMap((k) => tokenizeSql(k).map(identName)).filter((n): n is string => n !== undefined));
}

/** Columns an ALTER would retype in a way that may change stored values. */
function lossyRetypes(before: AppliedColumn[], after: AppliedColumn[]): { name: string; from: string; to: string }[] {
  return retypedColumns(before, after).filter((c) => !typeChangeKeepsValues(c.from, c.to));
}

/** The type part of a column definition (`\`x\` Nullable(String) DEFAULT ''` → `Nullable(String)`). */
function definitionType(def: string): string {
  return def.replace(/^`(?:[^`\\]|\\.)*`\s+/, '').split(/\s+(?:DEFAULT|MATERIALIZED|ALIAS|CODEC)\b/)[0].trim();
}

/** Renders the materialized views the project wants; template errors surface before anything changes. */
export function desiredViews(project: Project, diagnostics: Diagnostic[]): Map<string, DesiredView> {
  const views = new Map<string, DesiredView>();
  for (const pipe of project.pipes.values()) {
    const node = pipe.nodes.find((n) => n.type === 'materialized');
    if (!node) continue;
    const target = node.datasource!;
    if (!project.datasources.has(target)) {
      const pos = node.attrPositions.DATASOURCE ?? node.pos;
      diagnostics.push(errorAt(pipe.path, pos.line, pos.col, `materialized node ${node.name} writes to datasource '${target}', which does not exist`, `add datasources/${target}.datasource or fix the DATASOURCE line`));
      continue;
    }
    try {
      const sql = renderNode(project, pipe, node, {}, {}).sql;
      const source = findTableReferences(sql).find((r) => project.datasources.has(r.name))?.name;
      const name = viewNameFor(pipe.name, project.datasources);
      views.set(name, { name, pipe, node, target, source, sql, hash: hash(`${target}\n${sql}`) });
    } catch (err) {
      if (err instanceof NodeRenderError) diagnostics.push(errorAt(err.file, err.line, 1, err.message));
      else throw err;
    }
  }
  return views;
}

/** Decides what applying the project would do, without changing anything. */
export interface PlanOptions {
  /**
   * View targets to recompute from their materialized views even though nothing changed (`deploy --rebuild`):
   * a repair for rollups that missed rows, e.g. after a cluster node died mid-insert (docs/deploy.md).
   */
  rebuild?: readonly string[];
}

export async function planApply(engine: Engine, project: Project, previous: ResourceState = EMPTY_STATE, opts: PlanOptions = {}): Promise<ApplyPlan> {
  const diagnostics: Diagnostic[] = [];
  const mismatch = placementMismatch(engine, project, previous);
  if (mismatch) diagnostics.push(mismatch);
  for (const f of await inferClassicTargets(engine, project)) diagnostics.push(errorAt(f.file, f.line, f.col, f.message, f.hint));
  const tables = await existingTables(engine);
  const views = desiredViews(project, diagnostics);
  for (const ds of project.datasources.values()) {
    for (const f of unmetRequirements(ds, engine.version)) diagnostics.push(errorAt(ds.path, f.line, f.col, f.message, 'use a type or clause the server supports, or a newer ClickHouse'));
  }
  const plan: ApplyPlan = { previous, views: [...views.values()], datasources: [], removedDatasources: [], staleViews: [], createViews: [], orphanViews: [], destructive: [], diagnostics };
  if (diagnostics.length) return plan;

  for (const ds of project.datasources.values()) {
    const desired = desiredDatasource(ds, engine);
    const prev = previous.datasources[ds.name];
    const step: DatasourceStep = { ds, desired, how: 'none', alterations: [], droppedColumns: [] };
    if (!tables.has(ds.name)) step.how = 'create';
    else if (!prev) Object.assign(step, { how: 'rewrite', reason: 'no record of how the existing table was built' });
    else if (prev.hash === desired.hash) step.how = 'none';
    else if (prev.engine !== desired.engine) Object.assign(step, { how: 'rewrite', reason: 'engine, keys or indexes changed' });
    else if (!alterKeepsOrder(prev.columns, desired.columns)) Object.assign(step, { how: 'rewrite', reason: 'column order changed' });
    else {
      // MODIFY COLUMN casts every stored value: a change that could alter one is a rewrite through FORWARD_QUERY
      // when the datasource has one, data loss to confirm otherwise (below). A key column ClickHouse only
      // modifies when its stored form stays (an Enum keeping its values, LowCardinality): others are rewritten.
      const retyped = retypedColumns(prev.columns, desired.columns);
      const lossy = lossyRetypes(prev.columns, desired.columns);
      const inKeys = keyNames(ds);
      const keyed = retyped.filter((c) => inKeys.has(c.name) && !keyTypeChangeInPlace(c.from, c.to));
      if (keyed.length) Object.assign(step, { how: 'rewrite', reason: `key column(s) ${keyed.map((c) => `${c.name} (${c.from} → ${c.to})`).join(', ')} change type` });
      else if (lossy.length && ds.forwardQuery) Object.assign(step, { how: 'rewrite', reason: `column(s) ${lossy.map((c) => `${c.name} (${c.from} → ${c.to})`).join(', ')} change type` });
      else {
        step.how = 'alter';
        step.alterations = columnAlterations(prev.columns, desired.columns).map((a) => a.label);
      }
    }
    if (prev && step.how !== 'create' && step.how !== 'none') {
      const names = new Set(desired.columns.map((c) => c.name));
      step.droppedColumns = prev.columns.filter((c) => !names.has(c.name)).map((c) => c.name);
    }
    if (step.how === 'rewrite') chooseBackfill(step, prev, views, project);
    plan.datasources.push(step);
  }
  plan.removedDatasources = Object.keys(previous.datasources).filter((n) => !project.datasources.has(n));

  // A view added or changed onto an existing table: the table's rows came from the old definitions, so it is
  // rebuilt beside the live one from every view that feeds it and swapped in (never truncated in place).
  for (const view of views.values()) {
    const applied = previous.views[view.name];
    if (applied && applied.hash === view.hash) continue;
    const step = plan.datasources.find((s) => s.ds.name === view.target);
    // DEPLOYMENT_METHOD alter (Tinybird): a changed view replaces the old one and its target keeps the rows it has;
    // only rows inserted from then on go through the new SQL.
    if (!step || step.how === 'create' || step.ds.backfill === 'skip' || altersInPlace(view, applied)) continue;
    const feedersOf = [...views.values()].filter((v) => v.target === step.ds.name && v.source);
    if (step.how === 'rewrite') {
      // Rewritten for another reason: recompute its rows from the views when they can give every row; a copy
      // (FORWARD_QUERY, shared columns) keeps what the old definition made, and the view is then not backfilled
      // on top of it (ViewStep.backfill below), or the changed view would count those rows twice.
      if (applied && rebuildableFromViews(step.ds, feedersOf, project)) Object.assign(step, { backfill: 'materialized_view', unsafe: undefined });
      continue;
    }
    Object.assign(step, { how: 'rewrite', reason: `materialized view ${view.name} ${applied ? 'changed' : 'added'}`, alterations: [] });
    // The table's rows are what the old view definitions produced: recompute them from the views when they can give
    // every row. Copying them (even through FORWARD_QUERY) would keep the old aggregates, and the changed view
    // would then add its own on top.
    if (rebuildableFromViews(step.ds, feedersOf, project)) step.backfill = 'materialized_view';
    else chooseBackfill(step, previous.datasources[step.ds.name], views, project);
  }

  for (const name of opts.rebuild ?? []) forceRebuild(plan, name, views, project);

  // Views: drop what changes, disappears, or sits on a table about to be rewritten or removed.
  const touched = new Set([...plan.datasources.filter((s) => s.how === 'rewrite').map((s) => s.ds.name), ...plan.removedDatasources]);
  const viewFilled = new Set(plan.datasources.filter((s) => s.backfill === 'materialized_view').map((s) => s.ds.name));
  // Rewritten by copying their rows (FORWARD_QUERY, shared columns): those rows already hold what the views made.
  const copied = new Set(plan.datasources.filter((s) => s.how === 'rewrite' && s.backfill !== 'materialized_view').map((s) => s.ds.name));
  for (const [name, applied] of Object.entries(previous.views)) {
    const want = views.get(name);
    if (!want || want.hash !== applied.hash || touched.has(applied.target) || (applied.source !== undefined && touched.has(applied.source))) plan.staleViews.push(name);
  }
  for (const view of views.values()) {
    if (previous.views[view.name] && !plan.staleViews.includes(view.name)) continue;
    if (!previous.views[view.name] && tables.has(view.name)) plan.orphanViews.push(view.name);
    const targetDs = project.datasources.get(view.target)!;
    // A view recreated only because its source or target was rebuilt keeps its target's rows: no backfill.
    const applied = previous.views[view.name];
    const definitionChanged = !applied || applied.hash !== view.hash;
    const keptByAlter = altersInPlace(view, applied) && !touched.has(view.target);
    const keepsRows = targetDs.backfill === 'skip' || altersInPlace(view, applied);
    // A view that existed before has its output in a copied target already; a new one's output is not there yet.
    const inCopy = applied !== undefined && applied.target === view.target && copied.has(view.target);
    plan.createViews.push({ view, backfill: definitionChanged && !keepsRows && view.source !== undefined && !viewFilled.has(view.target) && !inCopy, keptByAlter });
  }

  // Data that would be lost.
  for (const step of plan.datasources) {
    const lossy = step.how === 'alter' ? lossyRetypes(previous.datasources[step.ds.name]!.columns, step.desired.columns) : [];
    if (lossy.length) {
      const rows = await rowCount(engine, step.ds.name);
      if (rows > 0) {
        const what = lossy.map((c) => `${c.name} from ${c.from} to ${c.to}`).join(', ');
        plan.destructive.push(`datasource ${step.ds.name}: changing column(s) ${what} casts the values of its ${rows} rows (a value the new type cannot hold wraps, is cut or fails); add a FORWARD_QUERY that converts them (the table is then rewritten through it)`);
      }
    }
    if (!step.droppedColumns.length || step.backfill === 'materialized_view') continue;
    const rows = await rowCount(engine, step.ds.name);
    if (rows > 0) plan.destructive.push(`datasource ${step.ds.name}: dropping column(s) ${step.droppedColumns.join(', ')} loses their data (${rows} rows)`);
  }
  for (const name of plan.removedDatasources) {
    const rows = tables.has(name) ? await rowCount(engine, name) : 0;
    plan.destructive.push(`datasource ${name}: deleting it drops the table and its ${rows} rows`);
  }
  return plan;
}

/**
 * True when re-running its views gives all of a table's rows: it has feeders, none reads the table itself, all
 * read datasources of the project that keep every row they were given (not ENGINE "Null", which keeps none, and
 * no TTL, which drops old ones: a rollup keeps history its source let go), and it does not opt out with
 * `BACKFILL skip`. `completeSources` false drops the condition on the sources: a datasource replace (cascade.ts)
 * recomputes what its new rows feed, whatever else the source let go.
 */
export function rebuildableFromViews(ds: DatasourceFile, feeders: DesiredView[], project: Project, completeSources = true): boolean {
  return (
    feeders.length > 0 &&
    ds.backfill !== 'skip' &&
    feeders.every((v) => v.source !== ds.name && project.datasources.has(v.source!) && (!completeSources || keepsEveryRow(project.datasources.get(v.source!))))
  );
}

function keepsEveryRow(source: DatasourceFile | undefined): boolean {
  return source !== undefined && source.engine.type !== 'Null' && !source.engine.ttl;
}

/** Which feeding view keeps a table from being recomputed, and why (for rebuildableFromViews' refusals). */
function unrebuildableFeeder(ds: DatasourceFile, feeders: DesiredView[], project: Project): string {
  for (const v of feeders) {
    const source = project.datasources.get(v.source!);
    if (v.source === ds.name) return `view ${v.name} reads ${ds.name} itself`;
    if (!source) return `view ${v.name} reads ${v.source}, which is not a datasource of the project`;
    if (source.engine.type === 'Null') return `view ${v.name} reads ${v.source}, whose ENGINE "Null" keeps no rows`;
    if (source.engine.ttl) return `view ${v.name} reads ${v.source}, whose TTL drops old rows`;
  }
  return 'its views do not give all of its rows';
}

/** Makes datasource `name` a rewrite filled from its views (`deploy --rebuild`); refuses what views cannot refill. */
function forceRebuild(plan: ApplyPlan, name: string, views: Map<string, DesiredView>, project: Project): void {
  const step = plan.datasources.find((s) => s.ds.name === name);
  if (!step) throw new UserError(`--rebuild ${name}: the project has no datasource ${name} (it has ${[...project.datasources.keys()].join(', ') || 'none'})`);
  if (step.how === 'create') return; // new: its views fill it as it is created
  const feeders = [...views.values()].filter((v) => v.target === name && v.source);
  if (!rebuildableFromViews(step.ds, feeders, project)) {
    const why = !feeders.length ? 'no materialized view writes into it' : step.ds.backfill === 'skip' ? 'it sets BACKFILL skip' : unrebuildableFeeder(step.ds, feeders, project);
    throw new UserError(`--rebuild ${name}: it cannot be recomputed from materialized views (${why}); --rebuild is for tables whose every row comes from views over datasources, such as rollups`);
  }
  const reason = step.how === 'rewrite' ? step.reason : 'rebuild asked for (--rebuild)';
  Object.assign(step, { how: 'rewrite', reason, alterations: [], backfill: 'materialized_view' });
}

/** Picks how a rewritten table is filled: FORWARD_QUERY, the materialized view that feeds it, or shared columns. */
function chooseBackfill(step: DatasourceStep, prev: AppliedDatasource | undefined, views: Map<string, DesiredView>, project: Project): void {
  const { ds } = step;
  const feeders = [...views.values()].filter((v) => v.target === ds.name && v.source);
  if (ds.forwardQuery) step.backfill = 'forward_query';
  else if (rebuildableFromViews(ds, feeders, project)) step.backfill = 'materialized_view';
  else {
    step.backfill = 'copy_columns';
    // A copy casts each value into its new type: fine where every value keeps (typeChangeKeepsValues).
    const retyped = lossyRetypes(prev?.columns ?? [], step.desired.columns).map((c) => c.name);
    if (retyped.length) {
      step.unsafe = `column(s) ${retyped.join(', ')} change type and the table must be rewritten (${step.reason}), but the datasource has no FORWARD_QUERY and no materialized view feeds it`;
    }
  }
}

/** Applies the project: plan, then execute. */
export async function applyProject(engine: Engine, project: Project, previous: ResourceState = EMPTY_STATE, hooks: ApplyHooks = {}): Promise<ApplyResult> {
  // Classic targets whose columns come from a node reading tables not created yet: create the rest first.
  const pending = (await inferClassicTargets(engine, project)).map((f) => f.datasource);
  if (pending.length) {
    const first = await applyPlanned(engine, withoutDatasources(project, pending), previous, hooks);
    if (first.diagnostics.length) return first;
    const second = await applyPlanned(engine, project, first.state, hooks);
    return { ...second, changes: [...first.changes, ...second.changes] };
  }
  return applyPlanned(engine, project, previous, hooks);
}

async function applyPlanned(engine: Engine, project: Project, previous: ResourceState, hooks: ApplyHooks): Promise<ApplyResult> {
  const plan = await planApply(engine, project, previous);
  if (plan.diagnostics.length) return { state: previous, changes: [], diagnostics: plan.diagnostics };
  return executeApply(engine, project, plan, hooks);
}

/**
 * Runs a plan. Order: create tables, ALTER in place, build and fill the new tables of rewrites; then (the
 * `beforeSwap` point) drop stale views, swap the rewritten tables in, drop removed datasources; last, create
 * views and backfill them. Until the swap, the live tables are untouched apart from in-place ALTERs. When
 * anything is rewritten, `beforeRewrite` runs before all of this and `afterRewrite` after it (even on failure).
 */
export async function executeApply(engine: Engine, project: Project, plan: ApplyPlan, hooks: ApplyHooks = {}): Promise<ApplyResult> {
  const held = rewrittenTables(plan);
  if (!held.length || !hooks.beforeRewrite) return executeSteps(engine, project, plan, hooks);
  try {
    // Inside the try: a hook that fails half-way (a deploy that recorded the hold, then gave up) still releases.
    await hooks.beforeRewrite(held);
    return await executeSteps(engine, project, plan, hooks);
  } finally {
    await hooks.afterRewrite?.(held);
  }
}

async function executeSteps(engine: Engine, project: Project, plan: ApplyPlan, hooks: ApplyHooks): Promise<ApplyResult> {
  const diagnostics: Diagnostic[] = [];
  const changes: Change[] = [];
  const state: ResourceState = { datasources: { ...plan.previous.datasources }, views: { ...plan.previous.views } };
  if (engine.placement.cluster) state.cluster = engine.placement.cluster;
  const saved = async (): Promise<void> => {
    await hooks.onState?.({ ...state, datasources: { ...state.datasources }, views: { ...state.views } });
  };
  const { placement } = engine;
  if (usesServiceDatasources(project)) await ensureServiceTables(engine);
  const tables = await existingTables(engine);
  const fail = (step: DatasourceStep, err: unknown): void => {
    const e = toEngineError(err);
    const pos = step.ds.columns[0]?.pos ?? { line: 1, col: 1 };
    const hint = step.how === 'rewrite' && !step.ds.forwardQuery ? 'add a FORWARD_QUERY that maps the old columns to the new schema' : undefined;
    diagnostics.push(errorAt(step.ds.path, pos.line, 1, `cannot ${step.how} table ${step.ds.name}: ${e.message}`, hint));
  };

  // 1. New tables and in-place changes.
  for (const step of plan.datasources) {
    if (step.how !== 'create' && step.how !== 'alter') continue;
    const { ds, desired } = step;
    try {
      if (step.how === 'create') {
        await runAll(engine, placement.createTable(tableSpec(ds, engine.caps, ds.name, engine.version)));
        tables.add(ds.name);
        changes.push({ path: ds.path, resource: ds.name, action: 'created' });
      } else {
        const detail = await alterInPlace(engine, tableSpec(ds, engine.caps, ds.name, engine.version), state.datasources[ds.name].columns, desired.columns);
        changes.push({ path: ds.path, resource: ds.name, action: 'changed', detail: `altered in place, data kept: ${detail}` });
      }
      state.datasources[ds.name] = desired;
      await ensureQuarantine(engine, ds, tables);
      await saved();
    } catch (err) {
      fail(step, err);
    }
  }

  // 2. Rewrites: build and fill the new tables beside the live ones.
  const prepared: { step: DatasourceStep; rows: number }[] = [];
  for (const step of plan.datasources) {
    if (step.how !== 'rewrite') continue;
    try {
      const feeders = plan.createViews.map((v) => v.view).filter((v) => v.target === step.ds.name);
      prepared.push({ step, rows: await buildReplacement(engine, step, state.datasources[step.ds.name]?.columns, feeders) });
    } catch (err) {
      fail(step, err);
    }
  }
  if (diagnostics.length) return { state, changes, diagnostics };
  await hooks.beforeSwap?.();

  // 3. Swap: stale views go first (they may read or write the tables being swapped), removed datasources last.
  for (const name of [...plan.staleViews, ...plan.orphanViews]) {
    await dropView(engine, name, tables);
    const applied = state.views[name];
    delete state.views[name];
    if (applied && !plan.createViews.some((v) => v.view.name === name)) changes.push({ path: `pipes/${applied.pipe}.pipe`, resource: applied.pipe, action: 'deleted', detail: 'materialized view dropped' });
    await saved();
  }
  const failedSwaps = new Set<string>();
  for (const { step, rows } of prepared) {
    const { ds, desired } = step;
    try {
      await swapIn(engine, ds.name, newName(ds.name), datasourceShardingKey(ds));
      state.datasources[ds.name] = desired;
      await ensureQuarantine(engine, ds, tables);
      await saved();
      const how = step.backfill === 'forward_query' ? 'through FORWARD_QUERY' : step.backfill === 'materialized_view' ? 'by re-running its materialized view' : 'by copying the shared columns';
      changes.push({ path: ds.path, resource: ds.name, action: 'changed', detail: `rewritten into a new table (${step.reason}); ${rows} rows filled ${how}` });
    } catch (err) {
      failedSwaps.add(ds.name);
      fail(step, err);
    }
  }
  for (const name of plan.removedDatasources) {
    await runAll(engine, placement.dropTable(name));
    await runAll(engine, placement.dropTable(`${name}_quarantine`));
    delete state.datasources[name];
    await saved();
    changes.push({ path: `datasources/${name}.datasource`, resource: name, action: 'deleted', detail: 'table dropped' });
  }

  // 4. Views: create what is missing; backfill from the source, as Tinybird does unless BACKFILL skip.
  for (const { view, backfill, keptByAlter } of plan.createViews) {
    // Its table (or its source) was not swapped. The same SQL over the table still live is what was there: it is
    // recreated. A changed view's new SQL over the old table would mix two definitions: it is left out with its
    // old record, so the next deploy plans it as changed (not as new, which would backfill it on top of copied rows).
    if (failedSwaps.has(view.target) || (view.source !== undefined && failedSwaps.has(view.source))) {
      const before = plan.previous.views[view.name];
      if (!before || before.hash !== view.hash) {
        if (before) state.views[view.name] = before;
        await saved();
        const failed = failedSwaps.has(view.target) ? view.target : view.source!;
        diagnostics.push(errorAt(view.pipe.path, view.node.sqlPos.line, view.node.sqlPos.col, `materialized node ${view.node.name}: not created, because the swap of ${failed} failed; rows inserted into ${view.source} do not reach ${view.target} until it is: run the deploy again`));
        continue;
      }
    }
    try {
      const wasApplied = Object.values(plan.previous.views).some((v) => v.pipe === view.pipe.name);
      await runAll(engine, placement.dropTable(view.name));
      const select = placement.cluster ? viewSelectOnShards(view.sql, (n) => project.datasources.has(n), placement, engine.database) : view.sql;
      await runAll(engine, createMaterializedViewSql(view.name, view.target, select, compatQuerySettings(engine.version), placement));
      tables.add(view.name);
      if (backfill) {
        // A new target, or a new view whose output is not among its target's rows (targets recomputed from their
        // views were filled by the rewrite step, and a copied target holds what the views it had made).
        const insert = await viewBackfillInsert(engine, view, project.datasources.get(view.target)!, quoteIdent(view.target));
        if (insert) await engine.command(insert, { settings: compatQuerySettings(engine.version) });
      }
      state.views[view.name] = { hash: view.hash, target: view.target, source: view.source, pipe: view.pipe.name };
      await saved();
      const kept = keptByAlter ? `; its ${view.target} rows kept (DEPLOYMENT_METHOD alter)` : '';
      changes.push({ path: view.pipe.path, resource: view.pipe.name, action: wasApplied ? 'changed' : 'created', detail: `materialized view into ${view.target}${kept}` });
    } catch (err) {
      const e = toEngineError(err);
      const pos = engineErrorPosition(view.node, project.sources.get(view.pipe.path), e.message) ?? view.node.sqlPos;
      diagnostics.push(errorAt(view.pipe.path, pos.line, pos.col, `materialized node ${view.node.name}: ${e.message}`));
    }
  }
  return { state, changes, diagnostics };
}

async function dropView(engine: Engine, name: string, tables: Set<string>): Promise<void> {
  await runAll(engine, engine.placement.dropTable(name));
  tables.delete(name);
}

/**
 * True when ALTER can reach `after` from `before`: kept columns stay in the same relative order (ALTER can't
 * reorder), and no new column goes first (ADD COLUMN places after a named column; `FIRST` is not on 18.16).
 */
function alterKeepsOrder(before: AppliedColumn[], after: AppliedColumn[]): boolean {
  const afterNames = after.map((c) => c.name);
  const kept = before.map((c) => c.name).filter((n) => afterNames.includes(n));
  const order = afterNames.filter((n) => kept.includes(n));
  const newFirst = after.length > 0 && before.length > 0 && !before.some((c) => c.name === after[0].name);
  return !newFirst && kept.every((n, i) => order[i] === n);
}

interface Alteration {
  label: string;
  /** What follows `ALTER TABLE <name>`. */
  action: string;
  /** For an added or dropped column: which, so that a re-run skips what an interrupted run already did. */
  adds?: string;
  drops?: string;
}

function columnAlterations(before: AppliedColumn[], after: AppliedColumn[]): Alteration[] {
  const out: Alteration[] = [];
  const beforeByName = new Map(before.map((c) => [c.name, c]));
  const afterNames = new Set(after.map((c) => c.name));
  for (const col of before) {
    if (!afterNames.has(col.name)) out.push({ label: `dropped column ${col.name}`, action: `DROP COLUMN ${quoteIdent(col.name)}`, drops: col.name });
  }
  let previousName: string | undefined;
  for (const col of after) {
    const old = beforeByName.get(col.name);
    const position = previousName ? ` AFTER ${quoteIdent(previousName)}` : '';
    if (!old) out.push({ label: `added column ${col.name}`, action: `ADD COLUMN ${col.definition}${position}`, adds: col.name });
    else if (old.definition !== col.definition) out.push({ label: `modified column ${col.name}`, action: `MODIFY COLUMN ${col.definition}` });
    previousName = col.name;
  }
  return out;
}

/** `table`: the table as it is after the ALTERs. */
async function alterInPlace(engine: Engine, table: TableSpec, before: AppliedColumn[], after: AppliedColumn[]): Promise<string> {
  // The record is written once every ALTER has run: after an interrupted or half-failed run (a DROP done, the
  // MODIFY after it refused) the table is ahead of the record, and repeating that DROP would fail every re-run.
  const live = new Set(await tableColumns(engine, table.name));
  const steps = columnAlterations(before, after).filter((s) => !(s.drops !== undefined && !live.has(s.drops)) && !(s.adds !== undefined && live.has(s.adds)));
  await runAll(engine, engine.placement.alterColumns(table, steps.map((s) => s.action)));
  return steps.map((s) => s.label).join(', ') || 'no column changes';
}

const newName = (table: string): string => `${table}__emailstats_new`;

/** The INSERT ... SELECT that fills a table's replacement from the live table through its FORWARD_QUERY. */
export function forwardQueryInsert(ds: DatasourceFile, into: string, from: string): string {
  const columns = ds.columns.map((c) => quoteIdent(c.name)).join(', ');
  let select = `${ds.forwardQuery!.trim().replace(/^select\s/i, 'SELECT ')} FROM ${from}`;
  if (!/^SELECT\s/i.test(select)) select = `SELECT ${select}`;
  return `INSERT INTO ${into} (${columns}) ${select}`;
}

/**
 * The INSERT ... SELECT that re-runs a materialized view's query into `into`. Columns are matched by name, as
 * ClickHouse does for the view's own inserts: a query may list them in another order than the datasource, and
 * datasource columns it does not produce get their DEFAULT. Undefined when no column is shared.
 */
export async function viewBackfillInsert(engine: Engine, view: DesiredView, target: DatasourceFile, into: string): Promise<string | undefined> {
  const text = await engine.queryText(`SELECT * FROM (\n${view.sql}\n) LIMIT 0`, 'JSON');
  const produced = (JSON.parse(text) as { meta: { name: string }[] }).meta.map((m) => m.name);
  const wanted = new Set(target.columns.map((c) => c.name));
  const columns = produced.filter((n) => wanted.has(n)).map(quoteIdent).join(', ');
  return columns ? `INSERT INTO ${into} (${columns}) SELECT ${columns} FROM (\n${view.sql}\n)` : undefined;
}

/** Re-runs every view of `feeders` (all writing into datasource `target`) into table `into`. */
export async function fillFromViews(engine: Engine, feeders: DesiredView[], target: DatasourceFile, into: string): Promise<void> {
  for (const view of feeders) {
    const insert = await viewBackfillInsert(engine, view, target, quoteIdent(into));
    if (insert) await engine.command(insert, { settings: compatQuerySettings(engine.version) });
  }
}

/**
 * Builds `<table>__emailstats_new` beside the live table and fills it. A leftover from an interrupted run is
 * dropped first, so running this again starts over cleanly.
 */
async function buildReplacement(engine: Engine, step: DatasourceStep, before: AppliedColumn[] | undefined, feeders: DesiredView[]): Promise<number> {
  const { ds } = step;
  const next = newName(ds.name);
  await runAll(engine, engine.placement.dropTable(next));
  await runAll(engine, engine.placement.createTable(tableSpec(ds, engine.caps, next, engine.version)));
  if (step.backfill === 'forward_query') {
    await engine.command(forwardQueryInsert(ds, quoteIdent(next), quoteIdent(ds.name)));
  } else if (step.backfill === 'materialized_view') {
    await fillFromViews(engine, feeders, ds, next);
  } else {
    const existing = before?.map((c) => c.name) ?? (await tableColumns(engine, ds.name));
    const common = ds.columns.map((c) => c.name).filter((n) => existing.includes(n));
    const columns = common.map(quoteIdent).join(', ');
    if (columns) await engine.command(`INSERT INTO ${quoteIdent(next)} (${columns}) SELECT ${columns} FROM ${quoteIdent(ds.name)}`);
  }
  return rowCount(engine, next);
}

/** Every datasource has `<name>_quarantine`; new datasource columns are added to it as raw Nullable(String). */
async function ensureQuarantine(engine: Engine, ds: DatasourceFile, tables: Set<string>): Promise<void> {
  const name = `${ds.name}_quarantine`;
  if (!tables.has(name)) {
    await runAll(engine, engine.placement.createTable(quarantineTableSpec(ds.name, ds.columns, engine.caps)));
    tables.add(name);
    return;
  }
  const have = new Set(await tableColumns(engine, name));
  const added = quarantineColumnsFor(ds.columns).filter((col) => !have.has(col.name));
  const spec = quarantineTableSpec(ds.name, ds.columns, engine.caps);
  await runAll(engine, engine.placement.alterColumns(spec, added.map((col) => `ADD COLUMN ${quoteIdent(col.name)} ${col.type}`)));
}

export { EngineError };

/**
 * Datafiles that changed between two loads of a project and that `apply` did not report already (pipes
 * change no tables, but they are changes all the same: dev serves them from the next request on).
 */
export function sourceChanges(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>, reported: readonly Change[]): Change[] {
  const seen = new Set(reported.map((c) => c.path));
  const out: Change[] = [];
  const resource = (p: string) => p.split('/').pop()!.replace(/\.[^.]+$/, '');
  for (const [p, text] of after) {
    if (seen.has(p)) continue;
    const old = before.get(p);
    if (old === undefined) out.push({ path: p, resource: resource(p), action: 'created' });
    else if (old !== text) out.push({ path: p, resource: resource(p), action: 'changed' });
  }
  for (const p of before.keys()) if (!after.has(p) && !seen.has(p)) out.push({ path: p, resource: resource(p), action: 'deleted' });
  return out;
}
