// One deploy (or rollback) at a time per database, and one runner of the copy schedules among the serves given
// --copy-schedules (server/copy-schedules-lease.ts): each lock is a table of claims (LockKind), same protocol.
// ClickHouse 18.16 has no transactions, no conditional
// insert and no cheap UPDATE, so the lock is a claim protocol on an append-only table:
//   1. a contender inserts a claim row (a random nonce, who/host/pid, a lease `until` on the server's clock);
//   2. once that INSERT has returned it reads every live claim (per nonce the newest row is active and its
//      lease runs); it holds the lock only when its own claim is the only one;
//   3. otherwise it withdraws its claim (a row with active = 0) and refuses, naming the holder.
// A claim with any withdrawn row (active = 0) stays ended, whatever the row versions: a claim is taken once and
// never legitimately comes back, so neither a clock running behind (a --break-lock from another machine) nor a
// renewal racing a break can revive it.
// Of two contenders, the one whose INSERT finished last starts its read after both claims are visible, so it
// sees the other claim and loses: two contenders never both win. Both may lose (both inserts land before
// either reads); then both withdraw at once, and a loser that finds no live claim left after a short pause
// tries again (bounded). The holder renews its lease (heartbeat) only while more than a third of it is left,
// so a renewal never revives a claim that lapsed and that another contender may have seen as gone; a deploy
// that was killed stops renewing and its lock lapses with the lease, or at once for a contender in the same
// pid namespace of the same machine, which can see that the holder's pid is gone.
// On a cluster the lock table is replicated to every node, and an INSERT returns once one replica has the row:
// "visible to every query that starts after it returned" would hold on that node only. So there every lock row
// is written with insert_quorum = every node of the cluster (writeLockRow): it returns once all nodes have it,
// and the argument above holds whichever nodes the two contenders talk to.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { createRecordTable, nextRecordVersion } from './record-table.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../engine/types.js';
import { quoteIdent, quoteString } from '../sql/quote.js';
import { UserError } from '../util/fatal.js';
import { MACHINE_ID, processGone } from '../util/process.js';
import { writeEverywhere } from './quorum.js';

export const LOCK_TABLE = '_emailstats_deploy_lock';
/** Lease of the deploy lock in ms (default 60 s): how long a killed deploy keeps others out. */
export const LOCK_ENV = 'EMAILSTATS_DEPLOY_LOCK_MS';
/** Rounds of "both lost, try again" before giving up. */
const ATTEMPTS = 5;

/** One lock of this protocol: the table of its claims, its lease, and its name in messages. */
export interface LockKind {
  table: string;
  /** The environment variable that sets the lease in ms (at least 3 s). */
  env: string;
  defaultMs: number;
  /** `the deploy lock`. */
  name: string;
  /** Who else takes it, for messages: `other deploys`. */
  rivals: string;
  /**
   * Rows whose lease ended this many days ago are dropped at merges (TTL, ClickHouse 19.6+), for a lock held for
   * good and renewed every few seconds; a claim is live only while its lease runs, so none comes back. A server
   * without TTL (18.16) gets them deleted by the holder instead, once a day (pruneEndedClaims).
   */
  keepDays?: number;
}

export const DEPLOY_LOCK: LockKind = { table: LOCK_TABLE, env: LOCK_ENV, defaultMs: 60_000, name: 'the deploy lock', rivals: 'other deploys' };

const leaseFromEnv = (kind: LockKind, env: NodeJS.ProcessEnv): number => Math.max(3000, Number(env[kind.env]) || kind.defaultMs);

/** A live claim on the lock, as another process sees it. */
export interface LockHolder {
  nonce: string;
  /** What the holder is doing, e.g. `deploy of deployment #7`. */
  what: string;
  who: string;
  host: string;
  pid: number;
  /** Where `pid` can be checked: machineId() of the holder ('' when unknown). */
  machine: string;
  /** When it took the lock, UTC, on the server's clock. */
  startedAt: string;
  renewedSecondsAgo: number;
  remainingMs: number;
}

/** Another deploy or rollback holds the lock. */
export class DeployLockedError extends UserError {
  constructor(
    message: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(message);
  }
}

