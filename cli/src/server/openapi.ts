// The OpenAPI 3.1 document of the endpoints a token can read (`GET /v0/pipes/openapi.json`, §5.7): one
// GET operation per endpoint and format, one query parameter per template variable (from parameter
// discovery across the pipe and the pipes it reads), and the response rows typed from the endpoint's
// output columns as the engine reported them at build time.
import type { PipeFile } from '../datafile/types.js';
import { isEndpoint } from '../project/model.js';
import { pipeParams } from '../project/params.js';
import type { ParamInfo } from '../template/index.js';
import { grants, scopeFor, type TokenRecord } from './auth.js';
import type { Workspace } from './workspace.js';
import { isMetricsOutput } from './prometheus.js';
import { ENDPOINT_FORMATS } from './output-formats.js';

type Schema = Record<string, unknown>;

/** Request parameters the API reserves; a template variable with one of these names cannot be set. */
const RESERVED = new Set(['token', 'q', 'format']);

function unwrap(type: string, wrapper: string): string | undefined {
  return type.startsWith(`${wrapper}(`) && type.endsWith(')') ? type.slice(wrapper.length + 1, -1) : undefined;
}

/** ClickHouse column type → JSON Schema of its value in ClickHouse's JSON output. */
export function columnSchema(type: string): Schema {
  const nullable = unwrap(type, 'Nullable');
  if (nullable) {
    const inner = columnSchema(nullable);
    return typeof inner.type === 'string' ? { ...inner, type: [inner.type, 'null'] } : { anyOf: [inner, { type: 'null' }] };
  }
  const lc = unwrap(type, 'LowCardinality');
  if (lc) return columnSchema(lc);
  const arr = unwrap(type, 'Array');
  if (arr) return { type: 'array', items: columnSchema(arr) };
  // The engines answer with output_format_json_quote_64bit_integers=0 (engine/client-engine.ts), so every
  // integer is a JSON number; beyond 2^53 a JavaScript client loses precision, which the description says.
  if (/^U?Int(8|16|32)$/.test(type)) return { type: 'integer' };
  if (/^U?Int(64|128|256)$/.test(type)) return { type: 'integer', description: `${type}; values beyond 2^53 lose precision in JavaScript clients` };
  if (/^Float(32|64)$/.test(type)) return { type: 'number' };
  if (/^Decimal/.test(type)) return { type: ['number', 'string'] };
  if (type === 'Bool' || type === 'Boolean') return { type: 'boolean' };
  if (type === 'Date' || type === 'Date32') return { type: 'string', format: 'date' };
  if (type.startsWith('DateTime')) return { type: 'string', description: `${type}, 'YYYY-MM-DD hh:mm:ss'` };
  if (type.startsWith('Map(')) return { type: 'object' };
  if (type.startsWith('Tuple(')) return { type: 'array' };
  return { type: 'string' };
}

/** Template parameter type (String, Int32, DateTime, Array(Int16), ...) → JSON Schema of the query value. */
export function paramSchema(p: ParamInfo): Schema {
  const arr = /^Array\((\w+)\)$/.exec(p.type);
  if (arr) return { type: 'array', items: paramSchema({ ...p, type: arr[1], default: undefined, enum: undefined }) };
  let schema: Schema;
  if (/^U?Int\d+$/.test(p.type) || p.type === 'Integer') schema = { type: 'integer' };
  else if (/^Float\d+$/.test(p.type)) schema = { type: 'number' };
  else if (p.type === 'Boolean') schema = { type: 'boolean' };
  else if (p.type === 'Date') schema = { type: 'string', format: 'date' };
  else if (p.type.startsWith('DateTime')) schema = { type: 'string', description: "'YYYY-MM-DD hh:mm:ss'" };
  else schema = { type: 'string' };
  if (p.default !== undefined && p.default !== null) {
    const n = Number(p.default);
    schema.default = schema.type === 'integer' || schema.type === 'number' ? (Number.isSafeInteger(n) || schema.type === 'number' ? n : String(p.default)) : p.default;
  }
  if (p.enum?.length) schema.enum = p.enum;
  if (p.format) schema.format = p.format;
  return schema;
}

function parameterOf(p: ParamInfo): Schema {
  const schema = paramSchema(p);
  const param: Schema = { name: p.name, in: 'query', required: Boolean(p.required), schema };
  const description = [p.description?.replace(/([^.!?])$/, '$1.'), `Type ${p.type}.`].filter(Boolean).join(' ');
  param.description = description;
  if (p.example !== undefined && p.example !== null && p.example !== '') param.example = p.example;
  if (schema.type === 'array') {
    param.style = 'form';
    param.explode = false;
  }
  return param;
}

