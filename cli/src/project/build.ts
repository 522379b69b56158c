// A build: apply the project to an engine, load fixtures into empty datasources, then have the engine analyse
// every node rendered in placeholder mode, so a broken node fails here rather than on its first request.
import type { Diagnostic, PipeFile, PipeNode } from '../datafile/types.js';
import { toEngineError, type EngineError } from '../engine/errors.js';
import type { Engine } from '../engine/types.js';
import { applyProject, EMPTY_STATE, type ApplyHooks, type Change, type ResourceState } from './apply.js';
import { FixtureError, loadFixtures, type FixtureLoad } from './fixtures.js';
import { isEndpoint, outputNode, type Project } from './model.js';
import { scanTableExpressions } from './references.js';
import { SERVICE_DATASOURCES } from './service-datasources.js';
import { engineErrorPosition } from './error-position.js';
import path from 'node:path';
import { viewNameFor } from './ddl.js';
import { NodeRenderError, renderNode } from './render.js';
import { pipeSecrets, setSecretHint } from './secrets.js';
import { NODE_CHECK_TIMEOUT_ENV, nodeCheckTimeoutS, nodeOutputColumns, type ColumnMeta } from './node-columns.js';

export interface BuildReport {
  changes: Change[];
  fixtures: FixtureLoad[];
  diagnostics: Diagnostic[];
  /** Problems that did not fail the build (see NodeValidation.warnings). */
  warnings: Diagnostic[];
  /** Nodes the engine could not check (NodeValidation.unchecked); also in `warnings`. */
  unchecked: Diagnostic[];
  state: ResourceState;
  /** Output columns of each endpoint, as the engine analysed them. */
  endpointColumns: Map<string, ColumnMeta[]>;
}

