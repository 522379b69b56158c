// Deletes run as ClickHouse mutations in the background: which mutations an ALTER started, waiting for them,
// and following one that outlives its request until it is done, has failed for long enough, or is gone (killed).
// chDB reports why a mutation fails; 18.16 does not (its deletes are tested through the route in
// tests/e2e/tinybird-sdk.test.ts).
import { describe, expect, it } from 'vitest';
import { followMutations, mutationIds, mutationState, startedMutations } from '../../cli/src/server/mutations.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';

describe('mutations on chDB', () => {
  const ctx = useEmbeddedEngine('mutations');

  async function table(name: string, rows: number): Promise<void> {
    await ctx.engine.command(`CREATE TABLE ${name} (id UInt32) ENGINE = MergeTree ORDER BY id`);
    await ctx.engine.command(`INSERT INTO ${name} SELECT number FROM numbers(${rows})`);
  }
  /** Starts a mutation in the background, as a server runs one, and returns the ids it added. */
  async function mutate(name: string, sql: string): Promise<Set<string> | undefined> {
    const before = await mutationIds(ctx.engine, name);
    await ctx.engine.command(`ALTER TABLE ${name} ${sql}`, { settings: { mutations_sync: 0, validate_mutation_query: 0 } });
    return startedMutations(ctx.engine, name, before);
  }
  const count = async (name: string) => Number((await ctx.engine.queryRows<{ c: string }>(`SELECT count() AS c FROM ${name}`))[0].c);

  it('finds the mutation an ALTER started and follows it to its end past the first wait', async () => {
    await table('slow', 20);
    // About 2 s of work: longer than the first wait below, as a big delete outlives its request.
    const ids = await mutate('slow', 'DELETE WHERE sleepEachRow(0.1) = 0 AND id < 5');
    expect(ids?.size).toBe(1);
    expect(await followMutations(ctx.engine, 'slow', { ids, untilMs: 200, pollMs: 50 })).toEqual({ state: 'running' });
    expect(await followMutations(ctx.engine, 'slow', { ids, untilMs: 30_000, pollMs: 100, retryLooks: true, stopped: () => false })).toEqual({ state: 'done' });
    expect(await count('slow')).toBe(15);
    // Done, the mutation stays listed as done: nothing left to wait for, for it or for the table.
    expect(await mutationState(ctx.engine, 'slow', ids)).toEqual({ state: 'done' });
    expect(await mutationState(ctx.engine, 'slow')).toEqual({ state: 'done' });
  });

  it('finds no mutation where the ALTER added none, rather than an empty set that would read as done', async () => {
    await table('quiet', 3);
    expect(await startedMutations(ctx.engine, 'quiet', await mutationIds(ctx.engine, 'quiet'), 300)).toBeUndefined();
  });

  it("compares only the lists of nodes that answered before the ALTER: a node's old mutations are not taken for new", async () => {
    await table('compared', 3);
    await mutate('compared', 'DELETE WHERE id = 0');
    // Node 0 did not answer before: nothing of it is compared, so nothing is found (and every mutation is waited for).
    expect(await startedMutations(ctx.engine, 'compared', { keys: new Set(), answered: new Set() }, 300)).toBeUndefined();
    // Had it answered with an empty list, the mutation listed now would be new.
    const listed = await mutationIds(ctx.engine, 'compared');
    expect(listed.keys.size).toBe(1);
    expect(await startedMutations(ctx.engine, 'compared', { keys: new Set(), answered: new Set([0]) }, 300)).toEqual(listed.keys);
  });

  it('ends with a failure only once it has lasted, with its reason; gone once killed', async () => {
    await table('failing', 10);
    const ids = await mutate('failing', 'DELETE WHERE throwIf(id = 3) = 0');
    expect((await mutationState(ctx.engine, 'failing', ids)).state).toMatch(/^(running|failed)$/);
    // A failure shorter than failAfterMs is not the end: at untilMs the mutation is still running.
    expect(await followMutations(ctx.engine, 'failing', { ids, untilMs: 1_000, pollMs: 100, failAfterMs: 60_000 })).toEqual({ state: 'running' });
    const failed = await followMutations(ctx.engine, 'failing', { ids, untilMs: 30_000, pollMs: 100, failAfterMs: 500 });
    expect(failed?.state).toBe('failed');
    expect(failed?.state === 'failed' && failed.reason).toMatch(/Value passed to 'throwIf' function is non-zero/);
    expect(await count('failing')).toBe(10);
    await ctx.engine.command("KILL MUTATION WHERE database = currentDatabase() AND table = 'failing'");
    // Killed, it is no longer listed: gone (the rows it had not deleted are still there), not done.
    expect(await mutationState(ctx.engine, 'failing', ids)).toEqual({ state: 'gone' });
    expect(await followMutations(ctx.engine, 'failing', { ids, untilMs: 5_000, pollMs: 50, goneAfterMs: 300 })).toEqual({ state: 'gone' });
    expect(await mutationState(ctx.engine, 'failing')).toEqual({ state: 'done' });
  });

  it('stops following when told the server is closing, without an outcome', async () => {
    await table('stopped', 20);
    const ids = await mutate('stopped', 'DELETE WHERE sleepEachRow(0.1) = 0 AND id < 5');
    let stopped = false;
    const following = followMutations(ctx.engine, 'stopped', { ids, untilMs: 60_000, pollMs: 50, stopped: () => stopped });
    stopped = true;
    expect(await following).toBeUndefined();
    await followMutations(ctx.engine, 'stopped', { ids, untilMs: 30_000, pollMs: 100 });
  });
});
