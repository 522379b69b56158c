// HS256 JSON Web Tokens, signed with the workspace admin token as Tinybird does (§6.3). Only HS256 is
// accepted: the algorithm comes from us, never from the token header (no `alg: none` downgrade).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { tokenNameProblem } from './token-name.js';

export interface JwtScope {
  type: string;
  resource?: string;
  fixed_params?: Record<string, string | number | boolean>;
  /** Tinybird's SQL row filter: refused (auth.ts), since it would not be applied. */
  filter?: unknown;
}

/** A scope of the right shape: an object with a string `type` and, when present, a non-empty string `resource`. */
export function isJwtScope(x: unknown): x is JwtScope {
  const s = x as { type?: unknown; resource?: unknown } | null;
  return typeof s === 'object' && s !== null && typeof s.type === 'string' && (s.resource === undefined || (typeof s.resource === 'string' && s.resource !== ''));
}

export interface JwtPayload {
  workspace_id?: string;
  name: string;
  /** Expiry, Unix seconds (UTC). */
  exp: number;
  scopes: JwtScope[];
  limits?: { rps?: number };
  [key: string]: unknown;
}

/** Why a token that looks like a JWT was refused; the message is safe to show to the caller. */
export class JwtError extends Error {}

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

function hmac(input: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(input).digest();
}

export function looksLikeJwt(token: string): boolean {
  return token.startsWith('eyJ') && token.split('.').length === 3;
}

export function signJwt(payload: JwtPayload, secret: string): string {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${HEADER}.${body}.${hmac(`${HEADER}.${body}`, secret).toString('base64url')}`;
}

/** Verifies signature (constant time), algorithm, expiry and shape; returns the payload. */
export function verifyJwt(token: string, secret: string, nowSeconds = Date.now() / 1000): JwtPayload {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('invalid token: a JWT has three dot-separated parts');
  const [header, body, signature] = parts;
  // Compared as the canonical base64url text: decoding first would accept padding and stray characters
  // (Node's base64url decoder skips them), i.e. many spellings of one signature.
  const expected = Buffer.from(hmac(`${header}.${body}`, secret).toString('base64url'));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new JwtError('invalid token: the JWT signature does not match (sign it with the workspace admin token, HS256)');
  let head: { alg?: string };
  let payload: JwtPayload;
  try {
    head = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: string };
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as JwtPayload;
  } catch {
    throw new JwtError('invalid token: the JWT header or payload is not JSON');
  }
  if (head.alg !== 'HS256') throw new JwtError(`invalid token: JWT algorithm ${String(head.alg)} is not supported; use HS256`);
  if (typeof payload.exp !== 'number') throw new JwtError("invalid token: the JWT has no numeric 'exp' claim");
  if (payload.exp <= nowSeconds) throw new JwtError(`the JWT expired at ${new Date(payload.exp * 1000).toISOString()}; mint a new one`);
  if (typeof payload.name !== 'string' || !payload.name) throw new JwtError("invalid token: the JWT has no 'name' claim");
  const nameProblem = tokenNameProblem(payload.name); // the name reaches the request log and terminals
  if (nameProblem) throw new JwtError(`invalid token: ${nameProblem.replace(/^the token name/, "the JWT's 'name' claim")}`);
  if (!Array.isArray(payload.scopes)) throw new JwtError("invalid token: the JWT has no 'scopes' list");
  for (const scope of payload.scopes as unknown[]) {
    if (!isJwtScope(scope))
      throw new JwtError(`invalid token: each JWT scope must be an object with a 'type' and a non-empty 'resource', got ${JSON.stringify(scope)}`);
  }
  return payload;
}
