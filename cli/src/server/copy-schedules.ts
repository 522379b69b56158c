// Runs copy pipes on their COPY_SCHEDULE (5-field cron, UTC, as in Tinybird) while `dev` or `serve` runs.
// One timer wakes at every minute boundary and starts each scheduled copy pipe of the current workspace whose
// schedule includes that minute, so a rebuild (dev) or a new live deployment (serve) is picked up at the next
// minute without restarting anything. A pipe whose previous run is still going skips the minute (said once per
// skip); a failed run is reported and the schedule goes on. Under serve, a copy whose target a deploy or a
// replace is rewriting skips its minute (copy-pipe.ts), and the rewrite waits for a copy already running; under
// dev, copies take turns with rebuilds and with replaces and copies sent over HTTP (Workspace.serialized).
// One process at a time must run the schedules of a database: two would copy an append-mode pipe twice. `dev`
// owns its engine (chDB locks its folder), so it always runs them; `serve` only with --copy-schedules, and of the
// serves given it, the one holding the copy schedules lease (copy-schedules-lease.ts), see docs/deploy.md.
// A paused schedule (copy-schedule-status.ts) is asked about just before its run, so a pause made on any serve,
// or while dev's run waited its turn, holds from the next run on.
import { Cron } from 'croner';
import type { PipeFile } from '../datafile/types.js';
import { copyJobDetails, copyNode, CopyHeldError, runCopyPipe } from './copy-pipe.js';
import { pausedCopies } from './copy-schedule-status.js';
import type { JobRegistry } from './jobs.js';
import type { Workspace } from './workspace.js';

export interface ScheduledCopy {
  pipe: string;
  schedule: string;
}

/** A copy pipe's cron schedule; undefined for other pipes and for copies run on demand only (@on-demand, or none). */
export function cronOf(pipe: PipeFile): string | undefined {
  const schedule = copyNode(pipe)?.copySchedule?.trim();
  return schedule && schedule !== '@on-demand' ? schedule : undefined;
}

/**
 * A copy pipe's `schedule` in the pipe's JSON, as Tinybird shows it: cron (UTC), timezone and status (`running` or
 * `paused`, from `paused`: copy-schedule-status.ts; `unknown` when that could not be read); `{}` for a copy run on
 * demand only.
 */
export function scheduleJson(pipe: PipeFile, paused: ReadonlySet<string> | undefined): Record<string, string> {
  const cron = cronOf(pipe);
  if (!cron) return {};
  return { timezone: 'Etc/UTC', cron, status: paused === undefined ? 'unknown' : paused.has(pipe.name) ? 'paused' : 'running' };
}

/** The copy pipes of a workspace that have a cron schedule (not @on-demand), by name. */
export function scheduledCopies(ws: Workspace): ScheduledCopy[] {
  const out: ScheduledCopy[] = [];
  for (const pipe of ws.project.pipes.values()) {
    const schedule = cronOf(pipe);
    if (schedule) out.push({ pipe: pipe.name, schedule });
  }
  return out.sort((a, b) => a.pipe.localeCompare(b.pipe));
}

/** True when the 5-field cron `schedule` (UTC) fires at `minute` (a whole minute). */
export function firesAt(schedule: string, minute: Date): boolean {
  const next = new Cron(schedule, { paused: true, timezone: 'UTC' }).nextRun(new Date(minute.getTime() - 1));
  return next !== null && next.getTime() === minute.getTime();
}

/** The scheduled copies of `ws` due at `minute`, and those whose schedule cannot be read (with why). */
function dueAt(ws: Workspace, minute: Date): { due: ScheduledCopy[]; unreadable: { copy: ScheduledCopy; message: string }[] } {
  const due: ScheduledCopy[] = [];
  const unreadable: { copy: ScheduledCopy; message: string }[] = [];
  for (const copy of scheduledCopies(ws)) {
    try {
      if (firesAt(copy.schedule, minute)) due.push(copy);
    } catch (err) {
      unreadable.push({ copy, message: (err as Error).message });
    }
  }
  return { due, unreadable };
}

const MINUTE = 60_000;

/** Who runs the schedules when several processes could (copy-schedules-lease.ts). */
export interface SchedulesLease {
  /** True when this process runs the copies of `minute` (none given: at start, to say who runs them). */
  mine(minute?: Date): Promise<boolean>;
  release(): Promise<void>;
}

