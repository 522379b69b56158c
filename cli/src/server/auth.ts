// Token checks. Tokens are kept as SHA-256 digests: lookups compare digests, so a token's secret never sits
// in memory beyond the request and timing reveals nothing about stored values. JWTs (HS256, signed with the
// admin token) are verified statelessly and become a record with their scopes and fixed parameters.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request } from './http.js';
import { HttpError, param } from './http.js';
import { JwtError, looksLikeJwt, verifyJwt, type JwtPayload } from './jwt.js';

export type ScopeType = 'ADMIN' | 'PIPES:READ' | 'DATASOURCES:READ' | 'DATASOURCES:APPEND';

export const SCOPE_TYPES: readonly ScopeType[] = ['ADMIN', 'PIPES:READ', 'DATASOURCES:READ', 'DATASOURCES:APPEND'];

export interface Scope {
  type: ScopeType;
  /** Resource name; absent = every resource of that type. */
  resource?: string;
  /** JWT fixed parameters that override request parameters (row-level multi-tenancy). */
  fixedParams?: Record<string, string>;
}

export interface TokenRecord {
  name: string;
  scopes: Scope[];
  /** Requests per second this token may make; absent = unlimited. */
  rps?: number;
  /**
   * Where the token comes from: the admin token, a TOKEN line, the Token API, a JWT, or a CLI command's own token
   * for the in-process server it runs on a deployed database (`session`: gone when the command ends, never listed).
   */
  origin?: 'admin' | 'datafile' | 'api' | 'jwt' | 'session';
}

/** One key per token, whatever its secret: what its rate limit and its share of the engine are counted by. */
export function tokenKey(token: TokenRecord): string {
  return `${token.origin ?? 'token'}:${token.name}`;
}

/** Tokens kept elsewhere (the Token API's registry), looked up by the hex SHA-256 digest of the secret. */
export interface DigestLookup {
  findByDigest(hex: string): { digest: Buffer; record: TokenRecord } | undefined;
}

/** A new token secret: 24 random bytes, URL-safe, behind a prefix that says what it is. */
export function newTokenSecret(prefix = 'es'): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/** Why a server has no JWT key, and how to give it one: said wherever a JWT is refused or cannot be signed. */
export const NO_JWT_KEY =
  "this server has no JWT signing key, which is the workspace admin token (start `emailstats serve` with EMAILSTATS_ADMIN_TOKEN set to the live deployment's admin token, the one deploy printed or was given; a different value is ignored)";

export function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class TokenStore {
  private readonly byDigest = new Map<string, { digest: Buffer; record: TokenRecord }>();
  /** HS256 key for JWTs (the admin token); JWTs are refused when unset. */
  jwtSecret?: string;
  /** Tokens created through the Token API. */
  dynamic?: DigestLookup;

  add(secret: string, record: TokenRecord): void {
    this.addDigest(digest(secret).toString('hex'), record);
  }

  private readonly jwtCache = new Map<string, { record: TokenRecord; exp: number; key: string }>();

  /**
   * A JWT's record, verified once per token and key and then remembered until it expires: the HMAC and JSON
   * parsing cost ~0.1 ms a request. Keyed by the token's digest (not its text), like static tokens.
   */
  private verifiedJwt(token: string, key: string): TokenRecord {
    const id = digest(token).toString('hex');
    const hit = this.jwtCache.get(id);
    if (hit && hit.key === key && hit.exp > Date.now() / 1000) return hit.record;
    const payload = verifyJwt(token, key); // throws JwtError for a bad or expired token
    const record = jwtRecord(payload);
    if (this.jwtCache.size >= JWT_CACHE_SIZE) this.jwtCache.delete(this.jwtCache.keys().next().value!);
    this.jwtCache.set(id, { record, exp: payload.exp, key });
    return record;
  }

  /** Adds a token known only by its SHA-256 digest (deployments never hold secrets). */
  addDigest(hex: string, record: TokenRecord): void {
    this.byDigest.set(hex, { digest: Buffer.from(hex, 'hex'), record });
  }

  /** Every static token's record (no secrets): the admin token and the datafile tokens. */
  records(): TokenRecord[] {
    return [...this.byDigest.values()].map((e) => e.record);
  }

  /**
   * Looks a presented token up by its digest; the final comparison is constant-time. A JWT is verified with
   * the admin token; a bad one throws JwtError (expired, tampered), whose message is safe to return.
   */
  find(secret: string): TokenRecord | undefined {
    if (this.jwtSecret && looksLikeJwt(secret)) return this.verifiedJwt(secret, this.jwtSecret);
    const d = digest(secret);
    const hex = d.toString('hex');
    const entry = this.byDigest.get(hex) ?? this.dynamic?.findByDigest(hex);
    return entry && timingSafeEqual(entry.digest, d) ? entry.record : undefined;
  }
}

