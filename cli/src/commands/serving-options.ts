// The options of the two commands that serve the HTTP API, `dev` and `serve`: query time limit, the
// write-ahead log's limits, the HTTP server's limits (server/http-limits.ts explains the defaults) and which
// browser origins may call /v0 (server/cors.ts; the defaults are argued in docs/decisions.md). servingOptions()
// checks every value before anything is opened (an engine would have to be torn down again).
import { Option, type Command } from 'commander';
import { parseCorsOrigins, type CorsPolicy } from '../server/cors.js';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from '../server/http-limits.js';
import { DEFAULT_LIMITS, type QueryLimits } from '../server/workspace.js';
import { UserError } from '../util/fatal.js';
import { portNumber, positiveInt } from './common.js';

/** The HTTP port dev and serve listen on unless told otherwise (`--port`, EMAILSTATS_PORT). */
export const DEFAULT_PORT = '7181';

export interface ServingCliOptions extends WalCliOptions, HttpLimitCliOptions, CorsCliOptions {
  port: string;
  queryTimeout: string;
  endpointCacheBytes: string;
  publicUrl?: string;
}

export interface ServingOptions {
  port: number;
  queryLimits: QueryLimits;
  wal: { maxWalBytes?: number; minFreeBytes?: number };
  http: Partial<HttpLimits>;
  cors: CorsPolicy;
  /** Where clients reach the server (--public-url), for the links it hands out; absent: http:// and the request's Host. */
  publicUrl?: string;
}

/** Adds the shared options; `corsDefault` says in --help what an absent --cors-origin means for this command. */
export function withServingOptions(cmd: Command, corsDefault: string): Command {
  return withPublicUrl(withWalLimits(withEndpointCache(withQueryTimeout(withCorsOrigin(withHttpLimits(cmd), corsDefault)))));
}

/** Every shared option, checked and parsed; `corsFallback` applies when no --cors-origin is given. */
export function servingOptions(opts: ServingCliOptions, corsFallback: CorsPolicy): ServingOptions {
  const configured = configuredPublicUrl(opts.publicUrl);
  return {
    port: portNumber(opts.port),
    queryLimits: queryLimits(opts),
    wal: walLimits(opts),
    http: httpLimits(opts),
    cors: corsPolicy(opts, corsFallback),
    ...(configured ? { publicUrl: configured } : {}),
  };
}

/** `--public-url`: behind a TLS load balancer or a proxy, the links the API hands out must say where clients reach it. */
function withPublicUrl(cmd: Command): Command {
  return cmd.addOption(
    new Option(
      '--public-url <url>',
      "the URL clients reach this server at, e.g. https://api.example.com behind a TLS load balancer: used in the links the API hands out (a job's job_url, the OpenAPI document's server, /docs); default: http:// and the request's Host",
    ).env('EMAILSTATS_PUBLIC_URL'),
  );
}

