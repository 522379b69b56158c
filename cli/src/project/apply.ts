// Applies a project to an engine: creates, alters, rewrites and drops tables and materialized views so that
// the engine matches the datafiles. Used by `build` (fresh engine) and `dev` (persistent engine, on every change).
// It keeps data whenever it can: columns added/dropped/modified are ALTERed in place; other table changes
// copy the rows into a new table (through FORWARD_QUERY when given) and swap it in with RENAME.
import { createHash } from 'node:crypto';
import type { DatasourceFile, Diagnostic, PipeFile, PipeNode } from '../datafile/types.js';
import { quoteIdent } from '../engine/embedded.js';
import { EngineError, toEngineError } from '../engine/errors.js';
import type { Engine } from '../engine/types.js';
import { quarantineTableDDL, quarantineColumnsFor } from '../ingest/index.js';
import { columnDefinition, createMaterializedViewSql, createTableSql, tableEngine, viewNameFor } from './ddl.js';
import type { Project } from './model.js';
import { findTableReferences } from './references.js';
import { NodeRenderError, renderNode } from './render.js';
import { unmetRequirements } from './requirements.js';

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

export interface ApplyResult {
  state: ResourceState;
  changes: Change[];
  diagnostics: Diagnostic[];
}

interface DesiredView {
  name: string;
  pipe: PipeFile;
  node: PipeNode;
  target: string;
  source?: string;
  sql: string;
  hash: string;
}

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

function desiredDatasource(ds: DatasourceFile, engine: Engine): AppliedDatasource {
  const columns = ds.columns.map((c) => ({ name: c.name, definition: columnDefinition(c) }));
  const engineText = tableEngine(ds, engine.caps) + '|' + ds.indexes.map((i) => `${i.name} ${i.expr} ${i.type} ${i.granularity ?? ''}`).join(';');
  return { columns, engine: engineText, hash: hash(JSON.stringify({ columns, engineText })) };
}

function errorAt(file: string, line: number, col: number, message: string, hint?: string): Diagnostic {
  return { file, line, col, message, hint, severity: 'error' };
}

async function existingTables(engine: Engine): Promise<Set<string>> {
  const rows = await engine.queryRows<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase()');
  return new Set(rows.map((r) => r.name));
}

