// Issue 15, part 3: 100 million email events answered from rollups. `npm run bench rollups` streams
// EMAILSTATS_BENCH_ROLLUP_EVENTS (default 100M) events from the email mock generator (`writeEmailNdjson`, the
// code behind `emailstats mock email_events`, seed `rollups`) into the embedded engine through the real load
// path: NDJSON chunk files inserted into email_events with `insertNdjsonFile` (what fixtures and the Events
// API's flusher use), so every materialized view fires. Chunks are generated while the previous one loads and
// are deleted once loaded: at most two chunks exist at a time, nothing is held in memory.
// Then endpoint calls go through the HTTP API of an in-process server (the admin token, request log off):
// campaign_stats for all campaigns, for the largest campaign and for it over the calendar month it started in,
// and campaign_timeline of it by day, before the copy pipes that finish unique counts and early clicks have run
// (pipes/email_campaign_uniques_copy.pipe, email_period_uniques_copy.pipe, email_early_clicks_copy.pipe, every
// minute under dev and serve); the copy pipes themselves (their first run and a run with nothing changed); then
// the same four after a minute, that campaign over a range that is not a whole period, the same three for a
// campaign of ~416k events (the issue's reference size), and
// campaign_stats and campaign_timeline of the median campaign. Each is timed beside the raw-table query (the
// same answer computed from email_events alone: RAW_PIPES below, rendered by the project's renderer and run
// on the engine directly), interleaved, and each endpoint answer must equal the raw answer exactly, or the
// bench fails. Reported: load time and events/s (and a plain table's load for a ratio), peak RSS of this process
// (chDB runs in it), data size on disk, p50/p95 per query with the raw query's p50 and the ratio, and the
// endpoint's p50 over 20 calls back to back (no raw query just before each).
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync, readFileSync, readdirSync, statSync, copyFileSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { Writable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedEngine } from '../cli/src/engine/embedded.js';
import { writeEmailNdjson } from '../cli/src/mock/parallel.js';
import { buildProject } from '../cli/src/project/build.js';
import { loadProject, outputNode, type Project } from '../cli/src/project/model.js';
import { renderNode } from '../cli/src/project/render.js';
import { createApiServer, listen } from '../cli/src/server/app.js';
import { buildTokenStore, DEFAULT_LIMITS, type Workspace } from '../cli/src/server/workspace.js';
import type { BenchResult } from './run.js';
import { summarize } from './stats.js';

const EVENTS = Number(process.env.EMAILSTATS_BENCH_ROLLUP_EVENTS ?? 100_000_000);
const RUNS = Number(process.env.EMAILSTATS_BENCH_ROLLUP_RUNS ?? 40);
/** Events per NDJSON chunk (~330 bytes each): ~650 MB files, two at most on disk at a time. */
const CHUNK_EVENTS = Number(process.env.EMAILSTATS_BENCH_ROLLUP_CHUNK ?? 2_000_000);
/** The plain table (no views) gets the first chunks too, up to this many events, for the load ratio. */
const PLAIN_EVENTS = Math.min(EVENTS, Number(process.env.EMAILSTATS_BENCH_ROLLUP_PLAIN ?? 10_000_000));
/** How long to wait for background merges to finish after the load before measuring, at most (seconds). */
const SETTLE_S = Number(process.env.EMAILSTATS_BENCH_ROLLUP_SETTLE ?? 600);
/** Keep the data folder at the end (its path is printed), to measure queries on it again without reloading. */
const KEEP = process.env.EMAILSTATS_BENCH_ROLLUP_KEEP === '1';
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

