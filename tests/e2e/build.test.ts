// `emailstats build` on the repo and on broken projects: every failure is reported as file:line with the
// engine's own message, and the exit status says pass or fail.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeDir, runCli, REPO } from '../helpers/cli.js';

const EVENTS = `SCHEMA >
    \`id\` String \`json:$.id\`,
    \`amount\` Int32 \`json:$.amount\`,
    \`ts\` DateTime \`json:$.ts\`

ENGINE "MergeTree"
ENGINE_SORTING_KEY "id, ts"
`;

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-build-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

describe('emailstats build', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('builds the repo: tables, views, fixtures and every node', async () => {
    const r = await runCli(['build', REPO]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain('datasources/email_events.datasource created');
    expect(r.stdout).toContain('pipes/email_activity_hourly_mv.pipe created');
    expect(r.stdout).toMatch(/fixtures\/email_events\.ndjson loaded into email_events \(\d+ rows\)/);
    expect(r.stdout).toContain('Build completed');
  });

  it('reports a node with an unknown column at its file and line', async () => {
    const dir = project({
      'datasources/events.datasource': EVENTS,
      'pipes/totals.pipe': 'NODE first\nSQL >\n    SELECT id, amount FROM events\n\nNODE total_by_id\nSQL >\n    SELECT id, sum(no_such_column) AS s FROM first GROUP BY id\n\nTYPE endpoint\n',
    });
    dirs.push(dir);
    const r = await runCli(['build', dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/pipes\/totals\.pipe:7:\d+: node total_by_id: .*no_such_column/);
  });

  it('reports a broken node (SQL syntax error) at its file and line', async () => {
    const dir = project({
      'datasources/events.datasource': EVENTS,
      'pipes/broken.pipe': 'DESCRIPTION >\n    broken\n\nNODE broken_node\nSQL >\n    SELECT id,, FROM events\n\nTYPE endpoint\n',
    });
    dirs.push(dir);
    const r = await runCli(['build', dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/pipes\/broken\.pipe:6:\d+: node broken_node: .*(Syntax error|SYNTAX)/i);
  });

  it('reports a reference cycle between nodes', async () => {
    const dir = project({
      'datasources/events.datasource': EVENTS,
      'pipes/loop.pipe': 'NODE a\nSQL >\n    SELECT * FROM b\n\nNODE b\nSQL >\n    SELECT * FROM a\n\nTYPE endpoint\n',
    });
    dirs.push(dir);
    const r = await runCli(['build', dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/pipes\/loop\.pipe:3:\d+: reference cycle: loop\.a -> loop\.b -> loop\.a/);
  });

  it('reports a materialized view whose target datasource is missing', async () => {
    const dir = project({
      'datasources/events.datasource': EVENTS,
      'pipes/to_nowhere.pipe': 'NODE mv\nSQL >\n    SELECT id, sum(amount) AS total FROM events GROUP BY id\n\nTYPE materialized\nDATASOURCE missing_target\n',
    });
    dirs.push(dir);
    const r = await runCli(['build', dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/pipes\/to_nowhere\.pipe:6:\d+: materialized node mv writes to datasource 'missing_target', which does not exist/);
  });

  it('fails as incomplete, not as broken, when the engine cannot finish checking a node', async () => {
    const dir = project({
      'datasources/events.datasource': EVENTS,
      // Its scalar subquery outlasts its own 1 s limit whenever the node is analysed.
      'pipes/slow.pipe': 'NODE total\nSQL >\n    SELECT (SELECT sum(number) FROM numbers(100000000000)) AS total\n    SETTINGS max_execution_time = 1\n\nTYPE endpoint\n',
    });
    dirs.push(dir);
    const r = await runCli(['build', dir]);
    expect(r.exitCode).toBe(1);
    expect(r.all).toMatch(/pipes\/slow\.pipe:3:1: .*node total could not be checked: Timeout exceeded/);
    expect(r.stderr).toContain('Build incomplete: 1 node(s) could not be checked');
    expect(r.all).not.toContain('Build failed');
  });
});
