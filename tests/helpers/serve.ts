// Drives the production commands as CI and an orchestrator would: `deploy` with EMAILSTATS_* variables and
// `serve` processes on free ports, each with its own WAL directory.
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { BIN, copyProject, removeDir, runCli } from './cli.js';
import { freePort, startClickHouseServer, type ClickHouseServer } from './clickhouse-server.js';

export const PROD_TOKEN = 'es_test_prod_admin_token';

export function targetEnv(url: string, database: string): Record<string, string> {
  return { EMAILSTATS_CLICKHOUSE_URL: url, EMAILSTATS_CLICKHOUSE_DATABASE: database, EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN };
}

export function deployCli(project: string, url: string, database: string, args: string[] = [], env: Record<string, string> = {}) {
  return runCli(['deploy', '--project', project, '--yes', ...args], { env: { ...targetEnv(url, database), ...env } });
}

export interface ServeProcess {
  url: string;
  output: () => string;
  process: ResultPromise;
  get(pathAndQuery: string): Promise<{ status: number; body: { data: Record<string, unknown>[]; meta: { name: string }[]; error?: string } }>;
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** `walDir`: pass the same folder again to restart a serve process on the log it left (crash tests). */
export async function startServe(
  url: string,
  database: string,
  pollMs = 300,
  env: Record<string, string> = {},
  walDir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-serve-wal-')),
): Promise<ServeProcess> {
  const port = await freePort();
  const proc = execa('node', [BIN, 'serve', '--port', String(port), '--host', '127.0.0.1', '--wal-dir', walDir, '--poll-interval-ms', String(pollMs)], {
    env: { EMAILSTATS_CLICKHOUSE_URL: url, EMAILSTATS_CLICKHOUSE_DATABASE: database, NO_COLOR: '1', ...env },
    reject: false,
    all: true,
    buffer: false,
  });
  let out = '';
  proc.all!.on('data', (c: Buffer) => void (out += c.toString()));
  const waitFor = async (text: string | RegExp, timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const found = (): boolean => (typeof text === 'string' ? out.includes(text) : text.test(out));
    while (!found()) {
      if (proc.exitCode !== null) throw new Error(`serve exited with ${proc.exitCode} before printing ${text}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${text} in serve output:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await waitFor('listening on');
  const base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    output: () => out,
    process: proc,
    waitFor,
    get: async (p) => {
      const res = await fetch(`${base}${p}`, { headers: { authorization: `Bearer ${PROD_TOKEN}` } });
      return { status: res.status, body: (await res.json()) as never };
    },
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await proc;
      }
    },
  };
}

/** Polls `check` until it returns true or the time is up. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs a query on the ClickHouse server's HTTP interface and returns JSONEachRow rows. */
export async function chQuery<T = Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const res = await fetch(`${url}/?output_format_json_quote_64bit_integers=0`, { method: 'POST', body: `${sql} FORMAT JSONEachRow` });
  const text = await res.text();
  if (!res.ok) throw new Error(`${sql}: ${text}`);
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

/** Runs a statement that returns nothing (an INSERT ... SELECT, an ALTER) on the ClickHouse server's HTTP interface. */
export async function chExec(url: string, sql: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', body: sql });
  if (!res.ok) throw new Error(`${sql}: ${await res.text()}`);
}

/** The deployment a serve process last said it serves, from its log. */
export function currentDeployment(output: string): number | undefined {
  const all = [...output.matchAll(/(?:serving deployment|to) #(\d+) \(content/g)];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
}

/**
 * For a describe block: a private ClickHouse server with a copy of the email project deployed into `database`
 * (deployment #1), and the serve processes the tests start (stopped afterwards, then the server).
 */
export function useDeployedProject(database: string): { ch: () => ClickHouseServer; project: () => string; serves: ServeProcess[] } {
  let ch: ClickHouseServer | undefined;
  let project: string | undefined;
  const serves: ServeProcess[] = [];
  beforeAll(async () => {
    ch = await startClickHouseServer();
    project = copyProject();
    const r = await deployCli(project, ch.url, database);
    expect(r.exitCode, r.all).toBe(0);
  }, 90_000);
  afterAll(async () => {
    for (const s of serves) await s.stop();
    await ch?.stop();
    if (project) removeDir(project);
  });
  return { ch: () => ch!, project: () => project!, serves };
}
