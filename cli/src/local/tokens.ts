// The local token secrets: the admin token (generated once per project, or EMAILSTATS_ADMIN_TOKEN) and one
// secret per TOKEN name declared in datafiles. Kept in .emailstats/tokens.json with owner-only permissions.
import type { Project } from '../project/model.js';
import { newTokenSecret } from '../server/auth.js';
import { declaredTokenScopes, type TokenSecrets } from '../server/workspace.js';

import { readJson, writeJsonAtomic } from '../util/files.js';


/** Loads the project's secrets, minting any that are missing, and saves them back when anything changed. */
export function ensureTokenSecrets(tokensFile: string, project: Project | undefined, env = process.env): TokenSecrets {
  const saved = readJson<TokenSecrets>(tokensFile);
  const secrets: TokenSecrets = { admin: saved?.admin ?? newTokenSecret('es_admin'), resource: { ...saved?.resource } };
  let changed = !saved;
  if (project) {
    for (const name of declaredTokenScopes(project).keys()) {
      if (!secrets.resource[name]) {
        secrets.resource[name] = newTokenSecret();
        changed = true;
      }
    }
  }
  if (changed) writeJsonAtomic(tokensFile, secrets, 0o600);
  // A fixed admin token from the environment (scripts, CI) wins, and is not written to disk.
  if (env.EMAILSTATS_ADMIN_TOKEN) return { ...secrets, admin: env.EMAILSTATS_ADMIN_TOKEN };
  return secrets;
}
