// `/v0/pipes`: the list, one pipe's description, and endpoint data as JSON, CSV, NDJSON, Parquet or Prometheus
// text (server/prometheus.ts).
import type { ServerResponse } from 'node:http';
import type { PipeFile } from '../../datafile/types.js';
import { isEndpoint, outputNode } from '../../project/model.js';
import { NodeRenderError, renderNode } from '../../project/render.js';
import { expandRequestSql } from '../request-sql.js';
import { queryHttpError } from '../engine-http-error.js';
import { endpointCacheFor, endpointCacheKey } from '../endpoint-cache.js';
import { isJsonObject } from '../../util/json.js';
import type { TemplateVars } from '../../template/index.js';
import { authorize, grants, tokenKey, type Scope, type TokenRecord } from '../auth.js';
import { HttpError, param, sendJson, sendText, type Request } from '../http.js';
import { guardSelect } from '../sql-guard.js';
import type { Workspace } from '../workspace.js';
import { addJsonBodyParams } from '../json-params.js';
import { nodeParams } from '../node-params.js';
import { authorizedResource, guardLists, readableResource } from './access.js';
import { copyModeOf } from '../copy-pipe.js';
import { isMetricsOutput, missingMetricColumns, PrometheusFormatError, toPrometheus, VALUE_TEXT_COLUMN } from '../prometheus.js';
import { cronOf, scheduleJson } from '../copy-schedules.js';
import { attachmentHeaders, checkOutputFormat, contentTypeFor, ENDPOINT_FORMATS, formatSettings, isBinaryFormat, type ResponseBody } from '../output-formats.js';
import { pausedCopies } from '../copy-schedule-status.js';

/** Tinybird's output parameters: format settings a request may choose. They change the answer's text, not the query. */
const JSON_OUTPUT_PARAMS = ['output_format_json_quote_64bit_integers', 'output_format_json_quote_denormals'];
/** Parquet's: STRING (1) or BINARY (0) for String columns. Sent with Parquet only: an older server may not know it. */
const PARQUET_OUTPUT_PARAMS = ['output_format_parquet_string_as_string'];
const OUTPUT_PARAMS = [...JSON_OUTPUT_PARAMS, ...PARQUET_OUTPUT_PARAMS];

/** Request parameters the API consumes itself; they are not template variables. */
const API_PARAMS = new Set(['token', 'q', 'format', 'debug', 'explain', 'query_id', 'tag', 'release_replacements', '__tb__deployment', '__tb__semver', ...OUTPUT_PARAMS]);

/**
 * The output settings a request asks for in `chFormat` (`output_format_json_quote_64bit_integers=1` quotes 64-bit
 * integers). A Parquet setting on another format is checked and has no effect.
 */
export function requestOutputSettings(req: Request, chFormat: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of OUTPUT_PARAMS) {
    const v = param(req, name);
    if (v === undefined) continue;
    let value: number;
    if (/^(1|true)$/i.test(v)) value = 1;
    else if (/^(0|false)$/i.test(v)) value = 0;
    else throw new HttpError(400, `${name} takes 1 or 0 (true or false), got '${v}'`);
    if (chFormat === 'Parquet' || !PARQUET_OUTPUT_PARAMS.includes(name)) out[name] = value;
  }
  return out;
}

export function templateVars(req: Request, fixed: Record<string, string> | undefined): TemplateVars {
  const vars: TemplateVars = {};
  for (const [k, values] of req.params) {
    if (API_PARAMS.has(k)) continue;
    vars[k] = values.length === 1 ? values[0] : values;
  }
  // JWT fixed parameters always win over what the request says (row-level multi-tenancy).
  if (fixed) Object.assign(vars, fixed);
  return vars;
}

