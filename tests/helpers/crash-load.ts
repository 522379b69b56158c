// The load of the crash tests: workers post uniquely numbered events (single rows and batches, some with
// wait=true) to whichever server is up, and remember exactly which ids were acknowledged. A request cut off by a
// kill is not acknowledged; its rows may or may not have landed.
import { expect } from 'vitest';

/** Deterministic pseudo-random numbers, so a failing run can be repeated with the same seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/** A request the server answered with an error: its status, its error text and the ids it carried. */
export interface Refusal {
  status: number;
  error: string;
  ids: number[];
}

export interface CrashLoad {
  readonly acked: Set<number>;
  /** Requests answered with an error status (not those cut off without an answer, which only count as failed). */
  readonly refusals: Refusal[];
  readonly stats: { sent: number; requests: number; ackedRequests: number; failed: number };
  /** Posts from `workers` loops to `url` until the returned stop() is called. */
  run(url: string, workers: number): { stop(): Promise<void> };
  /** Mints the next id (for a marker event). */
  nextId(): number;
}

export function crashLoad(opts: { random: () => number; token: string; datasource: string; event: (id: number) => Record<string, unknown> }): CrashLoad {
  const acked = new Set<number>();
  const refusals: Refusal[] = [];
  const stats = { sent: 0, requests: 0, ackedRequests: 0, failed: 0 };
  let next = 1;
  const worker = async (url: string, state: { stop: boolean }): Promise<void> => {
    while (!state.stop) {
      const batch = opts.random() < 0.5 ? 1 : 1 + Math.floor(opts.random() * 200);
      const wait = opts.random() < 0.3;
      const ids = Array.from({ length: batch }, () => next++);
      stats.sent += batch;
      stats.requests++;
      try {
        const res = await fetch(`${url}/v0/events?name=${opts.datasource}${wait ? '&wait=true' : ''}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${opts.token}` },
          body: ids.map((id) => JSON.stringify(opts.event(id))).join('\n'),
        });
        const r = (await res.json()) as { successful_rows?: number; error?: string };
        if (res.status === 200 || res.status === 202) {
          expect(r.successful_rows).toBe(batch);
          for (const id of ids) acked.add(id);
          stats.ackedRequests++;
        } else {
          stats.failed++;
          refusals.push({ status: res.status, error: String(r.error ?? ''), ids });
        }
      } catch {
        stats.failed++;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  return {
    acked,
    refusals,
    stats,
    nextId: () => next++,
    run(url, workers) {
      const state = { stop: false };
      const loops = Array.from({ length: workers }, () => worker(url, state));
      return {
        stop: async () => {
          state.stop = true;
          await Promise.all(loops);
        },
      };
    },
  };
}
