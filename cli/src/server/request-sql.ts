// Expands the resources a request's own SQL (`/v0/sql`, an endpoint's `q`) selects from: pipes, and with
// `pipeline=` that pipe's nodes and `_` (its result), each rendered with the request's variables and the token's fixed parameters
// (a JWT pinned to one customer stays pinned however the pipe is reached). One place for both routes, so
// they resolve names, settings and secret parameters alike.
import type { PipeFile } from '../datafile/types.js';
import { outputNode } from '../project/model.js';
import { expandReferences } from '../project/references.js';
import { renderNode, type RenderedSql } from '../project/render.js';
import type { TemplateVars } from '../template/index.js';
import { scopeFor, type TokenRecord } from './auth.js';
import type { Workspace } from './workspace.js';

export type ExpandedSql = Pick<RenderedSql, 'sql' | 'settings' | 'queryParams'>;

function fixedParamsFor(token: TokenRecord, pipe: string): Record<string, string> | undefined {
  return scopeFor(token, 'PIPES:READ', pipe)?.fixedParams;
}

/**
 * @param extra names resolved to ready SQL before anything else (the endpoint result `_` for `q`).
 */
export function expandRequestSql(
  ws: Workspace,
  token: TokenRecord,
  sql: string,
  vars: TemplateVars,
  opts: { pipeline?: PipeFile; extra?: ExpandedSql & { name: string } } = {},
): ExpandedSql {
  const out: ExpandedSql = { sql: '', settings: { ...opts.extra?.settings }, queryParams: { ...opts.extra?.queryParams } };
  const render = (pipe: PipeFile, node = outputNode(pipe)): string => {
    const fixed = fixedParamsFor(token, pipe.name);
    const r = renderNode(ws.project, pipe, node, fixed ? { ...vars, ...fixed } : vars, { secrets: ws.secrets, sharedCtes: ws.engine.caps.sharedCtes });
    Object.assign(out.settings, r.settings);
    Object.assign(out.queryParams, r.queryParams);
    return r.sql;
  };
  out.sql = expandReferences(sql, (name) => {
    if (opts.extra && name === opts.extra.name) return opts.extra.sql;
    const pipelineNode = opts.pipeline?.nodes.find((n) => n.name === name);
    if (pipelineNode) return render(opts.pipeline!, pipelineNode);
    // `pipeline=p&q=SELECT ... FROM _`: Tinybird's placeholder for the pipe's result.
    if (opts.pipeline && name === '_') return render(opts.pipeline);
    const pipe = ws.project.pipes.get(name);
    if (pipe && !ws.project.datasources.has(name)) return render(pipe);
    return undefined;
  });
  return out;
}
