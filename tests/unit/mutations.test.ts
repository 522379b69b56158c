// Deletes run as ClickHouse mutations in the background: which mutations an ALTER started, waiting for them,
// and following one that outlives its request until it is done or fails (chDB reports why a mutation fails;
// 18.16 does not, tested where the delete route runs on it, tests/e2e/tinybird-sdk.test.ts).
import { describe, expect, it } from 'vitest';
import { mutationIds, mutationState, waitForMutations, watchMutations, type MutationOutcome } from '../../cli/src/server/mutations.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';

describe('mutations on chDB', () => {
  const ctx = useEmbeddedEngine('mutations');

  async function table(name: string, rows: number): Promise<void> {
    await ctx.engine.command(`CREATE TABLE ${name} (id UInt32) ENGINE = MergeTree ORDER BY id`);
    await ctx.engine.command(`INSERT INTO ${name} SELECT number FROM numbers(${rows})`);
  }
  /** Starts a mutation and returns the ids it added. */
  async function mutate(name: string, sql: string): Promise<Set<string>> {
    const before = await mutationIds(ctx.engine, name);
    await ctx.engine.command(`ALTER TABLE ${name} ${sql}`, { settings: { mutations_sync: 0, validate_mutation_query: 0 } });
    return new Set([...(await mutationIds(ctx.engine, name))].filter((id) => !before.has(id)));
  }
  const count = async (name: string) => Number((await ctx.engine.queryRows<{ c: string }>(`SELECT count() AS c FROM ${name}`))[0].c);

  it('finds the mutation an ALTER started and follows it to its end past the first wait', async () => {
    await table('slow', 20);
    // About 2 s of work: longer than the first wait below, as a big delete outlives its request.
    const ids = await mutate('slow', 'DELETE WHERE sleepEachRow(0.1) = 0 AND id < 5');
    expect(ids.size).toBe(1);
    expect(await waitForMutations(ctx.engine, 'slow', { ids, timeoutMs: 200 })).toEqual({ state: 'running' });
    const ended = await new Promise<MutationOutcome>((resolve) => void watchMutations(ctx.engine, 'slow', ids, resolve, { stopped: () => false, pollMs: 100 }));
    expect(ended).toEqual({ state: 'done' });
    expect(await count('slow')).toBe(15);
    // Done, the mutation stays listed as done: nothing left to wait for, for it or for the table.
    expect(await mutationState(ctx.engine, 'slow', ids)).toEqual({ state: 'done' });
    expect(await mutationState(ctx.engine, 'slow')).toEqual({ state: 'done' });
  });

  it('reports why a mutation fails, and that it is gone once killed', async () => {
    await table('failing', 10);
    const ids = await mutate('failing', 'DELETE WHERE throwIf(id = 3) = 0');
    const outcome = await waitForMutations(ctx.engine, 'failing', { ids, timeoutMs: 30_000 });
    expect(outcome.state).toBe('failed');
    expect(outcome.state === 'failed' && outcome.reason).toMatch(/Value passed to 'throwIf' function is non-zero/);
    expect(await mutationState(ctx.engine, 'failing')).toMatchObject({ state: 'failed' });
    expect(await count('failing')).toBe(10);
    await ctx.engine.command("KILL MUTATION WHERE database = currentDatabase() AND table = 'failing'");
    // Killed, it is no longer listed: not done, gone (the rows it had not deleted are still there).
    expect(await mutationState(ctx.engine, 'failing', ids)).toEqual({ state: 'gone' });
    expect(await mutationState(ctx.engine, 'failing')).toEqual({ state: 'done' });
  });

  it('stops following when told the server is closing, without an outcome', async () => {
    await table('stopped', 20);
    const ids = await mutate('stopped', 'DELETE WHERE sleepEachRow(0.1) = 0 AND id < 5');
    let stopped = false;
    const outcomes: MutationOutcome[] = [];
    const watching = watchMutations(ctx.engine, 'stopped', ids, (o) => outcomes.push(o), { stopped: () => stopped, pollMs: 50 });
    stopped = true;
    await watching;
    expect(outcomes).toEqual([]);
    await waitForMutations(ctx.engine, 'stopped', { ids, timeoutMs: 30_000 });
  });
});
