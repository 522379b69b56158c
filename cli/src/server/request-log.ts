// The request log: one row per endpoint and /v0/sql request in a `tinybird.pipe_stats_rt`-like table
// (reference §5.8), and per pipe and day in `tinybird.pipe_stats` (a materialized view of it, so the daily
// figures outlive the 7 days the rows are kept). Rows are buffered in memory and inserted in batches by a timer,
// off the request path: recording is an array push, the buffer is bounded (new rows are dropped, and counted,
// when ClickHouse falls behind) and a failed insert is reported once and never reaches a request.
import type { Engine } from '../engine/types.js';
import { parquetMetadata } from 'hyparquet';
import type { ResponseBody } from './output-formats.js';

import { PIPE_STATS_DAILY_TABLE, PIPE_STATS_DAILY_VIEW, PIPE_STATS_RT_TABLE } from '../datafile/keywords.js';

export { PIPE_STATS_DAILY_TABLE, PIPE_STATS_DAILY_VIEW, PIPE_STATS_RT_TABLE };


export interface RequestLogEntry {
  /** Unix seconds. */
  start_datetime: number;
  pipe_id: string;
  pipe_name: string;
  /** Seconds. */
  duration: number;
  read_bytes: number;
  read_rows: number;
  result_rows: number;
  /** The request URL with `token=` removed. */
  url: string;
  error: 0 | 1;
  status_code: number;
  request_id: string;
  token_name: string;
  method: string;
  /** Request parameters as two parallel arrays (ClickHouse 18.16 has no Map type). */
  'parameters.name': string[];
  'parameters.value': string[];
}

/** DDL that runs on ClickHouse 18.16 and later: no Map, no LowCardinality; TTL where the server has it. */
export function pipeStatsRtDdl(ttl: boolean): string {
  return `CREATE TABLE IF NOT EXISTS ${PIPE_STATS_RT_TABLE} (
  start_datetime DateTime,
  pipe_id String,
  pipe_name String,
  duration Float64,
  read_bytes UInt64,
  read_rows UInt64,
  result_rows UInt64,
  url String,
  error UInt8,
  status_code Int32,
  request_id String,
  token_name String,
  method String,
  parameters Nested(name String, value String)
) ENGINE = MergeTree() PARTITION BY toYYYYMMDD(start_datetime) ORDER BY (pipe_name, start_datetime)${ttl ? '\nTTL start_datetime + INTERVAL 7 DAY' : ''}`;
}

/**
 * `tinybird.pipe_stats` as Tinybird defines it (its columns and aggregate states, so its documented queries run:
 * `sum(view_count)`, `avgMerge(avg_duration_state)`, `quantilesTimingMerge(0.9, 0.95, 0.99)(quantile_timing_state)`),
 * filled by a materialized view on every insert into the request log: the duration's average in seconds as in
 * pipe_stats_rt, its quantiles in milliseconds, errors are requests answered 400 or above. Kept without TTL (one row
 * per pipe and day, summed by merges). Requests logged before these were created (an older emailstats) are not in
 * it. Runs on ClickHouse 18.16.
 */
export function pipeStatsDailyDdl(): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${PIPE_STATS_DAILY_TABLE} (
  date Date,
  pipe_id String,
  pipe_name String,
  view_count UInt64,
  error_count UInt64,
  avg_duration_state AggregateFunction(avg, Float32),
  quantile_timing_state AggregateFunction(quantilesTiming(0.9, 0.95, 0.99), Float64),
  read_bytes_sum UInt64,
  read_rows_sum UInt64
) ENGINE = SummingMergeTree() PARTITION BY toYYYYMM(date) ORDER BY (pipe_id, pipe_name, date)`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${PIPE_STATS_DAILY_VIEW} TO ${PIPE_STATS_DAILY_TABLE} AS
SELECT
  toDate(start_datetime) AS date,
  pipe_id,
  pipe_name,
  count() AS view_count,
  toUInt64(sum(error)) AS error_count,
  avgState(toFloat32(duration)) AS avg_duration_state,
  quantilesTimingState(0.9, 0.95, 0.99)(duration * 1000) AS quantile_timing_state,
  toUInt64(sum(read_bytes)) AS read_bytes_sum,
  toUInt64(sum(read_rows)) AS read_rows_sum
FROM ${PIPE_STATS_RT_TABLE}
GROUP BY date, pipe_id, pipe_name`,
  ];
}

