// The HTTP API server: routes requests to the handlers, turns every failure into a JSON error with the right
// status, and stamps an x-request-id on every response.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeRenderError } from '../project/render.js';
import { HttpError, parseRequest, sendError, sendJson, type Request } from './http.js';
import { describeDatasource, listDatasources } from './routes/datasources.js';
import { postEvents } from './routes/events.js';
import { describePipe, listPipes, queryEndpoint, type EndpointOutcome } from './routes/pipes.js';
import { querySql } from './routes/sql.js';
import { runCopy } from './routes/copy.js';
import type { Workspace } from './workspace.js';

export interface ServerOptions {
  /** The workspace to serve; called per request so `dev` can swap it after a rebuild. */
  workspace: () => Workspace;
  /** Secrets handed out at GET /tokens (local development only, like Tinybird Local). */
  localTokens?: () => Record<string, unknown>;
  /** Largest request body accepted (Events API), bytes. */
  maxBodyBytes?: number;
  log?: (line: string) => void;
}

export interface RunningServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

const PIPE_DATA = /^\/v0\/pipes\/([^/]+)\.([a-z]+)$/;
const PIPE_INFO = /^\/v0\/pipes\/([^/.]+)$/;
const PIPE_COPY = /^\/v0\/pipes\/([^/.]+)\/copy$/;
const DATASOURCE_INFO = /^\/v0\/datasources\/([^/.]+)$/;

function isLoopback(raw: IncomingMessage): boolean {
  const a = raw.socket.remoteAddress ?? '';
  return a === '127.0.0.1' || a === '::1' || a === '::ffff:127.0.0.1';
}

export function createApiServer(opts: ServerOptions): Server {
  const maxBody = opts.maxBodyBytes ?? 10 * 1024 * 1024;

  const route = async (req: Request, res: ServerResponse, baseUrl: string): Promise<void> => {
    const ws = opts.workspace();
    const { method, path } = req;
    const get = method === 'GET' || method === 'HEAD';
    if (path === '/v0/events' && method === 'POST') return postEvents(ws, req, res);
    let m = PIPE_DATA.exec(path);
    if (m && (get || method === 'POST')) {
      const outcome: EndpointOutcome = { pipe: m[1], parameters: {} };
      return queryEndpoint(ws, req, res, decodeURIComponent(m[1]), m[2], outcome);
    }
    m = PIPE_COPY.exec(path);
    if (m && method === 'POST') return runCopy(ws, req, res, decodeURIComponent(m[1]));
    if (path === '/v0/pipes' && get) return listPipes(ws, req, res, baseUrl);
    m = PIPE_INFO.exec(path);
    if (m && get) return describePipe(ws, req, res, decodeURIComponent(m[1]), baseUrl);
    if (path === '/v0/sql' && (get || method === 'POST')) return querySql(ws, req, res);
    if (path === '/v0/datasources' && get) return listDatasources(ws, req, res);
    m = DATASOURCE_INFO.exec(path);
    if (m && get) return describeDatasource(ws, req, res, decodeURIComponent(m[1]));
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
      return sendJson(res, 200, opts.localTokens());
    }
    if (path === '/' && get) {
      return sendJson(res, 200, { name: 'emailstats', endpoints: `${baseUrl}/v0/pipes`, events: `${baseUrl}/v0/events`, sql: `${baseUrl}/v0/sql` });
    }
    throw new HttpError(404, `no route for ${method} ${path}`);
  };

  return createServer((raw, res) => {
    const host = raw.headers.host ?? 'localhost';
    const baseUrl = `http://${host}`;
    void (async () => {
      let req: Request | undefined;
      try {
        req = await parseRequest(raw, maxBody);
        res.setHeader('x-request-id', req.requestId);
        await route(req, res, baseUrl);
      } catch (err) {
        if (res.headersSent) {
          res.destroy(err as Error);
          return;
        }
        if (err instanceof HttpError) return sendError(res, err);
        if (err instanceof NodeRenderError) return sendError(res, new HttpError(err.status, err.message, err.documentation ? { documentation: err.documentation } : {}));
        opts.log?.(`✗ internal error on ${raw.method} ${raw.url?.split('?')[0]}: ${(err as Error).stack ?? err}`);
        sendError(res, new HttpError(500, `internal error: ${(err as Error).message}`));
      }
    })();
  });
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
      }),
  };
}