/** An http(s) URL without query or fragment; a path is kept (a proxy that serves the API under a prefix). `source` names where it came from. */
export function publicUrl(text: string, source = '--public-url'): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UserError(`${source} takes a URL such as https://api.example.com, got '${text}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UserError(`${source} must start with http:// or https://, got '${text}'`);
  if (url.search || url.hash || url.username || url.password) throw new UserError(`${source} is the server's address only (no query, fragment or credentials), got '${text}'`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The public URL as dev and serve read it: blank counts as unset (an EMAILSTATS_PUBLIC_URL= left empty in a compose file). */
export function configuredPublicUrl(text: string | undefined, source?: string): string | undefined {
  const t = text?.trim();
  return t ? publicUrl(t, source) : undefined;
}

/** `--query-timeout`, shared by the commands that serve the API (dev, serve). */
function withQueryTimeout(cmd: Command): Command {
  return cmd.addOption(
    new Option('--query-timeout <seconds>', 'time limit of endpoint and /v0/sql queries; slower ones answer 408').env('EMAILSTATS_QUERY_TIMEOUT').default(String(DEFAULT_LIMITS.maxExecutionTime)),
  );
}

/** `--endpoint-cache-bytes`: room for the answers of endpoints that ask for caching (CACHE, cache_ttl). */
function withEndpointCache(cmd: Command): Command {
  return cmd.addOption(
    new Option('--endpoint-cache-bytes <bytes>', 'memory kept for the answers of endpoints with CACHE or cache_ttl(); 0 turns their caching off')
      .env('EMAILSTATS_ENDPOINT_CACHE_BYTES')
      .default(String(DEFAULT_LIMITS.endpointCacheBytes)),
  );
}

function queryLimits(opts: { queryTimeout: string; endpointCacheBytes: string }): QueryLimits {
  const n = Number(opts.queryTimeout);
  if (!Number.isFinite(n) || n <= 0) throw new UserError(`--query-timeout takes a positive number of seconds, got '${opts.queryTimeout}'`);
  return { ...DEFAULT_LIMITS, maxExecutionTime: n, endpointCacheBytes: wholeNumber(opts.endpointCacheBytes, '--endpoint-cache-bytes') };
}

/** A numeric option that must be a positive whole number; the error names the flag. */
export interface WalCliOptions {
  walMaxBytes?: string;
  walMinFreeBytes?: string;
}

/** The write-ahead log's limits, for the commands that take events (`dev`, `serve`). */
function withWalLimits(cmd: Command): Command {
  return cmd
    .addOption(new Option('--wal-max-bytes <bytes>', 'events not yet in ClickHouse kept on disk before /v0/events answers 429 (default 1 GB)').env('EMAILSTATS_WAL_MAX_BYTES'))
    .addOption(
      new Option('--wal-min-free-bytes <bytes>', "free space kept on the WAL's disk: below it /v0/events answers 507 (default 5% of the disk, 1 MB to 256 MB)").env(
        'EMAILSTATS_WAL_MIN_FREE_BYTES',
      ),
    );
}

function walLimits(opts: WalCliOptions): { maxWalBytes?: number; minFreeBytes?: number } {
  return {
    ...(opts.walMaxBytes ? { maxWalBytes: positiveInt(opts.walMaxBytes, '--wal-max-bytes') } : {}),
    ...(opts.walMinFreeBytes !== undefined ? { minFreeBytes: wholeNumber(opts.walMinFreeBytes, '--wal-min-free-bytes') } : {}),
  };
}

function wholeNumber(text: string, flag: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new UserError(`${flag} must be a whole number of bytes (0 or more), got '${text}'`);
  return n;
}

export interface HttpLimitCliOptions {
  headersTimeoutMs?: string;
  requestTimeoutMs?: string;
  maxConnections?: string;
}

function withHttpLimits(cmd: Command): Command {
  const d = DEFAULT_HTTP_LIMITS;
  return cmd
    .addOption(new Option('--headers-timeout-ms <ms>', `a client must send its request headers within this (default ${d.headersTimeoutMs}); slower ones get 408`).env('EMAILSTATS_HEADERS_TIMEOUT_MS'))
    .addOption(
      new Option('--request-timeout-ms <ms>', `a request body must arrive within this plus 1 s per ${d.minBodyBytesPerSecond / 1024} KiB received (default ${d.requestTimeoutMs}); slower ones get 408`).env('EMAILSTATS_REQUEST_TIMEOUT_MS'),
    )
    .addOption(new Option('--max-connections <n>', `open connections served at once; more are closed as they arrive (default ${d.maxConnections})`).env('EMAILSTATS_MAX_CONNECTIONS'));
}

function httpLimits(opts: HttpLimitCliOptions): Partial<HttpLimits> {
  return {
    ...(opts.headersTimeoutMs ? { headersTimeoutMs: positiveInt(opts.headersTimeoutMs, '--headers-timeout-ms') } : {}),
    ...(opts.requestTimeoutMs ? { requestTimeoutMs: positiveInt(opts.requestTimeoutMs, '--request-timeout-ms') } : {}),
    ...(opts.maxConnections ? { maxConnections: positiveInt(opts.maxConnections, '--max-connections') } : {}),
  };
}

export interface CorsCliOptions {
  corsOrigin?: string[];
}

/** Repeated flags accumulate; each value may itself be a comma-separated list. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function withCorsOrigin(cmd: Command, defaultText: string): Command {
  return cmd.addOption(
    new Option('--cors-origin <origins>', `web origins allowed to call /v0 from a browser, e.g. https://app.example.com; repeat the flag or separate with commas; '*' for any, 'none' for no CORS headers (default: ${defaultText})`)
      .env('EMAILSTATS_CORS_ORIGIN')
      .argParser(collect),
  );
}

export function corsPolicy(opts: CorsCliOptions, fallback: CorsPolicy): CorsPolicy {
  if (!opts.corsOrigin) return fallback;
  try {
    return parseCorsOrigins(opts.corsOrigin);
  } catch (err) {
    throw new UserError(`${(err as Error).message} (from --cors-origin or EMAILSTATS_CORS_ORIGIN)`);
  }
}
