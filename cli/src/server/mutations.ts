// ClickHouse runs `ALTER TABLE … DELETE` as a mutation in the background (18.16 and later): which mutations an
// ALTER started, and waiting until they are done. On a cluster the mutation runs on the shard tables, each shard's
// on its own (its mutation ids are its own), and every replica applies it to its parts: every node is asked, each
// on its own, and a mutation is done once every node has done it. A node that does not answer (down) is waited for
// until it has been silent for SILENT_AFTER_MS, then left out; it applies the mutation from ZooKeeper when it is back.
import type { Engine } from '../engine/types.js';
import { oncePerEngine } from '../engine/per-engine.js';
import { runAll } from '../engine/swap.js';
import { quoteString } from '../sql/quote.js';
import { setTimeout as sleep } from 'node:timers/promises';

export type MutationOutcome = { state: 'done' } | { state: 'running' } | { state: 'failed'; reason: string } | { state: 'gone' };

/** Whether the server reports why a mutation failed (`latest_fail_reason`; 18.16 does not: a failing one just stays undone). */
const reportsFailures = oncePerEngine(async (engine) => {
  const [row] = await engine.queryRows<{ c: number | string }>("SELECT count() AS c FROM system.columns WHERE database = 'system' AND table = 'mutations' AND name = 'latest_fail_reason'");
  return Number(row.c) > 0;
});

interface MutationRow {
  /** `<node>/<mutation_id>`: two shards number their mutations alike. */
  key: string;
  node: number;
  done: boolean;
  failReason?: string;
}

/** The mutations the nodes list, and which nodes answered (by their index in the placement's eachNode). */
export interface MutationList {
  keys: Set<string>;
  answered: Set<number>;
}

const nodeOf = (key: string): number => Number(key.slice(0, key.indexOf('/')));

/** The table's mutations on every node that answers, which nodes answered and which did not; throws when none answers. */
async function listMutations(engine: Engine, table: string, withReason: boolean): Promise<{ rows: MutationRow[]; answered: Set<number>; silent: number[] }> {
  // A literal database: through remote() currentDatabase() would be the other node's.
  const where = `database = ${quoteString(engine.database)} AND table = ${quoteString(engine.placement.localTable(table))}`;
  const from = engine.placement.eachNode('system.mutations');
  const looks = await Promise.allSettled(
    from.map((f) =>
      engine.queryRows<{ mutation_id: string; is_done: number | string; latest_fail_reason?: string }>(
        `SELECT mutation_id, is_done${withReason ? ', latest_fail_reason' : ''} FROM ${f} WHERE ${where}`,
      ),
    ),
  );
  if (!looks.some((l) => l.status === 'fulfilled')) throw (looks[0] as PromiseRejectedResult).reason;
  const rows: MutationRow[] = [];
  const answered = new Set<number>();
  const silent: number[] = [];
  looks.forEach((look, node) => {
    if (look.status !== 'fulfilled') return void silent.push(node);
    answered.add(node);
    for (const r of look.value) rows.push({ key: `${node}/${r.mutation_id}`, node, done: Number(r.is_done) !== 0, failReason: r.latest_fail_reason || undefined });
  });
  return { rows, answered, silent };
}

/** The table's mutations the nodes list now (done or not), and which nodes answered. */
export async function mutationIds(engine: Engine, table: string): Promise<MutationList> {
  const { rows, answered } = await listMutations(engine, table, false);
  return { keys: new Set(rows.map((r) => r.key)), answered };
}

/** One look, and the nodes that did not answer it. */
async function look(engine: Engine, table: string, ids: ReadonlySet<string> | undefined, leftOut: ReadonlySet<number>): Promise<{ outcome: MutationOutcome; silent: number[]; onlySilent?: boolean }> {
  const { rows, answered, silent } = await listMutations(engine, table, await reportsFailures(engine));
  const pending = rows.filter((r) => !r.done && (!ids || ids.has(r.key)));
  const failing = pending.find((r) => r.failReason);
  if (failing) return { outcome: { state: 'failed', reason: failing.failReason! }, silent };
  // A node that did not answer may still be applying it: not done until it answers, or is left out.
  const idNodes = ids && new Set([...ids].map(nodeOf));
  const waitedFor = (node: number) => !leftOut.has(node) && (!idNodes || idNodes.has(node));
  if (pending.length || silent.some(waitedFor)) return { outcome: { state: 'running' }, silent, onlySilent: !pending.length };
  // The server keeps its last 100 finished mutations listed (as done): one that is not listed any more was
  // killed (KILL MUTATION), or its table dropped, long before 100 others could finish.
  const listed = new Set(rows.map((r) => r.key));
  const missing = ids && [...ids].some((key) => answered.has(nodeOf(key)) && !listed.has(key));
  return { outcome: missing ? { state: 'gone' } : { state: 'done' }, silent };
}

/**
 * One look: whether the mutations `ids` (every mutation of the table when absent) are done on every node, or why
 * one fails. A node that does not answer keeps them running.
 */
