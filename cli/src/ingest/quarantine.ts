// `<ds>_quarantine`: rows the Events API could not convert, with the reason and the raw input.
import { quoteIdent } from '../sql/quote.js';
import type { Column } from '../datafile/types.js';
import { jsonText } from '../util/exact-json.js';
import type { Capabilities } from '../engine/types.js';
import { SINGLE_NODE, shardingKeyFor, type TableSpec } from '../engine/placement.js';

/** Inserts remembered per table for token deduplication; replays must fall inside this window. */
export const DEDUP_WINDOW = 10_000;

/** `name = value` table settings exactly-once ingestion needs (empty when the engine lacks tokens). */
export function dedupTableSettingsList(caps: Pick<Capabilities, 'insertDeduplicationToken'>): string[] {
  return caps.insertDeduplicationToken ? [`non_replicated_deduplication_window = ${DEDUP_WINDOW}`] : [];
}

/**
 * `non_replicated_deduplication_window = N` (no `SETTINGS` keyword, to merge into ENGINE_SETTINGS), or ''
 * when the engine has no insert tokens (ClickHouse < 22.2 would reject the setting).
 */
export function dedupTableSettings(caps: Pick<Capabilities, 'insertDeduplicationToken'>): string {
  return dedupTableSettingsList(caps).join(', ');
}

export const QUARANTINE_META_COLUMNS = ['c__error_column', 'c__error', 'c__import_id', 'insertion_date', 'c__line'] as const;


/** Original columns that get a raw-value column (those not clashing with the metadata columns). */
export function quarantineDataColumns(columns: Column[]): Column[] {
  const meta = new Set<string>(QUARANTINE_META_COLUMNS);
  return columns.filter((c) => !meta.has(c.name));
}

/** Every column of `<ds>_quarantine` with its type: the metadata columns, then each raw value column. */
export function quarantineColumnsFor(columns: Column[]): { name: string; type: string }[] {
  return [
    { name: 'c__error_column', type: 'Array(String)' },
    { name: 'c__error', type: 'Array(String)' },
    { name: 'c__import_id', type: 'Nullable(String)' },
    { name: 'insertion_date', type: 'DateTime' },
    { name: 'c__line', type: 'String' },
    ...quarantineDataColumns(columns).map((c) => ({ name: c.name, type: 'Nullable(String)' })),
  ];
}

/**
 * The table `<dsName>_quarantine`, for a Placement to create. `ENGINE = MergeTree() ORDER BY insertion_date` is
 * accepted by ClickHouse 18.16 and 26.x alike.
 */
export function quarantineTableSpec(dsName: string, columns: Column[], engineCaps: Pick<Capabilities, 'insertDeduplicationToken'>): TableSpec {
  const cols = quarantineColumnsFor(columns).map((c) => `${quoteIdent(c.name)} ${c.type}`);
  const settings = dedupTableSettings(engineCaps);
  return {
    name: `${dsName}_quarantine`,
    columns: `(\n  ${cols.join(',\n  ')}\n)`,
    engine: `MergeTree() ORDER BY insertion_date${settings ? ` SETTINGS ${settings}` : ''}`,
    ifNotExists: true,
    shardingKey: shardingKeyFor('insertion_date'),
  };
}

/** The single-ClickHouse DDL of `<dsName>_quarantine`. */
export function quarantineTableDDL(dsName: string, columns: Column[], engineCaps: Pick<Capabilities, 'insertDeduplicationToken'>): string {
  return SINGLE_NODE.createTable(quarantineTableSpec(dsName, columns, engineCaps))[0]!;
}

/** Raw value as kept in the quarantine: strings as they came, anything else as JSON text. */
export function rawText(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : jsonText(v);
}

export interface QuarantineEntry {
  errorColumns: string[];
  errors: string[];
  line: string;
  /** Raw value per data column name (absent = NULL). */
  raw: Map<string, string | null>;
}

/** One JSONEachRow line for the quarantine table. `nowSec` is the insertion time (Unix seconds). */
export function quarantineLine(e: QuarantineEntry, nowSec: number, importId: string | null = null): string {
  let s = `{"c__error_column":${JSON.stringify(e.errorColumns)},"c__error":${JSON.stringify(e.errors)},"c__import_id":${JSON.stringify(importId)},"insertion_date":${nowSec},"c__line":${JSON.stringify(e.line)}`;
  for (const [k, v] of e.raw) s += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
  return s + '}\n';
}