export interface RequestLogOptions {
  /** Rows kept in memory at most; beyond it new rows are dropped (and counted in droppedRows). */
  maxBuffered?: number;
  flushIntervalMs?: number;
  log?: (line: string) => void;
  /** Another service table written the same way (default: the request log's). */
  table?: { name: string; ddl: (ttl: boolean) => string };
}

export class RequestLog<Entry extends object = RequestLogEntry> {
  private buffer: Entry[] = [];
  private dropped = 0;
  private ready?: Promise<void>;
  private flushing?: Promise<void>;
  private failedOnce = false;
  private readonly timer: NodeJS.Timeout;
  private readonly maxBuffered: number;

  constructor(
    private readonly engine: () => Engine,
    private readonly opts: RequestLogOptions = {},
  ) {
    this.maxBuffered = opts.maxBuffered ?? 50_000;
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** O(1): never waits for ClickHouse. */
  record(entry: Entry): void {
    // Full (ClickHouse unreachable for a while): drop the newest rather than shift the array on every request.
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.buffer.push(entry);
  }

  get droppedRows(): number {
    return this.dropped;
  }

  ensureTable(): Promise<void> {
    this.ready ??= (async () => {
      const engine = this.engine();
      await engine.command((this.opts.table?.ddl ?? pipeStatsRtDdl)(engine.caps.ttl));
      if (this.opts.table) return;
      // The daily table is extra: if it cannot be created the request log goes on without it (said once, tried again
      // at the next start). Once created, its view runs in every insert of the request log, as any view does.
      try {
        for (const ddl of pipeStatsDailyDdl()) await engine.command(ddl);
      } catch (err) {
        this.opts.log?.(`△ request log: ${PIPE_STATS_DAILY_TABLE} (tinybird.pipe_stats) could not be created, requests are logged without it: ${(err as Error).message}`);
      }
    })().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /** Writes what is buffered; concurrent calls share one insert. Errors are logged, not thrown. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.buffer.length ? this.flush() : undefined));
    if (!this.buffer.length) return Promise.resolve();
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = (async () => {
      try {
        await this.ensureTable();
        await this.engine().insertRows(this.opts.table?.name ?? PIPE_STATS_RT_TABLE, batch);
        this.failedOnce = false;
      } catch (err) {
        this.dropped += batch.length;
        if (!this.failedOnce) this.opts.log?.(`△ request log: ${batch.length} rows not written to ${this.opts.table?.name ?? PIPE_STATS_RT_TABLE}: ${(err as Error).message}`);
        this.failedOnce = true;
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

/** Rows and bytes read, and rows returned, from a response body (ClickHouse JSON carries statistics). */
export function responseStats(body: ResponseBody, format: string): { readRows: number; readBytes: number; resultRows: number } {
  // A Parquet file says how many rows it holds in its footer.
  if (typeof body !== 'string') return { resultRows: parquetRowCount(body), readRows: 0, readBytes: 0 };
  if (format === 'JSON' || format.startsWith('JSONCompact') || format === 'JSONStrings') {
    const tail = body.slice(-400);
    const rows = /"rows":\s*(\d+)/.exec(tail);
    const read = /"rows_read":\s*(\d+)/.exec(tail);
    const bytes = /"bytes_read":\s*(\d+)/.exec(tail);
    return { resultRows: rows ? Number(rows[1]) : 0, readRows: read ? Number(read[1]) : 0, readBytes: bytes ? Number(bytes[1]) : 0 };
  }
  let lines = 0;
  for (let i = body.indexOf('\n'); i >= 0; i = body.indexOf('\n', i + 1)) lines++;
  return { resultRows: Math.max(0, format.includes('WithNames') ? lines - 1 : lines), readRows: 0, readBytes: 0 };
}

/** The request URL as logged: every `token` parameter removed, whatever its spelling on the wire (`%74oken`). */
export function logUrl(url: URL): string {
  const params = new URLSearchParams(url.search);
  params.delete('token');
  const query = params.toString();
  return url.pathname + (query ? `?${query}` : '');
}

/** The row count a Parquet file's footer gives; 0 when the bytes are not a whole Parquet file. */
function parquetRowCount(bytes: Buffer): number {
  try {
    return Number(parquetMetadata(bytes, { geoparquet: false }).num_rows);
  } catch {
    return 0;
  }
}
