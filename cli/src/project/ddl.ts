// DDL for a project's resources: tables from datasources, materialized views from materialized pipes.
import { engineClause } from '../datafile/engine-ddl.js';
import type { Column, DatasourceFile } from '../datafile/types.js';
import { quoteIdent } from '../sql/quote.js';
import type { Capabilities, ServerVersion, Settings } from '../engine/types.js';
import { compatTableSettings } from '../engine/capabilities.js';
import { settingsClause } from '../engine/client-engine.js';
import { dedupTableSettings } from '../ingest/index.js';
import { tokenizeSql } from '../sql/lexer.js';
import { SINGLE_NODE, shardingKeyFor, type Placement, type TableSpec } from '../engine/placement.js';
import { sortingKeyParts } from '../datafile/engine-ddl.js';
import { findTableReferences } from './references.js';

export function columnDefinition(col: Column): string {
  let def = `${quoteIdent(col.name)} ${col.type}`;
  if (col.default !== undefined) def += ` DEFAULT ${col.default}`;
  if (col.codec) def += ` ${col.codec}`;
  return def;
}

/**
 * The ENGINE clause with the settings exactly-once ingestion needs merged into ENGINE_SETTINGS. `compat` are
 * settings that only make the server accept the table (left out of the text apply compares, so adding one never
 * rewrites an existing table).
 */
export function tableEngine(ds: DatasourceFile, caps: Capabilities, compat: string[] = []): string {
  const extra = ds.engine.type.toLowerCase() === 'null' ? '' : dedupTableSettings(caps);
  const settings = [ds.engine.settings, extra, ...compat].filter((s) => s && s.trim()).join(', ');
  return engineClause({ ...ds.engine, settings: settings || undefined });
}

/**
 * The table of a datasource, for a Placement to create (engine/placement.ts). `version`: the server's, for the
 * MergeTree settings that make it accept what Tinybird accepts (compatTableSettings).
 */
export function tableSpec(ds: DatasourceFile, caps: Capabilities, table = ds.name, version?: ServerVersion): TableSpec {
  const parts = ds.columns.map((c) => '    ' + columnDefinition(c));
  for (const ix of ds.indexes) {
    parts.push(`    INDEX ${ix.name} ${ix.expr} TYPE ${ix.type}${ix.granularity !== undefined ? ` GRANULARITY ${ix.granularity}` : ''}`);
  }
  const compat = version ? compatTableSettings(ds.engine.type, version, ds.engine.settings) : [];
  return { name: table, columns: `(\n${parts.join(',\n')}\n)`, engine: tableEngine(ds, caps, compat), shardingKey: datasourceShardingKey(ds) };
}

/** The single-ClickHouse CREATE TABLE of a datasource. */
export function createTableSql(ds: DatasourceFile, caps: Capabilities, table = ds.name, version?: ServerVersion): string {
  return SINGLE_NODE.createTable(tableSpec(ds, caps, table, version))[0]!;
}

/** SHARDING_KEY, else a hash of the sorting key's first part (engine/placement.ts, shardingKeyFor). */
export function datasourceShardingKey(ds: DatasourceFile): string {
  if (ds.shardingKey) return ds.shardingKey;
  const sorting = ds.engine.sortingKey?.trim();
  return shardingKeyFor(sorting ? sortingKeyParts(sorting)[0] : undefined);
}

/**
 * A materialized view's SELECT as it runs on each node of a cluster: every datasource it reads is replaced by
 * that datasource's shard table, qualified with the database (a Distributed DDL runs on the other nodes
 * without the session's current database), so each shard's view sees the rows inserted into that shard.
 */
export function viewSelectOnShards(select: string, isDatasource: (name: string) => boolean, placement: Placement, database: string): string {
  let out = '';
  let pos = 0;
  for (const ref of findTableReferences(select)) {
    if (!isDatasource(ref.name)) continue;
    out += select.slice(pos, ref.start) + `${quoteIdent(database)}.${quoteIdent(placement.localTable(ref.name))}` + (ref.aliased ? '' : ` AS ${quoteIdent(ref.name)}`);
    pos = ref.end;
  }
  return out + select.slice(pos);
}

/**
 * `settings` go into the view's SELECT, which ClickHouse stores with the view and applies each time the view runs
 * on an insert (a setting of the CREATE statement would only hold while the view is created).
 */
export function createMaterializedViewSql(viewName: string, target: string, selectSql: string, settings: Settings = {}, placement: Placement = SINGLE_NODE): string[] {
  return placement.createView(viewName, target, withSelectSettings(selectSql, settings));
}

/**
 * A SELECT with `settings` added to its own trailing SETTINGS clause, or in a new one. A setting the query
 * already names is left as the query has it.
 */
export function withSelectSettings(sql: string, settings: Settings): string {
  const tokens = tokenizeSql(sql).filter((t) => t.kind !== 'ws' && t.kind !== 'comment');
  const named = new Set(tokens.filter((t) => t.kind === 'ident').map((t) => t.text));
  const add = Object.fromEntries(Object.entries(settings).filter(([k]) => !named.has(k)));
  if (!Object.keys(add).length || !tokens.length) return sql;
  let depth = 0;
  let hasOwn = false;
  for (const t of tokens) {
    if (t.text === '(' || t.text === '[') depth++;
    else if (t.text === ')' || t.text === ']') depth--;
    else if (depth === 0 && t.kind === 'ident' && t.text.toUpperCase() === 'SETTINGS') hasOwn = true;
  }
  // Inserted right after the last token, so a trailing comment cannot swallow it.
  const end = tokens[tokens.length - 1]!.end;
  const clause = settingsClause(add);
  return sql.slice(0, end) + (hasOwn ? `, ${clause.slice('SETTINGS '.length)}` : `\n${clause}`) + sql.slice(end);
}

/**
 * Name of the ClickHouse view behind a materialized pipe (pipes and datasources share one namespace): a pipe
 * named like a datasource (Tinybird Classic allowed it) cannot take the table's name.
 */
export function viewNameFor(pipeName: string, datasources: { has(name: string): boolean }): string {
  return datasources.has(pipeName) ? `${pipeName}__view` : pipeName;
}
