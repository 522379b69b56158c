// Opens the engine a command asked for: a ClickHouse server when a URL is given, else the embedded chDB.
import path from 'node:path';
import { EmbeddedEngine } from './embedded.js';
import { ServerEngine } from './server.js';
import type { Engine } from './types.js';

export interface EngineTarget {
  /** ClickHouse server URL (`--clickhouse-url` / `EMAILSTATS_CLICKHOUSE_URL`); absent = embedded. */
  url?: string;
  user?: string;
  password?: string;
  database?: string;
  /** Data directory of the embedded engine. */
  dataDir?: string;
  /** A server's read time limit, when request queries may run longer than its default (readTimeoutFor). */
  readTimeoutMs?: number;
  /** Tables across this cluster of the server (Distributed over replicated shard tables), as `deploy --clickhouse-cluster` made them. */
  cluster?: string;
}

export async function openEngine(target: EngineTarget): Promise<Engine> {
  if (target.url) return ServerEngine.open({ url: target.url, user: target.user, password: target.password, database: target.database, cluster: target.cluster, requestTimeoutMs: target.readTimeoutMs });
  return EmbeddedEngine.open(target.dataDir ?? path.resolve('.emailstats/data'));
}

export { EngineError, toEngineError } from './errors.js';
export { quoteIdent } from '../sql/quote.js';
export type { Engine, Capabilities, QueryOptions, ServerVersion, Settings } from './types.js';
