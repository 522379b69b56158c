// The JSON body of `POST /v0/tokens` as the TypeScript SDK sends it (`{"name", "scopes", "limits"}`), for static
// tokens and JWTs alike. Query-string `name=` and `scope=` still work; the route merges both.
import { HttpError, type Request } from './http.js';

export interface TokenBody {
  name?: string;
  /** JWT scopes are objects; static token scopes may be `TYPE[:resource]` strings or `{type, resource}` objects. */
  scopes?: unknown[];
  /** Static token scope strings (the SDK's `scope`, like the repeated `scope=` query parameter). */
  scope?: string | string[];
  limits?: { rps?: number };
}

const EXAMPLE = '{"name": "<name>", "scopes": [{"type": "PIPES:READ", "resource": "<pipe>", "fixed_params": {...}}]}';

export function tokenRequestBody(req: Request): TokenBody {
  if (!req.body?.length) return {};
  let body: unknown;
  try {
    body = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new HttpError(400, `the token request body must be JSON: ${EXAMPLE}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, `the token request body must be a JSON object: ${EXAMPLE}`);
  const b = body as Record<string, unknown>;
  if (b.name !== undefined && typeof b.name !== 'string') throw new HttpError(400, `"name" must be a string, got ${JSON.stringify(b.name)}`);
  if (b.scopes !== undefined && !Array.isArray(b.scopes)) throw new HttpError(400, `"scopes" must be an array: ${EXAMPLE}`);
  const scope = b.scope === undefined ? [] : Array.isArray(b.scope) ? b.scope : [b.scope];
  if (scope.some((s) => typeof s !== 'string')) throw new HttpError(400, `"scope" must be a string or an array of strings like "PIPES:READ:<pipe>"`);
  return b as TokenBody;
}

/** Static token scopes of the body as `TYPE[:resource]` texts. */
export function staticScopeTexts(body: TokenBody): string[] {
  const texts = body.scope === undefined ? [] : Array.isArray(body.scope) ? body.scope : [body.scope];
  return texts.concat((body.scopes ?? []).map((s) => {
    if (typeof s === 'string') return s;
    const o = s as { type?: unknown; resource?: unknown } | null;
    // An empty resource must not read as "all of them", a token wider than asked for.
    if (o && typeof o.type === 'string' && o.resource === '') throw new HttpError(400, `scope ${JSON.stringify(s)} names an empty resource; give one, or leave "resource" out for all of them`);
    if (o && typeof o.type === 'string' && (o.resource === undefined || o.resource === null || typeof o.resource === 'string')) return o.resource ? `${o.type}:${o.resource}` : o.type;
    throw new HttpError(400, `each scope must be "TYPE[:resource]" or {"type": "PIPES:READ", "resource": "<pipe>"}, got ${JSON.stringify(s)}`);
  }));
}