/** The pipe's JSON (GET /v0/pipes[/<pipe>], and the answer of a copy's pause and resume); `paused`: pausedCopies. */
export function pipeSummary(ws: Workspace, pipe: PipeFile, baseUrl: string, paused: ReadonlySet<string> | undefined) {
  const out = outputNode(pipe);
  // An endpoint's output columns, as its validation found them: the TypeScript SDK reads the last node's `columns`.
  const columns = isEndpoint(pipe) ? ws.endpointColumns.get(pipe.name) : undefined;
  const type = isEndpoint(pipe) ? 'endpoint' : out.type === 'standard' ? 'default' : out.type;
  return {
    id: pipe.name,
    name: pipe.name,
    description: pipe.description ?? '',
    type,
    endpoint: type === 'endpoint' ? `${baseUrl}/v0/pipes/${pipe.name}.json` : null,
    nodes: pipe.nodes.map((n) => ({
      id: `${pipe.name}.${n.name}`,
      name: n.name,
      description: n.description ?? '',
      sql: n.sql,
      node_type: n.type,
      materialized: n.type === 'materialized' ? n.datasource : null,
      params: nodeParams(ws.project, pipe, n),
      ...(n === out && columns ? { columns: columns.map((c) => ({ name: c.name, type: c.type })) } : {}),
    })),
    // Read by the TypeScript SDK to tell materialized and copy pipes apart.
    materialized_datasource: out.type === 'materialized' ? (out.datasource ?? null) : null,
    copy_target_datasource: out.type === 'copy' ? (out.targetDatasource ?? null) : null,
    // A copy pipe's node, mode and schedule, as Tinybird gives them (`schedule.status` says whether it is paused;
    // the SDK reads `copy_schedule` and `copy_mode`).
    ...(out.type === 'copy' ? { copy_node: out.name, copy_mode: copyModeOf(out), copy_schedule: cronOf(pipe) ?? '@on-demand', schedule: scheduleJson(pipe, paused) } : {}),
  };
}

/**
 * The paused schedules, read only when one of `pipes` has a schedule (most listings need no query). Undefined when
 * they cannot be read (ClickHouse down or busy): the listing still answers, with `schedule.status` `unknown`.
 */
function pausedAmong(ws: Workspace, pipes: PipeFile[]): Promise<ReadonlySet<string> | undefined> {
  if (!pipes.some((p) => cronOf(p) !== undefined)) return Promise.resolve(new Set());
  return pausedCopies(ws.engine).catch(() => undefined);
}

export async function listPipes(ws: Workspace, req: Request, res: ServerResponse, baseUrl: string): Promise<void> {
  const { record } = authorize(ws.tokens, req, { type: 'PIPES:READ' });
  const pipes = [...ws.project.pipes.values()].filter((p) => grants(record, 'PIPES:READ', p.name));
  const paused = await pausedAmong(ws, pipes);
  sendJson(res, 200, { pipes: pipes.map((p) => pipeSummary(ws, p, baseUrl, paused)) }, { 'x-request-id': req.requestId });
}

export async function describePipe(ws: Workspace, req: Request, res: ServerResponse, name: string, baseUrl: string): Promise<void> {
  const pipe = authorizedResource(ws, req, 'pipes', name, 'PIPES:READ').resource;
  const paused = await pausedAmong(ws, [pipe]);
  sendJson(res, 200, pipeSummary(ws, pipe, baseUrl, paused), { 'x-request-id': req.requestId });
}

export interface EndpointOutcome {
  pipe: string;
  tokenName?: string;
  parameters: Record<string, string>;
  /** The response body and its ClickHouse format, for the request log's read/result statistics. */
  body?: { body: ResponseBody; format: string };
  /** Set for endpoints that cache: true when the answer came from the cache and no query ran. */
  cacheHit?: boolean;
}