// The raw-table answers: the endpoints as they were before the rollups, every number computed from the raw
// events of the request's campaign and range (uniqExact per recipient, the timing rule over the campaign's
// deliveries and clicks). The output columns, their order and the rates are the endpoints' own.
const RAW_STATS = `NODE raw_kinds
SQL >
    %
    SELECT
        campaign_id,
        event_kind,
        count() AS n,
        uniqExactIf(recipient_id, event_kind IN ('open', 'click')) AS unique_recipients,
        uniqExactIf(recipient_id, (event_kind = 'open' AND is_machine_open = 0) OR (event_kind = 'click' AND is_bot_click = 0)) AS unique_human_recipients,
        min(timestamp) AS first_ts,
        max(timestamp) AS last_ts
    FROM email_events
    WHERE 1 = 1
    {% if defined(campaign_id) %} AND campaign_id = {{String(campaign_id)}} {% end %}
    {% if defined(start_date) %} AND timestamp >= {{DateTime(start_date)}} {% end %}
    {% if defined(end_date) %} AND timestamp <= {{DateTime(end_date)}} {% end %}
    GROUP BY campaign_id, event_kind

NODE raw_stats
SQL >
    SELECT
        campaign_id,
        sumIf(n, event_kind = 'send') AS sends,
        sumIf(n, event_kind = 'delivered') AS deliveries,
        sumIf(n, event_kind = 'open') AS opens,
        sumIf(unique_recipients, event_kind = 'open') AS unique_opens,
        sumIf(unique_human_recipients, event_kind = 'open') AS unique_human_opens,
        sumIf(n, event_kind = 'click') AS clicks,
        sumIf(unique_recipients, event_kind = 'click') AS unique_clicks,
        sumIf(n, event_kind = 'bounce') AS bounces,
        sumIf(n, event_kind = 'complaint') AS complaints,
        sumIf(n, event_kind = 'unsubscribe') AS unsubscribes,
        if(sends = 0, NULL, round(deliveries / sends * 100, 2)) AS delivery_rate,
        if(sends = 0, NULL, round(bounces / sends * 100, 2)) AS bounce_rate,
        if(deliveries = 0, NULL, round(unique_opens / deliveries * 100, 2)) AS open_rate,
        if(deliveries = 0, NULL, round(unique_human_opens / deliveries * 100, 2)) AS human_open_rate,
        if(deliveries = 0, NULL, round(unique_clicks / deliveries * 100, 2)) AS click_through_rate,
        if(unique_opens = 0, NULL, round(unique_clicks / unique_opens * 100, 2)) AS click_to_open_rate,
        if(deliveries = 0, NULL, round(unsubscribes / deliveries * 100, 2)) AS unsubscribe_rate,
        if(deliveries = 0, NULL, round(complaints / deliveries * 100, 2)) AS complaint_rate,
        min(first_ts) AS campaign_start,
        max(last_ts) AS last_activity,
        sumIf(unique_human_recipients, event_kind = 'click') AS unique_human_clicks,
        if(deliveries = 0, NULL, round(unique_human_clicks / deliveries * 100, 2)) AS human_click_through_rate,
        if(unique_human_opens = 0, NULL, round(unique_human_clicks / unique_human_opens * 100, 2)) AS human_click_to_open_rate
    FROM raw_kinds
    GROUP BY campaign_id
    ORDER BY campaign_start DESC, campaign_id

TYPE endpoint
`;

