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
import { forgetEndpointAnswers } from './endpoint-cache.js';
import type { Workspace } from './workspace.js';
import { withWritersHeld } from './table-rewrite.js';
import { copyQueryIdPrefix, HOLD_ENV, RewriteBusyError, runningStatements } from '../deploy/rewrite-hold.js';

export type CopyMode = 'append' | 'replace';

export interface CopyResult {
  target: string;
  mode: CopyMode;
  rowsWritten: number;
  elapsedS: number;
  /** The INSERT's query id and the SELECT it ran (what a copy job shows). */
  queryId: string;
  sql: string;
}

/** The copy node of a pipe, or undefined for any other pipe. */
export const copyNode = (pipe: PipeFile): PipeNode | undefined => pipe.nodes.find((n) => n.type === 'copy');

/** Something the caller asked for that cannot run (not a copy pipe, bad mode, missing target): a 400. */
export class CopyRequestError extends Error {}

/** A copy that ran and failed in ClickHouse; the message names the pipe, its target and the engine's error (the cause). */
export class CopyFailedError extends Error {}

/** A copy not run because its target is being rewritten (a deploy, a replace): nothing was written. */
export class CopyHeldError extends Error {
  constructor(
    readonly pipe: string,
    readonly target: string,
    /** Why, without advice: `deployment #12 is rewriting snapshots right now`. */
    readonly why: string,
    /** How long that may still take (the rewrite's lease), for Retry-After. */
    readonly retryAfterMs: number,
  ) {
    super(`copy ${pipe} -> ${target} did not run: ${why}; run it again when that is done`);
  }
}

/** How soon to ask again after a copy was skipped for one still running (Retry-After of the HTTP route). */
const RUNNING_COPY_RETRY_MS = 10_000;

function formatTimestamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/** The mode a copy runs in: the one asked for (`_mode`), else the node's COPY_MODE, else append. */
export const notACopyPipe = (name: string): string => `pipe '${name}' is not a copy pipe (it has no TYPE copy node)`;

export const copyModeOf = (node: PipeNode, requested?: string): string => requested ?? node.copyMode ?? 'append';

export async function runCopyPipe(ws: Workspace, pipe: PipeFile, opts: { mode?: string; vars?: TemplateVars; now?: Date } = {}): Promise<CopyResult> {
  const node = copyNode(pipe);
  if (!node) throw new CopyRequestError(notACopyPipe(pipe.name));
  const mode = copyModeOf(node, opts.mode);
  if (mode !== 'append' && mode !== 'replace') throw new CopyRequestError(`_mode must be append or replace, got '${mode}'`);
  const target = node.targetDatasource!;
  if (!ws.project.datasources.has(target)) throw new CopyRequestError(`copy target datasource '${target}' does not exist`);
  const failed = (err: unknown) => new CopyFailedError(`copy ${pipe.name} -> ${target} failed: ${toEngineError(err).message}`, { cause: toEngineError(err) });
  const held = (owner: string, retryAfterMs: number) => new CopyHeldError(pipe.name, target, `${owner} is rewriting ${target} right now`, retryAfterMs);
  // A rewrite swaps the target for a copy of it made meanwhile: rows appended to it now would be lost.
  const rewriter = await ws.rewritingBy?.(target).catch((err: unknown) => {
    throw new CopyFailedError(`copy ${pipe.name} -> ${target} did not run: could not read the rewrite record (${toEngineError(err).message})`, { cause: toEngineError(err) });
  });
  if (rewriter) throw held(rewriter.owner, rewriter.remainingMs);
  const vars: TemplateVars = { ...opts.vars };
  // `job_timestamp` defaults to the run's time, as in Tinybird (a scheduled run passes its scheduled minute).
  if (vars.job_timestamp === undefined) vars.job_timestamp = formatTimestamp(opts.now ?? new Date());
  const rendered = renderNode(ws.project, pipe, node, vars, { secrets: ws.secrets, sharedCtes: ws.engine.caps.sharedCtes });
  const count = (table: string): Promise<number> => rowCount(ws.engine, table);
  const queryId = `${copyQueryIdPrefix(target)}${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const insert = (table: string) => ws.engine.command(`INSERT INTO ${quoteIdent(table)}\n${rendered.sql}`, { queryId, settings: { max_execution_time: 3600, ...rendered.settings } });
  const started = performance.now();
  let rowsWritten: number;
  if (mode === 'replace') {
    // A replace-mode copy rewrites its target itself: it takes the same hold as a datasource replace (serve: the
    // rewrite record, which refuses while a deploy or a replace holds the target and keeps deploys off it
    // meanwhile; this process's own event flushes to the target wait for the swap, as in dev).
    try {
      rowsWritten = await withWritersHeld(ws, [target], (stillHeld) => {
        // Fill a copy and swap it in: readers never see the target empty, and a failed copy leaves it as it was.
        const definition = tableSpec(ws.project.datasources.get(target)!, ws.engine.caps, target, ws.engine.version);
        return refillTable(ws.engine, target, `${target}__copy_${Date.now().toString(36)}`, definition, async (staging) => {
          await insert(staging);
          // Past the hold's lease other serve processes flush into the live table again: swapping then loses rows.
          if (!(await stillHeld()))
            throw new Error(`the copy outlasted its hold on the other serve processes (${HOLD_ENV}); the target was left as it was: set a larger ${HOLD_ENV} in the environment of the serve processes (it is read at start) and run the copy again`);
          return count(staging);
        });
      });
    } catch (err) {
      if (err instanceof RewriteBusyError) throw err.owner ? held(err.owner, err.retryAfterMs) : new CopyHeldError(pipe.name, target, err.message, err.retryAfterMs);
      throw failed(err);
    }
  } else {
    // An append while another copy into the target still runs would add what that one is adding a second time: a
    // copy of a serve that was killed goes on on the server, and the serve that takes the schedules over would
    // start it again at its next minute. The copy is skipped then (replace-mode copies wait for it in their hold).
    let before: number;
    try {
      before = await count(target);
    } catch (err) {
      throw failed(err);
    }
    // Asked last before the insert: the window in which two copies both find none is as short as it can be.
    const running = await runningStatements(ws.engine, [copyQueryIdPrefix(target)]).catch((err: unknown) => {
      throw new CopyFailedError(`copy ${pipe.name} -> ${target} did not run: could not ask for copies into ${target} still running (${toEngineError(err).message})`, { cause: toEngineError(err) });
    });
    if (running.length) throw new CopyHeldError(pipe.name, target, `a copy into ${target} started earlier (query id ${running[0]}) is still running on the server`, RUNNING_COPY_RETRY_MS);
    try {
      await insert(target);
      rowsWritten = (await count(target)) - before;
    } catch (err) {
      throw failed(err);
    }
  }
  if (mode === 'replace') forgetEndpointAnswers(ws.project);
  return { target, mode, rowsWritten, elapsedS: (performance.now() - started) / 1000, queryId, sql: rendered.sql };
}

/** What a copy's job shows of its run (`GET /v0/jobs/<id>`, Tinybird's field names). */
export function copyJobDetails(r: CopyResult): Record<string, unknown> {
  return {
    mode: r.mode,
    query_id: r.queryId,
    query_sql: r.sql.replace(/\s+/g, ' ').trim(),
    processed_data: { written_rows: r.rowsWritten },
    elapsed: r.elapsedS,
  };
}
