// The HTTP API server: routes requests to the handlers, turns every failure into a JSON error with the right
// status, and stamps an x-request-id on every response.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeRenderError } from '../project/render.js';
import { HttpError, NO_STORE, param, parseRequest, sendError, sendJson, sendText, type Request } from './http.js';
import { engineStateHttpError } from './engine-http-error.js';
import { describeDatasource, listDatasources } from './routes/datasources.js';
import { postEvents } from './routes/events.js';
import { postWebhook } from './routes/webhooks.js';
import { deleteRows, importDatasource, replayQuarantine, truncateDatasource } from './routes/datasource-data.js';
import { describePipe, listPipes, queryEndpoint, renderHttpError, type EndpointOutcome } from './routes/pipes.js';
import { querySql } from './routes/sql.js';
import { cancelCopies, runCopy, setCopySchedule } from './routes/copy.js';
import { cancelJob, getJob, listJobs } from './routes/jobs.js';
import { JobRegistry } from './jobs.js';
import type { ProjectApi, Workspace } from './workspace.js';
import { TinybirdCliRoutes } from './routes/tinybird-v1.js';
import { authorize, identify, presentedToken, tokenKey, type TokenRecord, type TokenStore } from './auth.js';
import { Metrics } from './metrics.js';
import { RateLimiter, rateLimitHeaders } from './rate-limit.js';
import { logUrl, RequestLog, responseStats } from './request-log.js';
import { OpsLog } from './ops-log.js';
import { docsPage, openApiDocument } from './routes/docs.js';
import { dashboard, isDashboardPath } from './routes/dashboard.js';
import { createToken, deleteToken, getToken, listTokens, refreshToken } from './routes/tokens.js';
import { sendDatafile } from './datafile-text.js';
import { BodyDeadlines, DEFAULT_HTTP_LIMITS, nodeServerOptions, type HttpLimits } from './http-limits.js';
import { answerOptions, corsApplies, CORS_NONE, setCorsHeaders, type CorsPolicy } from './cors.js';

export interface ServerOptions {
  /** The workspace to serve; called per request so `dev` can swap it after a rebuild. */
  workspace: () => Workspace;
  /** Secrets handed out at GET /tokens (local development only, like Tinybird Local). */
  localTokens?: () => Record<string, unknown>;
  /** Largest request body accepted (Events API), bytes. */
  maxBodyBytes?: number;
  log?: (line: string) => void;
  /** Record endpoint and /v0/sql requests in tinybird.pipe_stats_rt (default true; off for benchmarks). */
  requestLog?: boolean;
  /** Which web origins may call /v0 from a browser (default none: in-process servers of CLI commands serve no pages). */
  cors?: CorsPolicy;
  /** Timeouts and the connection cap against slow clients; DEFAULT_HTTP_LIMITS for what is not given. */
  limits?: Partial<HttpLimits>;
  /** `dev` only: lets the Tinybird SDK CLI build and deploy (/v1/build, /v1/deploy); `serve` refuses those routes. */
  projectApi?: ProjectApi;
  /** The jobs of copies, deletes and URL imports (GET /v0/jobs); shared with the copy scheduler. Default: a new one. */
  jobs?: JobRegistry;
  /** Where clients reach the server (`--public-url`), for the links it hands out; default `http://<Host header>`. */
  publicUrl?: string;
}

export interface RunningServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

const PIPE_FILE = /^\/v0\/pipes\/([^/]+)\.pipe$/;
const PIPE_DATA = /^\/v0\/pipes\/([^/]+)\.([a-z]+)$/;
const PIPE_INFO = /^\/v0\/pipes\/([^/.]+)$/;
const PIPE_COPY = /^\/v0\/pipes\/([^/.]+)\/copy$/;
const PIPE_COPY_SCHEDULE = /^\/v0\/pipes\/([^/.]+)\/copy\/(pause|resume|cancel)$/;
const DATASOURCE_INFO = /^\/v0\/datasources\/([^/.]+)$/;
const DATASOURCE_FILE = /^\/v0\/datasources\/([^/]+)\.datasource$/;
const DATASOURCE_ACTION = /^\/v0\/datasources\/([^/.]+)\/(truncate|delete|quarantine\/replay)$/;
const TOKEN_ONE = /^\/v0\/tokens\/([^/]+)$/;
const TOKEN_REFRESH = /^\/v0\/tokens\/([^/]+)\/refresh$/;
const JOB_ONE = /^\/v0\/jobs\/([^/]+)$/;
const JOB_CANCEL = /^\/v0\/jobs\/([^/]+)\/cancel$/;