export interface DeployLock {
  /** False once the lease was found lapsed (or the lock released): another process may hold the lock now. */
  held(): boolean;
  /** Why the lock was lost, once it was. */
  lostBecause(): string | undefined;
  /** Says what the holder does now (shown to refused contenders), renewing the lease. */
  describe(what: string): Promise<void>;
  /** Renews the lease now; throws when the lock was lost (lapsed), so that `step` must not run. */
  assertHeld(step: string): Promise<void>;
  /**
   * Runs `ask` (a question to the operator), renewing the lease for at most `maxMs` meanwhile: a forgotten
   * prompt must not keep every other deploy out. The caller checks assertHeld() after the answer.
   */
  whileAsking<T>(ask: () => Promise<T>, maxMs?: number): Promise<T>;
  /** Withdraws the claim; never throws (a claim left behind lapses with its lease). */
  release(): Promise<void>;
}

/** How long a deploy waiting for its operator's answer keeps the lock (its lease then lapses). */
const MAX_ASKING_MS = 5 * 60_000;

async function ensureLockTable(engine: Engine, kind: LockKind): Promise<void> {
  const ttl = kind.keepDays && engine.caps.ttl ? ` TTL until + INTERVAL ${kind.keepDays} DAY` : '';
  await createRecordTable(engine, kind.table, '(nonce String, version UInt64, what String, who String, host String, pid UInt32, machine String, started DateTime, renewed DateTime, until DateTime, active UInt8)', `MergeTree ORDER BY (nonce, version)${ttl}`);
}

/**
 * Deletes the rows of claims whose lease ended more than `keepDays` ago, on a server that has no TTL to do
 * it (18.16): without it a lease renewed every few seconds leaves thousands of rows a day, and every claim and
 * renewal reads them. A mutation, which the server applies in the background (on a cluster, to every replica of
 * the record table); its cutoff is a literal, so every replica deletes the same rows.
 */
export async function pruneEndedClaims(engine: Engine, table: string, keepDays: number): Promise<void> {
  const [{ cutoff }] = await engine.queryRows<{ cutoff: number | string }>(`SELECT toUInt32(now()) - ${Math.round(keepDays * 86_400)} AS cutoff`);
  await engine.command(`ALTER TABLE ${quoteIdent(table)} DELETE WHERE until < toDateTime(${Number(cutoff)})`);
}

/** When this process next prunes each lock table (pruneDaily); one process may hold, lose and retake a lease many times. */
const nextPrune = new Map<string, number>();

/**
 * Starts pruneEndedClaims when the lock's rows need it and this process did not run it in the last day (an hour
 * after a failure, which is logged). Not awaited: the holder's renewal must not wait for a mutation.
 */
function pruneDaily(engine: Engine, kind: LockKind, log: ((line: string) => void) | undefined): void {
  if (!kind.keepDays || engine.caps.ttl) return;
  const key = `${engine.description}\u0000${kind.table}`;
  if (Date.now() < (nextPrune.get(key) ?? 0)) return;
  nextPrune.set(key, Date.now() + 86_400_000);
  pruneEndedClaims(engine, kind.table, kind.keepDays).catch((err: unknown) => {
    nextPrune.set(key, Date.now() + 3_600_000);
    log?.(`! ${kind.name}: the rows of ended claims could not be deleted (${(err as Error).message}); this process tries again in an hour`);
  });
}

/** Writes one row of the lock table; on a cluster with a quorum of every node (see the top of this file). */
function writeLockRow(engine: Engine, kind: LockKind, sql: string): Promise<void> {
  return writeEverywhere(engine, kind.name, (settings) => engine.command(sql, { settings }));
}

/**
 * Every live claim, oldest first. Only nonces with a row whose lease had not ended are read (the table keeps
 * every claim ever made); per nonce the newest row decides. Aliases differ from column names: ClickHouse
 * substitutes aliases everywhere in the query.
 */
async function liveClaims(engine: Engine, kind: LockKind = DEPLOY_LOCK): Promise<LockHolder[]> {
  const t = quoteIdent(kind.table);
  const rows = await engine.queryRows<{ nonce: string; w: string; wh: string; h: string; p: number | string; m: string; s: string; ago: number | string; rest: number | string }>(
    `SELECT nonce, w, wh, h, p, m, s, ago, rest FROM (
       SELECT nonce, argMax(what, version) AS w, any(who) AS wh, any(host) AS h, any(pid) AS p, any(machine) AS m, toString(min(started), 'UTC') AS s,
         toInt64(now()) - toInt64(max(renewed)) AS ago, toInt64(argMax(until, version)) - toInt64(now()) AS rest, min(active) AS a
       FROM ${t} WHERE nonce IN (SELECT nonce FROM ${t} WHERE until > now()) GROUP BY nonce
     ) WHERE a = 1 AND rest > 0 ORDER BY s, nonce`,
  );
  return rows.map((r) => ({ nonce: r.nonce, what: r.w, who: r.wh, host: r.h, pid: Number(r.p), machine: r.m, startedAt: r.s, renewedSecondsAgo: Number(r.ago), remainingMs: Number(r.rest) * 1000 }));
}

