// The HTTP API as a Tinybird client uses it: pipe listing and details, parameters from the query string and
// from a form body (clients switch to POST for long URLs), /v0/sql with a form or a raw SQL body, copy pipes,
// JSON errors with the documented statuses, and the query time limit (408).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeDir, runCli, startDev, type DevServer } from '../helpers/cli.js';

const SCHEMA = `SCHEMA >
    \`id\` String \`json:$.id\`,
    \`amount\` Int32 \`json:$.amount\`,
    \`ts\` DateTime \`json:$.ts\`

ENGINE "MergeTree"
ENGINE_SORTING_KEY "id, ts"
`;

const FILES: Record<string, string> = {
  'datasources/payments.datasource': SCHEMA,
  'datasources/big_payments.datasource': SCHEMA,
  'fixtures/payments.ndjson': [
    { id: 'a', amount: 5, ts: '2025-01-01 10:00:00' },
    { id: 'b', amount: 50, ts: '2025-01-02 10:00:00' },
    { id: 'c', amount: 500, ts: '2025-01-03 10:00:00' },
  ].map((r) => JSON.stringify(r)).join('\n') + '\n',
  'pipes/payments_over.pipe': `DESCRIPTION >
    Payments above a threshold

NODE filtered
SQL >
    %
    SELECT id, amount FROM payments WHERE amount > {{Int32(min_amount, 0, description="Lower bound, exclusive")}}

NODE payments_over_node
SQL >
    SELECT id, amount FROM filtered ORDER BY amount

TYPE endpoint
`,
  'pipes/slow.pipe': `NODE slow_node
SQL >
    %
    SELECT count() AS n FROM numbers(100000000000) WHERE number % 7 = {{Int32(m, 3)}}

TYPE endpoint
`,
  'pipes/copy_big.pipe': `NODE big
SQL >
    %
    SELECT * FROM payments WHERE amount >= {{Int32(min_amount, 100)}}

TYPE copy
TARGET_DATASOURCE big_payments
COPY_MODE replace
`,
};

