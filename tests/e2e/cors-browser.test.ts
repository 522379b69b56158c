// A web page on another origin calls `emailstats dev` from a real browser (Debian's chromium): it posts events
// with a token in the Authorization header (which makes the browser send a preflight first) and reads an
// endpoint with a JWT, as Tinybird's flock.js tracker and the JWT-in-the-browser pattern do. With a restricted
// --cors-origin, a page on an origin not in the list is refused by the browser itself.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, removeDir, runCli, startDev, type DevServer } from '../helpers/cli.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { eventsProject, sql } from '../helpers/events-project.js';

const PIPE = `NODE totals_by_kind
SQL >
    %
    SELECT kind, count() AS events, sum(amount) AS amount
    FROM events
    WHERE kind = {{ String(kind, 'open') }} AND event_id >= {{ UInt64(from_id, 0) }}
    GROUP BY kind

TYPE endpoint
`;

/** The page: posts `ids` as events, reads `totals` with the JWT three ways, and shows what it got in #out. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>emailstats CORS page</title>
<pre id="out"></pre>
<script>
const q = new URLSearchParams(location.search);
const api = q.get('api');
const ids = q.get('ids').split(',').map(Number);
async function call(url, init) {
  try {
    const res = await fetch(url, init);
    return { status: res.status, requestId: res.headers.get('x-request-id'), body: await res.json() };
  } catch (err) {
    return { blocked: String(err) };
  }
}
(async () => {
  // The rows of tests/helpers/events-project.ts event(id).
  const event = (id) => ({ event_id: id, kind: id % 2 ? 'open' : 'click', at: 1714557600 + (id % 86400), amount: id / 100, n: id % 1000, flag: id % 2, tags: ['a'], note: null });
  const events = ids.map((id) => JSON.stringify(event(id))).join('\\n');
  const out = {};
  out.ingest = await call(api + '/v0/events?name=events&wait=true', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + q.get('append'), 'Content-Type': 'application/x-ndjson' },
    body: events,
  });
  // kind=click is overridden by the JWT's fixed parameter kind=open.
  const totals = api + '/v0/pipes/totals.json?kind=click&from_id=' + ids[0];
  out.read = await call(totals, { headers: { Authorization: 'Bearer ' + q.get('jwt') } });
  out.readQueryToken = await call(totals + '&token=' + encodeURIComponent(q.get('jwt')));
  out.badToken = await call(totals, { headers: { Authorization: 'Bearer not-a-token' } });
  document.getElementById('out').textContent = JSON.stringify(out);
})();
</script>
`;

interface Call {
  status?: number;
  requestId?: string | null;
  body?: { data?: unknown[]; successful_rows?: number; error?: string };
  blocked?: string;
}
type PageResult = Record<'ingest' | 'read' | 'readQueryToken' | 'badToken', Call>;

interface PageServer {
  origin: string;
  close(): Promise<void>;
}

/** Serves PAGE on its own port: another origin than the API's. */
async function startPageServer(): Promise<PageServer> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Raw HTTP (no fetch: it would forbid setting Origin), for the headers the browser hides. */
function rawRequest(url: string, method: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function cliToken(project: string, args: string[]): Promise<string> {
  const r = await runCli([...args, '--project', project], { env: { EMAILSTATS_ADMIN_TOKEN: ADMIN_TOKEN } });
  expect(r.exitCode, r.all).toBe(0);
  return r.stdout.trim();
}

describe('CORS: a page on another origin uses the API from a real browser', () => {
  let project: string;
  let dev: DevServer | undefined;
  let browser: TestBrowser;
  let allowedPage: PageServer;
  let otherPage: PageServer;
  let appendToken: string;
  let jwt: string;

  const runPage = async (page: PageServer, ids: number[]): Promise<PageResult> => {
    const tab = await browser.context.newPage();
    try {
      const qs = new URLSearchParams({ api: dev!.url, append: appendToken, jwt, ids: ids.join(',') });
      await tab.goto(`${page.origin}/?${qs}`);
      await tab.waitForFunction("document.getElementById('out').textContent !== ''", undefined, { timeout: 60_000 });
      return JSON.parse((await tab.textContent('#out'))!) as PageResult;
    } finally {
      await tab.close();
    }
  };

  /** What the API itself answers to the JWT, read outside the browser. */
  const apiTotals = async (fromId: number): Promise<unknown[]> => {
    const res = await fetch(`${dev!.url}/v0/pipes/totals.json?kind=click&from_id=${fromId}`, { headers: { authorization: `Bearer ${jwt}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: unknown[] }).data;
  };

  beforeAll(async () => {
    project = eventsProject({ 'pipes/totals.pipe': PIPE });
    [dev, browser, allowedPage, otherPage] = await Promise.all([startDev(project), launchBrowser(), startPageServer(), startPageServer()]);
    appendToken = await cliToken(project, ['token', 'create', 'static', 'tracker', '--scope', 'DATASOURCES:APPEND:events']);
    jwt = await cliToken(project, ['token', 'create', 'jwt', 'dashboard', '--ttl', '1h', '--scope', 'PIPES:READ', '--resource', 'totals', '--fixed-params', 'kind=open']);
  });

  afterAll(async () => {
    await dev?.stop();
    await browser?.close();
    await allowedPage?.close();
    await otherPage?.close();
    if (project) removeDir(project);
  });

  describe('dev with the default policy (any origin)', () => {
    it('posts events with a token and reads an endpoint with a JWT; the page sees what the API answers', async () => {
      const got = await runPage(allowedPage, [101, 102, 103, 104]);
      expect(got.ingest).toMatchObject({ status: 200, body: { successful_rows: 4 } });
      expect(got.ingest.requestId).toMatch(/^[0-9a-f-]{36}$/); // X-Request-Id is exposed to scripts
      const expected = await apiTotals(101);
      expect(expected).toEqual([{ kind: 'open', events: 2, amount: 2.04 }]); // 101 and 103 are opens
      expect(got.read).toMatchObject({ status: 200, body: { data: expected } });
      expect(got.readQueryToken).toMatchObject({ status: 200, body: { data: expected } });
      // Errors carry the CORS headers too, so the page can read why it was refused.
      expect(got.badToken.status).toBe(403);
      expect(got.badToken.body?.error).toMatch(/invalid token/);
    });

    it('answers preflights on /v0 routes with what may be sent, and keeps /tokens unreadable to pages', async () => {
      const preflight = await rawRequest(`${dev!.url}/v0/events?name=events`, 'OPTIONS', {
        origin: 'https://tracker.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('*');
      expect(preflight.headers['access-control-allow-methods']).toMatch(/POST/);
      expect(String(preflight.headers['access-control-allow-headers']).toLowerCase().split(/,\s*/)).toEqual(expect.arrayContaining(['authorization', 'content-type', 'content-encoding']));
      expect(Number(preflight.headers['access-control-max-age'])).toBeGreaterThan(0);
      expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();

      const unknownRoute = await rawRequest(`${dev!.url}/v0/pipes/no_such_pipe.json`, 'OPTIONS', { origin: 'https://x.example.com', 'access-control-request-method': 'GET' });
      expect(unknownRoute.status).toBe(204);

      // The local secrets route must never be readable cross-origin: a page the developer visits could take the admin token.
      const tokens = await rawRequest(`${dev!.url}/tokens`, 'GET', { origin: 'https://evil.example.com' });
      expect(tokens.status).toBe(200);
      expect(tokens.headers['access-control-allow-origin']).toBeUndefined();
      const tokensPreflight = await rawRequest(`${dev!.url}/tokens`, 'OPTIONS', { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' });
      expect(tokensPreflight.status).toBe(404);
      expect(tokensPreflight.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe('dev started with --cors-origin', () => {
    beforeAll(async () => {
      await dev!.stop();
      dev = undefined;
      dev = await startDev(project, ['--cors-origin', allowedPage.origin, '--cors-origin', 'https://dashboard.example.com,https://admin.example.com']);
    });

    it('serves a listed origin, echoing it with Vary: Origin', async () => {
      const got = await runPage(allowedPage, [201, 202]);
      expect(got.ingest).toMatchObject({ status: 200, body: { successful_rows: 2 } });
      expect(got.read).toMatchObject({ status: 200, body: { data: await apiTotals(201) } });

      const res = await rawRequest(`${dev!.url}/v0/pipes/totals.json?token=${jwt}`, 'GET', { origin: 'https://admin.example.com' });
      expect(res.status).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBe('https://admin.example.com');
      expect(String(res.headers.vary)).toMatch(/\bOrigin\b/);
    });

    it('a page on another origin is blocked by the browser: the preflighted POST never reaches the server', async () => {
      const got = await runPage(otherPage, [301, 302, 303]);
      for (const call of [got.ingest, got.read, got.readQueryToken, got.badToken]) {
        expect(call.status).toBeUndefined();
        expect(call.blocked).toMatch(/TypeError: Failed to fetch/);
      }
      // The events were never sent: the preflight was refused.
      const stored = await sql<{ n: number }>(dev!.url, ADMIN_TOKEN, 'SELECT count() AS n FROM events WHERE event_id BETWEEN 301 AND 303');
      expect(Number(stored[0].n)).toBe(0);

      const preflight = await rawRequest(`${dev!.url}/v0/events?name=events`, 'OPTIONS', { origin: otherPage.origin, 'access-control-request-method': 'POST' });
      expect(preflight.status).toBe(403);
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
      expect(JSON.parse(preflight.body).error).toContain(`start the server with --cors-origin ${otherPage.origin}`);
    });
  });
});
