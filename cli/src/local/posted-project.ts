// `dev` applying a project posted over HTTP (Tinybird's SDK CLI: `tinybird build` → /v1/build, `tinybird deploy`
// → /v1/deploy). The posted datafiles become the whole project dev serves, as a build replaces a Tinybird branch's
// resources; a later change to a datafile on disk rebuilds from disk again (the last build wins). A project that
// fails to build changes nothing dev serves: the last good version keeps serving, as with files on disk. The
// applied texts are kept in .emailstats/posted-project.json, so a restart of dev serves them again instead of
// rebuilding from a folder that has none (which would drop their tables).
import { rmSync } from 'node:fs';
import path from 'node:path';
import { formatDiagnostic } from '../datafile/index.js';
import type { Diagnostic } from '../datafile/types.js';
import type { Engine } from '../engine/types.js';
import type { Ingestor } from '../ingest/index.js';
import { formatChange, planApply, sourceChanges, type ApplyPlan, type Change, type ResourceState } from '../project/apply.js';
import { buildProject, servedEndpointColumns, uncheckedServedBefore, withoutBrokenPipes } from '../project/build.js';
import { checkedProjectFromTexts, hasErrors, type Project } from '../project/model.js';
import { readJson, writeJsonAtomic } from '../util/files.js';
import { buildTokenStore, type PostedDatafile, type ProjectApi, type ProjectApplyOutcome, type ProjectApplyRequest, type TokenSecrets, type Workspace } from '../server/workspace.js';

/** What `dev` shares with the applier: its engine, its resource state and the workspace it serves. */
export interface DevProjectHost {
  root: string;
  /** Where the last applied posted project is kept (postedProjectFile). */
  postedFile: string;
  /** The workspace's name (the project folder's). */
  name: string;
  engine: Engine;
  ingestor: Ingestor;
  out: NodeJS.WritableStream;
  state(): ResourceState;
  /** Records what was applied (even by a build that then fails validation: the tables did change). */
  saveState(state: ResourceState): void;
  workspace(): Workspace;
  /** Swaps in the workspace that requests see from now on. */
  serve(workspace: Workspace): void;
  tokenSecrets(project: Project): TokenSecrets;
  /** Runs the task as dev's one rebuild at a time: file changes wait for it, and it waits for them. */
  exclusively<T>(task: () => Promise<T>): Promise<T>;
}

export function postedProjectApi(host: DevProjectHost): ProjectApi {
  return { name: host.name, apply: (request) => host.exclusively(() => applyPosted(host, request)) };
}

async function applyPosted(host: DevProjectHost, request: ProjectApplyRequest): Promise<ProjectApplyOutcome> {
  const { out } = host;
  const project = postedProject(host.root, request.files);
  const paths = [...project.sources.keys()];
  out.write(`» ${request.origin}${request.check ? ' --check' : ''} over HTTP: ${paths.join(', ')}\n`);
  if (hasErrors(project.diagnostics)) return failed(host, project, project.diagnostics.filter((d) => d.severity === 'error'));

  const plan = await planApply(host.engine, project, host.state());
  if (plan.diagnostics.length) return failed(host, project, plan.diagnostics);
  if (plan.destructive.length && !request.allowDataLoss) {
    const errors = plan.destructive.map((what) => ({
      error: `${what}; deploy with --allow-destructive-operations to accept the loss, or keep the resource in the project`,
    }));
    for (const e of errors) out.write(`✗ ${e.error}\n`);
    return { errors, changes: [] };
  }
  if (request.check) return { errors: [], changes: plannedChanges(plan, host.workspace().project, project) };

  const report = await buildProject(host.engine, project, {
    previous: host.state(),
    fixtures: false, // fixtures belong to the project on disk, not to the posted one
    hooks: {
      // As dev's own rebuilds: a rewritten table is copied and swapped, so event flushes to it wait meanwhile.
      beforeRewrite: async (tables) => void (await Promise.all(tables.map((t) => host.ingestor.hold(t)))),
      afterRewrite: async (tables) => tables.forEach((t) => host.ingestor.release(t)),
    },
  });
  host.saveState(report.state);
  if (report.diagnostics.length) return failed(host, project, report.diagnostics);
  for (const d of report.unchecked) host.out.write(formatDiagnostic(d, project.sources.get(d.file)) + '\n');

  const before = host.workspace();
  // As in dev's own rebuilds: a pipe served before that the engine could not check keeps the version served.
  const keep = uncheckedServedBefore(report.unchecked, project, before.project);
  const part = keep.length ? withoutBrokenPipes(project, keep, {}, before.project) : undefined;
  const serving = part?.project ?? project;
  if (part?.kept.length) host.out.write(`✗ not checked, still serving the version served before: ${part.kept.join(', ')}\n`);
  const endpointColumns = part ? servedEndpointColumns(report.endpointColumns, part, before.endpointColumns) : report.endpointColumns;
  const changes = [...report.changes, ...sourceChanges(before.project.sources, project.sources, report.changes)];
  host.serve({ ...before, project: serving, tokens: buildTokenStore(serving, host.tokenSecrets(serving), before.apiTokens), endpointColumns });
  writeJsonAtomic(host.postedFile, { files: request.files });
  for (const c of changes) out.write(formatChange(c) + '\n');
  out.write(changes.length ? `✓ ${request.origin} applied\n` : 'No changes.\n');
  return { errors: [], changes };
}

function failed(host: DevProjectHost, project: Project, diagnostics: Diagnostic[]): ProjectApplyOutcome {
  for (const d of diagnostics) host.out.write(formatDiagnostic(d, project.sources.get(d.file)) + '\n');
  host.out.write('✗ Build over HTTP failed; still serving the last good version\n');
  return { errors: diagnostics.map((d) => ({ filename: d.file, error: formatDiagnostic(d, project.sources.get(d.file)) })), changes: [] };
}

/** What a plan would change, for `--check`: tables from the plan, pipes from the datafile texts. */
function plannedChanges(plan: ApplyPlan, before: Project, after: Project): Change[] {
  const changes: Change[] = [];
  for (const step of plan.datasources) {
    if (step.how === 'none') continue;
    changes.push({ path: step.ds.path, resource: step.ds.name, action: step.how === 'create' ? 'created' : 'changed', detail: step.reason });
  }
  for (const name of plan.removedDatasources) changes.push({ path: before.datasources.get(name)?.path ?? `datasources/${name}.datasource`, resource: name, action: 'deleted' });
  return [...changes, ...sourceChanges(before.sources, after.sources, changes)];
}

/** The file that keeps the project last applied over HTTP, beside dev's resource state. */
export function postedProjectFile(resourceStateFile: string): string {
  return path.join(path.dirname(resourceStateFile), 'posted-project.json');
}

/** The project last applied over HTTP, if it is still what dev serves (no rebuild from disk since). */
export function restorePostedProject(file: string, root: string): Project | undefined {
  const saved = readJson<{ files: PostedDatafile[] }>(file);
  return saved?.files?.length ? postedProject(root, saved.files) : undefined;
}

/** After a rebuild from disk: the folder is what dev serves again, also after a restart. */
export function forgetPostedProject(file: string): void {
  rmSync(file, { force: true });
}

function postedProject(root: string, files: PostedDatafile[]): Project {
  const paths = files.map((f) => f.path).sort();
  return checkedProjectFromTexts(root, { sources: new Map(files.map((f) => [f.path, f.text])), paths, diagnostics: [] });
}
