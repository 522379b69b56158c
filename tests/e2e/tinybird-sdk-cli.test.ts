// Tinybird's own TypeScript SDK CLI (`tinybird` of @tinybirdco/sdk 0.0.84) against a real `emailstats dev` and a
// real `serve` on ClickHouse 18.16: a scratch project defines one datasource and one endpoint in TypeScript, and
// the SDK's CLI finds the server through tinybird.config.json (`baseUrl` and `token` from TINYBIRD_HOST and
// TINYBIRD_TOKEN). `tinybird build` (on a feature branch: GET /v0/environments, POST /v1/environments, GET
// /v0/jobs/<id>, GET /v1/workspace, POST /v1/build), `tinybird deploy` (GET /v1/deployments, POST /v1/deploy) and
// `tinybird info` (GET /v1/workspace, /v0/environments/<b>, /v1/environments).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, removeDir, runCli, startDev, type DevServer } from '../helpers/cli.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { deployCli, startServe, PROD_TOKEN, type ServeProcess } from '../helpers/serve.js';

const TINYBIRD_BIN = path.join(REPO, 'node_modules/.bin/tinybird');
const GIT_BRANCH = 'feature/sdk-cli';

const DATASOURCE = `export const pageViews = defineDatasource("page_views", {
  description: "Page views",
  schema: {
    timestamp: t.dateTime(),
    pathname: t.string(),
    country: t.string().lowCardinality().nullable(),
    /*EXTRA_COLUMN*/
  },
  engine: engine.mergeTree({ sortingKey: ["pathname", "timestamp"] }),
});
`;

const ENDPOINT = (from: string) => `export const topPages = defineEndpoint("top_pages", {
  description: "Most visited pages",
  params: { limit: p.int32().optional(10) },
  nodes: [
    node({
      name: "aggregated",
      sql: \`
        SELECT pathname, count() AS views
        FROM ${from}
        GROUP BY pathname
        ORDER BY views DESC, pathname
        LIMIT {{Int32(limit, 10)}}
      \`,
    }),
  ],
  output: { pathname: t.string(), views: t.uint64() },
});
`;

const IMPORTS = `import { defineDatasource, defineEndpoint, node, t, p, engine } from "@tinybirdco/sdk";\n\n`;

/** A scratch SDK project: tinybird.config.json, lib/tinybird.ts, and the repo's node_modules (the SDK and esbuild). */
function sdkProject(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-sdk-cli-'));
  mkdirSync(path.join(dir, 'lib'));
  mkdirSync(path.join(dir, 'home'));
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  writeFileSync(path.join(dir, 'tinybird.config.json'), JSON.stringify({ include: ['lib/tinybird.ts'], token: '${TINYBIRD_TOKEN}', baseUrl: '${TINYBIRD_HOST}' }, null, 2));
  writeSchema(dir, { datasource: true });
  return dir;
}

function writeSchema(dir: string, opts: { datasource: boolean; extraColumn?: string; from?: string }): void {
  const ds = opts.datasource ? DATASOURCE.replace('/*EXTRA_COLUMN*/', opts.extraColumn ?? '') : '';
  writeFileSync(path.join(dir, 'lib/tinybird.ts'), IMPORTS + ds + '\n' + ENDPOINT(opts.from ?? 'page_views'));
}

/** The SDK's CLI, run from the project as a developer would, on a git feature branch (read from CI variables). */
function tinybird(dir: string, args: string[], host: string, token: string) {
  return execa(TINYBIRD_BIN, args, {
    cwd: dir,
    env: {
      TINYBIRD_HOST: host,
      TINYBIRD_TOKEN: token,
      // The scratch folder is no git repository (git stops at its parent); the branch comes from CI variables.
      GIT_CEILING_DIRECTORIES: path.dirname(dir),
      GITHUB_HEAD_REF: GIT_BRANCH,
      VERCEL_GIT_COMMIT_REF: '',
      HOME: path.join(dir, 'home'),
      NO_COLOR: '1',
    },
    reject: false,
    all: true,
    timeout: 120_000,
  });
}

async function api<T = Record<string, unknown>>(base: string, pathAndQuery: string, token: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${pathAndQuery}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  return { status: res.status, body: (await res.json()) as T };
}

