// One interface over every ClickHouse emailstats talks to: the embedded chDB engine or a server over HTTP.
import type { Placement } from './placement.js';

export interface ServerVersion {
  major: number;
  minor: number;
  patch: number;
  /** As reported by `SELECT version()`. */
  text: string;
}

/** What the connected ClickHouse can do; generated SQL checks these and fails with a clear message otherwise. */
export interface Capabilities {
  /** `insert_deduplication_token` + `non_replicated_deduplication_window` (exactly-once inserts). ClickHouse 22.2+. */
  insertDeduplicationToken: boolean;
  /** Server-side query parameters `{name:Type}`. ClickHouse 19.15+. */
  queryParameters: boolean;
  /** `EXCHANGE TABLES a AND b`. ClickHouse 20.7+ with the Atomic database engine. */
  exchangeTables: boolean;
  /** DateTime64. ClickHouse 20.1+. */
  dateTime64: boolean;
  /** Table and column TTL. ClickHouse 19.6+. */
  ttl: boolean;
  /** LowCardinality without the experimental setting. ClickHouse 19.9+. */
  lowCardinality: boolean;
  /**
   * `WITH name AS (subquery)` at the top of a query, visible in every nested subquery (the analyzer, on by
   * default since ClickHouse 24.3) and in the UNION branches without a WITH of their own. The renderer then
   * writes a node that the query uses more than once a single time (render.ts); older servers get it inlined.
   */
  sharedCtes: boolean;
  /** `SETTINGS` clause accepted on `INSERT ... SELECT` and readonly per query. Always true; kept for symmetry. */
  readonlySetting: boolean;
  /** `FORMAT Parquet` output. ClickHouse 19.4+. */
  parquetOutput: boolean;
  /** Parquet read by `format(Parquet, <data>)` with the structure inferred from the data. ClickHouse 22.3+. */
  parquetInput: boolean;
}

export type SettingValue = string | number | boolean;
export type Settings = Record<string, SettingValue>;

export interface QueryOptions {
  /** Per-query ClickHouse settings (max_execution_time, readonly, ...). */
  settings?: Settings;
  /** Server-side query parameters, sent as `param_<name>`. */
  queryParams?: Record<string, string>;
  queryId?: string;
  signal?: AbortSignal;
  /**
   * Whom a request's read runs for (e.g. a token). The embedded engine shares its read lanes fairly between these
   * keys and may refuse with EngineBusyError when too many wait; statements without one (ingest, DDL) run on
   * their own lane. The server engine ignores it.
   */
  fairShareKey?: string;
  /**
   * Largest answer taken, in bytes of the output format (queryText, queryBytes): a longer one stops being read and
   * fails with ResultTooLargeError, before it can fill the process's memory or pass V8's string limit.
   */
  maxBytes?: number;
}

/** How far a running statement has got, as the server's system.processes says. */
export interface StatementProgress {
  sql: string;
  queryId: string;
  elapsedS: number;
  readRows: number;
  /** The server's estimate of the rows the statement reads in all; 0 when it has none. */
  totalRowsApprox: number;
  writtenRows: number;
}

/** Who hears of long statements while they run (a command that prints their progress), and how often. */
export interface ProgressListener {
  everyMs: number;
  report(p: StatementProgress): void;
}

export interface Engine {
  readonly kind: 'embedded' | 'server';
  /** Human-readable target, e.g. `embedded:/path/.emailstats/data` or `http://host:8123/db`. */
  readonly description: string;
  /** The database all resources live in. */
  readonly database: string;
  readonly version: ServerVersion;
  readonly caps: Capabilities;
  /** Where tables live (one ClickHouse, or a cluster): every DDL statement is written by it. */
  readonly placement: Placement;
  /**
   * Set by a command that shows the progress of long statements (deploy): the server engine reports each statement
   * (DDL, INSERT ... SELECT) still running after `everyMs`, then every `everyMs`. The embedded engine does not.
   */
  onProgress?: ProgressListener;

  /** Runs a query and returns the response body in the requested ClickHouse format (JSON, CSVWithNames, JSONEachRow, ...). */
  queryText(sql: string, format: string, opts?: QueryOptions): Promise<string>;
  /** Runs a query and returns the response body in a binary ClickHouse format (Parquet) as it came. */
  queryBytes(sql: string, format: string, opts?: QueryOptions): Promise<Buffer>;
  /** Runs a query and returns its rows as objects (JSONEachRow). */
  queryRows<T = Record<string, unknown>>(sql: string, opts?: QueryOptions): Promise<T[]>;
  /** Runs a statement that returns no rows (DDL, INSERT ... SELECT). */
  command(sql: string, opts?: QueryOptions): Promise<void>;
  /** Inserts JS objects as JSONEachRow. */
  insertRows(table: string, rows: readonly object[], opts?: QueryOptions): Promise<void>;
  /**
   * Inserts JSONEachRow lines as they are: a number keeps every digit it has (a Decimal(38, 10) or an integer past
   * 2^53), which a row parsed into a JS object and sent by insertRows would not.
   */
  insertNdjsonLines(table: string, lines: readonly string[], opts?: QueryOptions): Promise<void>;
  /**
   * Bulk-loads an NDJSON (JSONEachRow) file, the fastest path on both engines. With `dedupToken` the insert
   * is idempotent where the engine supports it (caps.insertDeduplicationToken).
   */
  insertNdjsonFile(table: string, path: string, opts?: QueryOptions & { dedupToken?: string }): Promise<void>;
  close(): Promise<void>;
}
