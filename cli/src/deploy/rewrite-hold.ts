// Holding every serve process's event flushes to tables that are about to be swapped out. Records live in
// `_emailstats_rewriting` (store.ts), one owner each: a deploy (its deployment id) or a datasource replace run
// by a serve process (an id from REPLACE_ID_BASE on). Every serve reads them on each poll, holds its
// Ingestor's flushes to the union of their tables and runs no copy pipe into them; a writer then waits two polls
// and for inserts and copies already running before it fills anything.
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../engine/types.js';
import { quoteString } from '../sql/quote.js';
import { DEFAULT_MAX_HOLD_MS, ingestQueryIdPrefix, queryIdSafe } from '../ingest/index.js';
import { UserError } from '../util/fatal.js';
import { REPLACE_ID_BASE, isReplaceOwner, type DeploymentStore, type Rewriting } from './store.js';
import type { Rewriter } from '../server/workspace.js';

/** Lease of a rewrite record: serve holds flushes this long at most (default DEFAULT_MAX_HOLD_MS, 15 min). */
export const HOLD_ENV = 'EMAILSTATS_DEPLOY_HOLD_MS';
/** serve's poll interval (the same variable serve reads): the writer waits two of them for every serve to hold. */
export const POLL_ENV = 'EMAILSTATS_POLL_INTERVAL_MS';
/** A swap needs at least this much of the lease left, or serve might resume flushing into the old table. */
const SWAP_MARGIN_MS = 30_000;
/** How long the writer waits for ingest inserts and copies already running on the server to finish. */
const INFLIGHT_TIMEOUT_MS = 120_000;

export const leaseFromEnv = (env: NodeJS.ProcessEnv): number => Number(env[HOLD_ENV]) || DEFAULT_MAX_HOLD_MS;
export const pollFromEnv = (env: NodeJS.ProcessEnv): number => Number(env[POLL_ENV]) || 2000;

/** Who holds a record, for messages. */
export function ownerName(r: Pick<Rewriting, 'deploymentId'>): string {
  return isReplaceOwner(r.deploymentId) ? 'a datasource replace' : `deployment #${r.deploymentId}`;
}

/**
 * Query ids of the statements a copy pipe writes its target with (server/copy-pipe.ts). A rewrite waits for
 * those still running, as for event inserts (ingestQueryIdPrefix, ingest/flusher.ts).
 */
export const copyQueryIdPrefix = (target: string): string => queryIdSafe(`emailstats-copy-${target}:`);

/** Who holds `table` in an active record (the longest lease if several do), read now; undefined when nobody does. */
export async function rewriterOf(store: DeploymentStore, table: string): Promise<Rewriter | undefined> {
  const holding = overlapping(await store.rewriting(), [table]).sort((a, b) => b.remainingMs - a.remainingMs);
  return holding.length ? { owner: ownerName(holding[0]), remainingMs: holding[0].remainingMs } : undefined;
}

/** The records among `active` that name any of `tables`. */
export function overlapping(active: Rewriting[], tables: string[]): Rewriting[] {
  const wanted = new Set(tables);
  return active.filter((r) => r.tables.some((t) => wanted.has(t)));
}

/**
 * Waits until the server runs no Ingestor insert into `tables` and no copy pipe writing one of them (query ids
 * `emailstats-ingest-<table>:` and `emailstats-copy-<table>:`). On a cluster every node is asked: serve processes
 * insert through whichever node they were given.
 */
async function waitForWrites(engine: Engine, tables: string[]): Promise<void> {
  const prefixes = tables.flatMap((t) => [ingestQueryIdPrefix(t), copyQueryIdPrefix(t)]);
  const deadline = Date.now() + INFLIGHT_TIMEOUT_MS;
  for (;;) {
    const running = await runningStatements(engine, prefixes);
    if (running.length === 0) return;
    if (Date.now() > deadline) {
      const ids = running.slice(0, 5).join(', ');
      throw new RewriteBusyError(`event inserts or copies into ${tables.join(', ')} are still running after ${INFLIGHT_TIMEOUT_MS / 1000} s (query ids ${ids}${running.length > 5 ? ', …' : ''}); nothing was changed, try again`, 30_000);
    }
    await sleep(200);
  }
}

/**
 * The query ids of the statements running on the server (every node of a cluster) whose id starts with one of
 * `prefixes` (ingestQueryIdPrefix, copyQueryIdPrefix). A node that does not answer runs none: its statements died
 * with it (remote() treats each node as a shard).
 */