// The SDK CLI bundles the TypeScript with esbuild on every run: generous per-test time on a loaded machine.
describe('the Tinybird SDK CLI against emailstats dev', { timeout: 180_000 }, () => {
  let devDir: string;
  let sdkDir: string;
  let dev: DevServer;

  beforeAll(async () => {
    devDir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-sdk-cli-dev-'));
    sdkDir = sdkProject();
    dev = await startDev(devDir);
  });

  afterAll(async () => {
    await dev?.stop();
    if (devDir) removeDir(devDir);
    if (sdkDir) rmSync(sdkDir, { recursive: true, force: true });
  });

  it('tinybird build creates a branch (a name for the dev workspace) and builds the datasource and the endpoint into dev', async () => {
    const r = await tinybird(sdkDir, ['build'], dev.url, dev.token);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/Tinybird branch: feature_sdk_cli/);
    expect(r.all).toMatch(/page_views\.datasource created/);
    expect(r.all).toMatch(/top_pages\.pipe created/);
    expect(dev.output()).toContain('» tinybird build over HTTP: datasources/page_views.datasource, pipes/top_pages.pipe');

    const ds = await api<{ columns: { name: string; type: string }[] }>(dev.url, '/v0/datasources/page_views', dev.token);
    expect(ds.status).toBe(200);
    expect(ds.body.columns.map((c) => [c.name, c.type])).toEqual([['timestamp', 'DateTime'], ['pathname', 'String'], ['country', 'LowCardinality(Nullable(String))']]);
    const events = ['/a', '/a', '/b'].map((p, i) => JSON.stringify({ timestamp: `2025-01-01 00:00:0${i}`, pathname: p, country: i ? 'ES' : null })).join('\n');
    const ingest = await api(dev.url, '/v0/events?name=page_views&wait=true', dev.token, { method: 'POST', body: events });
    expect(ingest.body).toEqual({ successful_rows: 3, quarantined_rows: 0 });
    const top = await api<{ data: { pathname: string; views: number }[] }>(dev.url, '/v0/pipes/top_pages.json?limit=1', dev.token);
    expect(top.body.data).toEqual([{ pathname: '/a', views: 2 }]);

    const branches = await api<{ environments: { name: string }[] }>(dev.url, '/v1/environments', dev.token);
    expect(branches.body.environments.map((b) => b.name)).toEqual(['feature_sdk_cli']);
    // A second build finds the branch and reports that nothing changed.
    const again = await tinybird(sdkDir, ['build'], dev.url, dev.token);
    expect(again.exitCode, again.all).toBe(0);
    expect(again.all).toMatch(/feature_sdk_cli existing/);
    expect(again.all).toMatch(/No changes/i);
  });

  it('tinybird deploy applies a changed definition (data kept), live at once, and lists it in /v1/deployments', async () => {
    writeSchema(sdkDir, { datasource: true, extraColumn: 'referrer: t.string(),' });
    const r = await tinybird(sdkDir, ['deploy'], dev.url, dev.token);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/modified\s*│\s*page_views\s*│\s*datasource/);
    expect(r.all).toMatch(/Deployment #1 is live/);

    const ds = await api<{ columns: { name: string }[]; statistics: { row_count: number } }>(dev.url, '/v0/datasources/page_views', dev.token);
    expect(ds.body.columns.map((c) => c.name)).toEqual(['timestamp', 'pathname', 'country', 'referrer']);
    expect(ds.body.statistics.row_count).toBe(3);
    const top = await api<{ data: { pathname: string; views: number }[] }>(dev.url, '/v0/pipes/top_pages.json', dev.token);
    expect(top.body.data).toEqual([{ pathname: '/a', views: 2 }, { pathname: '/b', views: 1 }]);

    const list = await api<{ deployments: { id: string; status: string; live: boolean; changed_datasource_names: string[] }[] }>(dev.url, '/v1/deployments', dev.token);
    expect(list.body.deployments).toMatchObject([{ id: '1', status: 'data_ready', live: true, changed_datasource_names: ['page_views'] }]);
    const unchanged = await tinybird(sdkDir, ['deploy'], dev.url, dev.token);
    expect(unchanged.exitCode, unchanged.all).toBe(0);
    expect(unchanged.all).toMatch(/No changes/);
  });

  it('tinybird info prints the dev workspace, the API host and the branch', async () => {
    const r = await tinybird(sdkDir, ['info'], dev.url, dev.token);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(new RegExp(`Name:\\s+${path.basename(devDir)}\\n`));
    expect(r.all).toContain(`API:       ${dev.url}`);
    expect(r.all).toMatch(/» Branch:\s+Name:\s+feature_sdk_cli/);
  });

  it('a broken definition fails the build with the datafile error; dev keeps serving the last good version', async () => {
    writeSchema(sdkDir, { datasource: true, extraColumn: 'referrer: t.string(),', from: 'page_viewz' });
    const r = await tinybird(sdkDir, ['build'], dev.url, dev.token);
    expect(r.exitCode).toBe(1);
    expect(r.all).toMatch(/pipes\/top_pages\.pipe:\d+:\d+: node aggregated: unknown table 'page_viewz'/);
    const top = await api<{ data: unknown[] }>(dev.url, '/v0/pipes/top_pages.json', dev.token);
    expect(top.status).toBe(200);
    expect(top.body.data).toHaveLength(2);
  });

  it('a deployment that would drop a datasource holding rows needs --allow-destructive-operations', async () => {
    writeSchema(sdkDir, { datasource: false, from: '(SELECT toString(number) AS pathname FROM numbers(2))' });
    const refused = await tinybird(sdkDir, ['deploy'], dev.url, dev.token);
    expect(refused.exitCode).toBe(1);
    expect(refused.all).toMatch(/datasource page_views: deleting it drops the table and its 3 rows; deploy with --allow-destructive-operations/);
    expect((await api(dev.url, '/v0/datasources/page_views', dev.token)).status).toBe(200);
    writeSchema(sdkDir, { datasource: true, extraColumn: 'referrer: t.string(),' }); // as deployed
  });

  it('every /v1 route needs the admin token', async () => {
    const created = await api<{ token: string }>(dev.url, '/v0/tokens?name=sdk_cli_reader&scope=PIPES:READ:top_pages', dev.token, { method: 'POST' });
    expect(created.status).toBe(200);
    const form = new FormData();
    form.append('data_project://', new Blob(['SCHEMA >\n    x Int32\n']), 'x.datasource');
    for (const token of ['', created.body.token, 'not_a_token']) {
      const build = await fetch(`${dev.url}/v1/build`, { method: 'POST', body: form, headers: token ? { authorization: `Bearer ${token}` } : {} });
      expect(build.status).toBe(403);
      expect(((await build.json()) as { error: string }).error).toMatch(/token/);
    }
    const ws = await api(dev.url, '/v1/workspace', created.body.token);
    expect(ws.status).toBe(403);
    expect((await api(dev.url, '/v0/datasources/x', dev.token)).status).toBe(404); // nothing was built
  });

  it('a restart of dev serves the project last built over HTTP again (its tables and rows kept), not the empty folder', async () => {
    await dev.stop();
    dev = await startDev(devDir);
    expect(dev.output()).toContain('» serving the project last built over HTTP');
    const ds = await api<{ statistics: { row_count: number } }>(dev.url, '/v0/datasources/page_views', dev.token);
    expect(ds.status).toBe(200);
    expect(ds.body.statistics.row_count).toBe(3);
    const top = await api<{ data: { pathname: string; views: number }[] }>(dev.url, '/v0/pipes/top_pages.json?limit=1', dev.token);
    expect(top.body.data).toEqual([{ pathname: '/a', views: 2 }]);
    // The SDK CLI carries on against the restarted dev: same project, nothing to deploy.
    const r = await tinybird(sdkDir, ['deploy'], dev.url, dev.token);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/No changes/);
  });
});