const RAW_TIMELINE = `NODE timeline_kinds
SQL >
    %
    WITH {{String(granularity, 'day')}} AS granularity
    SELECT
        multiIf(granularity = 'hour', toStartOfHour(timestamp), granularity = 'week', toDateTime(toMonday(timestamp)), toStartOfDay(timestamp)) AS bucket,
        event_kind,
        count() AS n,
        uniqExactIf(recipient_id, event_kind IN ('open', 'click')) AS unique_recipients,
        uniqExactIf(recipient_id, (event_kind = 'open' AND is_machine_open = 0) OR (event_kind = 'click' AND is_bot_click = 0)) AS unique_human_recipients
    FROM email_events
    WHERE campaign_id = {{String(campaign_id)}}
    {% if defined(start_date) %} AND timestamp >= {{DateTime(start_date)}} {% end %}
    {% if defined(end_date) %} AND timestamp <= {{DateTime(end_date)}} {% end %}
    GROUP BY bucket, event_kind

NODE timeline_early
SQL >
    %
    WITH {{String(granularity, 'day')}} AS granularity
    SELECT
        multiIf(granularity = 'hour', toStartOfHour(click_ts), granularity = 'week', toDateTime(toMonday(click_ts)), toStartOfDay(click_ts)) AS bucket,
        'early_click' AS event_kind,
        count() AS n,
        toUInt64(0) AS unique_recipients,
        toUInt64(0) AS unique_human_recipients
    FROM
    (
        SELECT
            email_id,
            minIf(timestamp, event_kind = 'delivered') AS delivered_at,
            countIf(event_kind = 'delivered') AS deliveries,
            groupArrayIf(timestamp, event_kind = 'click' AND is_bot_click = 0
                {% if defined(start_date) %} AND timestamp >= {{DateTime(start_date)}} {% end %}
                {% if defined(end_date) %} AND timestamp <= {{DateTime(end_date)}} {% end %}
            ) AS clicks
        FROM email_events
        WHERE campaign_id = {{String(campaign_id)}} AND event_kind IN ('delivered', 'click')
        GROUP BY email_id
        HAVING deliveries > 0 AND length(clicks) > 0
    )
    ARRAY JOIN clicks AS click_ts
    WHERE toInt64(click_ts) - toInt64(delivered_at) BETWEEN 0 AND 30
    GROUP BY bucket

NODE timeline_rows
SQL >
    SELECT bucket, event_kind, n, unique_recipients, unique_human_recipients FROM timeline_kinds
    UNION ALL
    SELECT bucket, event_kind, n, unique_recipients, unique_human_recipients FROM timeline_early

NODE timeline_metrics
SQL >
    SELECT
        bucket,
        sumIf(n, event_kind = 'send') AS sends,
        sumIf(n, event_kind = 'delivered') AS deliveries,
        sumIf(n, event_kind = 'open') AS opens,
        sumIf(unique_recipients, event_kind = 'open') AS unique_opens,
        sumIf(unique_human_recipients, event_kind = 'open') AS unique_human_opens,
        sumIf(n, event_kind = 'click') AS clicks,
        sumIf(unique_recipients, event_kind = 'click') AS unique_clicks,
        sumIf(n, event_kind = 'bounce') AS bounces,
        sumIf(n, event_kind = 'complaint') AS complaints,
        sumIf(n, event_kind = 'unsubscribe') AS unsubscribes,
        sumIf(unique_human_recipients, event_kind = 'click') AS unique_human_clicks,
        sumIf(n, event_kind = 'early_click') AS early_clicks
    FROM timeline_rows
    GROUP BY bucket

NODE timeline_buckets
SQL >
    %
    SELECT arrayJoin(arrayMap(i -> toDateTime(first_bucket + i * step), range(toUInt32(greatest(0, least(intDiv(toInt64(last_bucket) - toInt64(first_bucket), step) + 1, 10000)))))) AS bucket
    FROM
    (
        WITH {{String(granularity, 'day')}} AS granularity
        SELECT
            multiIf(granularity = 'hour', 3600, granularity = 'week', 604800, 86400) AS step,
            {% if defined(start_date) %}
            toUInt32(multiIf(granularity = 'hour', toStartOfHour(toDateTime({{DateTime(start_date)}})), granularity = 'week', toDateTime(toMonday(toDateTime({{DateTime(start_date)}}))), toStartOfDay(toDateTime({{DateTime(start_date)}}))))
            {% else %}
            toUInt32(min(bucket))
            {% end %} AS first_bucket,
            {% if defined(end_date) %} toUInt32(toDateTime({{DateTime(end_date)}})) {% else %} toUInt32(max(bucket)) {% end %} AS last_bucket
        {% if not defined(start_date) or not defined(end_date) %}
        FROM timeline_metrics
        HAVING count() > 0
        {% end %}
    )

NODE raw_timeline
SQL >
    %
    SELECT
        bucket,
        {{String(granularity, 'day')}} AS granularity,
        sends, deliveries, opens, unique_opens, unique_human_opens, clicks, unique_clicks, bounces, complaints, unsubscribes,
        if(sends = 0, NULL, round(deliveries / sends * 100, 2)) AS delivery_rate,
        if(sends = 0, NULL, round(bounces / sends * 100, 2)) AS bounce_rate,
        if(deliveries = 0, NULL, round(unique_opens / deliveries * 100, 2)) AS open_rate,
        if(deliveries = 0, NULL, round(unique_clicks / deliveries * 100, 2)) AS click_through_rate,
        if(unique_opens = 0, NULL, round(unique_clicks / unique_opens * 100, 2)) AS click_to_open_rate,
        unique_human_clicks,
        early_clicks,
        if(deliveries = 0, NULL, round(unique_human_opens / deliveries * 100, 2)) AS human_open_rate,
        if(deliveries = 0, NULL, round(unique_human_clicks / deliveries * 100, 2)) AS human_click_through_rate,
        if(unique_human_opens = 0, NULL, round(unique_human_clicks / unique_human_opens * 100, 2)) AS human_click_to_open_rate
    FROM timeline_buckets
    ANY LEFT JOIN timeline_metrics USING (bucket)
    ORDER BY bucket

TYPE endpoint
`;

