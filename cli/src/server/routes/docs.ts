// `GET /v0/pipes/openapi.json` (the OpenAPI document of the endpoints the token can read) and `GET /docs`
// (the same document as a self-contained HTML page: no scripts, no CDN, it works offline).
import type { ServerResponse } from 'node:http';
import { authorize } from '../auth.js';
import { HttpError, NO_STORE, sendJson, sendText, type Request } from '../http.js';
import { buildOpenApi } from '../openapi.js';
import type { Workspace } from '../workspace.js';

export function openApiDocument(ws: Workspace, req: Request, res: ServerResponse, baseUrl: string): void {
  const token = authorize(ws.tokens, req, { type: 'PIPES:READ' }).record;
  sendJson(res, 200, buildOpenApi(ws, token, baseUrl));
}

function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function typeText(schema: Obj | undefined): string {
  if (!schema) return '';
  if (schema.type === 'array') return `array of ${typeText(schema.items as Obj)}`;
  if (Array.isArray(schema.type)) return (schema.type as string[]).join(' | ');
  return String(schema.type ?? (schema.anyOf ? 'any' : ''));
}

/** A browser asks for HTML: it gets a page saying how to pass the token rather than a JSON error. */
function acceptsHtml(req: Request): boolean {
  return /\btext\/html\b/i.test(String(req.headers.accept ?? ''));
}

/**
 * The pages are opened with a token in their address (`/docs?token=`, printed by dev): no cache keeps them, no
 * Referer carries the address on, and no other site frames them.
 */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  ...NO_STORE,
};

function tokenNeededPage(res: ServerResponse, baseUrl: string, err: HttpError): void {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>API documentation: token needed</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:50rem;padding:0 1rem;color:#222}code{background:#f4f4f4;padding:0 .2rem}</style>
</head><body><h1>A token is needed to read this documentation</h1>
<p>The page lists the endpoints your token can read. Open it with the token in the address:</p>
<p><code>${esc(baseUrl)}/docs?token=&lt;your token&gt;</code></p>
<p>During <code>emailstats dev</code>, the address with the admin token is printed when dev starts, and <code>emailstats token ls</code> lists the tokens. Any token with a <code>PIPES:READ</code> scope works: the page then shows the endpoints that token can read.</p>
<p>The server said: ${esc(err.message)}</p></body></html>`;
  sendText(res, err.status, html, 'text/html; charset=utf-8', PAGE_HEADERS);
}

export function docsPage(ws: Workspace, req: Request, res: ServerResponse, baseUrl: string): void {
  let token;
  try {
    token = authorize(ws.tokens, req, { type: 'PIPES:READ' }).record;
  } catch (err) {
    if (err instanceof HttpError && (err.status === 401 || err.status === 403) && acceptsHtml(req)) return tokenNeededPage(res, baseUrl, err);
    throw err;
  }
  const doc = buildOpenApi(ws, token, baseUrl) as Obj;
  const schemas = doc.components.schemas as Obj;
  const sections: string[] = [];
  // One section per pipe, with the formats the document offers for it (Parquet where the server writes it,
  // Prometheus for metrics): its operations differ only in the extension.
  const pipes = new Map<string, { base: string; op: Obj; formats: string[] }>();
  for (const [path, item] of Object.entries(doc.paths as Obj)) {
    const op = (item as Obj).get as Obj;
    const pipe = (op.tags as string[])[0];
    const dot = path.lastIndexOf('.');
    const entry = pipes.get(pipe) ?? { base: path.slice(0, dot), op, formats: [] };
    entry.formats.push(path.slice(dot + 1));
    pipes.set(pipe, entry);
  }
  for (const [pipe, { base, op, formats }] of pipes) {
    const params = (op.parameters as Obj[])
      .map((p) => `<tr><td><code>${esc(p.name)}</code></td><td>${esc(typeText(p.schema))}</td><td>${p.required ? 'yes' : ''}</td><td>${esc(p.schema?.default ?? '')}</td><td>${esc(p.schema?.enum ? (p.schema.enum as string[]).join(', ') : '')}</td><td>${esc(p.example ?? '')}</td><td>${esc(p.description)}</td></tr>`)
      .join('');
    const row = schemas[pipe] as Obj;
    const cols = Object.entries((row?.properties ?? {}) as Obj)
      .map(([name, s]) => `<tr><td><code>${esc(name)}</code></td><td><code>${esc((s as Obj)['x-clickhouse-type'])}</code></td><td>${esc(typeText(s as Obj))}</td></tr>`)
      .join('');
    const [first, ...others] = formats;
    const alternatives = others.map((f) => ` · <code>.${esc(f)}</code>`).join('');
    sections.push(`<section id="${esc(pipe)}"><h2>${esc(pipe)}</h2><p class="d">${esc(op.description)}</p>
<p><code>GET ${esc(baseUrl)}${esc(base)}.${esc(first)}</code>${alternatives}</p>
<h3>Parameters</h3><table><tr><th>name</th><th>type</th><th>required</th><th>default</th><th>one of</th><th>example</th><th>description</th></tr>${params}</table>
<h3>Response columns</h3><table><tr><th>column</th><th>ClickHouse type</th><th>JSON</th></tr>${cols}</table></section>`);
  }
  const nav = [...pipes.keys()].map((p) => `<li><a href="#${esc(p)}">${esc(p)}</a></li>`).join('');
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(doc.info.title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}code{background:#f4f4f4;padding:0 .2rem}section{border-top:1px solid #ddd;margin-top:1.5rem}.d{white-space:pre-wrap}</style>
</head><body><h1>${esc(doc.info.title)}</h1><p>${esc(doc.info.description)}</p>
<p>Machine-readable: <code>${esc(baseUrl)}/v0/pipes/openapi.json</code> (OpenAPI ${esc(doc.openapi)}).</p><ul>${nav}</ul>${sections.join('\n') || '<p>This token can read no endpoints.</p>'}</body></html>`;
  // The page never embeds the token: links carry none.
  sendText(res, 200, html, 'text/html; charset=utf-8', PAGE_HEADERS);
}
