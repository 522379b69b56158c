// `GET /v0/jobs`, `GET /v0/jobs/<id>`, `POST /v0/jobs/<id>/cancel` (server/jobs.ts holds the jobs).
import type { ServerResponse } from 'node:http';
import { authorize, identify, isAdmin, tokenKey } from '../auth.js';
import { HttpError, param, sendJson, type Request } from '../http.js';
import { JOB_KINDS, JOB_STATUSES, jobJson, JobNotCancellableError, listedJobJson, MAX_KEPT, MAX_LISTED, type Job, type JobKind, type JobRegistry, type JobStatus } from '../jobs.js';
import type { Workspace } from '../workspace.js';

/** `GET /v0/jobs?kind=&status=&pipe_id=&pipe_name=&created_after=&created_before=`: the newest 100, admin only. */
export function listJobs(ws: Workspace, req: Request, res: ServerResponse, jobs: JobRegistry, baseUrl: string): void {
  authorize(ws.tokens, req, { type: 'ADMIN' });
  const status = param(req, 'status');
  if (status && !JOB_STATUSES.includes(status as JobStatus)) throw new HttpError(400, `status must be one of ${JOB_STATUSES.join(', ')}, got '${status}'`);
  const kind = param(req, 'kind');
  if (kind && !JOB_KINDS.includes(kind as JobKind)) throw new HttpError(400, `kind must be one of ${JOB_KINDS.join(', ')}, got '${kind}'`);
  const pipeId = param(req, 'pipe_id');
  const pipeName = param(req, 'pipe_name');
  const after = dateParam(req, 'created_after');
  const before = dateParam(req, 'created_before');
  const listed = jobs
    .list()
    .filter(
      (j) =>
        (!status || j.status === status) &&
        (!kind || j.kind === kind) &&
        (!pipeId || j.pipe?.id === pipeId) &&
        (!pipeName || j.pipe?.name === pipeName) &&
        (after === undefined || j.createdAt.getTime() > after) &&
        (before === undefined || j.createdAt.getTime() < before),
    )
    .slice(0, MAX_LISTED);
  sendJson(res, 200, { jobs: listed.map((j) => listedJobJson(j, baseUrl)) });
}

/** `GET /v0/jobs/<id>`: the admin token, or the token that started the job. */
export function getJob(ws: Workspace, req: Request, res: ServerResponse, jobs: JobRegistry, id: string, baseUrl: string): void {
  sendJson(res, 200, jobJson(visibleJob(ws, req, jobs, id), baseUrl));
}

/** `POST /v0/jobs/<id>/cancel`: a job that has not started yet; admin only. */
export function cancelJob(ws: Workspace, req: Request, res: ServerResponse, jobs: JobRegistry, id: string, baseUrl: string): void {
  authorize(ws.tokens, req, { type: 'ADMIN' });
  const job = jobs.get(id);
  if (!job) throw notFound(id);
  try {
    jobs.cancel(job);
  } catch (err) {
    if (!(err instanceof JobNotCancellableError)) throw err;
    const why = job.status === 'working' ? `: it is working, and a started ${job.kind} job runs to its end here` : `: its status is ${job.status}`;
    throw new HttpError(400, `${err.message}${why}`);
  }
  sendJson(res, 200, jobJson(job, baseUrl));
}

function visibleJob(ws: Workspace, req: Request, jobs: JobRegistry, id: string): Job {
  const record = identify(ws.tokens, req);
  const job = jobs.get(id);
  // Another token's job answers as an unknown one: its id says nothing about whether it exists.
  if (!job || !(isAdmin(record) || job.owner === tokenKey(record))) throw notFound(id);
  return job;
}

const notFound = (id: string): HttpError =>
  new HttpError(
    404,
    `Job with id "${id}" not found: jobs are kept in the memory of the server process that ran them, finished ones for 48 hours and at most ${MAX_KEPT} (a restart forgets them; behind a load balancer, ask the serve that ran it); GET /v0/jobs with the admin token lists them`,
  );

function dateParam(req: Request, name: string): number | undefined {
  const raw = param(req, name);
  if (raw === undefined || raw === '') return undefined;
  // ISO dates, as Python's fromisoformat reads them; without a zone they are UTC, as Tinybird's job times are.
  const text = /[zZ]|[+-]\d\d:?\d\d$/.test(raw) ? raw : `${raw.replace(' ', 'T')}Z`;
  const ms = Date.parse(text);
  if (!/^\d{4}-\d\d-\d\d/.test(raw) || Number.isNaN(ms)) throw new HttpError(400, `${name} must be an ISO date such as 2026-12-01 or 2026-12-01T10:00:00, got '${raw}'`);
  return ms;
}
