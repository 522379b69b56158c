// The fair scheduler in front of the embedded engine's read lanes: tokens take turns, no token holds every
// lane, and past the queue limits a query is refused as busy at once.
import { describe, expect, it } from 'vitest';
import { EngineBusyError, FairScheduler } from '../../cli/src/engine/scheduler.js';

/** A task that runs until `finish()` is called, recording when it started. */
function gate(started: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  return { task: async (lane: number) => { started.push(name); await done; return lane; }, finish: () => finish() };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('FairScheduler', () => {
  it('serves waiting tokens round-robin, not in arrival order', async () => {
    const started: string[] = [];
    const s = new FairScheduler(1, { perKeyWaiting: 10, totalWaiting: 10 });
    const names = ['x', 'a1', 'a2', 'a3', 'b1', 'b2', 'c1'];
    const gates = new Map(names.map((n) => [n, gate(started, n)]));
    const runs = names.map((n) => s.run(n[0], gates.get(n)!.task));
    for (let i = 0; i < names.length; i++) {
      await tick();
      gates.get(started[i])!.finish();
    }
    await Promise.all(runs);
    expect(started).toEqual(['x', 'a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  });

  it('leaves one lane free for other tokens however many queries one token sends', async () => {
    const started: string[] = [];
    const s = new FairScheduler(3, { perKeyWaiting: 10, totalWaiting: 10 });
    const heavy = Array.from({ length: 5 }, (_, i) => gate(started, `heavy${i}`));
    const heavyRuns = heavy.map((g) => s.run('heavy', g.task));
    await tick();
    expect(started).toEqual(['heavy0', 'heavy1']);
    const light = gate(started, 'light');
    const lightRun = s.run('light', light.task);
    await tick();
    expect(started).toContain('light');
    light.finish();
    await lightRun;
    for (const g of heavy) g.finish();
    expect((await Promise.all(heavyRuns)).length).toBe(5);
  });

  it('refuses queries past the per-token and overall limits as busy, and takes them again once the queue drains', async () => {
    const started: string[] = [];
    const s = new FairScheduler(1, { perKeyWaiting: 2, totalWaiting: 3 });
    const running = gate(started, 'running');
    const first = s.run('a', running.task);
    const waiting = [gate(started, 'a1'), gate(started, 'a2'), gate(started, 'b1')];
    const queued = [s.run('a', waiting[0].task), s.run('a', waiting[1].task)];
    await expect(s.run('a', async () => 0)).rejects.toThrow(/server is busy: 2 queries from this token are already waiting.*Retry after 1 s/);
    queued.push(s.run('b', waiting[2].task));
    const refused = await s.run('c', async () => 0).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(EngineBusyError);
    expect((refused as EngineBusyError).message).toMatch(/3 queries are already waiting/);
    expect((refused as EngineBusyError).retryAfterSeconds).toBe(1);
    running.finish();
    for (const g of waiting) g.finish();
    await Promise.all([first, ...queued]);
    await expect(s.run('c', async () => 'ran')).resolves.toBe('ran');
  });
});