/** Each format's response body, in the order the document lists them; parquet and prometheus are not always offered. */
const FORMAT_CONTENT: Record<string, (rowRef: string) => Record<string, Schema>> = {
  json: (rowRef) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${rowRef}_response` } } }),
  csv: () => ({ 'text/csv': { schema: { type: 'string', description: 'CSV with a header line' } } }),
  ndjson: (rowRef) => ({ 'application/x-ndjson': { schema: { type: 'string', description: `one JSON object per line, each a #/components/schemas/${rowRef}` } } }),
  parquet: (rowRef) => ({ [ENDPOINT_FORMATS.parquet.contentType]: { schema: { type: 'string', format: 'binary', description: `an Apache Parquet file whose rows are #/components/schemas/${rowRef}` } } }),
  prometheus: () => ({ 'text/plain': { schema: { type: 'string', description: 'Prometheus text exposition format 0.0.4, one family per metric name' } } }),
};

function operation(pipe: PipeFile, format: string, params: Schema[], rowRef: string): Schema {
  const content = FORMAT_CONTENT[format](rowRef);
  const error = (d: string) => ({ description: d, content: { 'application/json': { schema: { $ref: '#/components/schemas/error' } } } });
  return {
    operationId: `${pipe.name}_${format}`,
    summary: `${pipe.name} as ${format.toUpperCase()}`,
    description: pipe.description?.trim() || `The ${pipe.name} endpoint.`,
    tags: [pipe.name],
    parameters: [
      ...params,
      { name: 'q', in: 'query', required: false, description: 'SQL run over the endpoint result, which is the table `_`, e.g. `SELECT count() FROM _`.', schema: { type: 'string' } },
    ],
    responses: {
      '200': { description: `The endpoint result as ${format.toUpperCase()}`, content },
      '400': error('Bad parameter or query'),
      '403': error('Missing or invalid token, or the token lacks PIPES:READ on this pipe'),
      '404': error('No such endpoint'),
      '408': error('The query took longer than the time limit'),
      '429': error('Rate limit exceeded; retry after Retry-After seconds'),
    },
  };
}

export function buildOpenApi(ws: Workspace, token: TokenRecord, baseUrl: string): Schema {
  const paths: Record<string, Schema> = {};
  const schemas: Record<string, Schema> = {
    error: { type: 'object', required: ['error'], properties: { error: { type: 'string' }, documentation: { type: 'string' } } },
  };
  const readable = (name: string) => grants(token, 'PIPES:READ', name);
  for (const pipe of [...ws.project.pipes.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!isEndpoint(pipe) || !readable(pipe.name)) continue;
    // A JWT's fixed parameters cannot be changed by the caller: they are not offered.
    const fixed = new Set(Object.keys(scopeFor(token, 'PIPES:READ', pipe.name)?.fixedParams ?? {}));
    const params = pipeParams(pipe, ws.project).filter((p) => !RESERVED.has(p.name) && !fixed.has(p.name)).map(parameterOf);
    const columns = ws.endpointColumns.get(pipe.name) ?? [];
    const rowRef = pipe.name;
    schemas[rowRef] = { type: 'object', properties: Object.fromEntries(columns.map((c) => [c.name, { ...columnSchema(c.type), 'x-clickhouse-type': c.type }])), required: columns.map((c) => c.name) };
    schemas[`${rowRef}_response`] = {
      type: 'object',
      properties: {
        meta: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, type: { type: 'string' } } } },
        data: { type: 'array', items: { $ref: `#/components/schemas/${rowRef}` } },
        rows: { type: 'integer' },
        rows_before_limit_at_least: { type: 'integer' },
        statistics: { type: 'object', properties: { elapsed: { type: 'number' }, rows_read: { type: 'integer' }, bytes_read: { type: 'integer' } } },
      },
      required: ['meta', 'data', 'rows'],
    };
    // Parquet where the engine writes it (chDB, ClickHouse 19.4 and newer); Prometheus for endpoints whose rows are metrics.
    const offered = { parquet: ws.engine.caps.parquetOutput, prometheus: isMetricsOutput(columns.map((c) => c.name)) } as Record<string, boolean>;
    const formats = Object.keys(FORMAT_CONTENT).filter((f) => offered[f] ?? true);
    for (const format of formats) paths[`/v0/pipes/${pipe.name}.${format}`] = { get: operation(pipe, format, params, rowRef) };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'emailstats endpoints', version: '1.0.0', description: 'Endpoints of this emailstats project. Pass the token as `Authorization: Bearer <token>` or `?token=<token>`.' },
    servers: [{ url: baseUrl }],
    security: [{ bearerAuth: [] }, { tokenQuery: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'A static token or a JWT signed with the admin token' },
        tokenQuery: { type: 'apiKey', in: 'query', name: 'token' },
      },
    },
  };
}
