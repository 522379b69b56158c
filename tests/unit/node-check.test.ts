// Checking a node runs it with LIMIT 0 on the engine, which runs its scalar subqueries on the data. When that
// fails for a reason of the engine's own (too slow, out of memory, busy), the node's SQL was not found wrong: it is
// a warning, dev serves a new pipe unchecked and keeps the version it served of one it already served, and
// `deploy --check` fails (`emailstats build` too: tests/e2e/build.test.ts). A wrong node is still an error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkOnServer } from '../../cli/src/deploy/check.js';
import { EngineError } from '../../cli/src/engine/errors.js';
import { openEngine, type Engine } from '../../cli/src/engine/index.js';
import { EngineBusyError } from '../../cli/src/engine/scheduler.js';
import { planApply } from '../../cli/src/project/apply.js';
import { buildProject, uncheckedServedBefore, validateNodes, withoutBrokenPipes } from '../../cli/src/project/build.js';
import { loadProject, type Project } from '../../cli/src/project/model.js';
import { NODE_CHECK_TIMEOUT_ENV } from '../../cli/src/project/node-columns.js';
import { useProjectFiles } from '../helpers/project-files.js';

const writeProject = useProjectFiles('node-check');

const FILES = {
  'datasources/things.datasource': 'SCHEMA >\n    `id` String\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "id"\n',
  'pipes/good.pipe': 'NODE ids\nSQL >\n    SELECT id FROM things\n\nTYPE endpoint\n',
  // Its scalar subquery outlasts the node's own 1 s limit whenever it runs, checks included.
  'pipes/slow.pipe': 'NODE total\nSQL >\n    SELECT (SELECT sum(number) FROM numbers(100000000000)) AS total\n    SETTINGS max_execution_time = 1\n\nTYPE endpoint\n',
  'pipes/slow_new.pipe': 'NODE total\nSQL >\n    SELECT (SELECT sum(number) FROM numbers(100000000000)) AS total\n    SETTINGS max_execution_time = 1\n\nTYPE endpoint\n',
  'pipes/wrong.pipe': 'NODE w\nSQL >\n    SELECT plus(id, 1) AS n FROM things\n\nTYPE endpoint\n',
};