describe('HTTP API', () => {
  let project: string;
  let dev: DevServer;
  const auth = () => ({ authorization: `Bearer ${dev.token}` });

  beforeAll(async () => {
    project = mkdtempSync(path.join(os.tmpdir(), 'emailstats-http-'));
    for (const [rel, text] of Object.entries(FILES)) {
      mkdirSync(path.dirname(path.join(project, rel)), { recursive: true });
      writeFileSync(path.join(project, rel), text);
    }
    dev = await startDev(project, ['--query-timeout', '1']);
  }, 120_000);

  afterAll(async () => {
    await dev?.stop();
    if (project) removeDir(project);
  });

  it('lists pipes and describes one, with its nodes', async () => {
    const list = (await (await fetch(`${dev.url}/v0/pipes`, { headers: auth() })).json()) as { pipes: { name: string; type: string; endpoint: string | null }[] };
    expect(list.pipes.map((p) => [p.name, p.type]).sort()).toEqual([['copy_big', 'copy'], ['payments_over', 'endpoint'], ['slow', 'endpoint']]);
    const one = (await (await fetch(`${dev.url}/v0/pipes/payments_over`, { headers: auth() })).json()) as { nodes: { name: string; node_type: string }[] };
    expect(one.nodes.map((n) => [n.name, n.node_type])).toEqual([['filtered', 'standard'], ['payments_over_node', 'endpoint']]);
  });

  it('takes parameters from the query string and from a form body', async () => {
    const get = (await (await fetch(`${dev.url}/v0/pipes/payments_over.json?min_amount=10`, { headers: auth() })).json()) as { data: { id: string }[] };
    expect(get.data.map((r) => r.id)).toEqual(['b', 'c']);
    const post = await fetch(`${dev.url}/v0/pipes/payments_over.json`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ min_amount: '100' }),
    });
    expect(((await post.json()) as { data: { id: string }[] }).data.map((r) => r.id)).toEqual(['c']);
  });

  it('answers a bad parameter with 400 and the template error, an unknown pipe with 404, no token with 403', async () => {
    const bad = await fetch(`${dev.url}/v0/pipes/payments_over.json?min_amount=ten`, { headers: auth() });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe("Template Syntax Error: Error validating 'ten' to type Int32");
    const missing = await fetch(`${dev.url}/v0/pipes/nope.json`, { headers: auth() });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toContain("pipe 'nope' not found");
    expect((await fetch(`${dev.url}/v0/pipes/payments_over.json`)).status).toBe(403);
  });

  it('tells callers without a valid token nothing about which names exist', async () => {
    for (const url of ['/v0/events?name=nope', '/v0/events?name=payments', '/v0/pipes/nope.json', '/v0/datasources/nope']) {
      const res = await fetch(`${dev.url}${url}`, { method: url.startsWith('/v0/events') ? 'POST' : 'GET', body: url.startsWith('/v0/events') ? '{}' : undefined });
      expect(res.status, url).toBe(403);
      // The answer may repeat what the caller asked for, never another resource's name.
      const body = await res.text();
      for (const other of ['big_payments', 'payments_over', 'slow', 'copy_big']) expect(body, url).not.toContain(other);
    }
    const admin404 = await fetch(`${dev.url}/v0/events?name=nope`, { method: 'POST', headers: auth(), body: '{}' });
    expect(admin404.status).toBe(404);
  });

  it('keeps the token out of the request log, however its name is encoded', async () => {
    const res = await fetch(`${dev.url}/v0/pipes/payments_over.json?%74oken=${dev.token}&min_amount=1`);
    expect(res.status).toBe(200);
    const log = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent("SELECT url FROM tinybird.pipe_stats_rt WHERE pipe_name = 'payments_over' FORMAT JSON")}`, { headers: auth() });
    const urls = ((await log.json()) as { data: { url: string }[] }).data.map((r) => r.url);
    expect(urls.some((u) => u.includes('min_amount=1'))).toBe(true);
    for (const u of urls) expect(u).not.toContain(dev.token);
  });

  it('counts every logged request of a pipe once in tinybird.pipe_stats, per day, with its errors', async () => {
    expect((await fetch(`${dev.url}/v0/pipes/payments_over.json?min_amount=nope`, { headers: auth() })).status).toBe(400);
    const sql = async (q: string) => ((await (await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent(`${q} FORMAT JSON`)}`, { headers: auth() })).json()) as { data: Record<string, unknown>[] }).data;
    const [rt] = await sql("SELECT count() AS n, sum(error) AS errors FROM tinybird.pipe_stats_rt WHERE pipe_name = 'payments_over'");
    const [daily] = await sql("SELECT sum(view_count) AS n, sum(error_count) AS errors, max(date) = today() AS today, length(quantilesTimingMerge(0.9, 0.95, 0.99)(quantile_timing_state)) AS q FROM tinybird.pipe_stats WHERE pipe_id = 'payments_over'");
    expect(Number(rt.n)).toBeGreaterThanOrEqual(2);
    expect(Number(rt.errors)).toBeGreaterThanOrEqual(1);
    expect({ n: Number(daily.n), errors: Number(daily.errors), today: Number(daily.today), q: Number(daily.q) }).toEqual({ n: Number(rt.n), errors: Number(rt.errors), today: 1, q: 3 });
  });

  it('runs /v0/sql from q, from a form, and from a raw SQL body, with pipes as tables', async () => {
    const q = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent('SELECT sum(amount) AS s FROM payments FORMAT JSON')}`, { headers: auth() });
    expect(((await q.json()) as { data: { s: number }[] }).data[0].s).toBe(555);
    const raw = await fetch(`${dev.url}/v0/sql`, { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'SELECT count() AS n FROM payments_over FORMAT JSONEachRow' });
    expect(JSON.parse(await raw.text())).toEqual({ n: 3 });
    // curl -d labels raw SQL as a form; with no q anywhere it is still the query, `=`, `&` and `+` in it included.
    const asCurlD = (body: string, query = '') =>
      fetch(`${dev.url}/v0/sql${query}`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/x-www-form-urlencoded' }, body });
    const curlD = await asCurlD("-- all of them\nSELECT count() + 0 AS n, 'a&b=c' AS s FROM payments WHERE id = 'b' OR amount >= 0 FORMAT JSONEachRow");
    expect(JSON.parse(await curlD.text())).toEqual({ n: 3, s: 'a&b=c' });
    // Real form fields stay form fields, even when named like SQL words, with q in the URL.
    const withQ = await asCurlD('desc=1&show=2', `?q=${encodeURIComponent('% SELECT {{Int32(desc)}} + {{Int32(show)}} AS v FORMAT JSONEachRow')}`);
    expect(JSON.parse(await withQ.text())).toEqual({ v: 3 });
    const form = await fetch(`${dev.url}/v0/sql`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ q: 'SELECT id FROM filtered ORDER BY id FORMAT CSV', pipeline: 'payments_over', min_amount: '40' }),
    });
    expect(await form.text()).toBe('"b"\n"c"\n');
    // `_` with `pipeline` is the pipe's result, with the request's parameters.
    const underscore = await fetch(`${dev.url}/v0/sql?${new URLSearchParams({ q: 'SELECT groupArray(id) AS ids FROM _ FORMAT JSONEachRow', pipeline: 'payments_over', min_amount: '10' })}`, { headers: auth() });
    expect(JSON.parse(await underscore.text())).toEqual({ ids: ['b', 'c'] });
    const noPipeline = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent('SELECT * FROM _')}`, { headers: auth() });
    expect(noPipeline.status).toBe(400);
    // A JSON body carries q and the template's parameters, as Tinybird's Query API takes them.
    const json = await fetch(`${dev.url}/v0/sql`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ q: '% SELECT count() AS n FROM payments WHERE amount > {{Int32(min)}} FORMAT JSONEachRow', min: 40 }),
    });
    expect(JSON.parse(await json.text())).toEqual({ n: 2 });
    // Tinybird's output parameters: 64-bit integers quoted on request (a JavaScript client keeps their digits).
    const big = (extra: string) => fetch(`${dev.url}/v0/sql?q=${encodeURIComponent('SELECT toUInt64(9007199254740993) AS big FORMAT JSON')}${extra}`, { headers: auth() });
    expect(await (await big('')).text()).toMatch(/"big": 9007199254740993\b/);
    expect(await (await big('&output_format_json_quote_64bit_integers=1')).text()).toMatch(/"big": "9007199254740993"/);
    const quotedEndpoint = await fetch(`${dev.url}/v0/pipes/payments_over.json?min_amount=40&output_format_json_quote_64bit_integers=true&q=${encodeURIComponent('SELECT toInt64(count()) AS n FROM _')}`, { headers: auth() });
    expect(((await quotedEndpoint.json()) as { data: { n: unknown }[] }).data).toEqual([{ n: '2' }]);
    const badFlag = await big('&output_format_json_quote_64bit_integers=yes');
    expect(badFlag.status).toBe(400);
    expect(await badFlag.text()).toContain('takes 1 or 0');
    const jsonNoQ = await fetch(`${dev.url}/v0/sql`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ min: 40 }) });
    expect(jsonNoQ.status).toBe(400);
    expect(await jsonNoQ.text()).toContain("as the 'q' key of the JSON body");
    const ddl = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent('DROP TABLE payments')}`, { headers: auth() });
    expect(ddl.status).toBe(400);
  });

  it('cancels a query over the time limit with 408', async () => {
    const started = Date.now();
    const res = await fetch(`${dev.url}/v0/pipes/slow.json`, { headers: auth() });
    expect(res.status).toBe(408);
    expect(((await res.json()) as { error: string }).error).toContain('longer than the 1 s limit');
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it('runs a copy pipe into its target, replacing its rows', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await runCli(['copy', 'run', 'copy_big', '--project', project]);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stdout).toContain('copy_big -> big_payments (replace): 1 rows written');
    }
    const r = await runCli(['copy', 'run', 'copy_big', '--project', project, '--mode', 'append', '--param', 'min_amount=10']);
    expect(r.stdout).toContain('2 rows written');
    const n = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent('SELECT count() AS n FROM big_payments FORMAT JSON')}`, { headers: auth() });
    expect(((await n.json()) as { data: { n: number }[] }).data[0].n).toBe(3);
  });
});
