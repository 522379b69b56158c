// util/worker-pool.ts with a real worker module (tests/helpers/task-worker.ts): results, task errors with and
// without a status, a dying worker failing what is pending and breaking the pool, close().
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool, WorkerPoolError, WorkerTaskError } from '../../cli/src/util/worker-pool.js';
import type { Task } from '../helpers/task-worker.js';

const ENTRY = new URL('../helpers/task-worker.ts', import.meta.url);
const pools: WorkerPool<Task, unknown>[] = [];
const make = (size: number, onBroken?: (why: string) => void) => {
  const p = new WorkerPool<Task, unknown>(ENTRY, size, { onBroken });
  pools.push(p);
  return p;
};
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('WorkerPool', () => {
  it('runs tasks on its workers and answers each with its own result', async () => {
    const pool = make(2);
    const values = Array.from({ length: 20 }, (_, i) => ({ i, s: `v${i}` }));
    expect(await Promise.all(values.map((value, i) => pool.run({ op: 'echo', value, delayMs: i % 3 })))).toEqual(values);
  });

  it('rejects a task its handler threw on with WorkerTaskError, keeping a status, and keeps working', async () => {
    const pool = make(1);
    await expect(pool.run({ op: 'throw' })).rejects.toMatchObject({ name: 'WorkerTaskError', message: 'boom', status: undefined });
    const e = await pool.run({ op: 'status' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WorkerTaskError);
    expect(e).toMatchObject({ message: 'bad input', status: 400 });
    expect(await pool.run({ op: 'echo', value: 1 })).toBe(1);
    expect(pool.broken).toBe(false);
  });

  it('fails every pending task when a worker dies, says why once, and refuses new tasks', async () => {
    const why: string[] = [];
    const pool = make(2, (w) => why.push(w));
    // Outcomes are caught at once: the pool rejects both at the same moment.
    // Long enough never to finish before the other worker's exit breaks the pool, however loaded the machine.
    const slow = pool.run({ op: 'echo', value: 'late', delayMs: 20_000 }).catch((e: unknown) => e);
    const dying = pool.run({ op: 'exit' }).catch((e: unknown) => e);
    expect(await dying).toBeInstanceOf(WorkerPoolError);
    expect(await slow).toBeInstanceOf(WorkerPoolError);
    expect(why).toEqual(['a worker exited with code 3']);
    expect(pool.broken).toBe(true);
    await expect(pool.run({ op: 'echo', value: 1 })).rejects.toThrow(/exited with code 3/);
  });

  it('close() fails what is pending instead of leaving it hanging', async () => {
    const pool = make(1);
    const pending = pool.run({ op: 'echo', value: 'x', delayMs: 500 }).catch((e: unknown) => e);
    await pool.close();
    expect(String(await pending)).toMatch(/closed before the task finished/);
    await expect(pool.run({ op: 'echo', value: 1 })).rejects.toThrow(/closed/);
  });
});
