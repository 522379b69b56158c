// Issue 3: endpoint latency over 10M realistic email events in the embedded engine. The p50 of
// GET /v0/pipes/campaign_stats.json?campaign_id=... against the same rendered SQL run directly on the engine
// in the same process and run, interleaved A/B so machine noise hits both alike. Also reports the seed's
// original scan-every-event query on the same data, to show what the hourly rollup buys.
// Issue 12: reads under concurrency (16 and 64 clients, spread over tenant tokens) against the same calls made on
// the engine directly, concurrently, in the same run: throughput, p50/p99 and how many answers were 503 (busy).
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedEngine } from '../cli/src/engine/embedded.js';
import { writeEmailNdjson } from '../cli/src/mock/parallel.js';
import { buildProject } from '../cli/src/project/build.js';
import { loadProject, outputNode } from '../cli/src/project/model.js';
import { renderNode } from '../cli/src/project/render.js';
import { createApiServer, listen } from '../cli/src/server/app.js';
import { buildTokenStore, DEFAULT_LIMITS, type Workspace } from '../cli/src/server/workspace.js';
import { signJwt } from '../cli/src/server/jwt.js';
import type { BenchResult } from './run.js';
import { summarize } from './stats.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 400);
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Realistic events come from the email mock generator; copies under other campaign ids make up the volume. */
const FILE_EVENTS = Math.min(EVENTS, 2_000_000);
const FILE_STRUCTURE = 'event_id String, timestamp DateTime, event_type String, campaign_id String, email_id String, recipient_id String, recipient_email String, link_url String, metadata String, user_agent String';
const SEED_COLUMNS = 'event_id, timestamp, event_type, campaign_id, email_id, recipient_id, recipient_email, link_url, metadata, user_agent';

function writeEvents(file: string): Promise<unknown> {
  return writeEmailNdjson({ rows: FILE_EVENTS, seed: 'bench', campaigns: 100 }, file);
}

function copyInto(file: string, copy: number, rows: number): string {
  const suffix = copy === 0 ? '' : `_c${copy}`;
  return `INSERT INTO email_events (${SEED_COLUMNS})
SELECT concat(event_id, '${suffix}'), timestamp, event_type, concat(campaign_id, '${suffix}'), email_id, recipient_id, recipient_email, link_url, metadata, user_agent
FROM file('${file}', 'JSONEachRow', '${FILE_STRUCTURE}') LIMIT ${rows}`;
}

const SEED_SQL = `
SELECT campaign_id,
    sum(if(event_type = 'send', 1, 0)) AS sends, sum(if(event_type = 'open', 1, 0)) AS opens,
    sum(if(event_type = 'click', 1, 0)) AS clicks, sum(if(event_type = 'bounce', 1, 0)) AS bounces,
    sum(if(event_type = 'unsubscribe', 1, 0)) AS unsubscribes,
    min(timestamp) AS campaign_start, max(timestamp) AS last_activity
FROM email_events WHERE campaign_id = {campaign:String} GROUP BY campaign_id`;

function get(agent: Agent, port: number, pathAndQuery: string, token: string): Promise<number> {
  return timedGet(agent, port, pathAndQuery, token).then(({ status, ms }) => (status === 200 ? ms : Promise.reject(new Error(`HTTP ${status}`))));
}

function timedGet(agent: Agent, port: number, pathAndQuery: string, token: string): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: '127.0.0.1', port, path: pathAndQuery, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => reject(new Error(`GET ${pathAndQuery} timed out`)));
    req.end();
  });
}

const ms = (v: number) => `${v.toFixed(3)} ms`;

const CONCURRENCY = [16, 64];
const CONCURRENT_SECONDS = Number(process.env.BENCH_CONCURRENT_SECONDS ?? 6);
const TENANTS = 8;

interface Load {
  perSecond: number;
  p50: number;
  p99: number;
  /** Answers that were 503 (the server said it is busy), not counted in the latencies. */
  busy: number;
}

/** `clients` loops calling `call` (client i as tenant i % TENANTS) for CONCURRENT_SECONDS; successful calls only. */
async function load(clients: number, call: (tenant: number) => Promise<number | 'busy'>): Promise<Load> {
  const latencies: number[] = [];
  let busy = 0;
  const started = performance.now();
  const until = started + CONCURRENT_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      while (performance.now() < until) {
        const r = await call(i % TENANTS);
        if (r === 'busy') busy++;
        else latencies.push(r);
      }
    }),
  );
  const s = summarize(latencies);
  return { perSecond: latencies.length / ((performance.now() - started) / 1000), p50: s.p50, p99: s.p99, busy };
}

