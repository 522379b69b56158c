// Prometheus metrics for GET /metrics: request counts and latency histograms per pipe and status (endpoint
// and /v0/sql requests), plus the ingestor's counters. Recording is a couple of map lookups per request.
import type { Ingestor } from '../ingest/index.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Series {
  pipe: string;
  status: number;
  count: number;
  sum: number;
  /** Cumulative counts per bucket are computed at render time; these are per-bucket. */
  buckets: number[];
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class Metrics {
  private readonly series = new Map<string, Series>();
  private readonly started = Date.now();
  /** Endpoint cache lookups by pipe: [hits, misses]. */
  private readonly cache = new Map<string, [number, number]>();

  observe(pipe: string, status: number, seconds: number): void {
    const key = `${pipe}\u0000${status}`;
    let s = this.series.get(key);
    if (!s) {
      s = { pipe, status, count: 0, sum: 0, buckets: new Array<number>(BUCKETS.length + 1).fill(0) };
      this.series.set(key, s);
    }
    s.count++;
    s.sum += seconds;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]) i++;
    s.buckets[i]++;
  }

  observeCache(pipe: string, hit: boolean): void {
    const counts = this.cache.get(pipe) ?? [0, 0];
    counts[hit ? 0 : 1]++;
    this.cache.set(pipe, counts);
  }

  render(ingestor: Ingestor | undefined, droppedLogRows: number): string {
    const out: string[] = [];
    out.push('# HELP emailstats_requests_total Endpoint and Query API requests by pipe (query_api for /v0/sql) and HTTP status.');
    out.push('# TYPE emailstats_requests_total counter');
    for (const s of this.series.values()) out.push(`emailstats_requests_total{pipe="${escapeLabel(s.pipe)}",status="${s.status}"} ${s.count}`);
    out.push('# HELP emailstats_request_duration_seconds Request latency by pipe and HTTP status.');
    out.push('# TYPE emailstats_request_duration_seconds histogram');
    for (const s of this.series.values()) {
      const labels = `pipe="${escapeLabel(s.pipe)}",status="${s.status}"`;
      let cumulative = 0;
      BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i];
        out.push(`emailstats_request_duration_seconds_bucket{${labels},le="${le}"} ${cumulative}`);
      });
      out.push(`emailstats_request_duration_seconds_bucket{${labels},le="+Inf"} ${s.count}`);
      out.push(`emailstats_request_duration_seconds_sum{${labels}} ${s.sum}`);
      out.push(`emailstats_request_duration_seconds_count{${labels}} ${s.count}`);
    }
    if (this.cache.size) {
      out.push('# HELP emailstats_endpoint_cache_requests_total Requests to endpoints that cache (CACHE, cache_ttl), by pipe and whether a stored answer served them.');
      out.push('# TYPE emailstats_endpoint_cache_requests_total counter');
      for (const [pipe, [hits, misses]] of this.cache) {
        out.push(`emailstats_endpoint_cache_requests_total{pipe="${escapeLabel(pipe)}",result="hit"} ${hits}`);
        out.push(`emailstats_endpoint_cache_requests_total{pipe="${escapeLabel(pipe)}",result="miss"} ${misses}`);
      }
    }
    const gauge = (name: string, help: string, type: 'gauge' | 'counter', value: number | undefined): void => {
      if (value === undefined) return;
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    gauge('emailstats_request_log_dropped_rows_total', 'Request log rows dropped (buffer full or insert failed).', 'counter', droppedLogRows);
    gauge('emailstats_uptime_seconds', 'Seconds since the server started.', 'gauge', (Date.now() - this.started) / 1000);
    if (ingestor) {
      const st = ingestor.stats();
      gauge('emailstats_events_ingested_total', 'Event rows written to ClickHouse.', 'counter', st.flushedRows);
      gauge('emailstats_events_quarantined_total', 'Event rows sent to quarantine.', 'counter', st.quarantinedRows);
      gauge('emailstats_wal_bytes', 'Bytes in the write-ahead log not yet flushed to ClickHouse.', 'gauge', st.walBytes);
      gauge('emailstats_wal_pending_rows', 'Rows acknowledged but not yet in ClickHouse.', 'gauge', st.pendingRows);
      gauge('emailstats_wal_fsyncs_total', 'fsync calls of the write-ahead log.', 'counter', st.fsyncs);
      gauge('emailstats_flush_last_duration_seconds', 'Duration of the last WAL flush into ClickHouse.', 'gauge', st.lastFlushMs === undefined ? undefined : st.lastFlushMs / 1000);
    }
    return out.join('\n') + '\n';
  }
}
