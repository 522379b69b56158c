// Endpoint caching (`CACHE <seconds>`): what a cached answer costs against running the endpoint's query, on the
// email project with `CACHE 60` added to campaign_stats and campaign_timeline, over mock events in the embedded
// engine. Per endpoint, interleaved: the cached endpoint's p50 (every call after the first is a hit), the same
// endpoint without CACHE over the same engine, and its rendered SQL run on the engine directly. Then 16
// concurrent clients on the cached endpoint against 16 running the SQL on the engine directly.
import { Agent, request } from 'node:http';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
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

const EVENTS = Number(process.env.BENCH_CACHE_EVENTS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200);
const CLIENTS = 16;
const CONCURRENT_SECONDS = Number(process.env.BENCH_CONCURRENT_SECONDS ?? 5);
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const TOKEN = 'bench_admin';
const FILE_STRUCTURE = 'event_id String, timestamp DateTime, event_type String, campaign_id String, email_id String, recipient_id String, recipient_email String, link_url String, metadata String, user_agent String';
const COLUMNS = 'event_id, timestamp, event_type, campaign_id, email_id, recipient_id, recipient_email, link_url, metadata, user_agent';

function get(agent: Agent, port: number, pathAndQuery: string): Promise<{ ms: number; cache: string | undefined }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: '127.0.0.1', port, path: pathAndQuery, agent, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve({ ms: performance.now() - started, cache: res.headers['x-cache'] as string | undefined }) : reject(new Error(`GET ${pathAndQuery}: HTTP ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** `CLIENTS` loops calling `call` for CONCURRENT_SECONDS: calls per second and p50. */
async function load(call: () => Promise<unknown>): Promise<{ perSecond: number; p50: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + CONCURRENT_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        await call();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { perSecond: latencies.length / ((performance.now() - started) / 1000), p50: summarize(latencies).p50 };
}

const ms = (v: number): string => `${v.toFixed(3)} ms`;

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-bench-cache-'));
  const engine = await EmbeddedEngine.open(path.join(dir, 'data'));
  try {
    // The project as it is, and a copy whose two campaign endpoints cache for a minute.
    const cachedDir = path.join(dir, 'project');
    cpSync(path.join(REPO, 'datasources'), path.join(cachedDir, 'datasources'), { recursive: true });
    cpSync(path.join(REPO, 'pipes'), path.join(cachedDir, 'pipes'), { recursive: true });
    for (const p of ['campaign_stats', 'campaign_timeline']) appendFileSync(path.join(cachedDir, 'pipes', `${p}.pipe`), '\nCACHE 60\n');
    const plain = await loadProject(REPO);
    const cached = await loadProject(cachedDir);
    const report = await buildProject(engine, plain, { fixtures: false });
    if (report.diagnostics.length) throw new Error(report.diagnostics.map((d) => d.message).join('\n'));
    const file = path.join(dir, 'events.ndjson');
    let t = performance.now();
    await writeEmailNdjson({ rows: EVENTS, seed: 'bench-cache', campaigns: 20 }, file);
    await engine.command(`INSERT INTO email_events (${COLUMNS}) SELECT ${COLUMNS} FROM file('${file}', 'JSONEachRow', '${FILE_STRUCTURE}')`);
    const loadSeconds = (performance.now() - t) / 1000;
    const [{ campaign_id: campaign, n }] = await engine.queryRows<{ campaign_id: string; n: number }>('SELECT campaign_id, count() AS n FROM email_events GROUP BY campaign_id ORDER BY n DESC LIMIT 1');

    const workspace = (project: Project): Workspace => ({ project, engine, tokens: buildTokenStore(project, { admin: TOKEN, resource: {} }), limits: DEFAULT_LIMITS, endpointColumns: report.endpointColumns });
    const plainWs = workspace(plain);
    const cachedWs = workspace(cached);
    const plainHttp = await listen(createApiServer({ workspace: () => plainWs, requestLog: false }), 0);
    const cachedHttp = await listen(createApiServer({ workspace: () => cachedWs, requestLog: false }), 0);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const settings = { readonly: 2, max_execution_time: DEFAULT_LIMITS.maxExecutionTime, max_memory_usage: DEFAULT_LIMITS.maxMemoryUsage, max_result_rows: DEFAULT_LIMITS.maxResultRows, result_overflow_mode: 'throw' };

    const lines = [`data: ${EVENTS.toLocaleString('en-US')} mock email events over 20 campaigns, loaded in ${loadSeconds.toFixed(1)} s; campaign ${campaign} (${Number(n).toLocaleString('en-US')} events), ${ROUNDS} interleaved rounds, keep-alive, request log off`];
    const cases: [string, Record<string, string>][] = [
      ['campaign_stats', { campaign_id: campaign }],
      ['campaign_timeline', { campaign_id: campaign, granularity: 'day' }],
    ];
    for (const [name, vars] of cases) {
      const pipe = plain.pipes.get(name)!;
      const { sql, queryParams } = renderNode(plain, pipe, outputNode(pipe), vars);
      const direct = (): Promise<string> => engine.queryText(sql, 'JSON', { settings, queryParams: Object.keys(queryParams).length ? queryParams : undefined });
      const url = `/v0/pipes/${name}.json?${new URLSearchParams(vars)}`;
      const first = await get(agent, cachedHttp.port, url);
      if (first.cache !== 'MISS') throw new Error(`${name}: the first cached call said X-Cache ${first.cache}`);
      const hits: number[] = [];
      const misses: number[] = [];
      const raw: number[] = [];
      for (let i = 0; i < 20; i++) {
        await get(agent, plainHttp.port, url);
        await direct();
      }
      for (let i = 0; i < ROUNDS; i++) {
        const hit = await get(agent, cachedHttp.port, url);
        if (hit.cache !== 'HIT') throw new Error(`${name}: a repeated call said X-Cache ${hit.cache}`);
        hits.push(hit.ms);
        misses.push((await get(agent, plainHttp.port, url)).ms);
        t = performance.now();
        await direct();
        raw.push(performance.now() - t);
      }
      const h = summarize(hits);
      const m = summarize(misses);
      const r = summarize(raw);
      lines.push(
        `${name} (${Object.values(vars).join(', ')}): cached p50 ${ms(h.p50)} (p99 ${ms(h.p99)}); without CACHE ${ms(m.p50)}; engine directly ${ms(r.p50)}; ratio cached/engine ${(h.p50 / r.p50).toFixed(3)}, uncached/engine ${(m.p50 / r.p50).toFixed(2)}`,
      );
      const manyAgent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
      const rawLoad = await load(direct);
      const cachedLoad = await load(() => get(manyAgent, cachedHttp.port, url));
      manyAgent.destroy();
      lines.push(
        `  ${CLIENTS} concurrent clients for ${CONCURRENT_SECONDS} s: cached ${cachedLoad.perSecond.toFixed(0)} req/s, p50 ${ms(cachedLoad.p50)}; engine directly ${rawLoad.perSecond.toFixed(0)} queries/s, p50 ${ms(rawLoad.p50)}; throughput x${(cachedLoad.perSecond / rawLoad.perSecond).toFixed(1)}`,
      );
    }
    agent.destroy();
    await plainHttp.close();
    await cachedHttp.close();
    return [{ name: `endpoint caching (CACHE 60) over ${EVENTS.toLocaleString('en-US')} events, embedded chDB ${engine.version.text}`, lines }];
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
