// One spelling of the ClickHouse connection options for every command (--clickhouse-*, EMAILSTATS_CLICKHOUSE_*;
// the old --url / EMAILSTATS_URL still work with a note), no silently chosen engine, and clean exits: every error
// exits 1 with its message, also after the embedded engine ran (it used to end in a segfault, exit 139).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyProject, removeDir, runCli } from '../helpers/cli.js';
import { freePort, startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** A one-datasource project with a three-row fixture: quick to build on either engine. */
function tinyProject(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-names-'));
  dirs.push(dir);
  mkdirSync(path.join(dir, 'datasources'));
  mkdirSync(path.join(dir, 'fixtures'));
  writeFileSync(path.join(dir, 'datasources/things.datasource'), 'SCHEMA >\n    `id` Int32 `json:$.id`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "id"\n');
  writeFileSync(path.join(dir, 'fixtures/things.ndjson'), '{"id":1}\n{"id":2}\n{"id":3}\n');
  return dir;
}

const VERSION_SQL = 'SELECT version() AS v, count() AS n FROM things';
const versionOf = (stdout: string): string => (JSON.parse(stdout) as { data: { v: string }[] }).data[0].v;

/** No stack trace and no crash: the message alone. */
function expectCleanError(r: { exitCode?: number; stderr: string; all?: string }, message: string | RegExp): void {
  expect(r.exitCode, r.all).toBe(1);
  expect(r.stderr).toMatch(typeof message === 'string' ? new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : message);
  expect(r.stderr, r.all).not.toMatch(/^\s+at /m);
}

describe('one set of connection names', () => {
  let ch: ClickHouseServer;
  beforeAll(async () => {
    ch = await startClickHouseServer();
  });
  afterAll(async () => ch?.stop());

  it('the production variables reach `sql` too: it answers from the server, never silently from the local engine', async () => {
    const project = tinyProject();
    const local = await runCli(['sql', VERSION_SQL, '--format', 'json', '--project', project]);
    expect(local.exitCode, local.all).toBe(0);
    expect(versionOf(local.stdout)).not.toMatch(/^18\./);

    // The old (deploy/serve) spelling: it used to be ignored by `sql`, which then answered from chDB.
    const old = await runCli(['sql', VERSION_SQL, '--format', 'json', '--project', project], { env: { EMAILSTATS_URL: ch.url, EMAILSTATS_DATABASE: 'names_old' } });
    expect(old.exitCode, old.all).toBe(0);
    expect(versionOf(old.stdout)).toMatch(/^18\.16/);
    expect(old.stderr).toContain('note: EMAILSTATS_URL is deprecated; use EMAILSTATS_CLICKHOUSE_URL');
    expect(old.stderr).toContain('note: EMAILSTATS_DATABASE is deprecated; use EMAILSTATS_CLICKHOUSE_DATABASE');

    const current = await runCli(['sql', VERSION_SQL, '--format', 'json', '--project', project], { env: { EMAILSTATS_CLICKHOUSE_URL: ch.url, EMAILSTATS_CLICKHOUSE_DATABASE: 'names_new' } });
    expect(current.exitCode, current.all).toBe(0);
    expect(versionOf(current.stdout)).toMatch(/^18\.16/);
    expect(current.stderr).not.toContain('deprecated');
  }, 180_000);

  it('deployment takes --clickhouse-url like every command; --url still works, with a note', async () => {
    const now = await runCli(['deployment', 'ls', '--clickhouse-url', ch.url, '--clickhouse-database', 'names_deploy']);
    expect(now.exitCode, now.all).toBe(0);
    expect(now.stdout).toContain('no deployments in');
    expect(now.stderr).not.toContain('deprecated');
    const old = await runCli(['deployment', 'ls', '--url', ch.url, '--database', 'names_deploy']);
    expect(old.exitCode, old.all).toBe(0);
    expect(old.stdout).toContain('no deployments in');
    expect(old.stderr).toContain('note: --url is deprecated; use --clickhouse-url');
  }, 60_000);

  it('two different values for one setting are refused, naming both (passwords not shown)', async () => {
    const env = await runCli(['sql', 'SELECT 1', '--project', tinyProject()], { env: { EMAILSTATS_URL: 'http://127.0.0.1:1', EMAILSTATS_CLICKHOUSE_URL: 'http://127.0.0.1:2' } });
    expectCleanError(env, 'two different ClickHouse urls given: EMAILSTATS_CLICKHOUSE_URL=http://127.0.0.1:2 and EMAILSTATS_URL=http://127.0.0.1:1');
    const flags = await runCli(['deploy', '--url', 'http://a:8123', '--clickhouse-url', 'http://b:8123']);
    expectCleanError(flags, 'two different ClickHouse urls given: --clickhouse-url=http://b:8123 and --url=http://a:8123');
    const secret = await runCli(['deployment', 'ls', '--clickhouse-url', 'http://127.0.0.1:1'], { env: { EMAILSTATS_PASSWORD: 'hunter2', EMAILSTATS_CLICKHOUSE_PASSWORD: 'swordfish' } });
    expectCleanError(secret, 'two different ClickHouse passwords given: EMAILSTATS_CLICKHOUSE_PASSWORD and EMAILSTATS_PASSWORD');
    expect(secret.stderr).not.toMatch(/hunter2|swordfish/);
  }, 60_000);

  it('a user, password or database without a URL is refused instead of ignored in favour of the embedded engine', async () => {
    const r = await runCli(['sql', 'SELECT 1', '--project', tinyProject(), '--clickhouse-database', 'prod']);
    expectCleanError(r, '--clickhouse-database is set but no ClickHouse server URL: give --clickhouse-url (or EMAILSTATS_CLICKHOUSE_URL) to use that server');
    const deploy = await runCli(['deploy', '--project', tinyProject()]);
    expectCleanError(deploy, 'no ClickHouse server given: pass --clickhouse-url http://host:8123 or set EMAILSTATS_CLICKHOUSE_URL');
  }, 60_000);
});

describe('clean exits', () => {
  let busy: Server;
  let busyPort: number;
  beforeAll(async () => {
    busyPort = await freePort();
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(busyPort, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

  // The first two crashed with exit 139 (chDB torn down under process.exit); they fail right after the
  // project was built into the embedded engine, with nothing else run.
  it('every error exits 1 with its message, also once the embedded engine has opened', async () => {
    const project = copyProject();
    dirs.push(project);
    const at = ['--project', project];
    expectCleanError(await runCli(['endpoint', 'stats', 'campaign_stats', '--window', '5', ...at]), "--window '5' is not a duration");
    expectCleanError(await runCli(['token', 'create', 'static', 'nightly', ...at]), 'give the token at least one --scope');
    expectCleanError(await runCli(['dev', '--no-watch', '--port', String(busyPort), ...at]), `port ${busyPort} is already in use; pick another with --port`);
    expectCleanError(await runCli(['sql', 'SELECT nope FROM email_events', ...at]), /nope/);
    expectCleanError(await runCli(['dev', '--no-watch', '--port', 'abc', ...at]), "--port must be a port number from 0 to 65535, got 'abc'");
  }, 240_000);

  it('an unreachable server is a message, not a stack trace', async () => {
    const port = await freePort();
    const r = await runCli(['sql', 'SELECT 1', '--project', tinyProject(), '--clickhouse-url', `http://127.0.0.1:${port}`]);
    expectCleanError(r, `cannot reach ClickHouse at http://127.0.0.1:${port}`);
  }, 60_000);

  it('--param without = says how to write it', async () => {
    const data = await runCli(['endpoint', 'data', 'campaign_stats', '--param', 'campaign_id']);
    expectCleanError(data, '--param takes name=value, e.g. --param campaign_id=camp_1');
    const render = await runCli(['render', 'campaign_stats', '--param', '=camp_1']);
    expectCleanError(render, '--param takes name=value');
  }, 60_000);
});