function loadLine(label: string, l: Load, raw?: Load): string {
  const ratio = raw ? `  (vs engine: throughput x${(l.perSecond / raw.perSecond).toFixed(2)}, p50 x${(l.p50 / raw.p50).toFixed(2)}, p99 x${(l.p99 / raw.p99).toFixed(2)})` : '';
  return `${label} ${l.perSecond.toFixed(0).padStart(5)} req/s  p50 ${ms(l.p50)}  p99 ${ms(l.p99)}  503s ${l.busy}${ratio}`;
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-bench-'));
  const engine = await EmbeddedEngine.open(dir);
  try {
    const project = await loadProject(REPO);
    const report = await buildProject(engine, project, { fixtures: false });
    if (report.diagnostics.length) throw new Error(report.diagnostics.map((d) => d.message).join('\n'));
    const file = path.join(dir, 'events.ndjson');
    let t = performance.now();
    await writeEvents(file);
    const generateSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    for (let copy = 0, left = EVENTS; left > 0; copy++, left -= FILE_EVENTS) await engine.command(copyInto(file, copy, Math.min(left, FILE_EVENTS)));
    const loadSeconds = (performance.now() - t) / 1000;
    // Overhead is measured on a median-size campaign (a query of a few ms, so noise does not hide a fraction of
    // a millisecond); the largest campaign shows what a big sender waits for.
    const sizes = await engine.queryRows<{ campaign_id: string; n: number }>('SELECT campaign_id, count() AS n FROM email_events GROUP BY campaign_id ORDER BY n DESC');
    const { campaign_id: largest, n: largestN } = sizes[0];
    const { campaign_id: campaign, n } = sizes[Math.floor(sizes.length / 2)];
    const [{ rollup }] = await engine.queryRows<{ rollup: number }>('SELECT count() AS rollup FROM email_activity_hourly');

    const token = 'bench_admin';
    const workspace: Workspace = {
      project,
      engine,
      tokens: buildTokenStore(project, { admin: token, resource: {} }),
      limits: DEFAULT_LIMITS,
      endpointColumns: report.endpointColumns,
    };
    // Two servers over the same workspace: the default one (request log on), probed with a JWT whose fixed
    // parameters pin the campaign (the most expensive token check); and one with the request log off, probed
    // with the admin token (a digest lookup).
    const http = await listen(createApiServer({ workspace: () => workspace }), 0);
    const bare = await listen(createApiServer({ workspace: () => workspace, requestLog: false }), 0);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const bareAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    const pipe = project.pipes.get('campaign_stats')!;
    const sql = renderNode(project, pipe, outputNode(pipe), { campaign_id: campaign }).sql;
    const largestSql = renderNode(project, pipe, outputNode(pipe), { campaign_id: largest }).sql;
    const settings = { readonly: 2, max_execution_time: DEFAULT_LIMITS.maxExecutionTime, max_memory_usage: DEFAULT_LIMITS.maxMemoryUsage, max_result_rows: DEFAULT_LIMITS.maxResultRows, result_overflow_mode: 'throw' };
    const jwt = signJwt({ name: 'bench_tenant', exp: Math.floor(Date.now() / 1000) + 3600, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats', fixed_params: { campaign_id: campaign } }] }, token);
    const path_ = `/v0/pipes/campaign_stats.json?campaign_id=${campaign}`;

    const api: number[] = [];
    const apiBare: number[] = [];
    const direct: number[] = [];
    const seed: number[] = [];
    const bigApi: number[] = [];
    const bigDirect: number[] = [];
    for (let i = 0; i < 30; i++) {
      await get(agent, http.port, path_, jwt);
      await get(bareAgent, bare.port, path_, token);
      await engine.queryText(sql, 'JSON', { settings });
    }
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate which server goes first, so neither benefits from what the other just warmed.
      if (i % 2 === 0) {
        api.push(await get(agent, http.port, path_, jwt));
        apiBare.push(await get(bareAgent, bare.port, path_, token));
      } else {
        apiBare.push(await get(bareAgent, bare.port, path_, token));
        api.push(await get(agent, http.port, path_, jwt));
      }
      t = performance.now();
      await engine.queryText(sql, 'JSON', { settings });
      direct.push(performance.now() - t);
      if (i % 4 === 0) {
        bigApi.push(await get(bareAgent, bare.port, `/v0/pipes/campaign_stats.json?campaign_id=${largest}`, token));
        t = performance.now();
        await engine.queryText(largestSql, 'JSON', { settings });
        bigDirect.push(performance.now() - t);
        t = performance.now();
        await engine.queryText(SEED_SQL.replace('{campaign:String}', `'${largest}'`), 'JSON');
        seed.push(performance.now() - t);
      }
    }

    // Concurrent reads: tenant JWTs (each its own token name) on the server with the request log on, against the
    // same calls made on the engine directly (with the tenant as the fair-share key), one after the other.
    const tenantJwts = Array.from({ length: TENANTS }, (_, i) =>
      signJwt({ name: `bench_tenant_${i}`, exp: Math.floor(Date.now() / 1000) + 3600, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats', fixed_params: { campaign_id: campaign } }] }, token),
    );
    const concurrentLines: string[] = [];
    for (const clients of CONCURRENCY) {
      const raw = await load(clients, async (tenant) => {
        const t0 = performance.now();
        await engine.queryText(sql, 'JSON', { settings, ...({ fairShareKey: `bench_tenant_${tenant}` } as object) });
        return performance.now() - t0;
      });
      const manyAgent = new Agent({ keepAlive: true, maxSockets: clients });
      const viaHttp = await load(clients, async (tenant) => {
        const { status, ms: took } = await timedGet(manyAgent, http.port, path_, tenantJwts[tenant]);
        if (status === 503) return 'busy';
        if (status !== 200) throw new Error(`HTTP ${status}`);
        return took;
      });
      manyAgent.destroy();
      concurrentLines.push(loadLine(`concurrency ${String(clients).padStart(2)}, engine directly`, raw));
      concurrentLines.push(loadLine(`concurrency ${String(clients).padStart(2)}, HTTP endpoint  `, viaHttp, raw));
    }

    bareAgent.destroy();
    await bare.close();
    agent.destroy();
    await http.close();
    const a = summarize(api);
    const b = summarize(apiBare);
    const d = summarize(direct);
    const s = summarize(seed);
    const ba = summarize(bigApi);
    const bd = summarize(bigDirect);
    return [
      {
        name: `campaign_stats endpoint over ${EVENTS.toLocaleString('en-US')} events, embedded chDB ${engine.version.text} (issue 3)`,
        lines: [
          `data: ${FILE_EVENTS.toLocaleString('en-US')} events from the email mock generator (${generateSeconds.toFixed(1)} s), loaded ${Math.ceil(EVENTS / FILE_EVENTS)}x under distinct campaign ids in ${loadSeconds.toFixed(1)} s through the materialized view; ${rollup} rollup rows`,
          `overhead measured on ${campaign}, the median campaign (${Number(n).toLocaleString('en-US')} events):`,
          `HTTP, JWT + request log  p50 ${ms(a.p50)}  p95 ${ms(a.p95)}  p99 ${ms(a.p99)}  (${ROUNDS} sequential requests each, keep-alive, interleaved)`,
          `HTTP, admin, no log      p50 ${ms(b.p50)}  p95 ${ms(b.p95)}  p99 ${ms(b.p99)}`,
          `engine directly          p50 ${ms(d.p50)}  p95 ${ms(d.p95)}  p99 ${ms(d.p99)}  (same rendered SQL and settings)`,
          `overhead at p50 over the engine: ${ms(b.p50 - d.p50)} without tokens/log, ${ms(a.p50 - d.p50)} with them (ratio ${(a.p50 / d.p50).toFixed(2)}; target < 1 ms)`,
          `cost of JWT check + request logging at p50: ${ms(a.p50 - b.p50)} (target < 0.2 ms)`,
          `largest campaign ${largest} (${Number(largestN).toLocaleString('en-US')} events): endpoint p50 ${ms(ba.p50)}, engine p50 ${ms(bd.p50)}; the seed's query without unique counts: p50 ${ms(s.p50)}`,
          `concurrent reads of ${campaign} for ${CONCURRENT_SECONDS} s each, clients spread over ${TENANTS} tenant tokens (issue 12):`,
          ...concurrentLines,
        ],
      },
    ];
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
