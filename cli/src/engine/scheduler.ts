// Shares a few engine lanes (chDB connections that each run one statement at a time) fairly between the
// tokens whose requests read through them: one queue per token, served round-robin, so one token's heavy
// queries cannot make another token's light ones wait behind all of them. Queues are bounded; past the bound
// a query is refused at once as busy (the API answers 503 with Retry-After) instead of waiting without end.
import { EngineError } from './errors.js';

export interface FairShareLimits {
  /** Queries of one token that may wait for a lane; more are refused as busy. */
  perKeyWaiting: number;
  /** Queries of all tokens together that may wait for a lane. */
  totalWaiting: number;
}

export const DEFAULT_FAIR_SHARE_LIMITS: FairShareLimits = { perKeyWaiting: 32, totalWaiting: 128 };

/** Raised instead of queueing past the limits. */
export class EngineBusyError extends EngineError {
  readonly retryAfterSeconds = 1;
  constructor(what: string) {
    super(`the server is busy: ${what}. Retry after 1 s (Retry-After), or send fewer requests at once`);
    this.name = 'EngineBusyError';
  }

  override get isTransient(): boolean {
    return true;
  }
}

type Start = (lane: number) => void;

export class FairScheduler {
  private readonly freeLanes: number[];
  /** Waiting queries per key; the Map's order is the round-robin order (a served key moves to the back). */
  private readonly waiting = new Map<string, Start[]>();
  private readonly running = new Map<string, number>();
  private waitingTotal = 0;
  /** A key may hold every lane but one, so another key's query never waits for more than one running query. */
  private readonly perKeyRunning: number;

  constructor(
    lanes: number,
    private readonly limits: FairShareLimits = DEFAULT_FAIR_SHARE_LIMITS,
  ) {
    this.freeLanes = Array.from({ length: lanes }, (_, i) => i);
    this.perKeyRunning = Math.max(1, lanes - 1);
  }

  /** Runs `task` on a free lane (its index is passed) once it is `key`'s turn. */
  run<T>(key: string, task: (lane: number) => Promise<T>): Promise<T> {
    const queue = this.waiting.get(key) ?? [];
    if (queue.length >= this.limits.perKeyWaiting) {
      return Promise.reject(new EngineBusyError(`${queue.length} queries from this token are already waiting for the engine`));
    }
    if (this.waitingTotal >= this.limits.totalWaiting) {
      return Promise.reject(new EngineBusyError(`${this.waitingTotal} queries are already waiting for the engine`));
    }
    return new Promise<T>((resolve, reject) => {
      queue.push((lane) => {
        task(lane)
          .then(resolve, reject)
          .finally(() => this.release(key, lane));
      });
      this.waiting.set(key, queue);
      this.waitingTotal++;
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.freeLanes.length > 0) {
      const key = this.nextKey();
      if (key === undefined) return;
      const queue = this.waiting.get(key)!;
      const start = queue.shift()!;
      this.waiting.delete(key);
      if (queue.length > 0) this.waiting.set(key, queue);
      this.waitingTotal--;
      this.running.set(key, (this.running.get(key) ?? 0) + 1);
      start(this.freeLanes.pop()!);
    }
  }

  private nextKey(): string | undefined {
    for (const key of this.waiting.keys()) if ((this.running.get(key) ?? 0) < this.perKeyRunning) return key;
    return undefined;
  }

  private release(key: string, lane: number): void {
    const left = (this.running.get(key) ?? 1) - 1;
    if (left > 0) this.running.set(key, left);
    else this.running.delete(key);
    this.freeLanes.push(lane);
    this.dispatch();
  }
}
