// CORS for the `/v0` API, so web pages on other origins (Tinybird's flock.js tracker, @tinybirdco/charts, a
// dashboard holding a JWT) can call it. Tokens travel in the Authorization header or ?token=, never in cookies,
// so no Allow-Credentials is ever sent: a page can only use a token it was given.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { appendVary } from './vary.js';

/** Which origins may read responses: any (`*`), a list, or none (no CORS headers at all). */
export type CorsPolicy = { kind: 'any' } | { kind: 'list'; origins: ReadonlySet<string> } | { kind: 'none' };

export const CORS_ANY: CorsPolicy = { kind: 'any' };
export const CORS_NONE: CorsPolicy = { kind: 'none' };

const ALLOWED_METHODS = 'GET, HEAD, POST, DELETE, OPTIONS';
/** What browser clients send: the token, JSON/NDJSON/form bodies, gzip'd event batches. */
const ALLOWED_HEADERS = 'Authorization, Content-Type, Content-Encoding';
/** Headers a page may read beyond the safelisted ones (SDKs back off on the rate-limit ones). */
const EXPOSED_HEADERS = 'X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Cache, Age';
/** Chromium caps a cached preflight at 2 hours; longer values are ignored. */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/**
 * The policy from `--cors-origin` values: each may hold several origins separated by commas. `*` allows any
 * origin, `none` turns CORS off; anything else must be an origin such as `https://app.example.com` or
 * `http://localhost:3000` (scheme, host and port; no path).
 */
export function parseCorsOrigins(values: readonly string[]): CorsPolicy {
  const items = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  if (!items.length) throw new Error("--cors-origin is empty: give origins such as 'https://app.example.com', '*' for any origin, or 'none'");
  if (items.includes('*')) return CORS_ANY;
  if (items.includes('none')) {
    if (items.length > 1) throw new Error(`--cors-origin 'none' turns CORS off and cannot be combined with origins (got ${items.join(', ')})`);
    return CORS_NONE;
  }
  return { kind: 'list', origins: new Set(items.map(normalizeOrigin)) };
}

function normalizeOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`--cors-origin '${value}' is not an origin: write scheme, host and port, e.g. 'https://app.example.com' or 'http://localhost:3000'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--cors-origin '${value}' must be an http:// or https:// origin`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) {
    throw new Error(`--cors-origin '${value}' has more than an origin: drop the path, e.g. '${url.origin}'`);
  }
  // URL.origin is how browsers serialize the Origin header: lower-case host, default port left out.
  return url.origin;
}

/** CORS covers the Tinybird API under /v0, and nothing else: /tokens (the local secrets) must stay unreadable to pages. */
export function corsApplies(policy: CorsPolicy, path: string): boolean {
  return policy.kind !== 'none' && (path === '/v0' || path.startsWith('/v0/'));
}

function originAllowed(policy: CorsPolicy, origin: string | undefined): boolean {
  if (policy.kind === 'any') return true;
  return policy.kind === 'list' && origin !== undefined && policy.origins.has(origin);
}

/** Sets the headers every /v0 response carries (errors included) for `req`'s Origin, before the route runs. */
export function setCorsHeaders(policy: CorsPolicy, req: IncomingMessage, res: ServerResponse): void {
  if (policy.kind === 'none') return;
  const origin = req.headers.origin;
  // With a list the answer depends on Origin: caches must keep one copy per origin, allowed or not.
  if (policy.kind === 'list') appendVary(res, 'Origin');
  if (!originAllowed(policy, origin)) return;
  res.setHeader('access-control-allow-origin', policy.kind === 'any' ? '*' : origin!);
  res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
}

/** Whether `req` is a CORS preflight (OPTIONS asking about a later method), not a plain OPTIONS. */
function isPreflight(req: IncomingMessage): boolean {
  return req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;
}

/**
 * Answers an OPTIONS request on a /v0 route: 204 with what may be sent; a preflight from an origin the policy
 * does not list gets 403 and no Allow headers, so the browser refuses the real request.
 */
export function answerOptions(policy: CorsPolicy, req: IncomingMessage, res: ServerResponse): void {
  setCorsHeaders(policy, req, res);
  res.setHeader('x-request-id', randomUUID());
  if (isPreflight(req) && !originAllowed(policy, req.headers.origin)) {
    const origin = req.headers.origin!;
    const body = JSON.stringify({
      error: `origin '${origin}' is not allowed to call this API from a browser: start the server with --cors-origin ${origin} (or add it to EMAILSTATS_CORS_ORIGIN, comma-separated)`,
    });
    res.writeHead(403, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  const headers: Record<string, string> = { allow: ALLOWED_METHODS };
  if (isPreflight(req)) {
    headers['access-control-allow-methods'] = ALLOWED_METHODS;
    headers['access-control-allow-headers'] = ALLOWED_HEADERS;
    headers['access-control-max-age'] = String(PREFLIGHT_MAX_AGE_SECONDS);
  }
  res.writeHead(204, headers);
  res.end();
}

/** A short description for the startup banner. */
export function describeCors(policy: CorsPolicy): string {
  if (policy.kind === 'any') return 'any origin';
  if (policy.kind === 'none') return 'off';
  return [...policy.origins].join(', ');
}
