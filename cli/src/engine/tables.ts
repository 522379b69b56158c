// Small questions about a table that several layers ask (apply, fixtures, copy, the datasources API).
import { quoteIdent, quoteString } from '../sql/quote.js';
import type { Engine } from './types.js';

/** Tables known to exist, per engine: emailstats never drops its record tables, so a positive answer holds. */
const seenTables = new WeakMap<Engine, Set<string>>();

/**
 * True when `table` exists in the engine's database. A positive answer is remembered for the engine's life, so
 * this is for tables that are never dropped (emailstats' record tables).
 */
export async function recordTableExists(engine: Engine, table: string): Promise<boolean> {
  let seen = seenTables.get(engine);
  if (!seen) seenTables.set(engine, (seen = new Set()));
  if (seen.has(table)) return true;
  const rows = await engine.queryRows(`SELECT name FROM system.tables WHERE database = currentDatabase() AND name = ${quoteString(table)}`);
  if (rows.length > 0) seen.add(table);
  return rows.length > 0;
}

export async function rowCount(engine: Engine, table: string): Promise<number> {
  const [{ c }] = await engine.queryRows<{ c: number | string }>(`SELECT count() AS c FROM ${quoteIdent(table)}`);
  return Number(c);
}

/** Column names of a table of the current database. */
export async function tableColumns(engine: Engine, table: string): Promise<string[]> {
  const rows = await engine.queryRows<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ${quoteString(table)}`);
  return rows.map((r) => r.name);
}

/**
 * Bytes on disk of each table's active parts (compressed data, marks, indexes), keyed by the names given: one copy
 * of the data, so on a cluster the shard tables' parts on every node divided by the replicas a shard has.
 */
export async function tableBytes(engine: Engine, tables: readonly string[]): Promise<Map<string, number>> {
  const out = new Map(tables.map((t) => [t, 0]));
  if (!tables.length) return out;
  const named = new Map(tables.map((t) => [engine.placement.localTable(t), t]));
  // Replicas a shard has, in the same query (one round trip): nodes over shards of the cluster.
  const cluster = engine.placement.cluster;
  const copies = cluster ? `(SELECT if(uniqExact(shard_num) = 0, 1, count() / uniqExact(shard_num)) FROM system.clusters WHERE cluster = ${quoteString(cluster)})` : '1';
  // A literal database: on a cluster the query runs on every node (remote()), where currentDatabase() is theirs.
  const rows = await engine.queryRows<{ table: string; b: number | string; copies: number | string }>(
    `SELECT table, sum(bytes_on_disk) AS b, ${copies} AS copies FROM ${engine.placement.everyNode('system.parts')} ` +
      `WHERE active AND database = ${quoteString(engine.database)} AND table IN (${[...named.keys()].map(quoteString).join(', ')}) GROUP BY table`,
  );
  for (const r of rows) out.set(named.get(r.table)!, Math.round(Number(r.b) / Number(r.copies)));
  return out;
}
