// Several serves of one database may all be started with --copy-schedules (the same unit on every machine behind a
// load balancer): one of them runs the schedules at a time, or an append-mode copy would run once per serve. The
// runner holds a lease in `_emailstats_copy_schedules_lease` (the deploy lock's claim protocol, deploy/lock.ts),
// renewed in the background and again before each minute it runs; the others try to take it at every minute with
// a copy due, and one of them does once the runner stops (released at a clean exit; after a kill, lapsed with its
// lease, or at once when a serve on the same machine sees its pid gone).
// A serve runs a minute only if it held the lease before that minute began: the serve that stopped may have run
// the minute in which another takes over, so the new runner starts with the next one (a takeover may skip one
// minute, never run one twice; this assumes the serves' clocks agree to well under a second, as NTP keeps them).
import os from 'node:os';
import { claimLock, type DeployLock, type LockKind } from '../deploy/lock.js';
import type { Engine } from '../engine/types.js';

export const COPY_SCHEDULES_LEASE_ENV = 'EMAILSTATS_COPY_SCHEDULES_LEASE_MS';

export const COPY_SCHEDULES_LEASE: LockKind = {
  table: '_emailstats_copy_schedules_lease',
  env: COPY_SCHEDULES_LEASE_ENV,
  defaultMs: 60_000,
  name: 'the copy schedules lease',
  rivals: 'other serves',
  // Its holder writes a row every sixth of the lease (8,640 a day by default) for as long as it runs; rows a day
  // old are dropped by TTL, or on 18.16 deleted by the holder (pruneEndedClaims).
  keepDays: 1,
};

const RUNNER = 'the copy schedules runner';

export class CopySchedulesLease {
  private lock: DeployLock | undefined;
  /** When this process took the lease it holds (its own clock). */
  private since = 0;
  /** The holder or the failure last reported: a serve that keeps finding the same one says so once. */
  private reported = '';
  private pending: Promise<boolean> | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly log: (line: string) => void,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * True when this process runs the copies of `minute` (default: none in particular, e.g. at start): it holds the
   * lease, taken before that minute began. False when another serve holds it, when it was taken only now, or
   * when the lease cannot be read or written (said once; the next minute tries again).
   */
  mine(minute?: Date): Promise<boolean> {
    // One claim at a time: two of the same process would compete with each other.
    this.pending ??= this.claim().finally(() => (this.pending = undefined));
    return this.pending.then((held) => held && (minute === undefined || this.since < minute.getTime()));
  }

  private async claim(): Promise<boolean> {
    // Renewed now, not only by the heartbeat: a process that was stalled past its lease finds out before it runs,
    // and one that cannot reach the lease table does not run (it keeps its claim; the next minute tries again).
    if (this.lock?.held()) {
      const renewed = await this.lock.describe(RUNNER).then(
        () => true,
        (err: unknown) => {
          this.log(`✗ copy schedules: ${COPY_SCHEDULES_LEASE.name} could not be renewed: ${(err as Error).message}; nothing runs this minute`);
          return false;
        },
      );
      if (!renewed) return false;
      if (this.lock.held()) return true;
    }
    if (this.lock) {
      this.log(`! copy schedules: this serve lost its lease (${this.lock.lostBecause() ?? 'it ended'}); it runs them again once it holds the lease again`);
      await this.lock.release();
      this.lock = undefined;
    }
    try {
      const claim = await claimLock(this.engine, COPY_SCHEDULES_LEASE, {
        what: RUNNER,
        who: `serve on ${os.hostname()}`,
        again: '', // the next minute tries again by itself
        env: this.env,
        log: this.log,
      });
      if ('lock' in claim) {
        this.lock = claim.lock;
        this.since = this.now();
        this.reported = '';
        this.log(`» copy schedules: this serve runs them from the next minute on (it holds ${COPY_SCHEDULES_LEASE.name}; another serve given --copy-schedules takes over if this one stops)`);
        return true;
      }
      const h = claim.holder;
      if (this.reported !== h.nonce) {
        this.reported = h.nonce;
        this.log(
          `» copy schedules: run by the serve with pid ${h.pid} on ${h.host} (it holds ${COPY_SCHEDULES_LEASE.name} since ${h.startedAt} UTC); ` +
            `this serve takes over if that one stops`,
        );
      }
      return false;
    } catch (err) {
      const message = (err as Error).message;
      if (this.reported !== message) {
        this.reported = message;
        this.log(`✗ copy schedules: ${COPY_SCHEDULES_LEASE.name} could not be read or taken: ${message}; nothing runs until it can, each scheduled minute tries again`);
      }
      return false;
    }
  }

  /** Ends the lease (a clean exit), so another serve takes over at its next minute instead of after the lease. */
  async release(): Promise<void> {
    await this.pending;
    await this.lock?.release();
    this.lock = undefined;
  }
}
