// `GET /dashboard`: the campaign dashboard, a static page (index.html, dashboard.js, dashboard.css under
// server/dashboard/) that reads only the public endpoints campaign_stats, campaign_timeline and
// recipient_activity from the browser, with the read token or JWT the user gives it. The server hands out the
// files and nothing else: no token is needed to load them, none is embedded, and the page's own CSP allows
// scripts, styles and requests from this origin only.
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { HttpError, sendText, type Request } from '../http.js';

const DIR = new URL('../dashboard/', import.meta.url);

/** Path → file and content type. Nothing else under /dashboard is served. */
const FILES: Record<string, { file: string; type: string }> = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

/**
 * What the page may do: its own script and stylesheet, fetches to this server (the /v0 endpoints), nothing else.
 * No inline script or style, no frames, no forms posted elsewhere. `no-referrer` keeps a `?token=` in the
 * page's address out of any Referer header.
 */
const DASHBOARD_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

const cache = new Map<string, string>();

function fileText(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(name, DIR), 'utf8');
    cache.set(name, text);
  }
  return text;
}

/** True for the paths this route owns (app.ts routes them here). */
export function isDashboardPath(path: string): boolean {
  return path === '/dashboard' || path.startsWith('/dashboard/');
}

export function dashboard(req: Request, res: ServerResponse): void {
  const entry = FILES[req.path];
  if (!entry) throw new HttpError(404, `no route for ${req.method} ${req.path}`);
  sendText(res, 200, fileText(entry.file), entry.type, DASHBOARD_HEADERS);
}
