// A loaded project: every datafile parsed, indexed by resource name, with the reference graph checked.
import type { DatasourceFile, Diagnostic, PipeFile, PipeNode } from '../datafile/types.js';
import { parseDatafiles, readDatafiles, type DatafileTexts } from './discover.js';
import { checkReferenceGraph } from './graph.js';
import { compileTemplate, TemplateError } from '../template/index.js';
import { checkNames } from './name-check.js';
import { databaseReferenceDiagnostics, unversionedName } from './service-datasources.js';

export interface Project {
  root: string;
  datasources: Map<string, DatasourceFile>;
  pipes: Map<string, PipeFile>;
  /** Datafile text by relative path, for error excerpts. */
  sources: Map<string, string>;
  diagnostics: Diagnostic[];
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** A project without datafiles (before the first load, or before any deployment). */
export function emptyProject(root: string): Project {
  return { root, datasources: new Map(), pipes: new Map(), sources: new Map(), diagnostics: [] };
}

/**
 * The project on disk, with the engine-free checks of names in node SQL (name-check.ts). A deployment read back
 * by `serve` (projectFromTexts) skips those: it was checked when it was deployed.
 */
export async function loadProject(root: string, env: Record<string, string | undefined> = process.env): Promise<Project> {
  return checkedProjectFromTexts(root, await readDatafiles(root), env);
}

/** projectFromTexts plus the engine-free checks of names in node SQL, for texts that were not deployed yet. */
export function checkedProjectFromTexts(root: string, texts: Parameters<typeof projectFromTexts>[1], env: Record<string, string | undefined> = process.env): Project {
  const project = projectFromTexts(root, texts, env);
  project.diagnostics.push(...checkNames(project));
  return project;
}

/**
 * A Project from datafile texts, wherever they were read: every file parsed, the reference graph checked and
 * every template compiled. `root` names the project in messages.
 */
export function projectFromTexts(root: string, texts: DatafileTexts, env: Record<string, string | undefined> = process.env): Project {
  const parsed = parseDatafiles(texts, env);
  const project: Project = { root, datasources: new Map(), pipes: new Map(), sources: texts.sources, diagnostics: parsed.diagnostics };
  for (const file of parsed.files) {
    if (file.kind === 'datasource') project.datasources.set(file.name, file);
    else if (file.kind === 'pipe') project.pipes.set(file.name, file);
  }
  addClassicTargets(project);
  project.diagnostics.push(...checkReferenceGraph(project), ...compileTemplates(project), ...databaseReferenceDiagnostics(project));
  return project;
}

/**
 * Tinybird Classic: a materialized node with ENGINE* settings creates its DATASOURCE when no .datasource file
 * defines it. The datasource gets its columns from the node's output when the project is applied (apply.ts).
 */
function addClassicTargets(project: Project): void {
  for (const pipe of project.pipes.values()) {
    for (const node of pipe.nodes) {
      if (node.type !== 'materialized' || !node.engine || !node.datasource || project.datasources.has(node.datasource)) continue;
      project.datasources.set(node.datasource, {
        kind: 'datasource',
        name: node.datasource,
        path: pipe.path,
        columns: [],
        indexes: [],
        engine: node.engine,
        tokens: [],
        tags: [],
        sharedWith: [],
        connector: {},
        inferredFrom: { pipe: pipe.name, node: node.name },
        warnings: [],
      });
    }
  }
}

/**
 * Compiles every template node once, so template syntax errors are `file:line` diagnostics at load time (check,
 * build, dev) rather than on a first request; requests then find the compiled template in the cache.
 */
function compileTemplates(project: Project): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const pipe of project.pipes.values()) {
    for (const node of pipe.nodes) {
      if (!node.isTemplate) continue;
      try {
        compileTemplate(node.template, `${pipe.name}.${node.name}`, node.name);
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        const index = (err.line ?? 1) - 1;
        const line = node.sqlLines?.[index] ?? node.sqlPos.line + index;
        out.push({ file: pipe.path, line, col: 1, severity: 'error', message: `node ${node.name}: ${err.message}` });
      }
    }
  }
  return out;
}

/** The node a pipe serves or materializes: its typed node, else the last one (Tinybird's rule). */
export function outputNode(pipe: PipeFile): PipeNode {
  return pipe.nodes.find((n) => n.type !== 'standard') ?? pipe.nodes[pipe.nodes.length - 1];
}

/**
 * What a table name in a node's SQL refers to: a sibling node (siblings win), the node itself (a cycle), or
 * another pipe's output node. Undefined for datasources and anything else, which stay table names.
 */
export function resolveReference(project: Project, pipe: PipeFile, node: PipeNode, name: string): { pipe: PipeFile; node: PipeNode } | undefined {
  const sibling = pipe.nodes.find((n) => n.name === name && n !== node);
  if (sibling) return { pipe, node: sibling };
  if (project.datasources.has(name)) return undefined;
  if (name === node.name) return { pipe, node };
  // `name__v1`: Tinybird Classic's name for version 1 of a resource (`VERSION 1`); emailstats keeps one version.
  const base = project.pipes.has(name) ? name : unversionedName(name);
  const other = base === undefined || project.datasources.has(base) ? undefined : project.pipes.get(base);
  return other ? { pipe: other, node: outputNode(other) } : undefined;
}

export function isEndpoint(pipe: PipeFile): boolean {
  return pipe.nodes.some((n) => n.type === 'endpoint');
}

/** Finds a pipe by name, or by a path such as `pipes/campaign_stats.pipe`. */
export function findPipe(project: Project, nameOrPath: string): PipeFile | undefined {
  const stem = nameOrPath.replace(/\\/g, '/').split('/').pop()!.replace(/\.pipe$/, '');
  return project.pipes.get(stem);
}