export class CopyScheduler {
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;
  /** Paused pipes already announced as skipped: said once per pause, not every minute. */
  private readonly announcedPaused = new Set<string>();

  constructor(
    private readonly workspace: () => Workspace,
    private readonly log: (line: string) => void,
    /** Runs one copy; dev passes its rebuild queue, so a copy never writes into a table being rewritten. */
    private readonly exclusive: <T>(task: () => Promise<T>) => Promise<T> = (task) => task(),
    /** The clock, for tests. */
    private readonly now: () => number = Date.now,
    /** Asked at every minute before anything runs; absent: this process always runs them (dev). */
    private readonly lease?: SchedulesLease,
    /** Where each run is recorded as a `copy` job (GET /v0/jobs); absent: not recorded. */
    private readonly jobs?: JobRegistry,
  ) {}

  start(): void {
    this.stopped = false;
    // Said at start, not at the first minute: which serve runs the schedules.
    if (scheduledCopies(this.workspace()).length > 0) void this.lease?.mine();
    this.arm();
  }

  /**
   * Stops the timer, then waits up to `waitMs` for the runs in flight, so a shutdown is not held for as long as
   * a copy may run. A copy cut off by the exit is one INSERT ... SELECT that ClickHouse may have written in
   * part (one part per block), as when `copy run` is interrupted.
   */
  async stop(waitMs = 10_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      Promise.allSettled([...this.running.values()]).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), waitMs))),
    ]);
    clearTimeout(timer);
    if (!waited) this.log(`△ copy schedules: ${[...this.running.keys()].join(', ')} still running after ${waitMs / 1000} s; not waiting for ${this.running.size === 1 ? 'it' : 'them'}`);
  }

  /** Ends the lease, if any, so another serve takes the schedules over at its next minute. After stop(). */
  async releaseLease(): Promise<void> {
    await this.lease?.release();
  }

  /** The last minute ticked: a timer that wakes a little early (clock steps) must not tick the same minute twice. */
  private lastMinute = 0;

  private arm(): void {
    if (this.stopped) return;
    const now = this.now();
    const next = Math.max(Math.floor(now / MINUTE) * MINUTE + MINUTE, this.lastMinute + MINUTE);
    this.timer = setTimeout(() => {
      this.lastMinute = next;
      const minute = new Date(next);
      // Read once: to know whether to ask the lease, and what to start (each run checks its pipe again, runOne).
      const schedules = dueAt(this.workspace(), minute);
      const tick = () => {
        try {
          this.tick(minute, schedules);
        } catch (err) {
          this.log(`✗ copy schedules: ${(err as Error).message}`);
        }
      };
      // The lease is asked for only in a minute with something to run (or to report).
      if (!this.lease || schedules.due.length + schedules.unreadable.length === 0) tick();
      else
        void this.lease
          .mine(minute)
          .then((mine) => mine && !this.stopped && tick())
          .catch((err: unknown) => this.log(`✗ copy schedules: ${(err as Error).message}`));
      this.arm();
    }, next - now);
    this.timer.unref();
  }

  /** Starts every copy due at `minute` (`schedules`: dueAt already read by the timer). Returns the runs it started (tests await them). */
  tick(minute: Date, schedules = dueAt(this.workspace(), minute)): Promise<void>[] {
    const { due, unreadable } = schedules;
    for (const { copy, message } of unreadable) this.log(`✗ copy schedule of ${copy.pipe} ('${copy.schedule}') cannot be read: ${message}; it does not run`);
    const started: Promise<void>[] = [];
    for (const { pipe, schedule } of due) {
      if (this.running.has(pipe)) {
        this.log(`△ copy ${pipe}: the run started earlier is still going, so the run of ${minute.toISOString()} is skipped`);
        continue;
      }
      const run = this.runOne(pipe, schedule, minute).finally(() => this.running.delete(pipe));
      this.running.set(pipe, run);
      started.push(run);
    }
    return started;
  }

  private async runOne(name: string, schedule: string, minute: Date): Promise<void> {
    try {
      const r = await this.exclusive(async () => {
        // The pipe as the workspace has it when the run starts (dev may have rebuilt meanwhile): one that was
        // removed, or whose schedule no longer includes this minute, does not run.
        const ws = this.workspace();
        const pipe = ws.project.pipes.get(name);
        if (!pipe || !dueAt(ws, minute).due.some((c) => c.pipe === name)) return undefined;
        if (await this.isPaused(ws, name)) return undefined;
        const run = () => runCopyPipe(ws, pipe, { now: minute });
        if (!this.jobs) return run();
        const job = this.jobs.start('copy', { pipe: name, datasource: copyNode(pipe)?.targetDatasource, details: { execution_type: 'scheduled' } });
        return this.jobs.settle(job, run, copyJobDetails);
      });
      // A run that wrote nothing is the common case of a frequent schedule: say nothing then.
      if (r && r.rowsWritten > 0) this.log(`» copy ${name} -> ${r.target} (${r.mode}, scheduled '${schedule}'): ${r.rowsWritten} rows written in ${r.elapsedS.toFixed(2)} s`);
    } catch (err) {
      if (err instanceof CopyHeldError) {
        this.log(`△ scheduled copy ${name} of ${minute.toISOString()} skipped: ${err.why}; it runs again at its next scheduled minute`);
        return;
      }
      // The error names the pipe, its target and ClickHouse's message (copy-pipe.ts); a fix is picked up at the next run.
      this.log(`✗ scheduled copy ${name} ('${schedule}'): ${(err as Error).message}; the next run is at its next scheduled minute`);
    }
  }

  /** Pipes announced as paused by the startup line: their first skipped run says nothing more. */
  markAnnouncedPaused(names: string[]): void {
    for (const n of names) this.announcedPaused.add(n);
  }

  /** True when `name`'s schedule is paused (said once per pause). A status that cannot be read stops the run: a paused copy must not run. */
  private async isPaused(ws: Workspace, name: string): Promise<boolean> {
    let paused: Set<string>;
    try {
      paused = await pausedCopies(ws.engine);
    } catch (err) {
      throw new Error(`could not read whether its schedule is paused, so it did not run: ${(err as Error).message}`);
    }
    if (!paused.has(name)) {
      this.announcedPaused.delete(name);
      return false;
    }
    if (!this.announcedPaused.has(name)) {
      this.announcedPaused.add(name);
      this.log(`» copy ${name}: its schedule is paused, so its runs are skipped until it is resumed (emailstats copy resume ${name}, or POST /v0/pipes/${name}/copy/resume)`);
    }
    return true;
  }
}

