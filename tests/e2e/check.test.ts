import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '../..');
const bin = path.join(repo, 'bin/emailstats.mjs');
const dirs: string[] = [];

async function project(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'es-check-'));
  dirs.push(root);
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), text);
  }
  return root;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const run = (...args: string[]) => execa('node', [bin, 'check', ...args], { reject: false, cwd: repo });

describe('emailstats check', () => {
  it('prints every problem of every file with path:line:col and exits 1', async () => {
    const root = await project({
      'datasources/events.datasource': 'SCHEMA >\n    a Int32 NULL,\n    b#c String,\n    c Boolean\nENGINE Log\nFOO bar\n',
      'pipes/stats.pipe': 'NODE stats_node\nSQL SELECT 1\nTYPE nope\nTOKEN t APPEND\nVERSION 3\n',
      'pipes/fine.pipe': 'NODE n\nSQL >\n    SELECT 1\nTYPE endpoint\n',
    });
    const r = await run(root);
    expect(r.exitCode).toBe(1);
    const out = r.stdout;
    for (const line of [
      'datasources/events.datasource:2:13: NULL column syntax not supported',
      "datasources/events.datasource:3:6: Column name contains invalid character '#'",
      'datasources/events.datasource:4:7: Boolean type is not supported',
      'datasources/events.datasource:5:1: Engine Log is not supported',
      'datasources/events.datasource:6:1: FOO is not a valid option in datasource files.',
      'pipes/stats.pipe:2:1: SQL must be multiline',
      "pipes/stats.pipe:3:1: Invalid node ''stats_node'' of type (nope)",
      'pipes/stats.pipe:4:1: Invalid permission APPEND for token t. Only READ is allowed for pipes',
      'pipes/stats.pipe:5:1: warning: VERSION has been deprecated and will be ignored.',
      '  hint: use backticks',
    ])
      expect(out).toContain(line);
    // The excerpt puts a caret under the column.
    expect(out).toContain('  2:     a Int32 NULL,\n                 ^');
    expect(out.trimEnd().split('\n').pop()).toBe('✗ 8 errors in 2 files (2 warnings)');
  });

  it('exits 0 on a clean project (also with --project)', async () => {
    const root = await project({
      'datasources/email_events.datasource': 'SCHEMA >\n    `a` Int32 `json:$.a`\nENGINE_SORTING_KEY a\n',
      'endpoints/e.pipe': 'NODE n\nSQL >\n    %\n    SELECT * FROM email_events WHERE a = {{Int32(a, 1)}}\nTYPE endpoint\n',
    });
    const r = await run(root);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe('✓ 2 datafiles, no errors');
    const r2 = await run('--project', root);
    expect(r2.exitCode).toBe(0);
    expect(r2.stdout).toContain('✓ 2 datafiles, no errors');
  });

  it('the repository seed datasource checks clean', async () => {
    const root = await project({ 'datasources/email_events.datasource': await readFile(path.join(repo, 'datasources/email_events.datasource'), 'utf8') });
    const r = await run(root);
    expect(r.stdout).not.toContain('datasources/email_events.datasource:');
    expect(r.stdout.trim()).toBe('✓ 1 datafiles, no errors');
    expect(r.exitCode).toBe(0);
  });
});