export async function runningStatements(engine: Engine, prefixes: string[]): Promise<string[]> {
  const cond = prefixes.map((p) => `substring(query_id, 1, ${p.length}) = ${quoteString(p)}`).join(' OR ');
  const rows = await engine.queryRows<{ query_id: string }>(`SELECT query_id FROM ${engine.placement.everyNode('system.processes')} WHERE ${cond} ORDER BY query_id`, {
    settings: engine.placement.cluster ? { skip_unavailable_shards: 1 } : undefined,
  });
  return rows.map((r) => r.query_id);
}

/** Another writer is rewriting some of the same tables, or inserts into them do not finish: try again later. */
export class RewriteBusyError extends UserError {
  constructor(
    message: string,
    /** How long until it is worth trying again. */
    readonly retryAfterMs: number,
    /** Who holds the tables (`deployment #12`), when that is the reason. */
    readonly owner?: string,
  ) {
    super(message);
  }
}

export interface ServeHold {
  /** False once the lease is nearly over (less than SWAP_MARGIN_MS left): swapping then could lose rows. */
  stillHeld(): Promise<boolean>;
  /** Ends this hold: serve processes release on their next poll (other holders' tables stay held). */
  end(): Promise<void>;
}

/** The refusal naming the first conflicting record; `then` says what to do about it. */
export function busy(rs: Rewriting[], then = 'try again when it is done'): RewriteBusyError {
  const r = rs[0];
  return new RewriteBusyError(`${ownerName(r)} is rewriting ${r.tables.join(', ')} right now (for ${Math.ceil(r.remainingMs / 1000)} s more at most); ${then}`, r.remainingMs, ownerName(r));
}

/** The active records that keep `owner` from rewriting; `mine` is its own record once written. */
export type Conflicts = (active: Rewriting[], mine: Rewriting | undefined) => Rewriting[];

/**
 * The hold protocol, for deploys and replaces alike: refuses if `conflicts` finds any, writes `owner`'s record
 * for `tables`, waits two poll intervals (every serve has read it and holds), checks `conflicts` again (two
 * writers that checked at the same moment), then waits for ingest inserts and copies still running. A refusal or failure
 * ends the record before it is thrown.
 */
export async function recordHold(
  store: DeploymentStore,
  owner: number,
  tables: string[],
  opts: { pollMs: number; leaseMs: number; log?: (line: string) => void; conflicts: Conflicts; then?: string },
): Promise<ServeHold> {
  const before = opts.conflicts(await store.rewriting(), undefined);
  if (before.length) throw busy(before, opts.then);
  await store.startRewrite(owner, tables, opts.leaseMs);
  try {
    const waitMs = 2 * opts.pollMs + 1000;
    opts.log?.(`» holding event flushes to ${tables.join(', ')} in every serve process (lease ${Math.round(opts.leaseMs / 1000)} s); waiting ${waitMs} ms`);
    await sleep(waitMs);
    const active = await store.rewriting();
    const after = opts.conflicts(active.filter((r) => r.deploymentId !== owner), active.find((r) => r.deploymentId === owner));
    if (after.length) throw busy(after, opts.then);
    await waitForWrites(store.engine, tables);
  } catch (e) {
    await store.endRewrite(owner).catch(() => {}); // the lease ends it otherwise; the first error is the one to report
    throw e;
  }
  return {
    async stillHeld() {
      const mine = (await store.rewriting()).find((r) => r.deploymentId === owner);
      return mine !== undefined && mine.remainingMs >= SWAP_MARGIN_MS;
    },
    end: () => store.endRewrite(owner),
  };
}

/**
 * A datasource replace run by a serve process: holds `tables` in every serve process. Refuses while a deploy
 * or an earlier replace holds any of them; of two replaces that checked at the same moment, the later record
 * (by version) withdraws after the wait.
 */
export function holdServes(store: DeploymentStore, tables: string[], opts: { pollMs: number; leaseMs: number; log?: (line: string) => void }): Promise<ServeHold> {
  return recordHold(store, REPLACE_ID_BASE + randomInt(2 ** 32), tables, {
    ...opts,
    conflicts: (active, mine) => overlapping(active, tables).filter((r) => !isReplaceOwner(r.deploymentId) || !mine || r.version < mine.version),
  });
}