/** Serves `/v0/pipes/<name>.<format>`. Returns what the request log records. */
export async function queryEndpoint(ws: Workspace, req: Request, res: ServerResponse, name: string, ext: string, outcome: EndpointOutcome): Promise<void> {
  const format = ENDPOINT_FORMATS[ext];
  if (!format) throw new HttpError(400, `unsupported format '.${ext}': use .json, .csv, .ndjson, .parquet or .prometheus`);
  const { resource: pipe, record, scope } = authorizedResource(ws, req, 'pipes', name, 'PIPES:READ');
  if (req.method === 'POST') addJsonBodyParams(req);
  if (!isEndpoint(pipe)) throw new HttpError(404, `pipe '${name}' is not an endpoint (it has no TYPE endpoint node)`);
  outcome.pipe = name;
  outcome.tokenName = record.name;
  const vars = templateVars(req, (scope as Scope | undefined)?.fixedParams);
  for (const [k, v] of Object.entries(vars)) outcome.parameters[k] = Array.isArray(v) ? v.join(',') : String(v);

  let rendered;
  try {
    rendered = renderNode(ws.project, pipe, outputNode(pipe), vars, { secrets: ws.secrets, sharedCtes: ws.engine.caps.sharedCtes });
  } catch (err) {
    if (err instanceof NodeRenderError) throw renderHttpError(err);
    throw err;
  }
  let sql = rendered.sql;
  let settings = rendered.settings;
  let queryParams = rendered.queryParams;
  let chFormat = format.clickhouse;
  const q = param(req, 'q');
  const prometheus = ext === 'prometheus';
  if (prometheus && q === undefined) {
    const columns = ws.endpointColumns.get(name)?.map((c) => c.name);
    if (columns && !isMetricsOutput(columns)) throw new HttpError(400, missingMetricColumns(name, columns));
  }
  if (q !== undefined) {
    // `q` runs over the endpoint's result, exposed as the table `_`.
    const guarded = guardSelect(q, (n) => (n === '_' ? 'ok' : readableResource(ws, record, n)), {}, ...(await guardLists(ws)));
    if (prometheus && guarded.format) throw new HttpError(400, `q must not name a FORMAT with .prometheus: the rows of q are what the format is made from`);
    const expanded = expandRequestSql(ws, record, guarded.sql, vars, { extra: { name: '_', ...rendered } });
    sql = expanded.sql;
    settings = expanded.settings;
    queryParams = expanded.queryParams;
    if (guarded.format) chFormat = guarded.format;
  }
  // Prometheus also takes `value` as ClickHouse prints it (nan, inf, exact 64-bit integers). The rows' SQL stands on
  // lines of its own: a trailing `-- comment` must not swallow the closing parenthesis.
  if (prometheus) sql = `SELECT *, toString(value) AS ${VALUE_TEXT_COLUMN} FROM (\n${sql}\n)`;
  settings = { ...settings, ...requestOutputSettings(req, chFormat) };
  const headers: Record<string, string> = { 'x-request-id': req.requestId };
  const run = (): Promise<ResponseBody> => runQuery(ws, sql, chFormat, settings, queryParams, record);
  // The template's cache_ttl() is per request, so it wins over the file's CACHE line.
  const ttlSeconds = rendered.cacheTtlSeconds ?? pipe.cacheSeconds ?? 0;
  let body: ResponseBody;
  if (ttlSeconds > 0 && ws.limits.endpointCacheBytes > 0) {
    const cache = endpointCacheFor(ws.project, ws.limits.endpointCacheBytes);
    const answer = await cache.answer(endpointCacheKey(name, sql, chFormat, settings, queryParams), ttlSeconds, run, tokenKey(record));
    body = answer.body;
    outcome.cacheHit = answer.hit;
    headers['x-cache'] = answer.hit ? 'HIT' : 'MISS';
    if (answer.hit) headers.age = String(answer.ageSeconds);
  } else {
    body = await run();
  }
  outcome.body = { body, format: chFormat };
  if (prometheus) {
    try {
      body = toPrometheus(JSON.parse(body.toString()) as Parameters<typeof toPrometheus>[0], name);
    } catch (err) {
      if (err instanceof PrometheusFormatError) throw new HttpError(400, err.message);
      throw err;
    }
  }
  sendText(res, 200, body, chFormat === format.clickhouse ? format.contentType : contentTypeFor(chFormat), { ...headers, ...attachmentHeaders(chFormat, name) });
}

/**
 * A render error as the HTTP answer: its status and message, the documentation link, and for custom_error() with
 * a dict the dict's own keys as the body (as Tinybird writes it; its `error` wins over the message).
 */
export function renderHttpError(err: NodeRenderError): HttpError {
  const payload = isJsonObject(err.body) ? err.body : {};
  return new HttpError(err.status, err.message, { ...(err.documentation ? { documentation: err.documentation } : {}), ...payload });
}

/**
 * Runs request-driven SQL read-only with the workspace limits, as `token`'s fair share of the engine; maps engine
 * errors to HTTP statuses. A binary format (Parquet) answers bytes, the others text.
 */
export async function runQuery(ws: Workspace, sql: string, format: string, settings: Record<string, string | number>, queryParams: Record<string, string>, token: TokenRecord): Promise<ResponseBody> {
  checkOutputFormat(ws.engine, format);
  try {
    const limits = {
      // The format's own first: a request's output_format_parquet_string_as_string wins over the pinned value.
      ...(await formatSettings(ws.engine, format, settings)),
      ...settings,
      readonly: 2,
      max_execution_time: ws.limits.maxExecutionTime,
      max_memory_usage: ws.limits.maxMemoryUsage,
      max_result_rows: ws.limits.maxResultRows,
      // ClickHouse counts the bytes of its result blocks, which stops most large answers early; the output's own
      // bytes are capped as they are read (maxBytes).
      max_result_bytes: ws.limits.maxResultBytes,
      result_overflow_mode: 'throw',
    };
    const fairShareKey = tokenKey(token); // the embedded engine shares its read lanes between tokens by it
    const opts = { settings: limits, queryParams: Object.keys(queryParams).length ? queryParams : undefined, fairShareKey, maxBytes: ws.limits.maxResultBytes };
    return await (isBinaryFormat(format) ? ws.engine.queryBytes(sql, format, opts) : ws.engine.queryText(sql, format, opts));
  } catch (err) {
    throw queryHttpError(err, ws.limits.maxExecutionTime);
  }
}

