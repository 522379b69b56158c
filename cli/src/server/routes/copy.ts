// `POST /v0/pipes/<pipe>/copy?_mode=append|replace&<params>`: runs a copy pipe now, writing its result into
// its TARGET_DATASOURCE. Synchronous: the answer says how many rows were written, and carries the copy's job
// (`job.job_url`, already final) and `tags.copy_target_datasource`, which the Tinybird CLI reads.
// `POST /v0/pipes/<pipe>/copy/pause|resume|cancel`: a copy pipe's schedule (server/copy-schedule-status.ts).
import type { ServerResponse } from 'node:http';
import { authorizedResource } from './access.js';
import { HttpError, param, sendJson, type Request } from '../http.js';
import type { Workspace } from '../workspace.js';
import { inTurn } from '../table-rewrite.js';
import { copyJobDetails, copyModeOf, copyNode, notACopyPipe, CopyFailedError, CopyHeldError, CopyRequestError, runCopyPipe } from '../copy-pipe.js';
import { isFinal, jobJson, type JobRegistry } from '../jobs.js';
import { cronOf } from '../copy-schedules.js';
import { setCopyScheduleStatus, type CopyScheduleStatus } from '../copy-schedule-status.js';
import { pipeSummary, templateVars } from './pipes.js';
import { UserError } from '../../util/fatal.js';
import { tokenKey } from '../auth.js';
import { engineStateHttpError, surelyNotStarted } from '../engine-http-error.js';

export async function runCopy(ws: Workspace, req: Request, res: ServerResponse, name: string, jobs: JobRegistry, baseUrl: string): Promise<void> {
  const { resource: pipe, record } = authorizedResource(ws, req, 'pipes', name, 'ADMIN');
  const vars = templateVars(req, undefined);
  delete vars._mode;
  const node = copyNode(pipe);
  if (!node) throw new HttpError(400, `${notACopyPipe(pipe.name)}; POST /v0/pipes/<pipe>/copy runs copy pipes only`);
  // dev runs it in its turn with rebuilds: until then the job waits, and may be cancelled (POST /v0/jobs/<id>/cancel).
  const job = jobs.start('copy', {
    owner: tokenKey(record),
    pipe: pipe.name,
    datasource: node.targetDatasource,
    waiting: Boolean(ws.serialized),
    details: { mode: copyModeOf(node, param(req, '_mode')), execution_type: 'manual', parameters: vars },
  });
  const answer = (body: Record<string, unknown>) =>
    sendJson(res, 200, { pipe: name, ...body, job: jobJson(job, baseUrl), tags: { copy_target_datasource: job.datasource?.id ?? null } }, { 'x-request-id': req.requestId });
  try {
    const run = (current: Workspace) => {
      if (!jobs.begin(job)) return Promise.resolve(undefined);
      // dev queues the copy behind a rebuild, which may have changed or removed the pipe.
      const now = current.project.pipes.get(pipe.name);
      if (!now) throw new HttpError(404, `pipe '${pipe.name}' was removed by a rebuild while this copy waited for it; nothing was copied`);
      return runCopyPipe(current, now, { mode: param(req, '_mode'), vars });
    };
    const running = inTurn(ws, run);
    running.catch(() => undefined); // once cancelled, its turn comes after this answer and runs nothing
    // Cancelled while it waited: answered at once, not when dev's rebuild ends (finishing a cancelled job changes nothing).
    const r = await jobs.settle(job, () => Promise.race([running, jobs.whenCancelled(job).then(() => undefined)]), (done) => (done ? copyJobDetails(done) : {}));
    if (!r) return answer({ target: job.datasource?.id, mode: job.details.mode, status: 'cancelled', rows_written: 0 });
    answer({ target: r.target, mode: r.mode, status: 'done', rows_written: r.rowsWritten, elapsed: r.elapsedS });
  } catch (err) {
    if (err instanceof CopyRequestError) throw new HttpError(400, err.message);
    if (err instanceof CopyFailedError) {
      // Unreachable, busy or out of time: the status of the engine's state, in the copy's words. Retry-After only
      // when the copy surely did not start: one cut off may have appended part of its rows.
      const state = engineStateHttpError(err.cause, 'the copy');
      if (!state) throw new HttpError(400, err.message);
      if (surelyNotStarted(err.cause)) throw new HttpError(state.status, err.message, {}, state.headers);
      throw new HttpError(state.status, `${err.message}. It may have written part of its rows before it stopped: look at ${pipe.name}'s target before running it again`);
    }
    // The target is being rewritten (a deploy, a replace): nothing was written; worth asking again shortly.
    if (err instanceof CopyHeldError) throw new HttpError(409, err.message, {}, { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) });
    throw err;
  }
}

