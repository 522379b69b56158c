// Reads on the embedded engine under load (issue 12): one token's slow query does not hold up another token's
// light endpoint call, and a token that floods the server is told it is busy (503 + Retry-After) at once rather
// than queued without end. Runs the API server in-process over chDB, as the CLI does when no dev server runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EmbeddedEngine } from '../../cli/src/engine/embedded.js';
import { buildProject } from '../../cli/src/project/build.js';
import { loadProject } from '../../cli/src/project/model.js';
import { createApiServer, listen } from '../../cli/src/server/app.js';
import { signJwt } from '../../cli/src/server/jwt.js';
import { buildTokenStore, DEFAULT_LIMITS, type Workspace } from '../../cli/src/server/workspace.js';
import { tempDir } from '../helpers/ingest-fixture.js';

const ADMIN = 'fairness_admin_secret';
const FILES: Record<string, string> = {
  'datasources/payments.datasource': `SCHEMA >
    \`id\` String \`json:$.id\`,
    \`amount\` Int32 \`json:$.amount\`

ENGINE "MergeTree"
ENGINE_SORTING_KEY "id"
`,
  'fixtures/payments.ndjson': '{"id":"a","amount":5}\n{"id":"b","amount":50}\n',
  'pipes/total.pipe': `NODE total_node
SQL >
    SELECT sum(amount) AS total FROM payments

TYPE endpoint
`,
};
/** About 3 s of waiting that costs no CPU (chDB caps a sleep at 3 s per block). */
const SLOW_SQL = 'SELECT sum(sleepEachRow(0.5)) AS slept FROM numbers(6) FORMAT JSON';
/** Small queue limits, so flooding needs few requests. */
const FAIR_SHARE = { perKeyWaiting: 2, totalWaiting: 8 };

interface Answer {
  status: number;
  ms: number;
  body: string;
  retryAfter: string | null;
}

describe('embedded engine reads under load', () => {
  let dir: string;
  let engine: EmbeddedEngine;
  let server: Awaited<ReturnType<typeof listen>>;
  const jwt = (name: string) => signJwt({ name, exp: Math.floor(Date.now() / 1000) + 600, scopes: [{ type: 'PIPES:READ', resource: 'total' }] }, ADMIN);

  async function get(pathAndQuery: string, tenant: string): Promise<Answer> {
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${server.port}${pathAndQuery}`, { headers: { authorization: `Bearer ${jwt(tenant)}` } });
    const body = await res.text();
    return { status: res.status, ms: performance.now() - started, body, retryAfter: res.headers.get('retry-after') };
  }
  const slow = (tenant: string) => get(`/v0/sql?q=${encodeURIComponent(SLOW_SQL)}`, tenant);
  const light = (tenant: string) => get('/v0/pipes/total.json', tenant);
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    dir = tempDir('fairness');
    for (const [rel, text] of Object.entries(FILES)) {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), text);
    }
    engine = await EmbeddedEngine.open(path.join(dir, '.emailstats', 'data'), { fairShare: FAIR_SHARE });
    const project = await loadProject(dir);
    const report = await buildProject(engine, project, { fixtures: true });
    expect(report.diagnostics).toEqual([]);
    const workspace: Workspace = {
      project,
      engine,
      tokens: buildTokenStore(project, { admin: ADMIN, resource: {} }),
      limits: { ...DEFAULT_LIMITS, maxExecutionTime: 30 },
      endpointColumns: report.endpointColumns,
    };
    server = await listen(createApiServer({ workspace: () => workspace }), 0);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await engine?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("answers a light endpoint call while another token's slow query runs, well before that query ends", async () => {
    expect((await light('light_tenant')).status).toBe(200);
    const slowAnswer = slow('heavy_tenant');
    await pause(300); // the slow query has started sleeping
    const lightAnswer = await light('light_tenant');
    const slowDone = await slowAnswer;
    expect(slowDone.status, slowDone.body).toBe(200);
    expect(JSON.parse(slowDone.body).data).toEqual([{ slept: 0 }]);
    expect(lightAnswer.status, lightAnswer.body).toBe(200);
    expect(JSON.parse(lightAnswer.body).data).toEqual([{ total: 55 }]);
    expect(slowDone.ms, 'the slow query took as long as it sleeps').toBeGreaterThan(2500);
    expect(lightAnswer.ms, `light call took ${lightAnswer.ms.toFixed(0)} ms while the slow query took ${slowDone.ms.toFixed(0)} ms`).toBeLessThan(slowDone.ms / 3);
  }, 60_000);

  it('tells a flooding token the server is busy (503, Retry-After) at once, and still serves other tokens', async () => {
    const flood = Array.from({ length: 8 }, () => slow('flooding_tenant'));
    await pause(300);
    const lightAnswer = await light('light_tenant');
    const answers = await Promise.all(flood);
    const ran = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 503);
    expect(ran.length + refused.length, answers.map((a) => `${a.status} ${a.body}`).join('\n')).toBe(answers.length);
    expect(refused.length, 'requests answered 503 busy').toBeGreaterThan(0);
    expect(ran.length, 'requests that ran').toBeGreaterThan(0);
    const slowest = Math.min(...ran.map((a) => a.ms));
    for (const r of refused) {
      expect(r.retryAfter).toBe('1');
      expect(JSON.parse(r.body).error).toMatch(/server is busy.*retry/i);
      expect(r.ms, 'a busy answer comes before any slow query ends').toBeLessThan(slowest / 2);
    }
    expect(lightAnswer.status, lightAnswer.body).toBe(200);
    expect(lightAnswer.ms, `light call took ${lightAnswer.ms.toFixed(0)} ms during a flood of ${slowest.toFixed(0)} ms queries`).toBeLessThan(slowest / 3);
  }, 90_000);
});