/** The refusal: who holds the lock, since when, and what to do. `again` is the command to run again. */
function lockedError(engine: Engine, h: LockHolder, again: string, leaseMs: number): DeployLockedError {
  return new DeployLockedError(
    `another deploy or rollback is running on ${engine.description}: ${h.what}, started ${h.startedAt} UTC by ${h.who} (pid ${h.pid} on ${h.host}); ` +
      `its lock was renewed ${h.renewedSecondsAgo} s ago and lapses in ${Math.ceil(h.remainingMs / 1000)} s unless renewed. Nothing was changed.\n` +
      `Run ${again} again when it is done. A deploy that was killed stops renewing its lock, which lapses within ${Math.round(leaseMs / 1000)} s (${LOCK_ENV}; ` +
      `at once when the killed process ran on this machine); the next deploy then ends the event-flush hold it left and resumes from what it applied. ` +
      `Only if you know that holder is dead, ${again} --break-lock takes the lock at once.`,
    h,
  );
}


export interface LockOptions {
  /** What the holder does, shown to refused contenders (`a deploy`, `a rollback`). */
  what: string;
  who: string;
  /** The command a refused user should run again, for the message (`deploy`, `deployment rollback`); '' when it retries by itself. */
  again: string;
  env?: NodeJS.ProcessEnv;
  /** Told when the heartbeat finds the lock lost, and of every claim broken. */
  log?: (line: string) => void;
  /** Ends every live claim first (`--break-lock`): for a holder known to be dead whose lease still runs. */
  breakLock?: boolean;
}

/** Takes the database's deploy lock, or throws DeployLockedError naming the holder. Renews it until release(). */
export async function acquireDeployLock(engine: Engine, opts: LockOptions): Promise<DeployLock> {
  const claim = await claimLock(engine, DEPLOY_LOCK, opts);
  if ('holder' in claim) throw lockedError(engine, claim.holder, opts.again, leaseFromEnv(DEPLOY_LOCK, opts.env ?? process.env));
  return claim.lock;
}

/**
 * Takes the lock of `kind` when nobody else holds it (renewed until release()), or names the live holder.
 * Throws only when the claim cannot be made or read back.
 */
export async function claimLock(engine: Engine, kind: LockKind, opts: LockOptions): Promise<{ lock: DeployLock } | { holder: LockHolder }> {
  const leaseMs = leaseFromEnv(kind, opts.env ?? process.env);
  const secs = Math.ceil(leaseMs / 1000);
  const t = quoteIdent(kind.table);
  const host = os.hostname();
  const row = (nonce: string, what: string, untilSql: string, active: 0 | 1) =>
    `INSERT INTO ${t} (nonce, version, what, who, host, pid, machine, started, renewed, until, active) SELECT ${quoteString(nonce)}, ${nextRecordVersion()}, ${quoteString(what)}, ${quoteString(opts.who)}, ${quoteString(host)}, ${process.pid}, ${quoteString(MACHINE_ID)}, now(), now(), ${untilSql}, ${active}`;
  await ensureLockTable(engine, kind);
  /** Ends the claims known to be dead (every claim with `all`: --break-lock, once); returns the others. */
  const endDead = async (all: boolean): Promise<LockHolder[]> => {
    const alive: LockHolder[] = [];
    for (const h of await liveClaims(engine, kind)) {
      const dead = processGone(h.pid, h.machine);
      if (!dead && !all) {
        alive.push(h);
        continue;
      }
      await writeLockRow(engine, kind, row(h.nonce, h.what, 'now()', 0));
      const why = dead ? `pid ${h.pid} is not running any more` : '--break-lock';
      opts.log?.(`» ended ${kind.name} of ${h.what}, started ${h.startedAt} UTC by ${h.who} (pid ${h.pid} on ${h.host}): ${why}`);
    }
    return alive;
  };

  let nonce = '';
  for (let attempt = 1; ; attempt++) {
    const [holder] = await endDead(Boolean(opts.breakLock) && attempt === 1);
    if (holder) return { holder };
    nonce = randomUUID();
    await writeLockRow(engine, kind, row(nonce, opts.what, `now() + ${secs}`, 1));
    const live = await liveClaims(engine, kind);
    if (live.length === 1 && live[0].nonce === nonce) break;
    await writeLockRow(engine, kind, row(nonce, opts.what, 'now()', 0));
    if (!live.some((c) => c.nonce === nonce)) throw new UserError(`could not take ${kind.name} on ${engine.description}: the claim lapsed before it could be read back (${kind.env}=${leaseMs} ms is too short for this server); nothing was changed`);
    if (attempt === ATTEMPTS) throw new UserError(`could not take ${kind.name} on ${engine.description}: ${kind.rivals} kept starting at the same moment (${ATTEMPTS} attempts); nothing was changed${opts.again ? `, run ${opts.again} again` : ''}`);
    // Everyone who saw the others withdraws at once; a winner's claim stays. Look again after a random pause.
    await sleep(1000 + Math.random() * 1000);
  }
  return { lock: new HeldLock(engine, kind, nonce, opts, leaseMs, (what) => row(nonce, what, `now() + ${secs}`, 1), () => row(nonce, opts.what, 'now()', 0)) };
}

