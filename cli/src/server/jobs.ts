// Tinybird's Jobs API (`GET /v0/jobs`, `GET /v0/jobs/<id>`, `POST /v0/jobs/<id>/cancel`) over the operations this
// server runs: copy pipes (by hand or on schedule), deletes, imports from a URL, branch creation. Clients poll a
// job's `job_url` until `done`, `error` or `cancelled` (the Tinybird CLI's `--wait`); most of these operations
// end before their request is answered, so their job is already final when it is handed out. A delete whose
// mutation outlives its request stays `working` until ClickHouse finishes it. Jobs live in this process's memory
// for 48 hours after they finish (as Tinybird keeps them), at most MAX_KEPT finished ones (the longest finished
// go first; an unfinished job is never dropped): a restart forgets them, and a serve behind a load balancer knows
// only the jobs it ran itself. `cancelling` is Tinybird's status for a running job being stopped; jobs here are
// never stopped once started, so it is listed as a status but never taken.
import { randomUUID } from 'node:crypto';

export const JOB_STATUSES = ['waiting', 'working', 'cancelling', 'done', 'error', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const JOB_KINDS = ['copy', 'delete_data', 'import', 'create_environment'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

const FINAL: ReadonlySet<JobStatus> = new Set(['done', 'error', 'cancelled']);
const KEPT_MS = 48 * 3600 * 1000;
export const MAX_KEPT = 1000;
/** What a listing shows at most, newest first (Tinybird's limit). */
export const MAX_LISTED = 100;

export interface Job {
  readonly id: string;
  /** Creation order: jobs created in the same millisecond still list newest first. */
  readonly seq: number;
  readonly kind: JobKind;
  status: JobStatus;
  readonly createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  /** The token that started it (auth.ts tokenKey): it may read the job without the admin token. */
  readonly owner: string | undefined;
  readonly datasource?: { id: string; name: string };
  readonly pipe?: { id: string; name: string };
  /** Kind-specific fields of the job's JSON (mode, delete_condition, url, processed_data, ...). */
  details: Record<string, unknown>;
  error?: string;
}

export class JobNotCancellableError extends Error {}

export class JobRegistry {
  private readonly jobs = new Map<string, Job>();
  /** What to tell when a waiting job is cancelled (the request that waits for it answers at once). */
  private readonly cancelHooks = new Map<string, () => void>();
  private created = 0;
  private stopping = false;

  constructor(private readonly now: () => number = Date.now) {}

  /** The server is closing: work that follows a job in the background (a delete's mutation) stops. */
  close(): void {
    this.stopping = true;
  }

  get closed(): boolean {
    return this.stopping;
  }

  /** A new job, `working` (or `waiting` when it must wait its turn before it starts). */
  start(kind: JobKind, init: { id?: string; owner?: string; datasource?: string; pipe?: string; details?: Record<string, unknown>; waiting?: boolean }): Job {
    this.prune();
    const at = new Date(this.now());
    const job: Job = {
      id: init.id ?? randomUUID(),
      seq: ++this.created,
      kind,
      status: init.waiting ? 'waiting' : 'working',
      createdAt: at,
      updatedAt: at,
      startedAt: init.waiting ? null : at,
      owner: init.owner,
      ...(init.datasource !== undefined ? { datasource: { id: init.datasource, name: init.datasource } } : {}),
      ...(init.pipe !== undefined ? { pipe: { id: init.pipe, name: init.pipe } } : {}),
      details: { ...init.details },
    };
    this.jobs.set(job.id, job);
    return job;
  }

  /** Resolves when the job is cancelled (it never resolves for a job that starts). */
  whenCancelled(job: Job): Promise<void> {
    return new Promise((resolve) => this.cancelHooks.set(job.id, resolve));
  }

  /** A waiting job starts; false when it was cancelled meanwhile (it must not run). */
  begin(job: Job): boolean {
    this.cancelHooks.delete(job.id);
    if (job.status === 'cancelled') return false;
    if (job.status === 'waiting') this.update(job, 'working', { started: true });
    return true;
  }

  /** Runs `work` as the job: done with the `details` of its result, or error with its message (and rethrown). */
  async settle<T>(job: Job, work: () => Promise<T>, details: (result: T) => Record<string, unknown> = () => ({})): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (err) {
      this.fail(job, (err as Error).message);
      throw err;
    }
    this.finish(job, details(result));
    return result;
  }

  /** Ends a job; one already final (cancelled while it waited, say) keeps what it says. */
  finish(job: Job, details: Record<string, unknown> = {}): void {
    this.cancelHooks.delete(job.id);
    if (isFinal(job)) return;
    Object.assign(job.details, details);
    this.update(job, 'done');
  }

  fail(job: Job, message: string): void {
    this.cancelHooks.delete(job.id);
    if (isFinal(job)) return;
    job.error = message;
    this.update(job, 'error');
  }

  get(id: string): Job | undefined {
    this.prune();
    return this.jobs.get(id);
  }

  /** Newest first. */
  list(): Job[] {
    this.prune();
    return [...this.jobs.values()].sort(newestFirst);
  }

  /**
   * Cancels a job that has not started. A started job runs to its end here: a copy stopped half-way would leave
   * part of its rows in an append target, and ClickHouse cannot stop a delete's mutation without leaving its
   * parts half-done, so neither is cancellable (Tinybird refuses a working delete too).
   */
  cancel(job: Job): void {
    if (job.status !== 'waiting') throw new JobNotCancellableError('Job is not in cancellable status');
    this.update(job, 'cancelled');
    this.cancelHooks.get(job.id)?.();
    this.cancelHooks.delete(job.id);
  }

  private update(job: Job, status: JobStatus, opts: { started?: boolean } = {}): void {
    const at = new Date(this.now());
    job.status = status;
    job.updatedAt = at;
    if (opts.started) job.startedAt = at;
  }

  /** Drops jobs finished over 48 hours ago, then the longest finished past MAX_KEPT; unfinished ones stay. */
  private prune(): void {
    const cutoff = this.now() - KEPT_MS;
    const finished = [...this.jobs.values()].filter(isFinal);
    for (const job of finished) if (job.updatedAt.getTime() < cutoff) this.jobs.delete(job.id);
    const kept = finished.filter((j) => this.jobs.has(j.id));
    if (kept.length <= MAX_KEPT) return;
    kept.sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime() || a.seq - b.seq);
    for (const job of kept.slice(0, kept.length - MAX_KEPT)) this.jobs.delete(job.id);
  }
}