/** The schedule of a copy pipe for pause, resume and cancel: 400 for another pipe, 422 for one run on demand only. */
function scheduledCopyPipe(ws: Workspace, req: Request, name: string, action: 'pause' | 'resume' | 'cancel') {
  const { resource: pipe, record } = authorizedResource(ws, req, 'pipes', name, 'ADMIN');
  const done = ({ pause: 'paused', resume: 'resumed', cancel: 'cancelled' } as const)[action];
  if (!copyNode(pipe)) throw new HttpError(400, `${notACopyPipe(pipe.name)}; only a copy pipe's schedule can be ${done}`);
  if (!cronOf(pipe)) {
    const why = `'${pipe.name}' runs on demand only (no COPY_SCHEDULE, or @on-demand)`;
    throw new HttpError(
      422,
      action === 'cancel'
        ? `The copy Pipe is not scheduled, use the jobs API to cancel a queued copy job (POST /v0/jobs/<job_id>/cancel): ${why}`
        : `The copy Pipe is not scheduled: ${why}, so it has no schedule to ${action}`,
    );
  }
  return { pipe, record };
}

/** Records the status everywhere; a cluster node that is down is worth a retry, not a 500. */
async function recordStatus(ws: Workspace, pipe: string, status: CopyScheduleStatus, who: string): Promise<void> {
  try {
    await setCopyScheduleStatus(ws.engine, pipe, status, who);
  } catch (err) {
    if (err instanceof UserError) throw new HttpError(503, err.message, {}, { 'retry-after': '5' });
    throw err;
  }
}

/**
 * `POST /v0/pipes/<pipe>/copy/pause|resume`: stops or restarts a copy pipe's schedule (a run in progress goes on;
 * copies run by hand are not affected). Pausing a paused schedule is not an error, as in Tinybird. Answers the
 * pipe, whose `schedule.status` says `paused` or `running`.
 */
export async function setCopySchedule(ws: Workspace, req: Request, res: ServerResponse, name: string, action: 'pause' | 'resume', baseUrl: string): Promise<void> {
  const { pipe, record } = scheduledCopyPipe(ws, req, name, action);
  await recordStatus(ws, pipe.name, action === 'pause' ? 'paused' : 'running', `token ${record.name}`);
  // The status just written (a read now could fail, and the change is made).
  sendJson(res, 200, pipeSummary(ws, pipe, baseUrl, new Set(action === 'pause' ? [pipe.name] : [])), { 'x-request-id': req.requestId });
}

/**
 * `POST /v0/pipes/<pipe>/copy/cancel`: pauses the schedule and cancels the pipe's copies that wait for their turn
 * (dev runs them after a rebuild); a copy already running is listed in `not_cancelled_jobs`, since a copy stopped
 * half-way would leave part of its rows in its target (jobs.ts). Resume restarts the schedule.
 */
export async function cancelCopies(ws: Workspace, req: Request, res: ServerResponse, name: string, jobs: JobRegistry, baseUrl: string): Promise<void> {
  const { pipe, record } = scheduledCopyPipe(ws, req, name, 'cancel');
  await recordStatus(ws, pipe.name, 'paused', `token ${record.name}`);
  const cancelled: Record<string, unknown>[] = [];
  const notCancelled: Record<string, unknown>[] = [];
  for (const job of jobs.list()) {
    if (job.kind !== 'copy' || job.pipe?.name !== pipe.name || isFinal(job)) continue;
    if (job.status === 'waiting') {
      jobs.cancel(job);
      cancelled.push(jobJson(job, baseUrl));
    } else notCancelled.push({ ...jobJson(job, baseUrl), reason: `it is ${job.status}: a copy runs to its end once started (stopped half-way it would leave part of its rows in ${job.datasource?.name ?? 'its target'})` });
  }
  const body = { ...pipeSummary(ws, pipe, baseUrl, new Set([pipe.name])), cancelled_jobs: cancelled, not_cancelled_jobs: notCancelled };
  sendJson(res, 200, body, { 'x-request-id': req.requestId });
}
