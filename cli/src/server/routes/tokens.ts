// `/v0/tokens`: the Token API (§6). List, create (static, or a JWT with `expiration_time`), delete and
// refresh tokens. Needs the ADMIN scope. Static secrets are shown only in the create/refresh answer.
import type { ServerResponse } from 'node:http';
import { authorize, fixedParamsProblem, parseScope, scopeLabel, type Scope, type TokenRecord, NO_JWT_KEY, JWT_FILTER_REFUSED } from '../auth.js';
import { HttpError, NO_STORE, param, sendJson, type Request } from '../http.js';
import { isJwtScope, signJwt, type JwtScope } from '../jwt.js';
import { tokenNameProblem } from '../token-name.js';
import { staticScopeTexts, tokenRequestBody, type TokenBody } from '../token-body.js';
import type { Workspace } from '../workspace.js';

function describe(record: Pick<TokenRecord, 'name' | 'scopes' | 'rps' | 'origin'>, extra: Record<string, unknown> = {}) {
  return {
    id: record.name,
    name: record.name,
    origin: record.origin ?? 'api',
    scopes: record.scopes.map((s) => ({ type: s.type, resource: s.resource ?? null })),
    ...(record.rps ? { limits: { rps: record.rps } } : {}),
    ...extra,
  };
}

function registry(ws: Workspace) {
  if (!ws.apiTokens) throw new HttpError(501, 'this server does not manage tokens through the API; start it with `emailstats dev`');
  return ws.apiTokens;
}

function allTokens(ws: Workspace) {
  const fixed = ws.tokens.records().filter((r) => r.origin !== 'session').map((r) => describe(r));
  const api = (ws.apiTokens?.list() ?? []).map((t) => describe({ name: t.name, scopes: t.scopes.map(parseScope), rps: t.rps, origin: 'api' }, { created_at: t.created_at, refreshed_at: t.refreshed_at ?? null }));
  return [...fixed, ...api];
}

function checkResource(ws: Workspace, scope: Scope): void {
  if (!scope.resource) return;
  if (scope.type === 'PIPES:READ' && !ws.project.pipes.has(scope.resource)) throw new HttpError(400, `scope ${scopeLabel(scope)}: no pipe named '${scope.resource}'; pipes: ${[...ws.project.pipes.keys()].join(', ') || '(none)'}`);
  if (scope.type.startsWith('DATASOURCES:') && !ws.project.datasources.has(scope.resource)) throw new HttpError(400, `scope ${scopeLabel(scope)}: no datasource named '${scope.resource}'; datasources: ${[...ws.project.datasources.keys()].join(', ') || '(none)'}`);
}

function parseRps(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 1) throw new HttpError(400, `rps must be a number of requests per second of at least 1, got '${text}'`);
  return n;
}

export function listTokens(ws: Workspace, req: Request, res: ServerResponse): void {
  authorize(ws.tokens, req, { type: 'ADMIN' });
  sendJson(res, 200, { tokens: allTokens(ws) });
}

export function getToken(ws: Workspace, req: Request, res: ServerResponse, name: string): void {
  authorize(ws.tokens, req, { type: 'ADMIN' });
  const found = allTokens(ws).find((t) => t.name === name);
  if (!found) throw new HttpError(404, `token '${name}' not found`);
  sendJson(res, 200, found);
}

export function createToken(ws: Workspace, req: Request, res: ServerResponse): void {
  authorize(ws.tokens, req, { type: 'ADMIN' });
  const body = tokenRequestBody(req);
  const name = (param(req, 'name') ?? body.name)?.trim();
  if (!name) throw new HttpError(400, "missing 'name': POST /v0/tokens?name=<name>&scope=PIPES:READ:<pipe>");
  // Static tokens and JWTs alike: the name is logged (request log token_name) and printed by `token ls`.
  const problem = tokenNameProblem(name);
  if (problem) throw new HttpError(400, problem);
  const expiration = param(req, 'expiration_time');
  if (expiration !== undefined) return createJwt(ws, req, res, name, expiration, body);

  const scopes = [...(req.params.get('scope') ?? []), ...staticScopeTexts(body)].map(parseScope);
  if (!scopes.length) throw new HttpError(400, "a token needs at least one scope: add scope=PIPES:READ:<pipe>, scope=DATASOURCES:APPEND:<datasource>, ... or scope=ADMIN");
  for (const s of scopes) checkResource(ws, s);
  if (allTokens(ws).some((t) => t.name === name)) throw new HttpError(409, `a token named '${name}' already exists: pick another name, or refresh or delete that one`);
  const rps = parseRps(body.limits?.rps !== undefined ? String(body.limits.rps) : param(req, 'rps'));
  const secret = registry(ws).create(name, scopes, rps);
  sendJson(res, 200, describe({ name, scopes, rps, origin: 'api' }, { token: secret, created_at: new Date().toISOString() }), NO_STORE);
}

