// Renders the complete SQL of a node for given request parameters: the node's template, then every node or
// pipe it selects from, expanded in place as a subquery (see references.ts for why not CTEs).
import type { PipeFile, PipeNode } from '../datafile/types.js';
import { compileTemplate, TemplateError, type RenderOptions, type RenderResult, type TemplateVars } from '../template/index.js';
import { outputNode, resolveReference, type Project } from './model.js';
import { expandReferences, findTableReferences } from './references.js';

/** A node's whole SQL, with what its templates asked for: settings (max_threads, ...), tb_secret parameters. */
export type RenderedSql = RenderResult;

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
    let text = n.sql;
    if (n.isTemplate) {
      try {
        const r = compileTemplate(n.template, `${p.name}.${n.name}`, n.name).render(vars, { ...opts, nodeName: n.name });
        text = r.sql;
        Object.assign(result.settings, r.settings);
        Object.assign(result.queryParams, r.queryParams);
        for (const w of r.warnings) if (!result.warnings.includes(w)) result.warnings.push(w);
        if (r.cacheTtlSeconds !== undefined) result.cacheTtlSeconds = r.cacheTtlSeconds;
      } catch (err) {
        if (err instanceof TemplateError) {
          // Template line 1 is the line holding the `%` marker; sqlLines maps block lines to file lines.
          const index = (err.line ?? 1) - 1;
          const line = n.sqlLines?.[index] ?? n.sqlPos.line + index;
          throw new NodeRenderError(err.message, err.status, p.path, line, n.name, err.documentation);
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

  result.sql = renderOne(pipe, node, []);
  return result;
}

const namesByPipe = new WeakMap<PipeFile, string[]>();
const referencesByNode = new WeakMap<PipeNode, ReturnType<typeof findTableReferences>>();

function staticReferences(node: PipeNode): ReturnType<typeof findTableReferences> {
  let refs = referencesByNode.get(node);
  if (!refs) {
    refs = findTableReferences(node.sql);
    referencesByNode.set(node, refs);
  }
  return refs;
}

/** Names a node of `pipe` may select from and that expand: its sibling nodes and every pipe (not datasources). */
function referenceableNames(project: Project, pipe: PipeFile): string[] {
  let names = namesByPipe.get(pipe);
  if (!names) {
    names = [...new Set([...pipe.nodes.map((n) => n.name), ...project.pipes.keys()])].filter((n) => !project.datasources.has(n));
    namesByPipe.set(pipe, names);
  }
  return names;
}

function mentionsAny(text: string, names: readonly string[]): boolean {
  for (const name of names) if (text.includes(name)) return true;
  return false;
}