export const JWT_FILTER_REFUSED =
  "JWT scopes with a SQL 'filter' are not supported (the filter would not be applied); drop it and give the token PIPES:READ scopes on pipes that filter with fixed_params instead";

/**
 * What is wrong with a JWT scope's fixed_params, or undefined. They are applied to pipes only (as template
 * parameters), so on a DATASOURCES:READ scope they would filter nothing while the token looked filtered; and
 * they must be a plain object of strings, numbers or booleans (a list would become `a,b`, which an Array()
 * parameter splits into two values).
 */
export function fixedParamsProblem(s: { type: string; resource?: string; fixed_params?: unknown }): string | undefined {
  const fixed = s.fixed_params;
  const label = scopeLabel(s);
  if (fixed === undefined || fixed === null) return undefined;
  if (typeof fixed !== 'object' || Array.isArray(fixed)) return `fixed_params of scope ${label} must be an object of parameter values, got ${JSON.stringify(fixed)}`;
  const entries = Object.entries(fixed as Record<string, unknown>);
  if (s.type !== 'PIPES:READ' && entries.length)
    return `fixed_params on a ${s.type} scope are not applied (only pipes take parameters), so the token would read every row: give it PIPES:READ on a pipe that filters with them instead`;
  const bad = entries.find(([, v]) => v !== null && !['string', 'number', 'boolean'].includes(typeof v));
  return bad ? `fixed_params value of '${bad[0]}' in scope ${label} must be a string, number or boolean, got ${JSON.stringify(bad[1])}` : undefined;
}

/**
 * What is wrong with a JWT's limits.rps, or undefined. A positive number below 1 would make a bucket that never
 * holds one request (every request refused), and an infinite one breaks the rate headers; anything that is not a
 * positive number means no limit, as it always did.
 */
export function rpsProblem(rps: unknown): string | undefined {
  if (typeof rps !== 'number' || !(rps > 0)) return undefined;
  return Number.isFinite(rps) && rps >= 1 ? undefined : `limits.rps must be a number of requests per second of at least 1, got ${JSON.stringify(rps)}`;
}

/** How many verified JWTs are remembered (apps send the same JWT with many requests). */
const JWT_CACHE_SIZE = 10_000;
/** A JWT's claims as a token record. Only read scopes are honoured: a JWT is a read token. */
export function jwtRecord(payload: JwtPayload): TokenRecord {
  const scopes: Scope[] = [];
  for (const s of payload.scopes) {
    // A row filter the server would not apply must not pass for one: refused, not ignored (static tokens' `:filter`
    // scopes are refused too).
    if (s.filter !== undefined) throw new JwtError(`invalid token: ${JWT_FILTER_REFUSED}`);
    if (s.type !== 'PIPES:READ' && s.type !== 'DATASOURCES:READ') continue;
    const problem = fixedParamsProblem(s);
    if (problem) throw new JwtError(`invalid token: ${problem}`);
    const fixed = s.fixed_params ? Object.fromEntries(Object.entries(s.fixed_params).map(([k, v]) => [k, String(v)])) : undefined;
    scopes.push({ type: s.type, resource: s.resource || undefined, fixedParams: fixed });
  }
  const rps = payload.limits?.rps;
  const rpsWrong = rpsProblem(rps);
  if (rpsWrong) throw new JwtError(`invalid token: ${rpsWrong}`);
  return { name: payload.name, scopes, rps: typeof rps === 'number' && rps > 0 ? rps : undefined, origin: 'jwt' };
}

export function presentedToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (m) return m[1].trim();
  }
  return param(req, 'token');
}