const newestFirst = (a: Job, b: Job): number => b.createdAt.getTime() - a.createdAt.getTime() || b.seq - a.seq;

export const isFinal = (job: Job): boolean => FINAL.has(job.status);

/** Tinybird writes job times as Python prints a naive UTC datetime: `2024-07-22 11:47:58.207000`. */
export function jobTime(d: Date | null): string | null {
  if (!d) return null;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}.${String(d.getUTCMilliseconds() * 1000).padStart(6, '0')}`;
}

/** The job's JSON, as `GET /v0/jobs/<id>` answers it and as copy and delete answers embed it. */
export function jobJson(job: Job, baseUrl: string): Record<string, unknown> {
  return {
    ...job.details, // first: a detail never hides a field every job has
    kind: job.kind,
    id: job.id,
    job_id: job.id,
    job_url: jobUrl(job, baseUrl),
    status: job.status,
    created_at: jobTime(job.createdAt),
    updated_at: jobTime(job.updatedAt),
    started_at: jobTime(job.startedAt),
    is_cancellable: job.status === 'waiting',
    ...(job.datasource ? { datasource: job.datasource } : {}),
    ...(job.pipe ? { pipe_id: job.pipe.id, pipe_name: job.pipe.name } : {}),
    ...(job.error !== undefined ? { error: job.error } : {}),
  };
}

/** A job as `GET /v0/jobs` lists it (the shorter form Tinybird lists). */
export function listedJobJson(job: Job, baseUrl: string): Record<string, unknown> {
  return {
    id: job.id,
    kind: job.kind,
    status: job.status,
    created_at: jobTime(job.createdAt),
    updated_at: jobTime(job.updatedAt),
    is_cancellable: job.status === 'waiting',
    job_url: jobUrl(job, baseUrl),
    ...(job.pipe ? { pipe_id: job.pipe.id, pipe_name: job.pipe.name } : {}),
    ...(job.datasource ? { datasource: job.datasource } : {}),
  };
}

export const jobUrl = (job: Job, baseUrl: string): string => `${baseUrl}/v0/jobs/${encodeURIComponent(job.id)}`;
