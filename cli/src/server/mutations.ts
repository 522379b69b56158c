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

/** Looks every `pollMs` until the mutations are done, failing or gone, or `timeoutMs` has passed (then `running`). */
export async function waitForMutations(engine: Engine, table: string, opts: { ids?: ReadonlySet<string>; timeoutMs?: number; pollMs?: number } = {}): Promise<MutationOutcome> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const outcome = await mutationState(engine, table, opts.ids);
    if (outcome.state !== 'running' || Date.now() >= deadline) return outcome;
    await sleep(opts.pollMs ?? 100);
  }
}

/**
 * Follows mutations that outlived their request until they end: `onEnd` gets the outcome, or `running` when
 * `giveUpMs` passed first. A failed look (the server restarting) is retried: the mutation goes on meanwhile.
 * Stops without a word once `stopped()` says so (the server is closing).
 */
export async function watchMutations(
  engine: Engine,
  table: string,
  ids: ReadonlySet<string> | undefined,
  onEnd: (outcome: MutationOutcome) => void,
  opts: { stopped: () => boolean; pollMs?: number; giveUpMs?: number },
): Promise<void> {
  const deadline = Date.now() + (opts.giveUpMs ?? 24 * 3600 * 1000);
  while (!opts.stopped()) {
    const outcome = await mutationState(engine, table, ids).catch(() => undefined);
    if (opts.stopped()) return;
    if (outcome && outcome.state !== 'running') return onEnd(outcome);
    if (Date.now() >= deadline) return onEnd({ state: 'running' });
    await sleep(opts.pollMs ?? 2_000);
  }
}

const where = (engine: Engine, table: string): string => `database = currentDatabase() AND table = ${quoteString(engine.placement.localTable(table))}`;
