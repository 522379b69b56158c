// Renders the complete SQL of a node for given request parameters: the node's template, then every node or
// pipe it selects from, expanded in place as a subquery (see references.ts for why not CTEs).
import type { PipeFile, PipeNode } from '../datafile/types.js';
import { compileTemplate, TemplateError, type RenderOptions, type RenderResult, type TemplateVars } from '../template/index.js';
import { outputNode, resolveReference, type Project } from './model.js';
import { narrowRequiredMessage } from './required-params.js';
import { expandReferences, findTableReferences } from './references.js';
import { stripStatementTerminator } from './terminator.js';
import { physicalTableNames } from './service-datasources.js';

/** A `tb_secret` that a test-mode render used without a value, where it stands in the datafile. */
export interface UnsetSecret {
  name: string;
  file: string;
  line: number;
  col: number;
  nodeName: string;
}

/** A node's whole SQL, with what its templates asked for: settings (max_threads, ...), tb_secret parameters. */
export interface RenderedSql extends RenderResult {
  /** Test mode: secrets without a value, rendered with an empty stand-in so the engine can still analyse the node. */
  unsetSecretsAt?: UnsetSecret[];
}

/** A template error located in a datafile; `status` is the HTTP status an endpoint answers with. */
export class NodeRenderError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly file: string,
    readonly line: number,
    readonly nodeName: string,
    readonly documentation?: string,
  ) {
    super(message);
    this.name = 'NodeRenderError';
  }
}

export function renderNode(
  project: Project,
  pipe: PipeFile,
  node: PipeNode = outputNode(pipe),
  vars: TemplateVars = {},
  opts: Pick<RenderOptions, 'testMode' | 'secrets'> = {},
): RenderedSql {
  const result: RenderedSql = { sql: '', settings: {}, queryParams: {}, warnings: [] };
  const memo = new Map<string, string>();

  const renderOne = (p: PipeFile, n: PipeNode, stack: string[]): string => {
    const id = `${p.name}.${n.name}`;
    const cached = memo.get(id);
    if (cached !== undefined) return cached;
    if (stack.includes(id)) {
      throw new NodeRenderError(`reference cycle: ${[...stack, id].join(' -> ')}`, 400, p.path, n.sqlPos.line, n.name);
    }
    let text = terminatorFree(n);
    if (n.isTemplate) {
      try {
        const r = compileTemplate(n.template, `${p.name}.${n.name}`, n.name).render(vars, { ...opts, nodeName: n.name });
        text = stripStatementTerminator(r.sql);
        Object.assign(result.settings, r.settings);
        Object.assign(result.queryParams, r.queryParams);
        for (const w of r.warnings) if (!result.warnings.includes(w)) result.warnings.push(w);
        if (r.cacheTtlSeconds !== undefined) result.cacheTtlSeconds = r.cacheTtlSeconds;
        for (const u of r.unsetSecrets ?? []) {
          const line = n.sqlLines?.[u.line - 1] ?? n.sqlPos.line + u.line - 1;
          // The SQL block is dedented: the template's column plus what the file line has in front of it.
          const fileLine = project.sources.get(p.path)?.split('\n')[line - 1] ?? '';
          const indent = Math.max(0, fileLine.length - (n.template.split('\n')[u.line - 1] ?? '').length);
          (result.unsetSecretsAt ??= []).push({ name: u.name, file: p.path, line, col: u.col + indent, nodeName: n.name });
        }
      } catch (err) {
        if (err instanceof TemplateError) {
          // Template line 1 is the line holding the `%` marker; sqlLines maps block lines to file lines.
          const index = (err.line ?? 1) - 1;
          const line = n.sqlLines?.[index] ?? n.sqlPos.line + index;
          const compiled = compileTemplate(n.template, `${p.name}.${n.name}`, n.name);
          const message = narrowRequiredMessage(err.message, n.template, compiled.params(), vars);
          throw new NodeRenderError(message, err.status, p.path, line, n.name, err.documentation);
        }
        throw err;
      }
    }
    // Tokenizing is the costly part of a render: skip it when no name this node could reference occurs.
    // A plain-SQL node's references never change: find them once per node, not per request.
    const refs = n.isTemplate ? undefined : staticReferences(n);
    const expanded = !mentionsAny(text, referenceableNames(project, p)) ? text : expandReferences(text, (name) => {
      const target = resolveReference(project, p, n, name);
      return target ? renderOne(target.pipe, target.node, [...stack, id]) : undefined;
    }, refs);
    memo.set(id, expanded);
    return expanded;
  };

  result.sql = physicalTableNames(project, renderOne(pipe, node, []));
  return result;
}

const sqlByNode = new WeakMap<PipeNode, string>();

/** A plain-SQL node's text without a trailing `;` (found once per node, not per request). */
function terminatorFree(node: PipeNode): string {
  let sql = sqlByNode.get(node);
  if (sql === undefined) sqlByNode.set(node, (sql = stripStatementTerminator(node.sql)));
  return sql;
}

const namesByPipe = new WeakMap<PipeFile, string[]>();
const referencesByNode = new WeakMap<PipeNode, ReturnType<typeof findTableReferences>>();

function staticReferences(node: PipeNode): ReturnType<typeof findTableReferences> {
  let refs = referencesByNode.get(node);
  if (!refs) {
    refs = findTableReferences(terminatorFree(node));
    referencesByNode.set(node, refs);
  }
  return refs;
}

/** Names a node of `pipe` may select from and that expand: its sibling nodes and every pipe (not datasources). */
function referenceableNames(project: Project, pipe: PipeFile): string[] {
  let names = namesByPipe.get(pipe);
  if (!names) {
    // Sibling nodes win over datasources of the same name (resolveReference), so they are always candidates.
    names = [...new Set([...pipe.nodes.map((n) => n.name), ...[...project.pipes.keys()].filter((n) => !project.datasources.has(n))])];
    namesByPipe.set(pipe, names);
  }
  return names;
}

function mentionsAny(text: string, names: readonly string[]): boolean {
  for (const name of names) if (text.includes(name)) return true;
  return false;
}
