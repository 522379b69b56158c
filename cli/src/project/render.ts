// Renders the complete SQL of a node for given request parameters: the node's template, then every node or
// pipe it selects from, expanded in place as a subquery (see references.ts for why not CTEs everywhere), or
// written once as a CTE where the query uses it more than once and the server allows (RenderNodeOptions).
import type { PipeFile, PipeNode } from '../datafile/types.js';
import { compileTemplate, TemplateError, type RenderOptions, type RenderResult, type TemplateVars } from '../template/index.js';
import { outputNode, resolveReference, type Project } from './model.js';
import { narrowRequiredMessage } from './required-params.js';
import { cteReferenceFor, findTableReferences, replaceReferences, subqueryFor, type TableExpression } from './references.js';
import { quoteIdent } from '../sql/quote.js';
import { tokenizeSql } from '../sql/lexer.js';
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
    /** custom_error()'s payload when it was a dict: the JSON body the endpoint answers with. */
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'NodeRenderError';
  }
}

export interface RenderNodeOptions extends Pick<RenderOptions, 'testMode' | 'secrets'> {
  /**
   * Write each node the query uses more than once a single time, as a `WITH` common table expression at the top,
   * instead of inlining it at every use. Only for servers whose CTEs reach every nested subquery and plain UNION
   * branch (`engine.caps.sharedCtes`); the query means the same either way (a CTE is not materialized: each use
   * runs it, as each inlined copy did), and ClickHouse parses the node once instead of once per use.
   */
  sharedCtes?: boolean;
}

/** A node reached from the rendered one: its SQL after the template, and its references that resolve to nodes. */
interface ReachedNode {
  text: string;
  links: Map<TableExpression, string>;
}

export function renderNode(
  project: Project,
  pipe: PipeFile,
  node: PipeNode = outputNode(pipe),
  vars: TemplateVars = {},
  opts: RenderNodeOptions = {},
): RenderedSql {
  const result: RenderedSql = { sql: '', settings: {}, queryParams: {}, warnings: [] };
  const reached = new Map<string, ReachedNode>();

  // First every node the query reaches, each rendered once, with the nodes its references lead to.
  const visit = (p: PipeFile, n: PipeNode, stack: string[]): string => {
    const id = `${p.name}.${n.name}`;
    if (reached.has(id)) return id;
    if (stack.includes(id)) {
      throw new NodeRenderError(`reference cycle: ${[...stack, id].join(' -> ')}`, 400, p.path, n.sqlPos.line, n.name);
    }
    const text = n.isTemplate ? renderTemplate(project, p, n, vars, opts, result, p === pipe) : terminatorFree(n);
    const links = new Map<TableExpression, string>();
    // Tokenizing is the costly part of a render: skip it when no name this node could reference occurs.
    // A plain-SQL node's references never change: find them once per node, not per request.
    if (mentionsAny(text, referenceableNames(project, p))) {
      for (const ref of n.isTemplate ? findTableReferences(text) : staticReferences(n)) {
        const target = resolveReference(project, p, n, ref.name);
        if (!target) continue;
        const targetId = visit(target.pipe, target.node, [...stack, id]);
        links.set(ref, targetId);
      }
    }
    reached.set(id, { text, links });
    return id;
  };
  const root = visit(pipe, node, []);

  // Shared nodes go in a WITH list at the top, where the output node's own text has room for one.
  const shared = opts.sharedCtes ? nodesUsedMoreThanOnce(reached) : [];
  const insertCtes = shared.length ? cteInsertionFor(node, reached.get(root)!.text) : undefined;
  const { sql, ctes } = assemble(reached, root, new Set(insertCtes ? shared : []));
  result.sql = physicalTableNames(project, insertCtes && ctes.length ? insertCtes(sql, ctes) : sql);
  return result;
}

/** The reached nodes that more than one reference leads to. */
function nodesUsedMoreThanOnce(reached: Map<string, ReachedNode>): string[] {
  const uses = new Map<string, number>();
  for (const { links } of reached.values()) for (const target of links.values()) uses.set(target, (uses.get(target) ?? 0) + 1);
  return [...uses].filter(([, count]) => count > 1).map(([id]) => id);
}

/**
 * The SQL of `root` with every reference replaced: by the node's SQL in brackets, or, for the nodes in `shared`, by
 * the name of a common table expression; `ctes` are those expressions, in dependency order.
 */
function assemble(reached: Map<string, ReachedNode>, root: string, shared: Set<string>): { sql: string; ctes: string[] } {
  const built = new Map<string, string>();
  const ctes: string[] = [];
  const written = new Set<string>();
  const build = (id: string): string => {
    let sql = built.get(id);
    if (sql !== undefined) return sql;
    const { text, links } = reached.get(id)!;
    sql = replaceReferences(text, [...links.keys()], (ref) => {
      const target = links.get(ref)!;
      if (!shared.has(target)) return subqueryFor(ref, build(target));
      if (!written.has(target)) {
        const body = build(target); // the CTEs this one uses are written before it
        written.add(target);
        ctes.push(`${quoteIdent(target)} AS (\n${body}\n)`);
      }
      return cteReferenceFor(ref, target);
    });
    built.set(id, sql);
    return sql;
  };
  return { sql: build(root), ctes };
}

