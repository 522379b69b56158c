// The package as a user's project gets it: `npm pack` of this repo, installed as a dev dependency into a
// scratch project outside the repo, then `npx emailstats init | check | build | test run | dev` run there. Nothing
// of this repo's folder is reachable from the project but the tarball.
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, removeDir } from '../helpers/cli.js';
import { freePort } from '../helpers/clickhouse-server.js';

/**
 * The environment of a user's shell: without what `npm test` exports to its children (npm_config_*, npm_package_*,
 * INIT_CWD, which would point npm at this repo) and without this repo's node_modules/.bin on PATH.
 */
function userEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^npm_/i.test(k) || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((p) => !path.resolve(p).startsWith(REPO + path.sep))
    .join(path.delimiter);
  env.NO_COLOR = '1';
  return env;
}

const env = userEnv();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'emailstats-packed-'));
const project = path.join(tmp, 'my-analytics');
let packedFiles: string[] = [];

const inProject = { cwd: project, env, extendEnv: false, reject: false, all: true } as const;
// `--no`: run the project's installed emailstats, never fetch a package of that name from the registry.
const emailstats = (...args: string[]) => execa('npx', ['--no', 'emailstats', ...args], inProject);

beforeAll(async () => {
  const pack = await execa('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: REPO, env, extendEnv: false });
  const info = JSON.parse(pack.stdout)[0] as { filename: string; files: { path: string }[] };
  packedFiles = info.files.map((f) => f.path);

  mkdirSync(project);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-analytics', version: '1.0.0', private: true }, null, 2) + '\n');
  // Dependencies come from npm's cache, filled by this repo's own `npm ci`.
  const started = performance.now();
  const install = await execa('npm', ['install', '--save-dev', '--prefer-offline', '--no-audit', '--no-fund', path.join(tmp, info.filename)], inProject);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (install.exitCode !== 0) throw new Error(`npm install of the packed tarball failed (exit ${install.exitCode}):\n${install.all}`);
  console.log(`packed-install: npm install of ${info.filename} into a scratch project took ${seconds}s`);
}, 900_000);

afterAll(() => removeDir(tmp));

describe('the packed package, installed into a project of its own', () => {
  it('ships the CLI and its docs, not the example project, tests or tooling of this repo', () => {
    for (const f of ['package.json', 'README.md', 'bin/emailstats.mjs', 'cli/src/main.ts', 'cli/src/commands/init.ts', 'cli/src/util/ts-worker.mjs']) expect(packedFiles).toContain(f);
    const foreign = packedFiles.filter((f) => /^(tests|datasources|pipes|fixtures|examples|bench|node_modules|\.ci)\//.test(f) || f === 'package-lock.json' || f === 'bin/run-ts.mjs');
    expect(foreign).toEqual([]);
    // A dependency on itself would make npm resolve `file:.` against the user's project.
    const installed = JSON.parse(readFileSync(path.join(project, 'node_modules/emailstats/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(installed.dependencies)).not.toContain('emailstats');
    // The command npx runs is the installed copy, inside the project.
    expect(realpathSync(path.join(project, 'node_modules/.bin/emailstats'))).toBe(path.join(realpathSync(project), 'node_modules/emailstats/bin/emailstats.mjs'));
  });

  it('runs init, check, build and test run from the project folder', async () => {
    const init = await emailstats('init');
    expect(init.exitCode, init.all).toBe(0);
    expect(init.stdout).toContain('endpoints/event_counts.pipe');

    const check = await emailstats('check');
    expect(check.exitCode, check.all).toBe(0);
    expect(check.stdout).toContain('✓ 2 datafiles, no errors');

    const build = await emailstats('build');
    expect(build.exitCode, build.all).toBe(0);
    expect(build.stdout).toContain('Build completed');

    const test = await emailstats('test', 'run');
    expect(test.exitCode, test.all).toBe(0);
    expect(test.stdout).toContain('2 passed, 0 failed');
  }, 300_000);

  it('serves the project with dev: the printed endpoint URL answers with the fixture data', async () => {
    // The project is the one `init` created in the test above.
    const port = await freePort();
    // Its own process group, so one signal reaches npx, the shell it starts and the CLI.
    const dev = execa('npx', ['--no', 'emailstats', 'dev', '--port', String(port)], { ...inProject, detached: true, buffer: false });
    let out = '';
    dev.all!.on('data', (chunk: Buffer) => void (out += chunk.toString()));
    const stopGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-dev.pid!, signal);
      } catch {
        // already gone
      }
    };
    try {
      const deadline = Date.now() + 120_000;
      let match: RegExpExecArray | null = null;
      while (!(match = /» endpoint event_counts: (\S+)/.exec(out))) {
        if (dev.exitCode !== null) throw new Error(`dev exited with ${dev.exitCode} before serving:\n${out}`);
        if (Date.now() > deadline) throw new Error(`dev did not print the endpoint URL within 120 s:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = new URL(match[1]!);
      expect(url.origin).toBe(`http://127.0.0.1:${port}`);
      expect(url.searchParams.get('token')).toBeTruthy();
      url.searchParams.set('event', 'login');
      const res = await fetch(url);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { data: unknown[] };
      expect(body.data).toEqual([{ event: 'login', events: 4, users: 2 }]);

      const unauthorized = await fetch(`http://127.0.0.1:${port}/v0/pipes/event_counts.json`);
      expect(unauthorized.status).toBe(403);
    } finally {
      stopGroup('SIGINT');
      const stopped = await Promise.race([dev.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
      if (!stopped) stopGroup('SIGKILL');
    }
    expect(out).toContain('SIGINT: stopping');
  }, 300_000);
});
