// `emailstats init`: the project it creates passes check, build and test run as created, and it never
// overwrites a file.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, runCli } from '../helpers/cli.js';

const SCAFFOLD = ['datasources/events.datasource', 'endpoints/event_counts.pipe', 'fixtures/events.ndjson', 'tests/event_counts.yaml'];

const parent = mkdtempSync(path.join(os.tmpdir(), 'emailstats-init-'));
afterAll(() => removeDir(parent));

describe('emailstats init', () => {
  it('creates a project in a new folder that passes check, build and test run', async () => {
    const init = await runCli(['init', 'analytics'], { cwd: parent });
    expect(init.exitCode, init.all).toBe(0);
    const root = path.join(parent, 'analytics');
    for (const f of SCAFFOLD) expect(existsSync(path.join(root, f)), f).toBe(true);
    expect(readFileSync(path.join(root, '.gitignore'), 'utf8')).toMatch(/^\.emailstats\/$/m);
    // The next steps start with the folder to go to, then the commands to run there.
    expect(init.stdout).toContain('cd analytics');
    expect(init.stdout).toContain('npx emailstats test run');

    const check = await runCli(['check'], { cwd: root });
    expect(check.exitCode, check.all).toBe(0);
    expect(check.stdout).toContain('✓ 2 datafiles, no errors');

    const build = await runCli(['build'], { cwd: root });
    expect(build.exitCode, build.all).toBe(0);
    expect(build.stdout).toContain('fixtures/events.ndjson loaded into events (8 rows)');

    const test = await runCli(['test', 'run'], { cwd: root });
    expect(test.exitCode, test.all).toBe(0);
    expect(test.stdout).toContain('2 passed, 0 failed');
  });

  it('refuses to write anything when one of its files exists, naming it', async () => {
    const root = path.join(parent, 'existing');
    mkdirSync(path.join(root, 'endpoints'), { recursive: true });
    writeFileSync(path.join(root, 'endpoints/event_counts.pipe'), 'my own pipe\n');

    const r = await runCli(['init', root]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('endpoints/event_counts.pipe already exists');
    expect(r.stderr).toContain('never overwrites');
    expect(readFileSync(path.join(root, 'endpoints/event_counts.pipe'), 'utf8')).toBe('my own pipe\n');
    for (const f of SCAFFOLD.filter((f) => !f.startsWith('endpoints/'))) expect(existsSync(path.join(root, f)), f).toBe(false);
    expect(existsSync(path.join(root, '.gitignore'))).toBe(false);
  });

  it("adds .emailstats/ to the project's own .gitignore, keeping what it has", async () => {
    const root = path.join(parent, 'with-gitignore');
    mkdirSync(root);
    writeFileSync(path.join(root, '.gitignore'), 'dist'); // no final newline
    const r = await runCli(['init'], { cwd: root });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).not.toContain('cd ');
    expect(readFileSync(path.join(root, '.gitignore'), 'utf8')).toBe('dist\n.emailstats/\n');
  });
});
