// Values for `tb_secret('NAME')` in pipes when emailstats builds them. Tinybird takes them from the workspace
// (`tb secret set`, or `.env` locally); emailstats from the environment, as datasource files already do.

/** `TB_SECRET_<NAME>`, else `<NAME>` (the variable a datasource file's tb_secret reads), from `env`. */
export function pipeSecrets(env: Record<string, string | undefined> = process.env): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && !Object.prototype.hasOwnProperty.call(secrets, key)) secrets[key] = value;
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
