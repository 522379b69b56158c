// `/v0/sql`: read-only SQL over the workspace's datasources and pipes (the Query API).
import type { ServerResponse } from 'node:http';
import { compileUncached, TemplateError } from '../../template/index.js';
import { authorize, type TokenRecord } from '../auth.js';
import { SERVICE_TABLES } from '../../project/service-datasources.js';
import { HttpError, param, sendText, type Request } from '../http.js';
import { guardSelect } from '../sql-guard.js';
import type { Workspace } from '../workspace.js';
import { expandRequestSql } from '../request-sql.js';
import { guardLists, readableResource } from './access.js';
import { addJsonBodyParams, isJsonBody } from '../json-params.js';
import { requestOutputSettings, runQuery, templateVars, type EndpointOutcome } from './pipes.js';
import { attachmentHeaders, contentTypeFor } from '../output-formats.js';

function anyReadScope(ws: Workspace, req: Request): TokenRecord {
  // Any read scope lets the token in; each table the query names is then checked against its scopes.
  try {
    return authorize(ws.tokens, req, { type: 'PIPES:READ' }).record;
  } catch (err) {
    return authorize(ws.tokens, req, { type: 'DATASOURCES:READ' }).record;
  }
}

/**
 * `curl -d 'INSERT INTO t ...' /v0/sql` sends a form whose one field name is the statement (only queries stay a
 * raw body): say that only SELECT is allowed rather than that the query is missing.
 */
function statementInForm(req: Request): string | undefined {
  for (const key of req.params.keys()) {
    const word = /^\s*([A-Za-z]+)\s/.exec(key)?.[1];
    if (word) return `only SELECT queries are allowed, got ${word}: /v0/sql is read-only (rows go in through POST /v0/events or POST /v0/datasources?mode=append)`;
  }
  return undefined;
}

/**
 * @param beforeServiceRead called, once the query is authorized, when it reads a service datasource (the request
 *   log flushes its buffer so the query sees every request answered so far).
 */
export async function querySql(ws: Workspace, req: Request, res: ServerResponse, outcome?: EndpointOutcome, beforeServiceRead?: () => Promise<void>): Promise<void> {
  const token = anyReadScope(ws, req);
  if (outcome) outcome.tokenName = token.name;
  // A JSON object body carries `q` and the template's parameters (`{"q": "% SELECT ... {{String(x)}}", "x": "v"}`).
  const jsonBody = isJsonBody(req);
  if (jsonBody) addJsonBodyParams(req);
  let q: string | undefined = param(req, 'q');
  if (q === undefined && !jsonBody && req.body && req.body.length) q = req.body.toString('utf8');
  if (q === undefined || !q.trim()) {
    const where = jsonBody ? "as the 'q' key of the JSON body" : "as the 'q' parameter or as the request body";
    throw new HttpError(400, statementInForm(req) ?? `missing query: pass the SQL ${where}`);
  }
  const vars = templateVars(req, undefined);
  let settings: Record<string, string | number> = {};
  if (q.trimStart().startsWith('%')) {
    try {
      const r = compileUncached(q.trimStart().slice(1)).render(vars);
      q = r.sql;
      settings = r.settings;
    } catch (err) {
      if (err instanceof TemplateError) throw new HttpError(err.status, err.message);
      throw err;
    }
  }
  const pipelineName = param(req, 'pipeline');
  const pipeline = pipelineName ? ws.project.pipes.get(pipelineName) : undefined;
  if (pipelineName && !pipeline) throw new HttpError(404, `pipeline '${pipelineName}' not found`);
  // With `pipeline`, its nodes are names too, and `_` is the pipe's result (its output node).
  const nodeNames = new Set(pipeline ? ['_', ...pipeline.nodes.map((n) => n.name)] : []);
  const text: string = q;
  const guarded = guardSelect(text, (name) => (nodeNames.has(name) ? readableResource(ws, token, pipeline!.name) : readableResource(ws, token, name)), SERVICE_TABLES, ...(await guardLists(ws)));
  // Pipes (and, with `pipeline`, that pipe's nodes) are expanded into subqueries; datasources are tables.
  if (guarded.service.length && beforeServiceRead) await beforeServiceRead();
  const expanded = expandRequestSql(ws, token, guarded.sql, vars, { pipeline });
  const format = guarded.format ?? 'JSON';
  const body = await runQuery(ws, expanded.sql, format, { ...settings, ...expanded.settings, ...requestOutputSettings(req, format) }, expanded.queryParams, token);
  if (outcome) outcome.body = { body, format };
  sendText(res, 200, body, contentTypeFor(format), { 'x-request-id': req.requestId, ...attachmentHeaders(format, pipelineName ?? 'query') });
}