class HeldLock implements DeployLock {
  private what: string;
  private lost?: string;
  private renewing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout;
  /** A renewal needs this much of the lease left (covers the time between reading it and the insert landing). */
  private readonly marginMs: number;

  constructor(
    private readonly engine: Engine,
    private readonly kind: LockKind,
    private readonly nonce: string,
    private readonly opts: LockOptions,
    private readonly leaseMs: number,
    private readonly renewSql: (what: string) => string,
    /** A function: each row gets its version when it is written. */
    private readonly releaseSql: () => string,
  ) {
    this.what = opts.what;
    this.marginMs = leaseMs / 3;
    this.timer = this.heartbeat();
  }

  private heartbeat(): NodeJS.Timeout {
    const timer = setInterval(() => void this.renew().catch(() => {}), Math.max(500, this.leaseMs / 6));
    timer.unref();
    return timer;
  }

  async whileAsking<T>(ask: () => Promise<T>, maxMs = MAX_ASKING_MS): Promise<T> {
    let stopped = false;
    const cap = setTimeout(() => {
      stopped = true;
      clearInterval(this.timer);
    }, maxMs);
    cap.unref();
    try {
      return await ask();
    } finally {
      clearTimeout(cap);
      if (stopped && !this.released) this.timer = this.heartbeat();
    }
  }

  /** One renewal at a time, in order. */
  private renew(): Promise<void> {
    const next = this.renewing.then(() => this.renewOnce());
    this.renewing = next.catch(() => {});
    return next;
  }

  private async renewOnce(): Promise<void> {
    if (this.lost) return;
    const started = Date.now();
    const mine = (await liveClaims(this.engine, this.kind)).find((c) => c.nonce === this.nonce);
    if (!mine || mine.remainingMs < this.marginMs) return this.lose(mine ? `only ${mine.remainingMs / 1000} s of its lease were left` : 'its lease ended');
    await writeLockRow(this.engine, this.kind, this.renewSql(this.what));
    // The lease was safe when read; if the insert took longer than the margin it may have lapsed meanwhile.
    if (Date.now() - started > this.marginMs) this.lose(`renewing it took ${Date.now() - started} ms`);
    else pruneDaily(this.engine, this.kind, this.opts.log);
  }

  private lose(why: string): void {
    this.lost = `${this.kind.name} was not renewed in time (${why}; ${this.kind.env}=${this.leaseMs} ms)`;
    this.opts.log?.(`! ${this.lost}`);
  }

  held(): boolean {
    return !this.lost && !this.released;
  }

  lostBecause(): string | undefined {
    return this.lost;
  }

  async describe(what: string): Promise<void> {
    this.what = what;
    await this.renew();
  }

  async assertHeld(step: string): Promise<void> {
    await this.renew();
    if (this.lost) throw new UserError(`${this.lost}: another deploy may have started, so ${step} did not run. Run ${this.opts.again} again; it resumes from what was applied`);
  }

  private released = false;

  async release(): Promise<void> {
    this.released = true;
    clearInterval(this.timer);
    await this.renewing;
    await writeLockRow(this.engine, this.kind, this.releaseSql()).catch(() => {});
  }
}

/** The live claims, for tests and diagnostics. */
export { liveClaims as deployLockClaims };
