// `.prometheus` endpoints as Prometheus itself reads them: Debian's Prometheus server (2.42, started on a private
// port) scrapes an endpoint of `emailstats dev` (chDB, labels as a Map) and one of `emailstats serve` over
// ClickHouse 18.16 (labels as an Array(Tuple(String, String)), the only form 18.16 has), with a bearer token, every
// second; its query API then gives the values the events make, and reads a labelled histogram as one (buckets per
// series, _count, its type). Prometheus rejects a whole scrape it cannot parse, so a sample there means the text
// was valid exposition.
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDev, type DevServer } from '../helpers/cli.js';
import { freePort, startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { deployCli, eventually, PROD_TOKEN, startServe, type ServeProcess } from '../helpers/serve.js';
import { useProjectFiles } from '../helpers/project-files.js';

const PROMETHEUS = process.env.EMAILSTATS_PROMETHEUS ?? '/usr/bin/prometheus';

const SENDS = 'SCHEMA >\n    `kind` String `json:$.kind`,\n    `provider` String `json:$.provider`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "kind"\n';
/** Works on both engines: labels as pairs. */
const PAIRS_PIPE = `NODE per_kind
SQL >
    SELECT
        'email_events_total' AS name,
        'counter' AS type,
        'Email events by kind and "provider"' AS help,
        [('kind', kind), ('provider', provider)] AS labels,
        count() AS value
    FROM sends
    GROUP BY kind, provider
    ORDER BY kind, provider

TYPE endpoint
`;
/** chDB only: labels as a Map, with a gauge. */
const MAP_PIPE = `NODE bounce
SQL >
    SELECT 'email_bounce_ratio' AS name, 'gauge' AS type, map('provider', provider) AS labels, countIf(kind = 'bounce') / count() AS value
    FROM sends
    GROUP BY provider

TYPE endpoint
`;

/** chDB: a histogram per provider (buckets of event counts), written series by series. */
const HISTOGRAM_PIPE = `NODE buckets
SQL >
    SELECT 'email_batch_size' AS name, 'histogram' AS type, 'Events per provider, as a histogram' AS help,
        [('provider', provider), ('le', le)] AS labels, toFloat64(countIf(kind != '' AND n <= toFloat64(le))) AS value
    FROM (SELECT provider, kind, 1 AS n FROM sends)
    ARRAY JOIN ['1', '+Inf'] AS le
    GROUP BY provider, le
    UNION ALL
    SELECT 'email_batch_size', '', '', [('provider', provider), ('count', '')], toFloat64(count())
    FROM sends
    GROUP BY provider
    UNION ALL
    SELECT 'email_batch_size', '', '', [('provider', provider), ('sum', '')], toFloat64(count())
    FROM sends
    GROUP BY provider

TYPE endpoint
`;

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

describe('Prometheus scraping .prometheus endpoints', () => {
  const write = useProjectFiles('prometheus');
  let ch: ClickHouseServer;
  let dev: DevServer;
  let serve: ServeProcess;
  let prometheus: ResultPromise;
  let promUrl: string;
  let promDir: string;

  async function post(url: string, token: string, events: object[]): Promise<void> {
    const res = await fetch(`${url}/v0/events?name=sends&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: events.map((e) => JSON.stringify(e)).join('\n') });
    expect(res.status, await res.clone().text()).toBe(200);
  }

  async function query(promql: string): Promise<PromResult[]> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: PromResult[] } };
    expect(body.status).toBe('success');
    return body.data.result;
  }

  beforeAll(async () => {
    const files = { 'datasources/sends.datasource': SENDS, 'pipes/email_event_metrics.pipe': PAIRS_PIPE };
    const plain = 'NODE kinds\nSQL >\n    SELECT kind, count() AS n FROM sends GROUP BY kind\n\nTYPE endpoint\n';
    dev = await startDev(write({ ...files, 'pipes/bounce_metrics.pipe': MAP_PIPE, 'pipes/kinds.pipe': plain, 'pipes/batch_histogram.pipe': HISTOGRAM_PIPE }), ['--no-watch']);
    ch = await startClickHouseServer();
    const deployed = await deployCli(write(files), ch.url, 'prom', [], { EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN });
    expect(deployed.exitCode, deployed.all).toBe(0);
    serve = await startServe(ch.url, 'prom', 300, { EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN });

    promDir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-prometheus-'));
    const job = (name: string, url: string, pipe: string, token: string) =>
      `  - job_name: ${name}\n    scrape_interval: 1s\n    metrics_path: /v0/pipes/${pipe}.prometheus\n    authorization:\n      credentials: ${token}\n    static_configs:\n      - targets: ['${new URL(url).host}']\n`;
    writeFileSync(
      path.join(promDir, 'prometheus.yml'),
      'global:\n  scrape_interval: 1s\nscrape_configs:\n' +
        job('dev_pairs', dev.url, 'email_event_metrics', dev.token) +
        job('dev_map', dev.url, 'bounce_metrics', dev.token) +
        job('dev_histogram', dev.url, 'batch_histogram', dev.token) +
        job('serve_pairs', serve.url, 'email_event_metrics', PROD_TOKEN),
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = execa(PROMETHEUS, [`--config.file=${path.join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { reject: false, all: true, buffer: true });
    await eventually(async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200, 30_000, 'Prometheus to be ready');
  }, 120_000);

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await prometheus;
    await dev?.stop();
    await serve?.stop();
    await ch?.stop();
    if (promDir) rmSync(promDir, { recursive: true, force: true });
  });

  it('reads the counts of dev (chDB) and serve (ClickHouse 18.16) from their endpoints, labels as pairs or a Map', async () => {
    const events = [
      { kind: 'delivered', provider: 'ses' },
      { kind: 'delivered', provider: 'ses' },
      { kind: 'delivered', provider: 'sendgrid' },
      { kind: 'bounce', provider: 'ses' },
    ];
    await post(dev.url, dev.token, events);
    await post(serve.url, PROD_TOKEN, [...events, { kind: 'bounce', provider: 'sendgrid' }]);

    // The newest sample of each series over the last minute: a scrape slowed by a busy machine leaves a stale
    // marker, which would hide the series from an instant query for a second.
    const byJob = async (job: string) => {
      const rows = await query(`last_over_time(email_events_total{job="${job}"}[1m])`);
      return Object.fromEntries(rows.map((r) => [`${r.metric.kind}/${r.metric.provider}`, Number(r.value[1])]));
    };
    const expected = {
      dev_pairs: { 'bounce/ses': 1, 'delivered/sendgrid': 1, 'delivered/ses': 2 },
      serve_pairs: { 'bounce/sendgrid': 1, 'bounce/ses': 1, 'delivered/sendgrid': 1, 'delivered/ses': 2 },
    };
    const seen: Record<string, Record<string, number>> = {};
    await eventually(
      async () => {
        for (const job of Object.keys(expected)) seen[job] = await byJob(job);
        return JSON.stringify(seen) === JSON.stringify(expected);
      },
      30_000,
      'both scrapes to carry the counts the events make',
    );
    expect(seen).toEqual(expected);

    let ratio: Record<string, number> = {};
    await eventually(
      async () => {
        ratio = Object.fromEntries((await query('last_over_time(email_bounce_ratio[1m])')).map((r) => [r.metric.provider, Number(r.value[1])]));
        return Object.keys(ratio).length === 2;
      },
      30_000,
      'the gauge from the Map labels',
    );
    expect(ratio).toEqual({ ses: 1 / 3, sendgrid: 0 });

    // A labelled histogram, read by Prometheus as one: its buckets per series, and a quantile from them.
    let buckets: string[] = [];
    await eventually(
      async () => {
        buckets = (await query('last_over_time(email_batch_size_bucket[1m])')).map((r) => `${r.metric.provider}/${r.metric.le}=${r.value[1]}`).sort();
        return buckets.length === 4;
      },
      30_000,
      'the histogram buckets',
    );
    expect(buckets).toEqual(['sendgrid/+Inf=1', 'sendgrid/1=1', 'ses/+Inf=3', 'ses/1=3']);
    const counts = Object.fromEntries((await query('last_over_time(email_batch_size_count[1m])')).map((r) => [r.metric.provider, r.value[1]]));
    expect(counts).toEqual({ sendgrid: '1', ses: '3' });
    const meta = (await (await fetch(`${promUrl}/api/v1/metadata?metric=email_batch_size`)).json()) as { data: Record<string, { type: string }[]> };
    expect(meta.data.email_batch_size[0].type).toBe('histogram');

    // Every target was up; the family's HELP and TYPE reached Prometheus' metadata.
    const up = await query('max_over_time(up[1m])');
    expect(up.map((r) => r.metric.job).sort()).toEqual(['dev_histogram', 'dev_map', 'dev_pairs', 'serve_pairs']);
    for (const r of up) expect(r.value[1], r.metric.job).toBe('1');
    const metadata = (await (await fetch(`${promUrl}/api/v1/metadata?metric=email_events_total`)).json()) as { data: Record<string, { type: string; help: string }[]> };
    expect(metadata.data.email_events_total[0]).toEqual(expect.objectContaining({ type: 'counter', help: 'Email events by kind and "provider"' }));
  }, 90_000);

  it('answers with the exposition content type, takes q over the rows, and refuses with why what it cannot make', async () => {
    const get = (p: string) => fetch(`${dev.url}${p}`, { headers: { authorization: `Bearer ${dev.token}` } });
    const res = await get(`/v0/pipes/email_event_metrics.prometheus?q=${encodeURIComponent("SELECT * FROM _ WHERE value > 1")}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toBe('# HELP email_events_total Email events by kind and "provider"\n# TYPE email_events_total counter\nemail_events_total{kind="delivered",provider="ses"} 2\n\n');
    // A trailing comment in q does not swallow the parenthesis the server closes q's rows with.
    const commented = await get(`/v0/pipes/email_event_metrics.prometheus?q=${encodeURIComponent('SELECT * FROM _ WHERE value > 1 -- the busy ones')}`);
    expect(commented.status, await commented.clone().text()).toBe(200);
    const formatted = await get(`/v0/pipes/email_event_metrics.prometheus?q=${encodeURIComponent('SELECT * FROM _ FORMAT CSV')}`);
    expect(formatted.status).toBe(400);
    expect(((await formatted.json()) as { error: string }).error).toBe('q must not name a FORMAT with .prometheus: the rows of q are what the format is made from');
    const plain = await get('/v0/pipes/kinds.prometheus');
    expect(plain.status).toBe(400);
    expect(((await plain.json()) as { error: string }).error).toBe('the .prometheus format needs the columns name (String) and value (a number), and takes help, type, labels and timestamp; kinds gives kind, n');
    // The OpenAPI document offers the format for the endpoints whose rows are metrics only.
    const paths = Object.keys(((await (await get('/v0/pipes/openapi.json')).json()) as { paths: Record<string, unknown> }).paths);
    expect(paths.filter((p) => p.endsWith('.prometheus')).sort()).toEqual(['/v0/pipes/batch_histogram.prometheus', '/v0/pipes/bounce_metrics.prometheus', '/v0/pipes/email_event_metrics.prometheus']);
    expect(paths).toContain('/v0/pipes/kinds.json');
  });
});
