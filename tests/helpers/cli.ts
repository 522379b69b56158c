// Drives the real CLI as a user would: `node bin/emailstats.mjs ...` through execa, and a `dev` server on a
// free port that the test stops at the end.
import { execa, type ResultPromise } from 'execa';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './clickhouse-server.js';

export const REPO = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(REPO, 'bin/emailstats.mjs');

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string>; reject?: boolean } = {}) {
  return execa('node', [BIN, ...args], { cwd: opts.cwd ?? REPO, env: { ...opts.env, NO_COLOR: '1' }, reject: opts.reject ?? false, all: true });
}

/** A temporary copy of the repo's email project (datafiles, fixtures, tests), without runtime state. */
export function copyProject(extra: string[] = []): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-project-'));
  for (const sub of ['datasources', 'pipes', 'fixtures', ...extra]) cpSync(path.join(REPO, sub), path.join(dir, sub), { recursive: true });
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface DevServer {
  url: string;
  token: string;
  output: () => string;
  process: ResultPromise;
  stop(): Promise<void>;
  /** Waits until the output contains `text` after `from` characters. */
  waitFor(text: string | RegExp, timeoutMs?: number, from?: number): Promise<void>;
}

export const ADMIN_TOKEN = 'es_test_admin_token';

export async function startDev(projectDir: string, extraArgs: string[] = [], env: Record<string, string> = {}): Promise<DevServer> {
  const port = await freePort();
  const proc = execa('node', [BIN, 'dev', '--project', projectDir, '--port', String(port), ...extraArgs], {
    env: { EMAILSTATS_ADMIN_TOKEN: ADMIN_TOKEN, ...env },
    reject: false,
    all: true,
    buffer: false,
  });
  let out = '';
  proc.all!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const waitFor = async (text: string | RegExp, timeoutMs = 60_000, from = 0): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const found = (): boolean => (typeof text === 'string' ? out.indexOf(text, from) >= 0 : text.test(out.slice(from)));
    while (!found()) {
      if (proc.exitCode !== null) throw new Error(`dev exited with ${proc.exitCode} before printing ${text}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${text} in dev output:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  // The banner ends with the events line: the admin token and endpoint URLs are printed by then.
  await waitFor('» events: POST');
  return {
    url: `http://127.0.0.1:${port}`,
    token: ADMIN_TOKEN,
    output: () => out,
    process: proc,
    waitFor,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGINT');
        await proc;
      }
    },
  };
}