export async function applyProject(engine: Engine, project: Project, previous: ResourceState = EMPTY_STATE): Promise<ApplyResult> {
  const diagnostics: Diagnostic[] = [];
  const changes: Change[] = [];
  const state: ResourceState = { datasources: { ...previous.datasources }, views: { ...previous.views } };
  const tables = await existingTables(engine);

  // 1. What the project wants: views are rendered now, so template errors surface before anything changes.
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
      views.set(viewNameFor(pipe.name), { name: viewNameFor(pipe.name), pipe, node, target, source, sql, hash: hash(`${target}\n${sql}`) });
    } catch (err) {
      if (err instanceof NodeRenderError) diagnostics.push(errorAt(err.file, err.line, 1, err.message));
      else throw err;
    }
  }
  for (const ds of project.datasources.values()) {
    for (const f of unmetRequirements(ds, engine.version)) diagnostics.push(errorAt(ds.path, f.line, f.col, f.message, 'use a type or clause the server supports, or a newer ClickHouse'));
  }
  if (diagnostics.length) return { state: previous, changes, diagnostics };

  // 2. Plan datasource changes.
  type Plan = { ds: DatasourceFile; desired: AppliedDatasource; how: 'create' | 'alter' | 'rewrite' | 'none'; reason?: string };
  const plans: Plan[] = [];
  for (const ds of project.datasources.values()) {
    const desired = desiredDatasource(ds, engine);
    const prev = state.datasources[ds.name];
    if (!tables.has(ds.name)) plans.push({ ds, desired, how: 'create' });
    else if (!prev) plans.push({ ds, desired, how: 'rewrite', reason: 'no record of how the existing table was built' });
    else if (prev.hash === desired.hash) plans.push({ ds, desired, how: 'none' });
    else if (prev.engine !== desired.engine) plans.push({ ds, desired, how: 'rewrite', reason: 'engine, keys or indexes changed' });
    else if (!sameOrderForKept(prev.columns, desired.columns)) plans.push({ ds, desired, how: 'rewrite', reason: 'column order changed' });
    else plans.push({ ds, desired, how: 'alter' });
  }
  const rewritten = new Set(plans.filter((p) => p.how === 'rewrite').map((p) => p.ds.name));
  const removedDatasources = Object.keys(state.datasources).filter((n) => !project.datasources.has(n));

  // 3. Drop views that change, disappear, or sit on tables about to be rewritten or removed.
  const touched = new Set([...rewritten, ...removedDatasources]);
  for (const [name, applied] of Object.entries(state.views)) {
    const want = views.get(name);
    const stale = !want || want.hash !== applied.hash || touched.has(applied.target) || (applied.source !== undefined && touched.has(applied.source));
    if (!stale) continue;
    await dropView(engine, name, tables);
    delete state.views[name];
    if (!want) changes.push({ path: `pipes/${applied.pipe}.pipe`, resource: applied.pipe, action: 'deleted', detail: 'materialized view dropped' });
  }
  // A view that exists in the engine without a record (state lost) is recreated from the datafile.
  for (const name of views.keys()) if (!state.views[name] && tables.has(name)) await dropView(engine, name, tables);

  // 4. Datasources.
  for (const plan of plans) {
    const { ds, desired } = plan;
    try {
      if (plan.how === 'create') {
        await engine.command(createTableSql(ds, engine.caps));
        tables.add(ds.name);
        changes.push({ path: ds.path, resource: ds.name, action: 'created' });
      } else if (plan.how === 'alter') {
        const detail = await alterInPlace(engine, ds.name, state.datasources[ds.name].columns, desired.columns);
        changes.push({ path: ds.path, resource: ds.name, action: 'changed', detail: `altered in place, data kept: ${detail}` });
      } else if (plan.how === 'rewrite') {
        const copied = await rewriteTable(engine, ds, state.datasources[ds.name]?.columns);
        changes.push({ path: ds.path, resource: ds.name, action: 'changed', detail: `rewritten into a new table (${plan.reason}); ${copied} rows copied` });
      }
      state.datasources[ds.name] = desired;
      await ensureQuarantine(engine, ds, tables);
    } catch (err) {
      const e = toEngineError(err);
      const pos = ds.columns[0]?.pos ?? { line: 1, col: 1 };
      diagnostics.push(errorAt(ds.path, pos.line, 1, `cannot ${plan.how} table ${ds.name}: ${e.message}`, plan.how === 'rewrite' && !ds.forwardQuery ? 'add a FORWARD_QUERY that maps the old columns to the new schema' : undefined));
    }
  }
  for (const name of removedDatasources) {
    await engine.command(`DROP TABLE IF EXISTS ${quoteIdent(name)}`);
    await engine.command(`DROP TABLE IF EXISTS ${quoteIdent(`${name}_quarantine`)}`);
    delete state.datasources[name];
    changes.push({ path: `datasources/${name}.datasource`, resource: name, action: 'deleted', detail: 'table dropped' });
  }

  // 5. Views: create what is missing; backfill a new view from its source, as Tinybird does unless BACKFILL skip.
  for (const view of views.values()) {
    if (state.views[view.name]) continue;
    try {
      const targetDs = project.datasources.get(view.target)!;
      const wasApplied = Object.values(previous.views).some((v) => v.pipe === view.pipe.name);
      await engine.command(createMaterializedViewSql(view.name, view.target, view.sql));
      tables.add(view.name);
      if (targetDs.backfill !== 'skip' && view.source) {
        // Only this view feeds the target: rebuild the target from the source so old aggregates don't linger.
        const feeders = [...views.values()].filter((v) => v.target === view.target);
        if (feeders.length === 1) await engine.command(`TRUNCATE TABLE ${quoteIdent(view.target)}`);
        await engine.command(`INSERT INTO ${quoteIdent(view.target)} ${view.sql}`);
      }
      state.views[view.name] = { hash: view.hash, target: view.target, source: view.source, pipe: view.pipe.name };
      changes.push({ path: view.pipe.path, resource: view.pipe.name, action: wasApplied ? 'changed' : 'created', detail: `materialized view into ${view.target}` });
    } catch (err) {
      const e = toEngineError(err);
      diagnostics.push(errorAt(view.pipe.path, view.node.sqlPos.line, view.node.sqlPos.col, `materialized node ${view.node.name}: ${e.message}`));
    }
  }
  return { state, changes, diagnostics };
}

async function dropView(engine: Engine, name: string, tables: Set<string>): Promise<void> {
  await engine.command(`DROP TABLE IF EXISTS ${quoteIdent(name)}`);
  tables.delete(name);
}