const insertionByNode = new WeakMap<PipeNode, ReturnType<typeof cteInsertion> | null>();

/** cteInsertion for an output node; a plain-SQL node's text never changes, so its answer is found once. */
function cteInsertionFor(node: PipeNode, text: string): ReturnType<typeof cteInsertion> {
  if (node.isTemplate) return cteInsertion(text);
  let found = insertionByNode.get(node);
  if (found === undefined) insertionByNode.set(node, (found = cteInsertion(text) ?? null));
  return found ?? undefined;
}

/**
 * How to put a WITH list at the top of the query whose output node's text is `rootText`: in front of its first
 * SELECT, or first in its own WITH list. The assembled query starts as `rootText` does (references are replaced
 * only after a FROM or JOIN), so the offset found here holds there. Undefined where the list would not reach every
 * part of the query: a start other than SELECT or WITH, or a UNION (EXCEPT, INTERSECT) branch with a WITH of its
 * own or in brackets, which does not receive the first branch's WITH list.
 */
function cteInsertion(rootText: string): ((sql: string, ctes: string[]) => string) | undefined {
  const tokens = tokenizeSql(rootText).filter((t) => t.kind !== 'ws' && t.kind !== 'comment');
  const word = (i: number) => (tokens[i]?.kind === 'ident' ? tokens[i].text.toUpperCase() : undefined);
  const first = word(0);
  if (first !== 'SELECT' && first !== 'WITH') return undefined;
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const text = tokens[i].text;
    if (text === '(') depth++;
    else if (text === ')') depth--;
    else if (depth === 0 && ['UNION', 'EXCEPT', 'INTERSECT'].includes(word(i) ?? '')) {
      const next = ['ALL', 'DISTINCT'].includes(word(i + 1) ?? '') ? i + 2 : i + 1;
      if (word(next) !== 'SELECT') return undefined;
    }
  }
  if (first === 'SELECT') {
    const at = tokens[0].start;
    return (sql, ctes) => `${sql.slice(0, at)}WITH ${ctes.join(',\n')}\n${sql.slice(at)}`;
  }
  const after = word(1) === 'RECURSIVE' ? tokens[1].end : tokens[0].end;
  return (sql, ctes) => `${sql.slice(0, after)} ${ctes.join(',\n')},\n${sql.slice(after)}`;
}

/** A template node's SQL for `vars`; collects its settings, query parameters and warnings into `result`. */
function renderTemplate(project: Project, p: PipeFile, n: PipeNode, vars: TemplateVars, opts: RenderNodeOptions, result: RenderedSql, ownPipe: boolean): string {
  try {
    const r = compileTemplate(n.template, `${p.name}.${n.name}`, n.name).render(vars, { testMode: opts.testMode, secrets: opts.secrets, nodeName: n.name });
    Object.assign(result.settings, r.settings);
    Object.assign(result.queryParams, r.queryParams);
    for (const w of r.warnings) if (!result.warnings.includes(w)) result.warnings.push(w);
    // The rendered pipe's own cache_ttl() only (the shortest if several nodes ask): a pipe it reads from does not
    // make its readers cache, as that pipe's CACHE line would not either.
    if (ownPipe && r.cacheTtlSeconds !== undefined) result.cacheTtlSeconds = Math.min(r.cacheTtlSeconds, result.cacheTtlSeconds ?? Infinity);
    for (const u of r.unsetSecrets ?? []) {
      const line = n.sqlLines?.[u.line - 1] ?? n.sqlPos.line + u.line - 1;
      // The SQL block is dedented: the template's column plus what the file line has in front of it.
      const fileLine = project.sources.get(p.path)?.split('\n')[line - 1] ?? '';
      const indent = Math.max(0, fileLine.length - (n.template.split('\n')[u.line - 1] ?? '').length);
      (result.unsetSecretsAt ??= []).push({ name: u.name, file: p.path, line, col: u.col + indent, nodeName: n.name });
    }
    return stripStatementTerminator(r.sql);
  } catch (err) {
    if (err instanceof TemplateError) {
      // Template line 1 is the line holding the `%` marker; sqlLines maps block lines to file lines.
      const index = (err.line ?? 1) - 1;
      const line = n.sqlLines?.[index] ?? n.sqlPos.line + index;
      const compiled = compileTemplate(n.template, `${p.name}.${n.name}`, n.name);
      const message = narrowRequiredMessage(err.message, n.template, compiled.params(), vars);
      throw new NodeRenderError(message, err.status, p.path, line, n.name, err.documentation, err.body);
    }
    throw err;
  }
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