/**
 * Starts the schedules when `run` (dev, serve) and prints the startup line about them: what runs, or what does
 * not and `howToRun` them. Returns the scheduler, for stop() on shutdown.
 */
export function startCopySchedules(opts: {
  workspace: () => Workspace;
  log: (line: string) => void;
  run: boolean;
  howToRun: string;
  exclusive?: <T>(task: () => Promise<T>) => Promise<T>;
  /** serve: the lease that picks one runner among the serves given --copy-schedules. */
  lease?: SchedulesLease;
  /** The server's jobs (ServerOptions.jobs): each run is listed there. */
  jobs?: JobRegistry;
}): CopyScheduler {
  const scheduler = new CopyScheduler(opts.workspace, opts.log, opts.exclusive, undefined, opts.lease, opts.jobs);
  if (opts.run) scheduler.start();
  const ws = opts.workspace();
  const line = describeCopySchedules(ws, opts.run, opts.howToRun);
  if (line) opts.log(line);
  const scheduled = scheduledCopies(ws).map((c) => c.pipe);
  // Only the process that runs them says which are paused (a serve without --copy-schedules has its own line).
  if (opts.run && scheduled.length > 0) {
    // Said at start too: a pause outlives restarts, and a developer wondering why a copy never runs looks here.
    void pausedCopies(ws.engine).then(
      (paused) => {
        const names = scheduled.filter((p) => paused.has(p));
        if (names.length === 0) return;
        scheduler.markAnnouncedPaused(names);
        opts.log(`» copy schedules paused: ${names.join(', ')}; their runs are skipped until resumed (emailstats copy resume <pipe>)`);
      },
      (err: unknown) => opts.log(`△ copy schedules: could not read which are paused: ${(err as Error).message}; each run asks again`),
    );
  }
  return scheduler;
}

/** The startup line about copy schedules: what runs, or what does not and how to run it. */
export function describeCopySchedules(ws: Workspace, running: boolean, howToRun: string): string | undefined {
  const list = scheduledCopies(ws);
  if (list.length === 0) return undefined;
  const names = list.map((c) => `${c.pipe} ('${c.schedule}')`).join(', ');
  return running ? `» copy schedules (UTC): ${names}` : `» copy schedules not run by this process: ${names}; ${howToRun}`;
}
