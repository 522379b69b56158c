// `deploy --check`: everything that can fail, run against the target server without changing it. The
// project is created in a scratch database on the same server (so the server itself analyses every CREATE
// TABLE and CREATE MATERIALIZED VIEW), every node is rendered in placeholder mode and analysed there, and
// every FORWARD_QUERY is analysed against the live table as `INSERT ... SELECT ... LIMIT 0`. The scratch
// database is dropped at the end, whatever happens.
import { randomBytes } from 'node:crypto';
import type { Diagnostic } from '../datafile/types.js';
import { quoteIdent } from '../sql/quote.js';
import { toEngineError } from '../engine/errors.js';
import type { Engine } from '../engine/types.js';
import { applyProject, EMPTY_STATE, forwardQueryInsert, type ApplyPlan } from '../project/apply.js';
import { validateNodes } from '../project/build.js';
import type { Project } from '../project/model.js';

export function scratchDatabaseName(): string {
  return `_emailstats_check_${randomBytes(6).toString('hex')}`;
}

export async function checkOnServer(target: Engine, project: Project, plan: ApplyPlan, openScratch: (database: string) => Promise<Engine>): Promise<Diagnostic[]> {
  const database = scratchDatabaseName();
  const scratch = await openScratch(database);
  try {
    const applied = await applyProject(scratch, project, EMPTY_STATE);
    if (applied.diagnostics.length) return applied.diagnostics;
    const validated = await validateNodes(scratch, project);
    // A deploy applies only what the server analysed: a node it could not check fails the check (run it again).
    const diagnostics = [
      ...validated.diagnostics,
      ...validated.unchecked.map((d): Diagnostic => ({ ...d, severity: 'error', hint: 'the server failed, not the SQL: run the check again; if it fails the same way, the node\'s scalar subqueries pass the server\'s max_execution_time or max_memory_usage (make them cheaper, or raise the limits of the deploying user)' })),
    ];
    for (const step of plan.datasources) {
      if (step.how !== 'rewrite' || step.backfill !== 'forward_query') continue;
      const sql = forwardQueryInsert(step.ds, quoteIdent(step.ds.name), `${quoteIdent(target.database)}.${quoteIdent(step.ds.name)}`) + ' LIMIT 0';
      try {
        await scratch.command(sql);
      } catch (err) {
        diagnostics.push({ file: step.ds.path, line: keywordLine(project.sources.get(step.ds.path), 'FORWARD_QUERY'), col: 1, severity: 'error', message: `FORWARD_QUERY does not fit the new schema of ${step.ds.name}: ${toEngineError(err).message}`, hint: 'its SELECT list must produce the new SCHEMA columns, in order, from the live table' });
      }
    }
    return diagnostics;
  } finally {
    await scratch.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => undefined);
    await scratch.close();
  }
}

/** 1-based line where a datafile keyword starts (1 when not found). */
function keywordLine(text: string | undefined, keyword: string): number {
  const i = (text ?? '').split('\n').findIndex((l) => l.startsWith(keyword));
  return i >= 0 ? i + 1 : 1;
}