/** Tinybird's advice when SQL holding `{{ }}` / `{% %}` fails and is not a template (no leading `%`). */
export function missingPercentHint(node: PipeNode): string | undefined {
  if (node.isTemplate || !/\{\{|\{%/.test(node.sql)) return undefined;
  return 'In order to make a query dynamic, it is necessary to start the query with a % character';
}

/** A node reading a Tinybird service datasource (`tinybird.<name>`) that emailstats does not compute. */
export function serviceDatasourceHint(sql: string): string | undefined {
  const used = scanTableExpressions(sql).tables.find((t) => t.database?.toLowerCase() === 'tinybird' && !Object.hasOwn(SERVICE_DATASOURCES, t.name));
  if (!used) return undefined;
  return `tinybird.${used.name} is a Tinybird Cloud service datasource that emailstats does not compute; it provides ${Object.keys(SERVICE_DATASOURCES).map((n) => `tinybird.${n}`).join(', ')}`;
}

export interface NodeValidation {
  diagnostics: Diagnostic[];
  /** Problems that do not stop the build (a tb_secret without a value, checked with an empty one). */
  warnings: Diagnostic[];
  /**
   * Nodes the engine could not check for a reason of its own (too slow, out of memory, busy, unreachable;
   * EngineError.isTransient), as warnings: their SQL was not found wrong. `emailstats build` and `deploy --check`
   * fail on them; dev serves a new pipe unchecked and keeps the version it served of one it already served
   * (uncheckedServedBefore). Also listed in `warnings`.
   */
  unchecked: Diagnostic[];
  endpointColumns: Map<string, ColumnMeta[]>;
}

export async function validateNodes(engine: Engine, project: Project, secrets: Record<string, string> = pipeSecrets()): Promise<NodeValidation> {
  const diagnostics: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const unchecked: Diagnostic[] = [];
  const endpointColumns = new Map<string, ColumnMeta[]>();
  const timeoutS = engine.kind === 'embedded' ? nodeCheckTimeoutS() : 0; // read before the first check: a bad value stops here
  /** Set once the engine stopped answering: the nodes left are not tried (each would wait for its own timeout). */
  let unreachable: EngineError | undefined;
  // The check's own limit, not one the node sets with SETTINGS: "Timeout exceeded: elapsed 2000.3 ms, maximum: 2000 ms".
  const checkLimitHit = (e: EngineError): boolean =>
    e.isTimeout && timeoutS > 0 && Number(/maximum: ([\d.]+) ms/.exec(e.message)?.[1]) === timeoutS * 1000;
  const uncheckedAt = (pipe: PipeFile, node: PipeNode, e: EngineError): void => {
    const w: Diagnostic = {
      file: pipe.path,
      line: node.sqlPos.line,
      col: node.sqlPos.col,
      severity: 'warning',
      message: `node ${node.name} could not be checked: ${e.message}`,
      hint:
        'the engine failed, not the SQL (a check runs the node\'s scalar subqueries on the data). `build` and `deploy --check` fail; dev serves ' +
        'a new pipe unchecked and keeps the version it served of one it already served; the next build checks it again' +
        (checkLimitHit(e) ? `; to let the check finish, raise ${NODE_CHECK_TIMEOUT_ENV} (now ${timeoutS} s, 0 for no limit)` : ''),
    };
    unchecked.push(w);
    warnings.push(w);
  };
  for (const pipe of project.pipes.values()) {
    for (const node of pipe.nodes) {
      if (node.type === 'materialized') continue; // creating the view already had the engine analyse it
      if (unreachable) {
        uncheckedAt(pipe, node, unreachable);
        continue;
      }
      let sql: string;
      let queryParams: Record<string, string>;
      try {
        const rendered = renderNode(project, pipe, node, {}, { testMode: true, secrets, sharedCtes: engine.caps.sharedCtes }); // as requests run it
        sql = rendered.sql;
        queryParams = rendered.queryParams;
        for (const u of rendered.unsetSecretsAt ?? []) {
          if (u.nodeName !== node.name || u.file !== pipe.path) continue; // reported with the node that has it
          warnings.push({ file: u.file, line: u.line, col: u.col, severity: 'warning', message: `node ${node.name}: secret '${u.name}' has no value; the node was checked with an empty value in its place`, hint: setSecretHint(u.name) });
        }
      } catch (err) {
        if (err instanceof NodeRenderError) {
          diagnostics.push({ file: err.file, line: err.line, col: 1, severity: 'error', message: `node ${node.name}: ${err.message}` });
          continue;
        }
        throw err;
      }
      try {
        const meta = await nodeOutputColumns(engine, { sql, queryParams }, timeoutS);
        if (isEndpoint(pipe) && node === outputNode(pipe)) endpointColumns.set(pipe.name, meta);
      } catch (err) {
        const e = toEngineError(err);
        if (e.isTransient) {
          if (e.isConnection) unreachable = e;
          uncheckedAt(pipe, node, e);
          continue;
        }
        const pos = engineErrorPosition(node, project.sources.get(pipe.path), e.message) ?? node.sqlPos;
        diagnostics.push({ file: pipe.path, line: pos.line, col: pos.col, severity: 'error', message: `node ${node.name}: ${e.message}`, hint: missingPercentHint(node) ?? serviceDatasourceHint(sql) });
      }
    }
  }
  return { diagnostics, warnings, unchecked, endpointColumns };
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
  const report: BuildReport = { changes: applied.changes, fixtures: [], diagnostics: applied.diagnostics, warnings: [], unchecked: [], state: applied.state, endpointColumns: new Map() };
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
  report.warnings.push(...validated.warnings);
  report.unchecked.push(...validated.unchecked);
  report.endpointColumns = validated.endpointColumns;
  return report;
}

/** What dev can serve while some pipes are broken. */
export interface ServablePart {
  project: Project;
  /** Broken pipes served in their last good version (from `served`). */
  kept: string[];
  /** Broken pipes not served at all: nothing good to fall back on (a pipe file that did not load is named after its file). */
  broken: string[];
}

/**
 * The endpoint columns to serve with `part` (the API's docs): the build's, with a kept pipe's from the version served
 * (`served`) and none for a broken one.
 */
export function servedEndpointColumns(built: ReadonlyMap<string, ColumnMeta[]>, part: ServablePart, served: ReadonlyMap<string, ColumnMeta[]>): Map<string, ColumnMeta[]> {
  const columns = new Map(built);
  for (const name of part.broken) columns.delete(name);
  for (const name of part.kept) {
    const kept = served.get(name);
    if (kept) columns.set(name, kept);
    else columns.delete(name);
  }
  return columns;
}

/** Whether a pipe has a materialized node (a view the engine created, and analysed, when it was applied). */
const materializes = (pipe: PipeFile | undefined): boolean => pipe?.nodes.some((n) => n.type === 'materialized') ?? false;

/**
 * dev: the unchecked nodes (BuildReport.unchecked) of pipes it already serves, as errors, so that withoutBrokenPipes
 * keeps serving the version it served (a check that did not finish may hide a real error further on); a new pipe
 * is served unchecked. Pipes with a materialized node are left out: their view was created, and the engine analysed
 * it, already (as an error they would fail the whole rebuild).
 */
export function uncheckedServedBefore(unchecked: readonly Diagnostic[], project: Project, served: Project): Diagnostic[] {
  return unchecked
    .filter((d) => [...project.pipes.values()].some((p) => p.path === d.file && served.pipes.has(p.name) && !materializes(p) && !materializes(served.pipes.get(p.name))))
    .map((d) => ({ ...d, severity: 'error' as const }));
}

/**
 * `project` with each pipe the error `diagnostics` point at replaced by its last good version in `served`, or left
 * out when it has none, so that dev serves every other pipe. Undefined when an error is anywhere else (a datasource,
 * a materialized pipe, a file that is not a pipe): working around those would change tables and views, so dev
 * keeps the last good version of the whole project instead. `views` are the views applied so far.
 */
export function withoutBrokenPipes(project: Project, diagnostics: readonly Diagnostic[], views: Readonly<Record<string, unknown>>, served?: Project): ServablePart | undefined {
  const names = new Set<string>();
  for (const d of diagnostics) {
    if (d.severity !== 'error') continue;
    if (!d.file.endsWith('.pipe')) return undefined;
    const pipe = [...project.pipes.values()].find((p) => p.path === d.file);
    const name = pipe?.name ?? path.basename(d.file, '.pipe');
    if (Object.prototype.hasOwnProperty.call(views, viewNameFor(name, project.datasources)) || materializes(pipe) || materializes(served?.pipes.get(name))) return undefined;
    names.add(name);
  }
  const pipes = new Map([...project.pipes].filter(([name]) => !names.has(name)));
  const kept: string[] = [];
  const broken: string[] = [];
  for (const name of names) {
    const lastGood = served?.pipes.get(name);
    if (lastGood) pipes.set(name, lastGood);
    (lastGood ? kept : broken).push(name);
  }
  const diagnosticsLeft = project.diagnostics.filter((d) => d.severity !== 'error');
  return { project: { ...project, pipes, diagnostics: diagnosticsLeft }, kept, broken };
}
