// The server target of the production commands (deploy, deployment, serve): the same --clickhouse-* options and
// EMAILSTATS_CLICKHOUSE_* variables as every command (connection.ts), but a server is required.
import { ServerEngine } from '../engine/server.js';
import type { Engine } from '../engine/types.js';
import { UserError } from '../util/fatal.js';
import type { EngineCliOptions } from './connection.js';

export type TargetCliOptions = EngineCliOptions;

export { withServerTarget as withTarget } from './common.js';

export async function openTarget(opts: TargetCliOptions, database?: string, readTimeoutMs?: number): Promise<Engine> {
  if (!opts.clickhouseUrl) throw new UserError('no ClickHouse server given: pass --clickhouse-url http://host:8123 or set EMAILSTATS_CLICKHOUSE_URL');
  return ServerEngine.open({ url: opts.clickhouseUrl, user: opts.clickhouseUser, password: opts.clickhousePassword, database: database ?? opts.clickhouseDatabase, cluster: opts.clickhouseCluster, requestTimeoutMs: readTimeoutMs });
}