describe('the Tinybird SDK CLI against emailstats serve (ClickHouse 18.16)', { timeout: 180_000 }, () => {
  let ch: ClickHouseServer;
  let project: string;
  let sdkDir: string;
  let serve: ServeProcess;

  beforeAll(async () => {
    ch = await startClickHouseServer();
    project = mkdtempSync(path.join(os.tmpdir(), 'emailstats-sdk-cli-deployed-'));
    const init = await runCli(['init', project]);
    expect(init.exitCode, init.all).toBe(0);
    const deployed = await deployCli(project, ch.url, 'sdk_cli');
    expect(deployed.exitCode, deployed.all).toBe(0);
    serve = await startServe(ch.url, 'sdk_cli', 300, { EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN });
    sdkDir = sdkProject();
  }, 180_000);

  afterAll(async () => {
    await serve?.stop();
    await ch?.stop();
    if (project) removeDir(project);
    if (sdkDir) rmSync(sdkDir, { recursive: true, force: true });
  });

  it('tinybird info prints the workspace (the database); deploy and build are refused with the way to deploy', async () => {
    const info = await tinybird(sdkDir, ['info'], serve.url, PROD_TOKEN);
    expect(info.exitCode, info.all).toBe(0);
    expect(info.all).toMatch(/Name:\s+sdk_cli\n/);

    const deploy = await tinybird(sdkDir, ['deploy'], serve.url, PROD_TOKEN);
    expect(deploy.exitCode).toBe(1);
    expect(deploy.all).toMatch(/takes no builds or deployments over HTTP: deploy with `emailstats deploy` from CI/);

    const build = await tinybird(sdkDir, ['build'], serve.url, PROD_TOKEN);
    expect(build.exitCode).toBe(1);
    expect(build.all).toMatch(/Failed to create branch 'feature_sdk_cli': 405[\s\S]*emailstats deploy/);
    // Nothing of the SDK project reached the deployed one.
    expect((await serve.get('/v0/datasources/page_views')).status).toBe(404);
  });
});
