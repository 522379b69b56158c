// Request and response plumbing for the HTTP API: parameters from the query string and form bodies,
// JSON errors with the right status, and an x-request-id on every response; bodies go out through
// compression.ts (compressed when the client accepts it).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { sendBody } from './compression.js';

/** An error that becomes `{"error": message}` with this status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface Request {
  method: string;
  path: string;
  url: URL;
  /** Query string and form-body parameters; repeated keys keep every value. */
  params: Map<string, string[]>;
  headers: IncomingMessage['headers'];
  raw: IncomingMessage;
  requestId: string;
  /** The body for routes that read it raw (events, /v0/sql with a SQL body); undefined when it was a form. */
  body?: Buffer;
}

export function param(req: Request, name: string): string | undefined {
  return req.params.get(name)?.[0];
}

const MAX_FORM_BYTES = 1024 * 1024;
const RAW_BODY_PATHS = new Set(['/v0/events']);
/** How a SQL text sent to /v0/sql begins (a `%` template, a comment, a statement, or a parenthesised query). */
const RAW_SQL_START = /^\s*(%|\(|--|\/\*|select\b|with\b|show\b|desc(ribe)?\b|explain\b)/i;
const FORM_FIELD_START = /^[\w.-]+=/;
/** Multipart uploads these routes read as a stream from `req.raw`. */
const STREAMED_BODY_PATHS = new Set(['/v0/datasources']);

export async function readBody(raw: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of raw) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `request body is larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Parses the URL and, for form posts, the body into parameters. Other bodies stay raw for the route. */
export async function parseRequest(raw: IncomingMessage, bodyLimit: number): Promise<Request> {
  // Appended, not resolved: a request target like `//other/tokens` is a path here, not a host and a path.
  const url = new URL(`http://localhost${(raw.url ?? '/').startsWith('/') ? '' : '/'}${raw.url ?? ''}`);
  const params = new Map<string, string[]>();
  const add = (k: string, v: string): void => {
    const list = params.get(k);
    if (list) list.push(v);
    else params.set(k, [v]);
  };
  for (const [k, v] of url.searchParams) add(k, v);
  // `/v0/pipes/`, `/v0/datasources/`...: the TypeScript SDK and other clients add a trailing slash; one path for
  // the routes and for the body handling below (a multipart upload to `/v0/datasources/` streams too).
  const path = url.pathname.length > 1 && url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  const req: Request = { method: raw.method ?? 'GET', path, url, params, headers: raw.headers, raw, requestId: randomUUID() };
  if (req.method === 'POST' || req.method === 'PUT') {
    const type = String(raw.headers['content-type'] ?? '');
    // The Events API body is data whatever its content type (curl -d labels NDJSON as a form).
    if (type.startsWith('multipart/form-data') && STREAMED_BODY_PATHS.has(path)) {
      // Left unread: the route streams the file parts (uploads may be far larger than memory).
    } else if (type.startsWith('application/x-www-form-urlencoded') && !RAW_BODY_PATHS.has(path)) {
      const body = await readBody(raw, MAX_FORM_BYTES);
      const form = new URLSearchParams(body.toString('utf8'));
      // `curl -d 'SELECT …' /v0/sql` labels raw SQL as a form: with no q anywhere, a /v0/sql body that reads as a
      // query (and does not start like a form field, `desc=1&…`) stays raw, for the route to take as the SQL.
      const head = body.toString('utf8', 0, 64);
      if (path === '/v0/sql' && !form.has('q') && !url.searchParams.has('q') && RAW_SQL_START.test(head) && !FORM_FIELD_START.test(head)) req.body = body;
      else for (const [k, v] of form) add(k, v);
    } else {
      req.body = await readBody(raw, bodyLimit);
    }
  }
  return req;
}

/** Headers for answers that carry secrets (tokens) or pages opened with one in their address: no cache keeps them. */
export const NO_STORE: Readonly<Record<string, string>> = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendBody(res, status, JSON.stringify(body), { 'content-type': 'application/json; charset=utf-8', ...headers });
}

export function sendText(res: ServerResponse, status: number, body: string | Buffer, contentType: string, headers: Record<string, string> = {}): void {
  sendBody(res, status, body, { 'content-type': contentType, ...headers });
}

/** A refused body is read on, and dropped, up to this many bytes more: enough for the client to see the answer. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
const DRAIN_MAX_MS = 10_000;

export function sendError(res: ServerResponse, err: HttpError): void {
  // A body refused for its size was not read to the end: close the connection, or the client would send its
  // next request on a socket still holding the rest of this one.
  const headers = err.status === 413 ? { ...err.headers, connection: 'close' } : err.headers;
  const send = (): void => sendJson(res, err.status, { error: err.message, ...err.extra }, headers);
  const req = res.req;
  if (err.status !== 413 || !req || req.complete || req.destroyed) return send();
  // A client still sending (a streamed upload stopped at a long line) gets EPIPE, not this answer, if the socket
  // closes under it: read the rest of the body into nothing first, within limits, then answer and close.
  req.unpipe();
  let drained = 0;
  const timer = setTimeout(done, DRAIN_MAX_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_MAX_BYTES) done();
  });
  req.once('end', done);
  req.once('error', done);
  req.resume();
  let sent = false;
  function done(): void {
    if (sent) return;
    sent = true;
    clearTimeout(timer);
    req!.pause();
    if (!res.headersSent && !res.destroyed) send();
  }
}