export async function mutationState(engine: Engine, table: string, ids?: ReadonlySet<string>): Promise<MutationOutcome> {
  return (await look(engine, table, ids, new Set())).outcome;
}

/**
 * Runs `ALTER TABLE <table> <action>` where the placement puts it (the shard tables on a cluster) and returns the
 * mutations it started (startedMutations), or undefined when that cannot be told (then every unfinished mutation
 * of the table is waited for). A failing ALTER throws.
 */
export async function startMutation(engine: Engine, table: string, action: string): Promise<Set<string> | undefined> {
  const before = await mutationIds(engine, table);
  await runAll(engine, engine.placement.mutate(table, action));
  return startedMutations(engine, table, before).catch(() => undefined);
}

/**
 * The mutations an ALTER added to those listed `before` it, once every node that answered then lists one (rows of a
 * node that did not answer then are not compared: its old mutations would all look new). On a cluster a replica
 * learns of a mutation from ZooKeeper a moment after the ALTER returns, so the lists are read again for up to
 * `waitMs`; undefined when a node has none by then (then every unfinished mutation of the table is waited for:
 * never a set that leaves a node's mutation out, which would read as done too early).
 */
export async function startedMutations(engine: Engine, table: string, before: MutationList, waitMs = 5_000): Promise<Set<string> | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows } = await listMutations(engine, table, false);
    const added = rows.filter((r) => before.answered.has(r.node) && !before.keys.has(r.key));
    const nodes = new Set(added.map((r) => r.node));
    if (added.length && [...before.answered].every((n) => nodes.has(n))) return new Set(added.map((r) => r.key));
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
  /**
   * A mutation no longer listed is `gone` once it has been missing for two looks and this long (a replica that
   * restarts lists its replicated mutations a moment after it answers again). Default 10 s.
   */
  goneAfterMs?: number;
  /** How long a node may not answer before the wait goes on without it. Default SILENT_AFTER_MS. */
  silentAfterMs?: number;
  /** `running` as soon as only silent nodes are left to wait for: a request's wait does not sit out their silence. */
  untilOnlySilent?: boolean;
}

/** How long a mutation may keep failing before it is reported as failed (ClickHouse retries it meanwhile). */
export const FAIL_AFTER_MS = 5 * 60_000;

/** How long a node may not answer before the wait goes on without it (it applies the mutation when it is back). */
export const SILENT_AFTER_MS = 2 * 60_000;

/**
 * Looks every `pollMs` until the mutations are done on every node (a node silent for SILENT_AFTER_MS is left
 * out); `gone` when one has been missing for two looks and `goneAfterMs`; `failed` once a failure has lasted
 * `failAfterMs`; else `running` at `untilMs`.
 */
export async function followMutations(engine: Engine, table: string, opts: FollowOptions): Promise<MutationOutcome | undefined> {
  const deadline = Date.now() + opts.untilMs;
  let failingSince: number | undefined;
  /** Looks in a row that found a mutation missing, and since when (a failed look changes neither). */
  let gone: { looks: number; since: number } | undefined;
  const silentSince = new Map<number, number>();
  const leftOut = new Set<number>();
  for (;;) {
    if (opts.stopped?.()) return undefined;
    const seen = await look(engine, table, opts.ids, leftOut).catch((err: unknown) => {
      if (!opts.retryLooks) throw err;
      return undefined;
    });
    if (opts.stopped?.()) return undefined;
    const outcome = seen?.outcome;
    if (seen) {
      const now = Date.now();
      for (const node of [...silentSince.keys()]) if (!seen.silent.includes(node)) silentSince.delete(node);
      for (const node of seen.silent) {
        const since = silentSince.get(node) ?? now;
        silentSince.set(node, since);
        if (now - since >= (opts.silentAfterMs ?? SILENT_AFTER_MS)) leftOut.add(node);
      }
    }
    if (outcome?.state === 'done') return outcome;
    if (opts.untilOnlySilent && seen?.onlySilent) return outcome;
    if (outcome?.state === 'gone') gone = { looks: (gone?.looks ?? 0) + 1, since: gone?.since ?? Date.now() };
    else if (outcome) gone = undefined;
    if (gone && gone.looks >= 2 && Date.now() - gone.since >= (opts.goneAfterMs ?? 10_000)) return outcome;
    if (outcome?.state === 'failed') {
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= (opts.failAfterMs ?? FAIL_AFTER_MS)) return outcome;
    } else if (outcome) failingSince = undefined;
    if (Date.now() >= deadline) return { state: 'running' };
    // Unref'd: a wait in the background does not keep the process alive.
    await sleep(opts.pollMs, undefined, { ref: false });
  }
}

/**
 * Until the table's mutations (or `ids`) are done, or 60 s have passed, or only nodes that do not answer are left
 * (then `running`, which a delete's job follows on); for a request that waits for its ALTER.
 */
export async function waitForMutations(engine: Engine, table: string, ids?: ReadonlySet<string>): Promise<MutationOutcome> {
  return (await followMutations(engine, table, { ids, untilMs: 60_000, pollMs: 100, untilOnlySilent: true }))!;
}