export function scopeLabel(s: { type: string; resource?: string }): string {
  return s.resource ? `${s.type}:${s.resource}` : s.type;
}

/** Parses a reference scope string (`PIPES:READ:top_pages`, `ADMIN`); the message says what is accepted. */
export function parseScope(text: string): Scope {
  const t = text.trim();
  const type = SCOPE_TYPES.find((s) => t === s || t.startsWith(`${s}:`));
  if (!type) throw new HttpError(400, `unknown scope '${text}': use ADMIN, PIPES:READ[:<pipe>], DATASOURCES:READ[:<datasource>] or DATASOURCES:APPEND[:<datasource>]`);
  const rest = t.slice(type.length + 1);
  if (type === 'ADMIN' && rest) throw new HttpError(400, `scope ADMIN takes no resource, got '${text}'`);
  // `PIPES:READ:` would otherwise read as `PIPES:READ`, every pipe: a missing name must not widen a token.
  if (t.length > type.length && !rest) throw new HttpError(400, `scope '${text}' names no resource after the ':'; give one, or write ${type} for all of them`);
  if (rest.includes(':')) throw new HttpError(400, `scope '${text}': SQL filters (':<filter>') are not supported, as in Tinybird Forward; drop the filter`);
  return rest ? { type, resource: rest } : { type };
}

const identified = new WeakMap<Request, TokenRecord | { failure: string; withScope: boolean }>();

/** The record of the presented token, or a 403 (no token, unknown token, bad JWT). Cached per request. */
export function identify(store: TokenStore, req: Request, needed?: Pick<Scope, 'type' | 'resource'>): TokenRecord {
  const wants = needed ? `; this route needs scope ${scopeLabel(needed)}` : '';
  const cached = identified.get(req);
  // A bad token is looked at once per request too (hashing, or a JWT's HMAC and JSON), however often it is asked.
  if (cached && 'failure' in cached) throw new HttpError(403, cached.failure + (cached.withScope ? wants : ''));
  if (cached) return cached;
  const secret = presentedToken(req);
  if (!secret) throw new HttpError(403, `a token is required: pass it as 'Authorization: Bearer <token>' or ?token=<token>${wants}`);
  let record: TokenRecord | undefined;
  try {
    record = store.find(secret);
  } catch (err) {
    if (!(err instanceof JwtError)) throw err;
    identified.set(req, { failure: err.message, withScope: false });
    throw new HttpError(403, err.message);
  }
  if (!record) {
    // A JWT where no key verifies JWTs is not "invalid": say what is missing.
    const failure =
      !store.jwtSecret && looksLikeJwt(secret)
        ? `JWTs are not accepted here: ${NO_JWT_KEY}`
        : 'invalid token: check the token you passed';
    identified.set(req, { failure, withScope: true });
    throw new HttpError(403, failure + wants);
  }
  identified.set(req, record);
  return record;
}

/** Returns the token's record when it grants `needed`; otherwise a 403 that names the missing scope. */
export function authorize(store: TokenStore, req: Request, needed: Pick<Scope, 'type' | 'resource'>): { record: TokenRecord; scope?: Scope } {
  const record = identify(store, req, needed);
  if (isAdmin(record)) return { record };
  const scope = scopeFor(record, needed.type, needed.resource);
  if (!scope) throw new HttpError(403, `the token '${record.name}' lacks scope ${scopeLabel(needed)}`);
  return { record, scope };
}

export function isAdmin(record: TokenRecord): boolean {
  return record.scopes.some((s) => s.type === 'ADMIN');
}

/**
 * The token's scope that applies to `type` on `resource` (any resource when absent): one naming the resource
 * wins over a blanket one, so its fixed parameters are the ones that apply. The ADMIN scope is not one of them.
 */
export function scopeFor(record: TokenRecord, type: ScopeType, resource?: string): Scope | undefined {
  const matching = record.scopes.filter((s) => s.type === type && (!s.resource || !resource || s.resource === resource));
  return matching.find((s) => s.resource === resource) ?? matching[0];
}

/** Whether a token may use `type` on the named resource: admin, or a scope of that type for it or for all. */
export function grants(record: TokenRecord, type: ScopeType, resource: string): boolean {
  return isAdmin(record) || scopeFor(record, type, resource) !== undefined;
}
