// Token checks. Tokens are kept as SHA-256 digests: lookups compare digests, so a token's secret never sits
// in memory beyond the request and timing reveals nothing about stored values.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from './http.js';
import { HttpError, param } from './http.js';

export type ScopeType = 'ADMIN' | 'PIPES:READ' | 'DATASOURCES:READ' | 'DATASOURCES:APPEND';

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
}

export function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class TokenStore {
  private readonly byDigest = new Map<string, { digest: Buffer; record: TokenRecord }>();

  add(secret: string, record: TokenRecord): void {
    const d = digest(secret);
    this.byDigest.set(d.toString('hex'), { digest: d, record });
  }

  /** Looks a presented token up by its digest; the final comparison is constant-time. */
  find(secret: string): TokenRecord | undefined {
    const d = digest(secret);
    const entry = this.byDigest.get(d.toString('hex'));
    return entry && timingSafeEqual(entry.digest, d) ? entry.record : undefined;
  }
}

export function presentedToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (m) return m[1].trim();
  }
  return param(req, 'token');
}

export function scopeLabel(s: Pick<Scope, 'type' | 'resource'>): string {
  return s.resource ? `${s.type}:${s.resource}` : s.type;
}

/** Returns the token's record when it grants `needed`; otherwise a 403 that names the missing scope. */
export function authorize(store: TokenStore, req: Request, needed: Pick<Scope, 'type' | 'resource'>): { record: TokenRecord; scope?: Scope } {
  const secret = presentedToken(req);
  if (!secret) throw new HttpError(403, `a token is required: pass it as 'Authorization: Bearer <token>' or ?token=<token>; this route needs scope ${scopeLabel(needed)}`);
  const record = store.find(secret);
  if (!record) throw new HttpError(403, 'invalid token');
  if (record.scopes.some((s) => s.type === 'ADMIN')) return { record };
  const scope = record.scopes.find((s) => s.type === needed.type && (!s.resource || !needed.resource || s.resource === needed.resource));
  if (!scope) throw new HttpError(403, `the token '${record.name}' lacks scope ${scopeLabel(needed)}`);
  return { record, scope };
}