describe('node checks that the engine cannot finish', () => {
  let engine: Engine;
  let project: Project;
  let closed = false;
  beforeAll(async () => {
    engine = await openEngine({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'emailstats-node-check-db-')) });
    project = await loadProject(writeProject(FILES), {});
    expect(project.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });
  afterAll(async () => {
    if (!closed) await engine?.close();
  });

  it('a node whose check timed out is a warning at its file:line:col and stays in the project; a wrong node is an error', async () => {
    const report = await buildProject(engine, project);
    expect(report.diagnostics.map((d) => `${d.file}:${d.line}:${d.col} ${d.severity}`)).toEqual(['pipes/wrong.pipe:3:1 error']);
    expect(report.diagnostics[0].message).toMatch(/^node w: .*plus/);
    const slow = report.warnings.filter((w) => w.file === 'pipes/slow.pipe');
    expect(slow.map((d) => `${d.file}:${d.line}:${d.col} ${d.severity}`)).toEqual(['pipes/slow.pipe:3:1 warning']);
    expect(slow[0].message).toMatch(/^node total could not be checked: Timeout exceeded/);
    expect(slow[0].hint).toMatch(/`build` and `deploy --check` fail; dev serves a new pipe unchecked and keeps the version it served of one it already served/);
    expect(slow[0].hint).not.toMatch(/EMAILSTATS_NODE_CHECK_TIMEOUT/); // its own SETTINGS stopped it, not the check's limit
    // Its output columns are unknown (the OpenAPI document leaves them out); the good pipe's are known.
    expect([...report.endpointColumns.keys()].sort()).toEqual(['good']);

    // dev, which served `slow` before (a version that checked): the check that did not finish may hide an error
    // further on, so it keeps serving that version; `slow_new` has none and is served unchecked.
    const servedFiles = Object.fromEntries(Object.entries(FILES).filter(([file]) => file !== 'pipes/slow_new.pipe'));
    const served = await loadProject(writeProject({ ...servedFiles, 'pipes/slow.pipe': 'NODE total\nSQL >\n    SELECT 1 AS total\n\nTYPE endpoint\n' }), {});
    const failed = uncheckedServedBefore(report.unchecked, project, served);
    expect(failed.map((d) => `${d.file} ${d.severity}`)).toEqual(['pipes/slow.pipe error']);
    const part = withoutBrokenPipes(project, [...report.diagnostics, ...failed], {}, served)!;
    expect([...part.kept].sort()).toEqual(['slow', 'wrong']); // wrong.pipe was served before too
    expect(part.project.pipes.get('slow')).toBe(served.pipes.get('slow'));
    expect(part.project.pipes.get('slow_new')).toBe(project.pipes.get('slow_new'));
    // A pipe with a materialized node is never kept back this way: its view was created (and analysed) already.
    const withView = { ...served, pipes: new Map([...served.pipes].map(([name, p]) => [name, name === 'slow' ? { ...p, nodes: p.nodes.map((n) => ({ ...n, type: 'materialized' as const })) } : p])) };
    expect(uncheckedServedBefore(report.unchecked, project, withView)).toEqual([]);
  }, 60_000);

  it('on the embedded engine a check has a time limit of its own (EMAILSTATS_NODE_CHECK_TIMEOUT), a node without one included', async () => {
    // No SETTINGS of its own: without the check's limit this scalar would run for minutes. Alone in its project, so
    // that no other node's check has to finish within the 1 s limit.
    const heavy = await loadProject(
      writeProject({ 'pipes/heavy.pipe': 'DESCRIPTION >\n    A scalar over 10^11 numbers\n\nNODE total\nSQL >\n    SELECT (SELECT sum(number) FROM numbers(100000000000)) AS total\n\nTYPE endpoint\n' }),
      {},
    );
    const before = process.env[NODE_CHECK_TIMEOUT_ENV];
    try {
      process.env[NODE_CHECK_TIMEOUT_ENV] = '1';
      const validated = await validateNodes(engine, heavy);
      expect(validated.unchecked.map((d) => `${d.file}:${d.line}:${d.col} ${d.severity}`)).toEqual(['pipes/heavy.pipe:6:1 warning']);
      expect(validated.unchecked[0].message).toMatch(/^node total could not be checked: Timeout exceeded/);
      expect(validated.unchecked[0].hint).toMatch(/; to let the check finish, raise EMAILSTATS_NODE_CHECK_TIMEOUT \(now 1 s, 0 for no limit\)$/);
      expect(validated.diagnostics).toEqual([]);
      expect(validated.endpointColumns.size).toBe(0);

      // A bad value stops the build before its first check, with what to set.
      for (const bad of ['ten', '1.5', '-1']) {
        process.env[NODE_CHECK_TIMEOUT_ENV] = bad;
        await expect(validateNodes(engine, heavy)).rejects.toThrow(`${NODE_CHECK_TIMEOUT_ENV}=${bad} is not a whole number of seconds from 0 (no limit) to 86400: set one, or unset it for 30 s`);
      }
    } finally {
      if (before === undefined) delete process.env[NODE_CHECK_TIMEOUT_ENV];
      else process.env[NODE_CHECK_TIMEOUT_ENV] = before;
    }
  }, 60_000);

  it('deploy --check: the same node fails the check, with what to do', async () => {
    const plan = await planApply(engine, project);
    // The embedded engine stands in for the target server and for its scratch database (chDB opens one data
    // directory per process); the check closes the scratch engine when it is done.
    const diagnostics = await checkOnServer(engine, project, plan, async () => engine);
    closed = true;
    const slow = diagnostics.find((d) => d.file === 'pipes/slow.pipe');
    expect(slow?.severity).toBe('error');
    expect(slow?.message).toMatch(/^node total could not be checked: Timeout exceeded/);
    expect(slow?.hint).toMatch(/run the check again/);
    expect(diagnostics.find((d) => d.file === 'pipes/wrong.pipe')?.message).toMatch(/plus/);
  }, 60_000);

  it('tells engine failures from query errors by code', () => {
    expect(new EngineError('Memory limit (for query) exceeded', 241, 'MEMORY_LIMIT_EXCEEDED').isTransient).toBe(true);
    expect(new EngineError('Timeout exceeded', 159, 'TIMEOUT_EXCEEDED').isTransient).toBe(true);
    expect(new EngineError('Too many simultaneous queries', 202).isTransient).toBe(true);
    expect(new EngineError('connect ECONNREFUSED 127.0.0.1:8123').isTransient).toBe(true);
    expect(new EngineBusyError('32 queries are waiting').isTransient).toBe(true);
    expect(new EngineError("Missing columns: 'x'", 47, 'UNKNOWN_IDENTIFIER').isTransient).toBe(false);
    expect(new EngineError('Syntax error', 62, 'SYNTAX_ERROR').isTransient).toBe(false);
  });
});
