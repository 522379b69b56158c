// `tinybird.pipe_stats` (per pipe and day) on both engines: the request log's rows, written as the server writes
// them, reach the daily table through its materialized view, and Tinybird's documented query over it
// (sum(view_count), sum(error_count), avgMerge, quantilesTimingMerge) gives what the rows say; merges sum a day's
// rows into one. chDB, and Debian's ClickHouse 18.16 started on a private port.
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../cli/src/engine/types.js';
import { PIPE_STATS_DAILY_TABLE, PIPE_STATS_RT_TABLE, RequestLog, type RequestLogEntry } from '../../cli/src/server/request-log.js';
import { useClickHouseServer } from '../helpers/clickhouse-server.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';

// Yesterday 23:59 and today 00:00:30 (UTC): a day boundary inside the request log's 7 days of TTL.
const TODAY = Math.floor(Date.now() / 86_400_000) * 86_400;
const DAY1 = TODAY - 60;
const DAY2 = TODAY + 30;
const dateOf = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);

function entry(pipe: string, at: number, duration: number, status = 200, read = { rows: 10, bytes: 100 }): RequestLogEntry {
  return {
    start_datetime: at,
    pipe_id: pipe,
    pipe_name: pipe,
    duration,
    read_bytes: read.bytes,
    read_rows: read.rows,
    result_rows: 1,
    url: `/v0/pipes/${pipe}.json`,
    error: status >= 400 ? 1 : 0,
    status_code: status,
    request_id: `r${Math.random()}`,
    token_name: 'reader',
    method: 'GET',
    'parameters.name': [],
    'parameters.value': [],
  };
}

/** Tinybird's documented query, per pipe and day (dates as text: the server's time zone is UTC in both). */
async function daily(engine: Engine) {
  const rows = await engine.queryRows<{ date: string; pipe_id: string; views: string; errors: string; avg_s: number; q: number[]; bytes: string; read_rows: string }>(
    `SELECT toString(date) AS date, pipe_id, sum(view_count) AS views, sum(error_count) AS errors,
       avgMerge(avg_duration_state) AS avg_s, quantilesTimingMerge(0.9, 0.95, 0.99)(quantile_timing_state) AS q,
       sum(read_bytes_sum) AS bytes, sum(read_rows_sum) AS read_rows
     FROM ${PIPE_STATS_DAILY_TABLE} GROUP BY date, pipe_id ORDER BY date, pipe_id`,
  );
  return rows.map((r) => ({ date: r.date, pipe: r.pipe_id, views: Number(r.views), errors: Number(r.errors), avgMs: Math.round(r.avg_s * 1000), q: r.q.map(Number), bytes: Number(r.bytes), readRows: Number(r.read_rows) }));
}

function suite(name: string, ctx: () => Engine) {
  it(`${name}: fills the daily table from the request log's inserts, as Tinybird's queries read it`, async () => {
    const engine = ctx();
    const log = new RequestLog(() => engine, { flushIntervalMs: 60_000 });
    try {
      // Two batches (two inserts, two view runs), over a day boundary, with an error.
      for (const ms of [10, 20, 30]) log.record(entry('campaign_stats', DAY1, ms / 1000));
      log.record(entry('campaign_timeline', DAY1, 0.5, 400, { rows: 0, bytes: 0 }));
      await log.flush();
      for (const ms of [40, 50]) log.record(entry('campaign_stats', DAY1, ms / 1000));
      log.record(entry('campaign_stats', DAY2, 0.1, 500));
      await log.flush();
    } finally {
      await log.close();
    }
    const expected = [
      { date: dateOf(DAY1), pipe: 'campaign_stats', views: 5, errors: 0, avgMs: 30, q: [50, 50, 50], bytes: 500, readRows: 50 },
      { date: dateOf(DAY1), pipe: 'campaign_timeline', views: 1, errors: 1, avgMs: 500, q: [500, 500, 500], bytes: 0, readRows: 0 },
      { date: dateOf(DAY2), pipe: 'campaign_stats', views: 1, errors: 1, avgMs: 100, q: [100, 100, 100], bytes: 100, readRows: 10 },
    ];
    expect(await daily(engine)).toEqual(expected);
    // Every row logged is counted once.
    const logged = await engine.queryRows<{ n: string }>(`SELECT count() AS n FROM ${PIPE_STATS_RT_TABLE}`);
    expect(Number(logged[0].n)).toBe(7);
    // Merged, a pipe's day is one row, with the same answers.
    await engine.command(`OPTIMIZE TABLE ${PIPE_STATS_DAILY_TABLE} FINAL`);
    const parts = await engine.queryRows<{ n: string }>(`SELECT count() AS n FROM ${PIPE_STATS_DAILY_TABLE}`);
    expect(Number(parts[0].n)).toBe(3);
    expect(await daily(engine)).toEqual(expected);
  });
}

describe('tinybird.pipe_stats on chDB', () => {
  const ctx = useEmbeddedEngine('pipe-stats-daily');
  suite('chDB', () => ctx.engine);
});

describe('tinybird.pipe_stats on ClickHouse 18.16', () => {
  const ctx = useClickHouseServer();
  suite('ClickHouse 18.16', () => ctx.engine);
});