/** True when the columns kept from `before` appear in `after` in the same relative order (ALTER can't reorder). */
function sameOrderForKept(before: AppliedColumn[], after: AppliedColumn[]): boolean {
  const afterNames = after.map((c) => c.name);
  const kept = before.map((c) => c.name).filter((n) => afterNames.includes(n));
  const order = afterNames.filter((n) => kept.includes(n));
  return kept.every((n, i) => order[i] === n);
}

async function alterInPlace(engine: Engine, table: string, before: AppliedColumn[], after: AppliedColumn[]): Promise<string> {
  const done: string[] = [];
  const beforeByName = new Map(before.map((c) => [c.name, c]));
  const afterNames = new Set(after.map((c) => c.name));
  for (const col of before) {
    if (afterNames.has(col.name)) continue;
    await engine.command(`ALTER TABLE ${quoteIdent(table)} DROP COLUMN ${quoteIdent(col.name)}`);
    done.push(`dropped column ${col.name}`);
  }
  let previousName: string | undefined;
  for (const col of after) {
    const old = beforeByName.get(col.name);
    if (!old) {
      const position = previousName ? ` AFTER ${quoteIdent(previousName)}` : '';
      await engine.command(`ALTER TABLE ${quoteIdent(table)} ADD COLUMN ${col.definition}${position}`);
      done.push(`added column ${col.name}`);
    } else if (old.definition !== col.definition) {
      await engine.command(`ALTER TABLE ${quoteIdent(table)} MODIFY COLUMN ${col.definition}`);
      done.push(`modified column ${col.name}`);
    }
    previousName = col.name;
  }
  return done.join(', ') || 'no column changes';
}

/** Builds the table anew beside the old one, copies the rows over, then swaps the names. */
async function rewriteTable(engine: Engine, ds: DatasourceFile, before: AppliedColumn[] | undefined): Promise<number> {
  const next = `${ds.name}__emailstats_new`;
  const old = `${ds.name}__emailstats_old`;
  await engine.command(`DROP TABLE IF EXISTS ${quoteIdent(next)}`);
  await engine.command(`DROP TABLE IF EXISTS ${quoteIdent(old)}`);
  await engine.command(createTableSql(ds, engine.caps, next));
  let select: string;
  let columns: string;
  if (ds.forwardQuery) {
    columns = ds.columns.map((c) => quoteIdent(c.name)).join(', ');
    select = `${ds.forwardQuery.trim().replace(/^select\s/i, 'SELECT ')} FROM ${quoteIdent(ds.name)}`;
    if (!/^SELECT\s/i.test(select)) select = `SELECT ${select}`;
  } else {
    const existing = before?.map((c) => c.name) ?? (await engine.queryRows<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${ds.name.replace(/'/g, "\\'")}'`)).map((r) => r.name);
    const common = ds.columns.map((c) => c.name).filter((n) => existing.includes(n));
    columns = common.map(quoteIdent).join(', ');
    select = `SELECT ${columns} FROM ${quoteIdent(ds.name)}`;
  }
  if (columns) await engine.command(`INSERT INTO ${quoteIdent(next)} (${columns}) ${select}`);
  const [{ c }] = await engine.queryRows<{ c: number | string }>(`SELECT count() AS c FROM ${quoteIdent(next)}`);
  await engine.command(`RENAME TABLE ${quoteIdent(ds.name)} TO ${quoteIdent(old)}, ${quoteIdent(next)} TO ${quoteIdent(ds.name)}`);
  await engine.command(`DROP TABLE ${quoteIdent(old)}`);
  return Number(c);
}

/** Every datasource has `<name>_quarantine`; new datasource columns are added to it as raw Nullable(String). */
async function ensureQuarantine(engine: Engine, ds: DatasourceFile, tables: Set<string>): Promise<void> {
  const name = `${ds.name}_quarantine`;
  if (!tables.has(name)) {
    await engine.command(quarantineTableDDL(ds.name, ds.columns, engine.caps));
    tables.add(name);
    return;
  }
  const have = new Set(
    (await engine.queryRows<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${name.replace(/'/g, "\\'")}'`)).map((r) => r.name),
  );
  for (const col of quarantineColumnsFor(ds.columns)) {
    if (!have.has(col.name)) await engine.command(`ALTER TABLE ${quoteIdent(name)} ADD COLUMN ${quoteIdent(col.name)} ${col.type}`);
  }
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