/** Flushes a server's request log; `listen().close()` awaits it so no rows are lost on shutdown. */
const closeHooks = new WeakMap<Server, () => Promise<void>>();

/** The token's record if it is valid, without failing the request: the route decides what a bad token means. */
function tokenIfValid(store: TokenStore, req: Request): TokenRecord | undefined {
  if (!presentedToken(req)) return undefined;
  try {
    return identify(store, req);
  } catch (err) {
    if (err instanceof HttpError) return undefined;
    throw err;
  }
}

function isLoopback(raw: IncomingMessage): boolean {
  const a = raw.socket.remoteAddress ?? '';
  return a === '127.0.0.1' || a === '::1' || a === '::ffff:127.0.0.1';
}

export function createApiServer(opts: ServerOptions): Server {
  const maxBody = opts.maxBodyBytes ?? 10 * 1024 * 1024;
  const cors = opts.cors ?? CORS_NONE;
  const metrics = new Metrics();
  const limiter = new RateLimiter();
  const jobs = opts.jobs ?? new JobRegistry();
  const tinybirdCli = new TinybirdCliRoutes(jobs, opts.projectApi);
  const requestLog = opts.requestLog === false ? undefined : new RequestLog(() => opts.workspace().engine, { log: opts.log });
  requestLog?.ensureTable().catch((err: unknown) => opts.log?.(`△ request log: cannot create its table: ${(err as Error).message}`));
  // tinybird.datasources_ops_log: on with the request log (both are service datasources of this server).
  const opsLog = requestLog && new OpsLog(() => opts.workspace().engine, (table) => opts.workspace().project.datasources.has(table), { log: opts.log });
  const flushServiceLogs = requestLog && (async () => void (await Promise.all([requestLog.flush(), opsLog!.flush()])));

  const route = async (req: Request, res: ServerResponse, baseUrl: string): Promise<void> => {
    const ws = opts.workspace();
    opsLog?.serve(ws.engine, ws.ingestor);
    const { method } = req;
    const { path } = req; // without a trailing slash (parseRequest)
    const get = method === 'GET' || method === 'HEAD';
    if (path === '/v0/events' && method === 'POST') return postEvents(ws, req, res);
    if (path.startsWith('/v0/webhooks/') && method === 'POST') return postWebhook(ws, req, res, pathName(path.slice('/v0/webhooks/'.length)), opts.log);
    if (path === '/v0/pipes/openapi.json' && get) return openApiDocument(ws, req, res, baseUrl);
    if (path === '/docs' && get) return docsPage(ws, req, res, baseUrl);
    if (isDashboardPath(path) && get) return dashboard(req, res);
    let m = PIPE_FILE.exec(path);
    if (m && get) return sendDatafile(ws, req, res, 'pipes', pathName(m[1]));
    m = PIPE_DATA.exec(path);
    if (m && (get || method === 'POST')) {
      // The pipe is named in metrics and the log only once it is known and the token may read it: unknown
      // names from unauthenticated callers must not create metric series.
      const outcome: EndpointOutcome = { pipe: '(unresolved)', parameters: {} };
      const name = pathName(m[1]);
      return observe(req, outcome, () => queryEndpoint(ws, req, res, name, m![2], outcome));
    }
    m = PIPE_COPY.exec(path);
    if (m && method === 'POST') return runCopy(ws, req, res, pathName(m[1]), jobs, baseUrl);
    m = PIPE_COPY_SCHEDULE.exec(path);
    if (m && method === 'POST') return m[2] === 'cancel' ? cancelCopies(ws, req, res, pathName(m[1]), jobs, baseUrl) : setCopySchedule(ws, req, res, pathName(m[1]), m[2] as 'pause' | 'resume', baseUrl);
    if (path === '/v0/pipes' && get) return listPipes(ws, req, res, baseUrl);
    m = PIPE_INFO.exec(path);
    if (m && get) return param(req, 'format') === 'pipe' ? sendDatafile(ws, req, res, 'pipes', pathName(m[1])) : describePipe(ws, req, res, pathName(m[1]), baseUrl);
    if (path === '/v0/sql' && (get || method === 'POST')) {
      const outcome: EndpointOutcome = { pipe: 'query_api', parameters: {} };
      // Queries of the request log see every request answered so far (flushed only for authorized readers).
      return observe(req, outcome, () => querySql(ws, req, res, outcome, flushServiceLogs));
    }
    if (path === '/v0/tokens' && get) return listTokens(ws, req, res);
    if (path === '/v0/tokens' && method === 'POST') return createToken(ws, req, res);
    m = TOKEN_REFRESH.exec(path);
    if (m && method === 'POST') return refreshToken(ws, req, res, pathName(m[1]));
    m = TOKEN_ONE.exec(path);
    if (m && get) return getToken(ws, req, res, pathName(m[1]));
    if (m && method === 'DELETE') return deleteToken(ws, req, res, pathName(m[1]));
    if (path === '/v0/jobs' && get) return listJobs(ws, req, res, jobs, baseUrl);
    m = JOB_ONE.exec(path);
    if (m && get) return getJob(ws, req, res, jobs, pathName(m[1]), baseUrl);
    m = JOB_CANCEL.exec(path);
    if (m && method === 'POST') return cancelJob(ws, req, res, jobs, pathName(m[1]), baseUrl);
    if (path === '/metrics' && get) {
      authorize(ws.tokens, req, { type: 'ADMIN' });
      return sendText(res, 200, metrics.render(ws.ingestor, requestLog?.droppedRows ?? 0), 'text/plain; version=0.0.4; charset=utf-8');
    }
    if (path === '/v0/datasources' && get) return listDatasources(ws, req, res);
    // url= imports: `dev` (the server that hands out local tokens) asks Tinybird's scope, other servers ADMIN.
    if (path === '/v0/datasources' && method === 'POST')
      return importDatasource(ws, req, res, { maxFileBytes: maxBody, urlAppendScope: opts.localTokens ? 'DATASOURCES:APPEND' : 'ADMIN', jobs, baseUrl });
    m = DATASOURCE_ACTION.exec(path);
    if (m && method === 'POST') {
      const ds = pathName(m[1]);
      return m[2] === 'truncate' ? truncateDatasource(ws, req, res, ds) : m[2] === 'delete' ? deleteRows(ws, req, res, ds, jobs, baseUrl) : replayQuarantine(ws, req, res, ds);
    }
    m = DATASOURCE_FILE.exec(path);
    if (m && get) return sendDatafile(ws, req, res, 'datasources', pathName(m[1]));
    m = DATASOURCE_INFO.exec(path);
    if (m && get) return param(req, 'format') === 'datasource' ? sendDatafile(ws, req, res, 'datasources', pathName(m[1])) : describeDatasource(ws, req, res, pathName(m[1]));
    if ((path === '/health' || path === '/v0/health') && get) {
      try {
        await ws.engine.queryRows('SELECT 1 AS ok');
        return sendJson(res, 200, { status: 'ok', engine: ws.engine.description, version: ws.engine.version.text });
      } catch (err) {
        return sendJson(res, 503, { status: 'error', error: `ClickHouse did not answer: ${(err as Error).message}` });
      }
    }
    if (path === '/tokens' && get && opts.localTokens) {
      if (!isLoopback(req.raw)) throw new HttpError(403, '/tokens is only served to localhost');
      // A web page the developer visits could point its own domain at 127.0.0.1 (DNS rebinding): the browser then
      // sends that domain as Host. Only local names get the tokens.
      if (!isLocalHost(req.headers.host)) throw new HttpError(403, `/tokens is only served to requests for localhost, 127.0.0.1 or [::1], not '${req.headers.host ?? ''}'`);
      return sendJson(res, 200, opts.localTokens(), NO_STORE);
    }
    if (path === '/' && get) {
      return sendJson(res, 200, { name: 'emailstats', endpoints: `${baseUrl}/v0/pipes`, events: `${baseUrl}/v0/events`, sql: `${baseUrl}/v0/sql` });
    }
    if (tinybirdCli.handles(path)) return tinybirdCli.serve(ws, req, res, baseUrl);
    throw new HttpError(404, `no route for ${method} ${path}`);
  };

  /** Runs an endpoint or /v0/sql request and records it in the metrics and the request log, whatever the outcome. */
  const observe = async (req: Request, outcome: EndpointOutcome, run: () => Promise<void>): Promise<void> => {
    const started = performance.now();
    const startedAt = Date.now();
    let status = 200;
    try {
      await run();
    } catch (err) {
      status = err instanceof HttpError ? err.status : err instanceof NodeRenderError ? err.status : 500;
      throw err;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      metrics.observe(outcome.pipe, status, seconds);
      if (outcome.cacheHit !== undefined) metrics.observeCache(outcome.pipe, outcome.cacheHit);
      if (requestLog) {
        const stats = outcome.body ? responseStats(outcome.body.body, outcome.body.format) : { readRows: 0, readBytes: 0, resultRows: 0 };
        // An answer from the cache read nothing this time, whatever its statistics say of the run that made it.
        if (outcome.cacheHit) Object.assign(stats, { readRows: 0, readBytes: 0 });
        if (!outcome.parameters || !Object.keys(outcome.parameters).length) {
          for (const [k, v] of req.params) if (k !== 'token' && k !== 'q') outcome.parameters[k] = v.join(',');
        }
        const names = Object.keys(outcome.parameters).filter((k) => k !== 'token');
        requestLog.record({
          start_datetime: Math.floor(startedAt / 1000),
          pipe_id: outcome.pipe,
          pipe_name: outcome.pipe,
          duration: seconds,
          read_bytes: stats.readBytes,
          read_rows: stats.readRows,
          result_rows: stats.resultRows,
          url: logUrl(req.url),
          error: status >= 400 ? 1 : 0,
          status_code: status,
          request_id: req.requestId,
          token_name: outcome.tokenName ?? '',
          method: req.method,
          'parameters.name': names,
          'parameters.value': names.map((k) => outcome.parameters[k]),
        });
      }
    }
  };

  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...opts.limits };
  const deadlines = new BodyDeadlines(limits);
  const server = createServer(nodeServerOptions(limits), (raw, res) => {
    deadlines.track(raw, res);
    // Every answer is the type it says: request data (a value of a CSV answer, a path echoed in an error) is
    // never sniffed into HTML on this origin, where the dashboard keeps its token.
    res.setHeader('x-content-type-options', 'nosniff');
    const baseUrl = opts.publicUrl ?? `http://${raw.headers.host ?? 'localhost'}`;
    void (async () => {
      let req: Request | undefined;
      try {
        // CORS headers go on before anything can fail, so a page also reads the errors (403, 413, 429...).
        if (corsApplies(cors, (raw.url ?? '/').split('?')[0])) {
          if (raw.method === 'OPTIONS') return answerOptions(cors, raw, res);
          setCorsHeaders(cors, raw, res);
        }
        req = await parseRequest(raw, maxBody);
        res.setHeader('x-request-id', req.requestId);
        // Per-token rate limits (static tokens created with rps, JWTs with limits.rps): O(1) token bucket.
        const ws = opts.workspace();
        const token = tokenIfValid(ws.tokens, req);
        if (token?.rps) {
          const decision = limiter.take(tokenKey(token), token.rps);
          const headers = rateLimitHeaders(decision);
          for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
          if (!decision.allowed) throw new HttpError(429, `rate limit of ${token.rps} requests per second exceeded for token '${token.name}'; retry after ${decision.retryAfterSeconds} s`, {}, headers);
        }
        await route(req, res, baseUrl);
      } catch (err) {
        if (res.headersSent) {
          res.destroy(err as Error);
          return;
        }
        if (err instanceof HttpError) return sendError(res, err);
        if (err instanceof NodeRenderError) return sendError(res, renderHttpError(err));
        // ClickHouse unreachable, busy or out of time on any route: not our bug, and worth asking again.
        const state = engineStateHttpError(err, 'the request');
        if (state) {
          opts.log?.(`△ ${raw.method} ${raw.url?.split('?')[0]}: ${state.status}, ${state.message}`);
          return sendError(res, state);
        }
        opts.log?.(`✗ internal error on ${raw.method} ${raw.url?.split('?')[0]}: ${(err as Error).stack ?? err}`);
        sendError(res, new HttpError(500, `internal error: ${(err as Error).message}`));
      }
    })();
  });
  deadlines.attach(server);
  closeHooks.set(server, async () => {
    jobs.close(); // no more background watching of jobs (a delete's mutation)
    if (requestLog) await Promise.all([requestLog.close(), opsLog!.close()]);
  });
  return server;
}

export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<RunningServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    server,
    port: actual,
    url: `http://${host === '0.0.0.0' ? 'localhost' : host}:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections?.();
      }).then(() => closeHooks.get(server)?.()),
  };
}

/** A path segment as the name it encodes; malformed percent-encoding is the client's error (400), not ours. */
function pathName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in the path: '${segment}'`);
  }
}

/** A Host header naming this machine: localhost, 127.0.0.1 or [::1], with any port. */
function isLocalHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '127.0.0.1' || name === '[::1]';
}
