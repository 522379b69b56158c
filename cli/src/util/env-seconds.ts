// A time set in whole seconds by an environment variable (a limit, an interval), 0 meaning none.
import { UserError } from './fatal.js';

const MAX_S = 86_400;

/** The variable's whole seconds, from 0 (`zero` says what it means) to 86400; `defaultS` when it is unset or blank. */
export function envSeconds(name: string, defaultS: number, env: NodeJS.ProcessEnv = process.env, zero = 'no limit'): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return defaultS;
  const s = Number(raw);
  if (!Number.isInteger(s) || s < 0 || s > MAX_S) {
    throw new UserError(`${name}=${raw} is not a whole number of seconds from 0 (${zero}) to ${MAX_S}: set one, or unset it for ${defaultS} s`);
  }
  return s;
}
