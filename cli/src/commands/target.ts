// Connection options of the production commands (deploy, deployment, serve). Each also reads an
// EMAILSTATS_* variable, so CI secrets never appear on a command line.
import { Option, type Command } from 'commander';
import { ServerEngine } from '../engine/server.js';
import type { Engine } from '../engine/types.js';
import { UserError } from '../util/fatal.js';

export interface TargetCliOptions {
  url?: string;
  user?: string;
  password?: string;
  database?: string;
}

export function withTarget(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'ClickHouse server URL, e.g. http://clickhouse:8123').env('EMAILSTATS_URL'))
    .addOption(new Option('--user <user>', 'ClickHouse user').env('EMAILSTATS_USER'))
    .addOption(new Option('--password <password>', 'ClickHouse password').env('EMAILSTATS_PASSWORD'))
    .addOption(new Option('--database <db>', 'ClickHouse database (default: the URL path, else default)').env('EMAILSTATS_DATABASE'));
}

export async function openTarget(opts: TargetCliOptions, database?: string): Promise<Engine> {
  if (!opts.url) throw new UserError('no ClickHouse server given: pass --url http://host:8123 or set EMAILSTATS_URL');
  return ServerEngine.open({ url: opts.url, user: opts.user, password: opts.password, database: database ?? opts.database });
}
