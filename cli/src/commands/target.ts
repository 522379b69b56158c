// Connection options of the production commands (deploy, deployment, serve). Each also reads an
// EMAILSTATS_* variable, so CI secrets never appear on a command line.
import { ServerEngine } from '../engine/server.js';
import type { Engine } from '../engine/types.js';
import { UserError } from '../util/fatal.js';

export interface TargetCliOptions {
  url?: string;
  user?: string;
  password?: string;
  database?: string;
}

export { withServerTarget as withTarget } from './common.js';

export async function openTarget(opts: TargetCliOptions, database?: string): Promise<Engine> {
  if (!opts.url) throw new UserError('no ClickHouse server given: pass --url http://host:8123 or set EMAILSTATS_URL');
  return ServerEngine.open({ url: opts.url, user: opts.user, password: opts.password, database: database ?? opts.database });
}
