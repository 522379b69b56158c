// Runs a copy pipe: renders its TYPE copy node and writes the result into its TARGET_DATASOURCE. Shared by
// `POST /v0/pipes/<pipe>/copy` (and `emailstats copy run`) and the COPY_SCHEDULE runner (copy-schedules.ts).
import { rowCount } from '../engine/tables.js';
import { quoteIdent } from '../sql/quote.js';
import { refillTable } from '../engine/swap.js';
import { tableSpec } from '../project/ddl.js';
import { toEngineError } from '../engine/errors.js';
import { renderNode } from '../project/render.js';
import type { PipeFile, PipeNode } from '../datafile/types.js';
import type { TemplateVars } from '../template/index.js';
import type { Workspace } from './workspace.js';

export type CopyMode = 'append' | 'replace';

export interface CopyResult {
  target: string;
  mode: CopyMode;
  rowsWritten: number;
  elapsedS: number;
}

/** The copy node of a pipe, or undefined for any other pipe. */
export const copyNode = (pipe: PipeFile): PipeNode | undefined => pipe.nodes.find((n) => n.type === 'copy');

/** Something the caller asked for that cannot run (not a copy pipe, bad mode, missing target): a 400. */
export class CopyRequestError extends Error {}

/** A copy that ran and failed in ClickHouse; the message names the pipe, its target and the engine's error. */
export class CopyFailedError extends Error {}

/** A copy not run, or not swapped in, because a deploy or a replace is rewriting its target: nothing was written. */
export class CopyHeldError extends Error {}

/**
 * Query ids of the statements a copy writes its target with. A deploy or a replace about to rewrite a table waits
 * for statements with this prefix still running on the server (deploy/rewrite-hold.ts), as for event inserts.
 */
export const copyQueryIdPrefix = (target: string): string => `emailstats-copy-${target}:`.replace(/[^A-Za-z0-9_.:-]/g, '_');

function formatTimestamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

export async function runCopyPipe(ws: Workspace, pipe: PipeFile, opts: { mode?: string; vars?: TemplateVars; now?: Date } = {}): Promise<CopyResult> {
  const node = copyNode(pipe);
  if (!node) throw new CopyRequestError(`pipe '${pipe.name}' is not a copy pipe (it has no TYPE copy node)`);
  const mode = opts.mode ?? node.copyMode ?? 'append';
  if (mode !== 'append' && mode !== 'replace') throw new CopyRequestError(`_mode must be append or replace, got '${mode}'`);
  const target = node.targetDatasource!;
  if (!ws.project.datasources.has(target)) throw new CopyRequestError(`copy target datasource '${target}' does not exist`);
  const vars: TemplateVars = { ...opts.vars };
  // `job_timestamp` defaults to the run's time, as in Tinybird (a scheduled run passes its scheduled minute).
  if (vars.job_timestamp === undefined) vars.job_timestamp = formatTimestamp(opts.now ?? new Date());
  const rendered = renderNode(ws.project, pipe, node, vars, { secrets: ws.secrets, sharedCtes: ws.engine.caps.sharedCtes });
  const count = (table: string): Promise<number> => rowCount(ws.engine, table);
  // A rewrite swaps the target for a copy of it made meanwhile: rows written into it now would be lost.
  const refuseWhileRewritten = (what: string) => {
    const holder = ws.rewritingBy?.(target);
    if (holder) throw new CopyHeldError(`copy ${pipe.name} -> ${target} ${what}: ${holder} is rewriting ${target} right now; run it again when that is done (a scheduled copy runs again at its next minute)`);
  };
  refuseWhileRewritten('did not run');
  const started = performance.now();
  try {
    const queryId = `${copyQueryIdPrefix(target)}${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const insert = (table: string) => ws.engine.command(`INSERT INTO ${quoteIdent(table)}\n${rendered.sql}`, { queryId, settings: { max_execution_time: 3600, ...rendered.settings } });
    let rowsWritten: number;
    if (mode === 'replace') {
      // Fill a copy and swap it in: readers never see the target empty, and a failed copy leaves it as it was.
      const definition = tableSpec(ws.project.datasources.get(target)!, ws.engine.caps, target, ws.engine.version);
      rowsWritten = await refillTable(ws.engine, target, `${target}__copy_${Date.now().toString(36)}`, definition, async (staging) => {
        await insert(staging);
        // A rewrite that began while the staging table filled would swap this swap out: leave the target as it is.
        refuseWhileRewritten('was filled but not swapped in');
        return count(staging);
      });
    } else {
      const before = await count(target);
      await insert(target);
      rowsWritten = (await count(target)) - before;
    }
    return { target, mode, rowsWritten, elapsedS: (performance.now() - started) / 1000 };
  } catch (err) {
    if (err instanceof CopyHeldError) throw err;
    throw new CopyFailedError(`copy ${pipe.name} -> ${target} failed: ${toEngineError(err).message}`);
  }
}
