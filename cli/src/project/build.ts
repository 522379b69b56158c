// A build: apply the project to an engine, load fixtures into empty datasources, then have the engine analyse
// every node rendered in placeholder mode, so a broken node fails here rather than on its first request.
import type { Diagnostic, PipeNode } from '../datafile/types.js';
import { toEngineError } from '../engine/errors.js';
import type { Engine } from '../engine/types.js';
import { applyProject, EMPTY_STATE, type ApplyHooks, type Change, type ResourceState } from './apply.js';
import { FixtureError, loadFixtures, type FixtureLoad } from './fixtures.js';
import { isEndpoint, outputNode, type Project } from './model.js';
import { scanTableExpressions } from './references.js';
import { NodeRenderError, renderNode } from './render.js';

export interface ColumnMeta {
  name: string;
  type: string;
}

export interface BuildReport {
  changes: Change[];
  fixtures: FixtureLoad[];
  diagnostics: Diagnostic[];
  state: ResourceState;
  /** Output columns of each endpoint, as the engine analysed them. */
  endpointColumns: Map<string, ColumnMeta[]>;
}

/** Tinybird's advice when SQL holding `{{ }}` / `{% %}` fails and is not a template (no leading `%`). */
export function missingPercentHint(node: PipeNode): string | undefined {
  if (node.isTemplate || !/\{\{|\{%/.test(node.sql)) return undefined;
  return 'In order to make a query dynamic, it is necessary to start the query with a % character';
}

/** A node reading a Tinybird service datasource (`tinybird.<name>`): Tinybird Cloud only, not in the build engine. */
export function serviceDatasourceHint(sql: string): string | undefined {
  const used = scanTableExpressions(sql).tables.find((t) => t.database?.toLowerCase() === 'tinybird');
  if (!used) return undefined;
  return `tinybird.${used.name} is a Tinybird Cloud service datasource; emailstats does not provide it to pipes (only tinybird.pipe_stats_rt, to /v0/sql requests)`;
}

export async function validateNodes(engine: Engine, project: Project): Promise<{ diagnostics: Diagnostic[]; endpointColumns: Map<string, ColumnMeta[]> }> {
  const diagnostics: Diagnostic[] = [];
  const endpointColumns = new Map<string, ColumnMeta[]>();
  for (const pipe of project.pipes.values()) {
    for (const node of pipe.nodes) {
      if (node.type === 'materialized') continue; // creating the view already had the engine analyse it
      let sql: string;
      try {
        sql = renderNode(project, pipe, node, {}, { testMode: true }).sql;
      } catch (err) {
        if (err instanceof NodeRenderError) {
          diagnostics.push({ file: err.file, line: err.line, col: 1, severity: 'error', message: `node ${node.name}: ${err.message}` });
          continue;
        }
        throw err;
      }
      try {
        const text = await engine.queryText(`SELECT * FROM (\n${sql}\n) LIMIT 0`, 'JSON', { settings: { readonly: 2 } });
        if (isEndpoint(pipe) && node === outputNode(pipe)) endpointColumns.set(pipe.name, (JSON.parse(text) as { meta: ColumnMeta[] }).meta);
      } catch (err) {
        const e = toEngineError(err);
        diagnostics.push({ file: pipe.path, line: node.sqlPos.line, col: node.sqlPos.col, severity: 'error', message: `node ${node.name}: ${e.message}`, hint: missingPercentHint(node) ?? serviceDatasourceHint(sql) });
      }
    }
  }
  return { diagnostics, endpointColumns };
}

export interface BuildOptions {
  previous?: ResourceState;
  /** Load fixtures into datasources that have no rows (the default). */
  fixtures?: boolean;
  /** Passed to applyProject (dev holds event flushes to rewritten tables through them). */
  hooks?: ApplyHooks;
}

export async function buildProject(engine: Engine, project: Project, opts: BuildOptions = {}): Promise<BuildReport> {
  const applied = await applyProject(engine, project, opts.previous ?? EMPTY_STATE, opts.hooks);
  const report: BuildReport = { changes: applied.changes, fixtures: [], diagnostics: applied.diagnostics, state: applied.state, endpointColumns: new Map() };
  if (applied.diagnostics.length) return report;
  if (opts.fixtures !== false) {
    try {
      report.fixtures = await loadFixtures(engine, project);
    } catch (err) {
      const fixture = err instanceof FixtureError ? err : new FixtureError('fixtures', `loading fixtures failed: ${toEngineError(err).message}`);
      report.diagnostics.push({ file: fixture.file, line: 1, col: 1, severity: 'error', message: fixture.message, hint: fixture.hint });
    }
  }
  const validated = await validateNodes(engine, project);
  report.diagnostics.push(...validated.diagnostics);
  report.endpointColumns = validated.endpointColumns;
  return report;
}
