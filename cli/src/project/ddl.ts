// DDL for a project's resources: tables from datasources, materialized views from materialized pipes.
import { engineClause } from '../datafile/engine-ddl.js';
import type { Column, DatasourceFile } from '../datafile/types.js';
import { quoteIdent } from '../sql/quote.js';
import type { Capabilities } from '../engine/types.js';
import { dedupTableSettings } from '../ingest/index.js';

export function columnDefinition(col: Column): string {
  let def = `${quoteIdent(col.name)} ${col.type}`;
  if (col.default !== undefined) def += ` DEFAULT ${col.default}`;
  if (col.codec) def += ` ${col.codec}`;
  return def;
}

/** The ENGINE clause with the settings exactly-once ingestion needs merged into ENGINE_SETTINGS. */
export function tableEngine(ds: DatasourceFile, caps: Capabilities): string {
  const extra = ds.engine.type.toLowerCase() === 'null' ? '' : dedupTableSettings(caps);
  const settings = [ds.engine.settings, extra].filter((s) => s && s.trim()).join(', ');
  return engineClause({ ...ds.engine, settings: settings || undefined });
}

export function createTableSql(ds: DatasourceFile, caps: Capabilities, table = ds.name): string {
  const parts = ds.columns.map((c) => '    ' + columnDefinition(c));
  for (const ix of ds.indexes) {
    parts.push(`    INDEX ${ix.name} ${ix.expr} TYPE ${ix.type}${ix.granularity !== undefined ? ` GRANULARITY ${ix.granularity}` : ''}`);
  }
  return `CREATE TABLE ${quoteIdent(table)}\n(\n${parts.join(',\n')}\n)\nENGINE = ${tableEngine(ds, caps)}`;
}

export function createMaterializedViewSql(viewName: string, target: string, selectSql: string): string {
  return `CREATE MATERIALIZED VIEW ${quoteIdent(viewName)} TO ${quoteIdent(target)} AS\n${selectSql}`;
}

/** Name of the ClickHouse view behind a materialized pipe (pipes and datasources share one namespace). */
export function viewNameFor(pipeName: string): string {
  return pipeName;
}
