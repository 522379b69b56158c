// `tinybird.datasources_ops_log`: one row per write operation on a datasource (reference §5.8). Column names and
// types are Tinybird's; `Options` is a Nested pair because ClickHouse 18.16 has no Map.

import { OPS_LOG_TABLE } from '../datafile/keywords.js';

export { OPS_LOG_TABLE };

export interface OpsLogEntry {
  /** Unix seconds. */
  timestamp: number;
  /** `append-hfi` (Events API and Data Sources API appends, both through the WAL), `replace`, `truncate`. */
  event_type: string;
  datasource_id: string;
  datasource_name: string;
  result: 'ok' | 'error';
  /** Seconds. */
  elapsed_time: number;
  error: string | null;
  request_id: string;
  import_id: string | null;
  job_id: string | null;
  rows: number | null;
  rows_quarantine: number | null;
  blocks_ids: string[];
  'Options.Names': string[];
  'Options.Values': string[];
  operation_id: string;
  read_rows: number;
  read_bytes: number;
  written_rows: number;
  written_bytes: number;
  written_rows_quarantine: number;
  written_bytes_quarantine: number;
  pipe_id: string;
  pipe_name: string;
  release: string;
  resource_tags: string[];
  cpu_time: number;
}

export function opsLogDdl(ttl: boolean): string {
  return `CREATE TABLE IF NOT EXISTS ${OPS_LOG_TABLE} (
  timestamp DateTime,
  event_type String,
  datasource_id String,
  datasource_name String,
  result String,
  elapsed_time Float32,
  error Nullable(String),
  request_id String,
  import_id Nullable(String),
  job_id Nullable(String),
  rows Nullable(UInt64),
  rows_quarantine Nullable(UInt64),
  blocks_ids Array(String),
  Options Nested(Names String, Values String),
  operation_id String,
  read_rows UInt64,
  read_bytes UInt64,
  written_rows UInt64,
  written_bytes UInt64,
  written_rows_quarantine UInt64,
  written_bytes_quarantine UInt64,
  pipe_id String,
  pipe_name String,
  release String,
  resource_tags Array(String),
  cpu_time Float32
) ENGINE = MergeTree() PARTITION BY toYYYYMM(timestamp) ORDER BY (datasource_name, timestamp)${ttl ? '\nTTL timestamp + INTERVAL 7 DAY' : ''}`;
}

export interface OpsEvent {
  eventType: string;
  datasource: string;
  rows: number;
  quarantined?: number;
  elapsedMs: number;
  error?: string;
  requestId?: string;
  importId?: string;
}

/** A full row from what a write operation knows; the rest is empty or zero as Tinybird leaves it. */
export function opsLogEntry(e: OpsEvent, now = Date.now()): OpsLogEntry {
  const quarantined = e.quarantined ?? 0;
  return {
    timestamp: Math.floor(now / 1000),
    event_type: e.eventType,
    datasource_id: e.datasource,
    datasource_name: e.datasource,
    result: e.error ? 'error' : 'ok',
    elapsed_time: e.elapsedMs / 1000,
    error: e.error ?? null,
    request_id: e.requestId ?? '',
    import_id: e.importId ?? null,
    job_id: null,
    rows: e.rows,
    rows_quarantine: quarantined,
    blocks_ids: [],
    'Options.Names': [],
    'Options.Values': [],
    operation_id: e.importId ?? e.requestId ?? '',
    read_rows: 0,
    read_bytes: 0,
    written_rows: e.rows,
    written_bytes: 0,
    written_rows_quarantine: quarantined,
    written_bytes_quarantine: 0,
    pipe_id: '',
    pipe_name: '',
    release: '',
    resource_tags: [],
    cpu_time: 0,
  };
}