/** A scratch project: the repo's datasources and the two raw reference pipes (rendered, never applied). */
async function rawProject(dir: string): Promise<Project> {
  mkdirSync(path.join(dir, 'datasources'), { recursive: true });
  mkdirSync(path.join(dir, 'pipes'), { recursive: true });
  for (const f of readdirSync(path.join(REPO, 'datasources'))) copyFileSync(path.join(REPO, 'datasources', f), path.join(dir, 'datasources', f));
  writeFileSync(path.join(dir, 'pipes', 'raw_stats.pipe'), RAW_STATS);
  writeFileSync(path.join(dir, 'pipes', 'raw_timeline.pipe'), RAW_TIMELINE);
  const p = await loadProject(dir);
  const errors = p.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new Error(errors.map((d) => `${d.file}:${d.line} ${d.message}`).join('\n'));
  return p;
}

/**
 * A Writable for writeEmailNdjson that cuts the stream into chunk files of about CHUNK_EVENTS lines (the
 * generator writes whole lines) and hands each to `load` as soon as it is complete. At most one chunk waits
 * while another loads: writing blocks (backpressure) until the loader catches up.
 */
class ChunkedLoader extends Writable {
  private fh: FileHandle | undefined;
  private file = '';
  private lines = 0;
  private n = 0;
  private loading: Promise<void> = Promise.resolve();
  private failed: unknown;

  constructor(
    private readonly dir: string,
    private readonly load: (file: string, lines: number) => Promise<void>,
  ) {
    super({ highWaterMark: 16 * 1024 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.writeChunk(chunk).then(() => cb(), cb);
  }

  private async writeChunk(chunk: Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    if (!this.fh) {
      this.file = path.join(this.dir, `chunk-${this.n++}.ndjson`);
      this.fh = await open(this.file, 'w');
      this.lines = 0;
    }
    await this.fh.write(chunk);
    let nl = -1;
    while ((nl = chunk.indexOf(0x0a, nl + 1)) >= 0) this.lines++;
    if (this.lines >= CHUNK_EVENTS) await this.hand();
  }

  /** Closes the current chunk and queues its load behind the previous one; waits for that previous one first. */
  private async hand(): Promise<void> {
    const fh = this.fh!;
    this.fh = undefined;
    await fh.close();
    const file = this.file;
    const lines = this.lines;
    await this.loading; // backpressure: one chunk loading, this one next
    if (this.failed) throw this.failed;
    this.loading = this.load(file, lines)
      .then(() => unlink(file))
      .catch((e: unknown) => {
        this.failed = e;
      });
  }

  override _final(cb: (e?: Error | null) => void): void {
    (async () => {
      if (this.fh) await this.hand();
      await this.loading;
      if (this.failed) throw this.failed;
    })().then(() => cb(), cb);
  }
}

function fetchJson(agent: Agent, port: number, pathAndQuery: string, token: string, method = 'GET'): Promise<{ ms: number; body: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: '127.0.0.1', port, path: pathAndQuery, method, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - started;
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`${method} ${pathAndQuery}: HTTP ${res.statusCode} ${body.slice(0, 500)}`));
        else resolve({ ms, body });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A kept-alive socket the server closed while idle (its keep-alive timeout is 5 s; a raw query between two
      // calls can take longer) resets on reuse: Node's documented case for retrying an idempotent request.
      if (req.reusedSocket && err.code === 'ECONNRESET' && method === 'GET') fetchJson(agent, port, pathAndQuery, token, method).then(resolve, reject);
      else reject(err);
    });
    req.setTimeout(120_000, () => reject(new Error(`${method} ${pathAndQuery} timed out`)));
    req.end();
  });
}

