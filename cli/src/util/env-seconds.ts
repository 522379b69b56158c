// A time limit set in whole seconds by an environment variable, 0 meaning no limit.
import { UserError } from './fatal.js';

const MAX_S = 86_400;

/** The variable's whole seconds, from 0 (no limit) to 86400; `defaultS` when it is unset or blank. */
export function envSeconds(name: string, defaultS: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return defaultS;
  const s = Number(raw);
  if (!Number.isInteger(s) || s < 0 || s > MAX_S) {
    throw new UserError(`${name}=${raw} is not a whole number of seconds from 0 (no limit) to ${MAX_S}: set one, or unset it for ${defaultS} s`);
  }
  return s;
}
