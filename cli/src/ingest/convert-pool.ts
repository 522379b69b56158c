// Converts large request bodies on worker threads, so that parsing and converting rows (the Events API's main
// cost) runs on every core while the request thread reads sockets and writes the WAL. Small bodies are
// converted in place: a round trip to a worker costs more than converting a few rows.
import { WorkerPool, WorkerTaskError } from '../util/worker-pool.js';
import { convertBody, type ConvertOptions, type Converted } from './convert.js';
import type { ConvertTask } from './convert-worker.js';
import { IngestError } from './errors.js';
import type { TargetPlan } from './plan.js';

/**
 * Bodies at least this large, as received (before gunzip), go to a worker: a 1,000-event NDJSON batch is
 * ~330 KB, one event ~330 bytes.
 */
export const WORKER_MIN_BYTES = 16 * 1024;

export class ConvertPool {
  private readonly pool?: WorkerPool<ConvertTask, Converted>;
  private readonly planKeys = new WeakMap<TargetPlan, string>();
  private nextKey = 0;

  constructor(workers: number, log: (msg: string) => void) {
    if (workers > 0) {
      this.pool = new WorkerPool(new URL('./convert-worker.ts', import.meta.url), workers, {
        unref: true, // an idle pool must not keep a server process alive
        onBroken: (why) => log(`ingest: ${why}; converting in the request thread from now on`),
      });
    }
  }

  /**
   * Converts `body` for `plan`: on the least busy worker when the body is large (the worker compiles the plan
   * from its columns once per key). A task cut off by a dying worker is converted here instead, as is
   * everything after it.
   */
  async convert(plan: TargetPlan, body: Buffer, opts: ConvertOptions): Promise<Converted> {
    if (!this.pool || this.pool.broken || body.length < WORKER_MIN_BYTES) return convertBody(plan, body, opts);
    let planKey = this.planKeys.get(plan);
    if (!planKey) this.planKeys.set(plan, (planKey = `p${this.nextKey++}`));
    // Posting copies the whole buffer under a view: copy just the body when it is a slice of a larger one.
    const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : new Uint8Array(body);
    try {
      return await this.pool.run({ planKey, columns: plan.columns, body: own, opts });
    } catch (e) {
      if (e instanceof WorkerTaskError) throw e.status !== undefined ? new IngestError(e.status, e.message) : new Error(e.message);
      return convertBody(plan, body, opts); // the worker died or the pool closed: the body is still ours
    }
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