const fmt = (v: number) => `${v.toFixed(1)} ms`;
const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MB`;
const gb = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GB`;
const num = (v: number) => Math.round(v).toLocaleString('en-US');

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

function rssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-bench-rollups-'));
  // ~75 bytes per event on disk (10M events took 0.72 GB with the rollups), plus two chunk files.
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const need = EVENTS * 80 + 2 * CHUNK_EVENTS * 340;
  if (free < need) throw new Error(`rollups bench: ${gb(free)} free in ${dir}, about ${gb(need)} needed for ${num(EVENTS)} events`);
  const engine = await EmbeddedEngine.open(path.join(dir, 'engine'));
  try {
    const project = await loadProject(REPO);
    const raw = await rawProject(path.join(dir, 'raw-project'));
    const report = await buildProject(engine, project, { fixtures: false });
    if (report.diagnostics.length) throw new Error(report.diagnostics.map((d) => d.message).join('\n'));
    await engine.command('CREATE TABLE plain_events AS email_events'); // same columns and defaults, no views

    // Load: generation (worker threads) runs while the previous chunk loads.
    let loadMs = 0;
    let plainMs = 0;
    let plainEvents = 0;
    let viewsOnPlainChunksMs = 0;
    let loaded = 0;
    const chunkDir = path.join(dir, 'chunks');
    mkdirSync(chunkDir);
    const started = performance.now();
    let lastReport = started;
    const sink = new ChunkedLoader(chunkDir, async (file, lines) => {
      let t = performance.now();
      await engine.insertNdjsonFile('email_events', file);
      const took = performance.now() - t;
      loadMs += took;
      if (plainEvents < PLAIN_EVENTS) {
        viewsOnPlainChunksMs += took;
        t = performance.now();
        await engine.insertNdjsonFile('plain_events', file);
        plainMs += performance.now() - t;
        plainEvents += lines;
      }
      loaded += lines;
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        process.stderr.write(`rollups bench: ${num(loaded)} events loaded, ${((lastReport - started) / 1000).toFixed(0)} s, RSS peak ${rssMb().toFixed(0)} MB\n`);
      }
    });
    const gen = await writeEmailNdjson({ rows: EVENTS, seed: 'rollups' }, sink);
    await new Promise<void>((resolve, reject) => sink.end((e?: Error | null) => (e ? reject(e) : resolve())));
    const wallS = (performance.now() - started) / 1000;
    const loadRss = rssMb();
    await engine.command('DROP TABLE plain_events');
    const [{ total }] = await engine.queryRows<{ total: number }>('SELECT count() AS total FROM email_events');
    if (Number(total) !== EVENTS) throw new Error(`rollups bench: ${total} events in email_events, expected ${EVENTS}`);

    // Let background merges settle (what a server looks like some time after a load), at most SETTLE_S.
    const settle = performance.now();
    for (let quiet = 0; quiet < 15 && performance.now() - settle < SETTLE_S * 1000; ) {
      const [{ merges }] = await engine.queryRows<{ merges: number }>("SELECT count() AS merges FROM system.merges WHERE database = currentDatabase()");
      quiet = Number(merges) === 0 ? quiet + 1 : 0; // no merge for 15 s in a row
      await new Promise((r) => setTimeout(r, 1000));
    }
    const settleS = (performance.now() - settle) / 1000;
    const tables = await engine.queryRows<{ table: string; rows: number; bytes: number; parts: number }>(
      'SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes, count() AS parts FROM system.parts WHERE active AND database = currentDatabase() GROUP BY table ORDER BY bytes DESC',
    );
    const diskBytes = dirBytes(path.join(dir, 'engine'));

    // The campaign: the largest one, and the calendar month it started in.
    const sizes = await engine.queryRows<{ campaign_id: string; n: number; start: string }>(
      'SELECT campaign_id, count() AS n, toString(min(timestamp)) AS start FROM email_events GROUP BY campaign_id ORDER BY n DESC, campaign_id',
    );
    const big = sizes[0];
    const median = sizes[Math.floor(sizes.length / 2)];
    // The issue's reference: a campaign of about 416,000 events (unique counts took 27-45 ms for one at 10M).
    const ref = sizes.reduce((best, s) => (Math.abs(Number(s.n) - 416_000) < Math.abs(Number(best.n) - 416_000) ? s : best), sizes[0]);
    const monthEndOf = (m: string) => new Date(Date.UTC(Number(m.slice(0, 4)), Number(m.slice(5, 7)), 0)).toISOString().slice(0, 10);
    const month = big.start.slice(0, 7);
    const monthEnd = monthEndOf(month);
    const refMonth = ref.start.slice(0, 7);
    type Case = { label: string; pipe: string; rawPipe: string; params: Record<string, string>; beforeCopy?: boolean };
    const cases: Case[] = [
      // Before the first run of the copy pipe that finishes unique counts (pipes/email_campaign_uniques_copy.pipe,
      // every minute under dev and serve): every campaign's uniques merged from the states.
      { label: 'campaign_stats, all campaigns, before the copy', pipe: 'campaign_stats', rawPipe: 'raw_stats', params: {}, beforeCopy: true },
      { label: `campaign_stats, ${big.campaign_id}, before the copy`, pipe: 'campaign_stats', rawPipe: 'raw_stats', params: { campaign_id: big.campaign_id }, beforeCopy: true },
      {
        label: `campaign_stats, ${big.campaign_id}, ${month}, before the copy`,
        pipe: 'campaign_stats',
        rawPipe: 'raw_stats',
        params: { campaign_id: big.campaign_id, start_date: `${month}-01 00:00:00`, end_date: `${monthEnd} 23:59:59` },
        beforeCopy: true,
      },
      { label: `campaign_timeline, ${big.campaign_id}, by day, before the copy`, pipe: 'campaign_timeline', rawPipe: 'raw_timeline', params: { campaign_id: big.campaign_id, granularity: 'day' }, beforeCopy: true },
      { label: 'campaign_stats, all campaigns', pipe: 'campaign_stats', rawPipe: 'raw_stats', params: {} },
      { label: `campaign_stats, ${big.campaign_id} (largest)`, pipe: 'campaign_stats', rawPipe: 'raw_stats', params: { campaign_id: big.campaign_id } },
      {
        label: `campaign_stats, ${big.campaign_id}, ${month}`,
        pipe: 'campaign_stats',
        rawPipe: 'raw_stats',
        params: { campaign_id: big.campaign_id, start_date: `${month}-01 00:00:00`, end_date: `${monthEnd} 23:59:59` },
      },
      { label: `campaign_timeline, ${big.campaign_id}, by day`, pipe: 'campaign_timeline', rawPipe: 'raw_timeline', params: { campaign_id: big.campaign_id, granularity: 'day' } },
      // A range that is not a whole day, week or month has no finished rows: merged from the hourly states.
      {
        label: `campaign_stats, ${big.campaign_id}, ${month}-10 10:30 to ${month}-20 (not whole periods)`,
        pipe: 'campaign_stats',
        rawPipe: 'raw_stats',
        params: { campaign_id: big.campaign_id, start_date: `${month}-10 10:30:00`, end_date: `${month}-20 23:59:59` },
      },
      { label: `campaign_stats, ${ref.campaign_id} (~416k events)`, pipe: 'campaign_stats', rawPipe: 'raw_stats', params: { campaign_id: ref.campaign_id } },
      {
        label: `campaign_stats, ${ref.campaign_id} (~416k), ${refMonth}`,
        pipe: 'campaign_stats',
        rawPipe: 'raw_stats',
        params: { campaign_id: ref.campaign_id, start_date: `${refMonth}-01 00:00:00`, end_date: `${monthEndOf(refMonth)} 23:59:59` },
      },
      { label: `campaign_timeline, ${ref.campaign_id} (~416k), by day`, pipe: 'campaign_timeline', rawPipe: 'raw_timeline', params: { campaign_id: ref.campaign_id, granularity: 'day' } },
      { label: `campaign_stats, ${median.campaign_id} (median)`, pipe: 'campaign_stats', rawPipe: 'raw_stats', params: { campaign_id: median.campaign_id } },
      { label: `campaign_timeline, ${median.campaign_id} (median), by day`, pipe: 'campaign_timeline', rawPipe: 'raw_timeline', params: { campaign_id: median.campaign_id, granularity: 'day' } },
    ];

    const loadBefore = os.loadavg().map((l) => l.toFixed(2)).join(' ');
    const token = 'bench_admin';
    const workspace: Workspace = { project, engine, tokens: buildTokenStore(project, { admin: token, resource: {} }), limits: { ...DEFAULT_LIMITS, maxExecutionTime: 120 }, endpointColumns: report.endpointColumns };
    const http = await listen(createApiServer({ workspace: () => workspace, requestLog: false }), 0);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    // The raw reference queries are not endpoints: they get the endpoints' limits except memory, since merging
    // every campaign's recipients from 100M raw events can pass the endpoints' 2 GB (it did once at 100M).
    const settings = { readonly: 2, max_execution_time: 120, max_memory_usage: 8 * 1024 ** 3, max_result_rows: DEFAULT_LIMITS.maxResultRows, result_overflow_mode: 'throw' };
    const lines: string[] = [];
    try {
      for (const c of [...cases.filter((c) => c.beforeCopy), 'copy' as const, ...cases.filter((c) => !c.beforeCopy)]) {
        if (c === 'copy') {
          // What the schedules do every minute, run once by hand: each copy pipe's first run (every campaign),
          // then once more, as the next minute would find it (nothing changed).
          for (const pipe of ['email_campaign_uniques_copy', 'email_period_uniques_copy', 'email_early_clicks_copy']) {
            const copy = async () => JSON.parse((await fetchJson(agent, http.port, `/v0/pipes/${pipe}/copy`, token, 'POST')).body) as { rows_written: number };
            let t = performance.now();
            const first = await copy();
            const firstMs = performance.now() - t;
            const firstRss = rssMb();
            t = performance.now();
            const second = await copy();
            const secondMs = performance.now() - t;
            lines.push(
              `copy pipe ${pipe}: first run ${fmt(firstMs)}, ${num(first.rows_written)} rows written (peak RSS ${firstRss.toFixed(0)} MB); ` +
                `the next run, nothing changed: ${fmt(secondMs)}, ${num(second.rows_written)} rows`,
            );
            process.stderr.write(`rollups bench: ${lines[lines.length - 1]}\n`);
          }
          // The endpoints use a finished row once it is a minute old.
          await new Promise((r) => setTimeout(r, 61_000));
          continue;
        }
        const qs = new URLSearchParams(c.params).toString();
        const url = `/v0/pipes/${c.pipe}.json${qs ? `?${qs}` : ''}`;
        const rawPipe = raw.pipes.get(c.rawPipe)!;
        const rawSql = renderNode(raw, rawPipe, outputNode(rawPipe), c.params).sql;
        const runRaw = async () => {
          const t = performance.now();
          const text = await engine.queryText(rawSql, 'JSON', { settings, fairShareKey: 'bench' });
          return { ms: performance.now() - t, text };
        };
        // Answers first: the endpoint's rows must be the raw query's rows, value for value.
        const api = JSON.parse((await fetchJson(agent, http.port, url, token)).body) as { data: unknown[]; rows_before_limit_at_least?: number; statistics?: { rows_read: number } };
        const rawAnswer = JSON.parse((await runRaw()).text) as { data: unknown[] };
        if (!isDeepStrictEqual(api.data, rawAnswer.data)) {
          const i = api.data.findIndex((r, k) => !isDeepStrictEqual(r, rawAnswer.data[k]));
          throw new Error(
            `rollups bench: ${url} differs from the raw-table query (${api.data.length} rows vs ${rawAnswer.data.length}); first difference at row ${i}:\n` +
              `endpoint: ${JSON.stringify(api.data[i])}\nraw:      ${JSON.stringify(rawAnswer.data[i])}`,
          );
        }
        const apiMs: number[] = [];
        const rawMs: number[] = [];
        const runs = Math.max(5, RUNS);
        for (let i = 0; i < 3; i++) await fetchJson(agent, http.port, url, token); // warm-up
        for (let i = 0; i < runs; i++) {
          // Interleaved, alternating which goes first, so machine noise hits both alike.
          if (i % 2 === 0) {
            apiMs.push((await fetchJson(agent, http.port, url, token)).ms);
            rawMs.push((await runRaw()).ms);
          } else {
            rawMs.push((await runRaw()).ms);
            apiMs.push((await fetchJson(agent, http.port, url, token)).ms);
          }
          // The raw query of a large campaign can take seconds: enough samples of it to know its p50.
          if (i >= 9 && rawMs.reduce((a, b) => a + b, 0) > 60_000) break;
        }
        // The same endpoint back to back, with no raw query between: the interleaved figure above includes the
        // aftermath of a raw query that just ran for up to seconds on both cores (caches, freed memory).
        const backToBack: number[] = [];
        for (let i = 0; i < 20; i++) backToBack.push((await fetchJson(agent, http.port, url, token)).ms);
        const a = summarize(apiMs);
        const r = summarize(rawMs);
        lines.push(
          `${c.label.padEnd(44)} endpoint p50 ${fmt(a.p50).padStart(9)}  p95 ${fmt(a.p95).padStart(9)} | raw-table query p50 ${fmt(r.p50).padStart(9)} | ratio ${(a.p50 / r.p50).toFixed(3)} | ${apiMs.length} runs, ${api.data.length} rows, equal | back to back: p50 ${fmt(summarize(backToBack).p50)}`,
        );
        process.stderr.write(`rollups bench: ${lines[lines.length - 1]}\n`);
      }
    } finally {
      agent.destroy();
      await http.close();
    }
    const eventsPerS = EVENTS / wallS;
    return [
      {
        name: `campaign endpoints over ${num(EVENTS)} email events from rollups, embedded chDB ${engine.version.text} (issue 15)`,
        lines: [
          `load: ${num(EVENTS)} events (${gb(gen.bytes)} of NDJSON, ${num(CHUNK_EVENTS)}-event chunks) generated and loaded in ${wallS.toFixed(1)} s = ${num(eventsPerS)} events/s wall; inserts into email_events (views firing) ${(loadMs / 1000).toFixed(1)} s = ${num(EVENTS / (loadMs / 1000))} events/s`,
          `plain table (same columns, no views), first ${num(plainEvents)} events: ${num(plainEvents / (plainMs / 1000))} events/s vs ${num(plainEvents / (viewsOnPlainChunksMs / 1000))} events/s into email_events for the same chunks (ratio ${(viewsOnPlainChunksMs / plainMs).toFixed(2)})`,
          `background merges settled ${settleS.toFixed(0)} s after the load; on disk ${gb(diskBytes)} (data directory)`,
          ...tables.map((t) => `  ${t.table.padEnd(28)} ${num(t.rows).padStart(14)} rows  ${mb(Number(t.bytes)).padStart(8)}  ${t.parts} parts`),
          `peak RSS of the process (chDB in it): ${loadRss.toFixed(0)} MB after the load, ${rssMb().toFixed(0)} MB at the end`,
          `largest campaign ${big.campaign_id}: ${num(big.n)} events; ${ref.campaign_id}: ${num(ref.n)} events; median ${median.campaign_id}: ${num(median.n)} events; ${sizes.length} campaigns`,
          `endpoints through the HTTP API of an in-process server (admin token, request log off), vs the raw-table query run on the engine directly (load average before: ${loadBefore}):`,
          ...lines,
        ],
      },
    ];
  } finally {
    await engine.close();
    if (KEEP) console.log(`rollups bench: data kept in ${path.join(dir, 'engine')} (EMAILSTATS_BENCH_ROLLUP_KEEP=1)`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
