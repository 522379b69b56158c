// Tokens of a deployment: the admin token and one per TOKEN name in the datafiles, stored with their scopes
// and the SHA-256 of their secret only. A secret is minted once, printed once by the deploy that minted it,
// and kept (as its digest) by every later deployment; EMAILSTATS_ADMIN_TOKEN and EMAILSTATS_TOKEN_<NAME>
// set a secret explicitly (from CI secrets).
import type { Project } from '../project/model.js';
import { digest, newTokenSecret, TokenStore, type Scope } from '../server/auth.js';
import { declaredTokenScopes } from '../server/workspace.js';

export const ADMIN_TOKEN_NAME = 'admin token';

export interface TokenDefinition {
  name: string;
  scopes: Scope[];
  secretSha256: string;
}

const sha256 = (secret: string): string => digest(secret).toString('hex');

/** Environment variable that sets a TOKEN's secret, e.g. campaign_stats_read → EMAILSTATS_TOKEN_CAMPAIGN_STATS_READ. */
export function tokenEnvName(name: string): string {
  return `EMAILSTATS_TOKEN_${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

export interface ResolvedTokens {
  definitions: TokenDefinition[];
  /** Secrets minted by this deploy, by token name: shown once, never stored. */
  minted: Record<string, string>;
}

export function resolveTokens(project: Project, previous: readonly TokenDefinition[], env: NodeJS.ProcessEnv = process.env): ResolvedTokens {
  const before = new Map(previous.map((t) => [t.name, t]));
  const minted: Record<string, string> = {};
  const digestFor = (name: string, fromEnv: string | undefined, prefix: string): string => {
    if (fromEnv) return sha256(fromEnv);
    const kept = before.get(name);
    if (kept) return kept.secretSha256;
    minted[name] = newTokenSecret(prefix);
    return sha256(minted[name]);
  };
  const definitions: TokenDefinition[] = [{ name: ADMIN_TOKEN_NAME, scopes: [{ type: 'ADMIN' }], secretSha256: digestFor(ADMIN_TOKEN_NAME, env.EMAILSTATS_ADMIN_TOKEN, 'es_admin') }];
  for (const [name, scopes] of declaredTokenScopes(project)) definitions.push({ name, scopes, secretSha256: digestFor(name, env[tokenEnvName(name)], 'es') });
  return { definitions, minted };
}

/**
 * A TokenStore over digests only: a deployment never holds secrets, so lookups go through the digest hook.
 * `adminSecret` (serve's EMAILSTATS_ADMIN_TOKEN), when it is the deployment's admin token, is the JWT key.
 */
export function tokenStoreFor(definitions: readonly TokenDefinition[], adminSecret?: string): TokenStore {
  const store = new TokenStore();
  const admin = definitions.find((t) => t.name === ADMIN_TOKEN_NAME);
  if (adminSecret && admin && sha256(adminSecret) === admin.secretSha256) store.jwtSecret = adminSecret;
  for (const t of definitions) store.addDigest(t.secretSha256, { name: t.name, scopes: t.scopes, origin: t.scopes.some((s) => s.type === 'ADMIN') ? 'admin' : 'datafile' });
  return store;
}