/** JWTs are not stored: the server signs one with the admin token and hands it back. */
function createJwt(ws: Workspace, req: Request, res: ServerResponse, name: string, expiration: string, body: TokenBody): void {
  const exp = Number(expiration);
  if (!Number.isInteger(exp) || exp <= Date.now() / 1000) throw new HttpError(400, `expiration_time must be a Unix time in the future (seconds), got '${expiration}'`);
  const scopes: JwtScope[] = [...((body.scopes ?? []) as JwtScope[]), ...(req.params.get('scope') ?? []).map((s) => parseScope(s) as JwtScope)];
  if (!scopes.length) throw new HttpError(400, 'a JWT needs at least one scope, e.g. {"scopes": [{"type": "PIPES:READ", "resource": "<pipe>"}]}');
  for (const s of scopes) {
    if (!isJwtScope(s))
      throw new HttpError(400, `each JWT scope must be an object like {"type": "PIPES:READ", "resource": "<pipe>"}, got ${JSON.stringify(s)}`);
    if (s.type !== 'PIPES:READ' && s.type !== 'DATASOURCES:READ') throw new HttpError(400, `JWT scope ${s.type} is not supported: a JWT is a read token (PIPES:READ or DATASOURCES:READ)`);
    if (s.filter !== undefined) throw new HttpError(400, JWT_FILTER_REFUSED);
    const problem = fixedParamsProblem(s);
    if (problem) throw new HttpError(400, problem);
    checkResource(ws, { type: s.type, resource: s.resource });
  }
  const rps = parseRps(body.limits?.rps !== undefined ? String(body.limits.rps) : param(req, 'rps'));
  const secret = ws.tokens.jwtSecret;
  if (!secret) throw new HttpError(501, `this server cannot sign JWTs: ${NO_JWT_KEY}; or sign JWTs in your backend with that token`);
  const token = signJwt({ workspace_id: 'local', name, exp, scopes, ...(rps ? { limits: { rps } } : {}) }, secret);
  sendJson(res, 200, { token }, NO_STORE);
}

export function deleteToken(ws: Workspace, req: Request, res: ServerResponse, name: string): void {
  authorize(ws.tokens, req, { type: 'ADMIN' });
  if (!registry(ws).remove(name)) throw notManaged(ws, name);
  sendJson(res, 200, { deleted: name });
}

export function refreshToken(ws: Workspace, req: Request, res: ServerResponse, name: string): void {
  authorize(ws.tokens, req, { type: 'ADMIN' });
  const secret = registry(ws).refresh(name);
  if (!secret) throw notManaged(ws, name);
  const t = registry(ws).get(name)!;
  sendJson(res, 200, describe({ name, scopes: t.scopes.map(parseScope), rps: t.rps, origin: 'api' }, { token: secret, refreshed_at: t.refreshed_at }), NO_STORE);
}

function notManaged(ws: Workspace, name: string): HttpError {
  const fixed = ws.tokens.records().find((r) => r.name === name);
  if (fixed?.origin === 'admin') return new HttpError(400, 'the admin token cannot be deleted or refreshed through the API: set EMAILSTATS_ADMIN_TOKEN, or edit .emailstats/tokens.json and restart dev');
  if (fixed) return new HttpError(400, `token '${name}' comes from TOKEN lines in the datafiles: remove those lines to drop it; to rotate it, delete its entry in .emailstats/tokens.json and restart dev`);
  return new HttpError(404, `token '${name}' not found`);
}
