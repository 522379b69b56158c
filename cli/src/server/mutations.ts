// ClickHouse runs `ALTER TABLE … DELETE` as a mutation in the background (18.16 and later): which mutations an
// ALTER started, and waiting until they are done. On a cluster the mutation runs on the shard tables; this node's
// replica is the one asked.
import type { Engine } from '../engine/types.js';
import { quoteString } from '../sql/quote.js';
import { setTimeout as sleep } from 'node:timers/promises';

export type MutationOutcome = { state: 'done' } | { state: 'running' } | { state: 'failed'; reason: string } | { state: 'gone' };

/** Whether the server reports why a mutation failed (`latest_fail_reason`; 18.16 does not: a failing one just stays undone). */
const failReasons = new WeakMap<Engine, Promise<boolean>>();
function reportsFailures(engine: Engine): Promise<boolean> {
  let known = failReasons.get(engine);
  if (!known) {
    known = engine
      .queryRows<{ c: number | string }>("SELECT count() AS c FROM system.columns WHERE database = 'system' AND table = 'mutations' AND name = 'latest_fail_reason'")
      .then(([row]) => Number(row.c) > 0);
    known.catch(() => failReasons.delete(engine)); // asked again next time
    failReasons.set(engine, known);
  }
  return known;
}

/** The ids of the table's mutations the server lists now (done or not). */
export async function mutationIds(engine: Engine, table: string): Promise<Set<string>> {
  const rows = await engine.queryRows<{ mutation_id: string }>(`SELECT mutation_id FROM system.mutations WHERE ${where(engine, table)}`);
  return new Set(rows.map((r) => r.mutation_id));
}

/** One look: whether the mutations `ids` (every mutation of the table when absent) are done, or why one fails. */
export async function mutationState(engine: Engine, table: string, ids?: ReadonlySet<string>): Promise<MutationOutcome> {
  const withReason = await reportsFailures(engine);
  const rows = await engine.queryRows<{ mutation_id: string; is_done: number | string; latest_fail_reason?: string }>(
    `SELECT mutation_id, is_done${withReason ? ', latest_fail_reason' : ''} FROM system.mutations WHERE ${where(engine, table)}`,
  );
  const pending = rows.filter((r) => Number(r.is_done) === 0 && (!ids || ids.has(r.mutation_id)));
  const failing = pending.find((r) => r.latest_fail_reason);
  if (failing) return { state: 'failed', reason: failing.latest_fail_reason! };
  if (pending.length) return { state: 'running' };
  // The server keeps its last 100 finished mutations listed (as done): one that is not listed any more was
  // killed (KILL MUTATION), or its table dropped, long before 100 others could finish.
  const listed = new Set(rows.map((r) => r.mutation_id));
  return ids && [...ids].some((id) => !listed.has(id)) ? { state: 'gone' } : { state: 'done' };
}

/**
 * The mutations an ALTER added to those listed `before` it. On a cluster a replica learns of a mutation from
 * ZooKeeper a moment after the ALTER returns, so the list is read again for up to `waitMs`; undefined when none
 * appears (then every unfinished mutation of the table is waited for: never an empty set, which would read as done).
 */
export async function startedMutations(engine: Engine, table: string, before: ReadonlySet<string>, waitMs = 5_000): Promise<Set<string> | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const added = [...(await mutationIds(engine, table))].filter((id) => !before.has(id));
    if (added.length) return new Set(added);
    if (Date.now() >= deadline) return undefined;
    await sleep(100);
  }
}

export interface FollowOptions {
  ids?: ReadonlySet<string>;
  /** Then `running` is answered. */
  untilMs: number;
  pollMs: number;
  /**
   * A failure ends the wait only once it has lasted this long: ClickHouse retries a failed mutation, and many
   * failures pass (a memory limit, a part being fetched, a lost ZooKeeper session). Default 5 minutes.
   */
  failAfterMs?: number;
  /** A look that fails (the server restarting) is retried instead of thrown. */
  retryLooks?: boolean;
  /** Asked between looks: true ends the wait with undefined (the server is closing). */
  stopped?: () => boolean;
}

/** How long a mutation may keep failing before it is reported as failed (ClickHouse retries it meanwhile). */
export const FAIL_AFTER_MS = 5 * 60_000;

/**
 * Looks every `pollMs` until the mutations are done; `gone` when two looks in a row miss one (a single look can
 * miss it while a replicated table starts up); `failed` once a failure has lasted `failAfterMs`; else `running`
 * at `untilMs`.
 */
export async function followMutations(engine: Engine, table: string, opts: FollowOptions): Promise<MutationOutcome | undefined> {
  const deadline = Date.now() + opts.untilMs;
  let failingSince: number | undefined;
  let goneLooks = 0;
  for (;;) {
    if (opts.stopped?.()) return undefined;
    const outcome = await mutationState(engine, table, opts.ids).catch((err: unknown) => {
      if (!opts.retryLooks) throw err;
      return undefined;
    });
    if (opts.stopped?.()) return undefined;
    if (outcome?.state === 'done') return outcome;
    goneLooks = outcome?.state === 'gone' ? goneLooks + 1 : outcome ? 0 : goneLooks;
    if (goneLooks >= 2) return outcome;
    if (outcome?.state === 'failed') {
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= (opts.failAfterMs ?? FAIL_AFTER_MS)) return outcome;
    } else if (outcome) failingSince = undefined;
    if (Date.now() >= deadline) return { state: 'running' };
    // Unref'd: a wait in the background does not keep the process alive.
    await sleep(opts.pollMs, undefined, { ref: false });
  }
}

/** Until the table's mutations (or `ids`) are done, or 60 s have passed; for a request that waits for its ALTER. */
export async function waitForMutations(engine: Engine, table: string, ids?: ReadonlySet<string>): Promise<MutationOutcome> {
  return (await followMutations(engine, table, { ids, untilMs: 60_000, pollMs: 100 }))!;
}

const where = (engine: Engine, table: string): string => `database = currentDatabase() AND table = ${quoteString(engine.placement.localTable(table))}`;
