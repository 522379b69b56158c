// Values for `tb_secret('NAME')` in pipes, at build and at request time. Tinybird takes them from the workspace
// (`tb secret set`, or `.env` locally); emailstats from the environment, as datasource files already do. They
// are bound as query parameters (never SQL text), and request SQL may not name query parameters (sql-guard.ts).

/**
 * emailstats' own settings (the admin token, ClickHouse credentials) are never secrets a pipe can read under their
 * own name; a pipe that needs such a value gets it only as TB_SECRET_<NAME>, set on purpose.
 */
const OWN_SETTINGS = /^EMAILSTATS_/;

/** `TB_SECRET_<NAME>`, else `<NAME>` (the variable a datasource file's tb_secret reads), from `env`. */
export function pipeSecrets(env: Record<string, string | undefined> = process.env): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && !OWN_SETTINGS.test(key)) secrets[key] = value;
  }
  // The prefixed form wins: it is the one meant for tb_secret.
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && key.startsWith(SECRET_PREFIX) && key.length > SECRET_PREFIX.length) secrets[key.slice(SECRET_PREFIX.length)] = value;
  }
  return secrets;
}

export const SECRET_PREFIX = 'TB_SECRET_';

/** How to give a secret a value, for messages. */
export function setSecretHint(name: string): string {
  return `export ${SECRET_PREFIX}${name}=<value> (or ${name}) in the environment of emailstats, or give it a default: tb_secret('${name}', '<default>')`;
}
