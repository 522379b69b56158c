// Tinybird's service data sources (`tinybird.<name>`) and the other databases a Tinybird project may name.
// emailstats computes three of them locally, `tinybird.pipe_stats_rt` (the request log), `tinybird.pipe_stats` (it
// per pipe and day) and `tinybird.datasources_ops_log` (the ingest side); node SQL naming them is pointed at their physical tables
// in the workspace database. Everything else (`tinybird.<other>`, `organization.*`, a shared `workspace.ds`)
// is a check-time error that names the construct.
import type { Diagnostic, PipeFile, PipeNode } from '../datafile/types.js';
import type { Engine } from '../engine/types.js';
import { PIPE_STATS_DAILY_TABLE, PIPE_STATS_RT_TABLE, pipeStatsDailyDdl, pipeStatsRtDdl } from '../server/request-log.js';
import { OPS_LOG_TABLE, opsLogDdl } from '../server/ops-log-table.js';
import { scanTableExpressions, type TableExpression } from './references.js';
import type { Project } from './model.js';

/**
 * Service data sources emailstats provides: name in `tinybird.<name>` → physical table and the statements that
 * create it, in the order they run (the daily table's view reads the request log's table, created before it).
 */
export const SERVICE_DATASOURCES: Record<string, { table: string; ddl: (ttl: boolean) => string[] }> = {
  pipe_stats_rt: { table: PIPE_STATS_RT_TABLE, ddl: (ttl) => [pipeStatsRtDdl(ttl)] },
  pipe_stats: { table: PIPE_STATS_DAILY_TABLE, ddl: () => pipeStatsDailyDdl() },
  datasources_ops_log: { table: OPS_LOG_TABLE, ddl: (ttl) => [opsLogDdl(ttl)] },
};

/** `tinybird.<name>` → physical table, for the request SQL guard (admin only there). */
export const SERVICE_TABLES: Record<string, string> = Object.fromEntries(Object.entries(SERVICE_DATASOURCES).map(([name, s]) => [name, s.table]));

const provided = (): string => Object.keys(SERVICE_DATASOURCES).map((n) => `tinybird.${n}`).join(', ');

/** `name__v3` → `name` (Tinybird Classic's versioned resource names), else undefined. */
export function unversionedName(name: string): string | undefined {
  return /^(.+)__v\d+$/.exec(name)?.[1];
}

/**
 * Node SQL as the engine runs it: `tinybird.<service>` → its physical table, and a Classic versioned
 * datasource name (`events__v1`, from `VERSION 1`) → the datasource (emailstats keeps one version).
 */
export function physicalTableNames(project: Project, sql: string): string {
  if (!sql.includes('tinybird') && !sql.includes('__v')) return sql;
  const edits: { start: number; end: number; text: string }[] = [];
  for (const t of scanTableExpressions(sql).tables) {
    if (t.kind !== 'table') continue;
    if (t.database === 'tinybird' && Object.hasOwn(SERVICE_DATASOURCES, t.name)) {
      edits.push({ start: t.start, end: t.end, text: SERVICE_DATASOURCES[t.name]!.table });
      continue;
    }
    const base = t.database ? undefined : unversionedName(t.name);
    if (base && project.datasources.has(base) && !project.datasources.has(t.name)) edits.push({ start: t.start, end: t.end, text: base });
  }
  let out = sql;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/** True when a node of the project names a service data source, so the build creates their tables. */
export function usesServiceDatasources(project: Project): boolean {
  for (const pipe of project.pipes.values()) for (const node of pipe.nodes) if (/\btinybird\s*\.\s*\w/.test(node.sql)) return true;
  return false;
}

/** Creates the provided service tables (empty until the server records requests and writes). */
export async function ensureServiceTables(engine: Engine): Promise<void> {
  for (const s of Object.values(SERVICE_DATASOURCES)) for (const ddl of s.ddl(engine.caps.ttl)) await engine.command(ddl);
}

/** Where a table expression of a node stands in its file: line from the SQL block, column found on that line. */
function positionOf(project: Project, pipe: PipeFile, node: PipeNode, t: TableExpression): { line: number; col: number } {
  const before = node.template.slice(0, t.start);
  const index = before.split('\n').length - 1;
  const line = node.sqlLines?.[index] ?? node.sqlPos.line + index;
  const text = project.sources.get(pipe.path)?.split('\n')[line - 1];
  const written = text?.indexOf(`${t.database}.`) ?? -1;
  return { line, col: written >= 0 ? written + 1 : before.length - before.lastIndexOf('\n') };
}

/** Check-time errors for every `db.table` a node names that emailstats cannot provide, at file:line:col. */
export function databaseReferenceDiagnostics(project: Project): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const pipe of project.pipes.values()) {
    for (const node of pipe.nodes) {
      if (!node.template.includes('.')) continue;
      for (const t of scanTableExpressions(node.template).tables) {
        if (!t.database || t.kind !== 'table') continue;
        const problem = databaseProblem(project, node, t.database, t.name);
        if (problem) out.push({ file: pipe.path, ...positionOf(project, pipe, node, t), severity: 'error', ...problem });
      }
    }
  }
  return out;
}

function databaseProblem(project: Project, node: PipeNode, db: string, name: string): { message: string; hint: string } | undefined {
  const full = `${db}.${name}`;
  if (db === 'tinybird') {
    if (!Object.hasOwn(SERVICE_DATASOURCES, name))
      return {
        message: `${full} is a Tinybird Cloud service data source that emailstats does not compute`,
        hint: `emailstats provides ${provided()}; remove the node or read one of those`,
      };
    if (node.type === 'materialized')
      return { message: `Service data sources cannot be used in materialized views (${full})`, hint: 'read it from an endpoint or copy pipe instead' };
    return undefined;
  }
  if (db === 'organization')
    return {
      message: `organization.* service data sources are not available in emailstats: ${full} describes every workspace of a Tinybird organization, and emailstats serves one workspace`,
      hint: `read the workspace's own ${provided()} instead`,
    };
  const local = project.datasources.has(name) || project.datasources.has(unversionedName(name) ?? '');
  return {
    message: `shared data source ${full}: data sources shared from another workspace are not supported (emailstats has a single workspace)`,
    hint: local
      ? `this project has a datasource '${name}': read it as ${name}, without the '${db}.' prefix`
      : `share it by copying ${db}'s datasources/${name}.datasource into this project (and its rows, with emailstats append), then read it as ${name}`,
  };
}
