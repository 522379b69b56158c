// Converts large request bodies on worker threads, so that parsing and converting rows (the Events API's main
// cost) runs on every core while the request thread reads sockets and writes the WAL. Small bodies are
// converted in place: a round trip to a worker costs more than converting a few rows.
import { Worker } from 'node:worker_threads';
import type { Column } from '../datafile/types.js';
import { convertBody, type ConvertOptions, type Converted } from './convert.js';
import type { ConvertRequest } from './convert-worker.js';
import { IngestError } from './errors.js';
import type { TargetPlan } from './plan.js';

/** Bodies at least this large go to a worker (a 1,000-event NDJSON batch is ~330 KB; one event ~330 bytes). */
export const WORKER_MIN_BYTES = 16 * 1024;

interface Lane {
  worker: Worker;
  inFlight: number;
}

export class ConvertPool {
  private readonly lanes: Lane[] = [];
  private readonly pending = new Map<number, { resolve: (r: Converted) => void; reject: (e: Error) => void }>();
  private readonly planKeys = new WeakMap<Column[], string>();
  private nextId = 0;
  private closing = false;
  /** Set when a worker died: conversion goes back to the request thread for good (logged once). */
  private broken = false;

  constructor(
    workers: number,
    private readonly log: (msg: string) => void,
  ) {
    const bootstrap = new URL('../util/ts-worker.mjs', import.meta.url);
    const entry = new URL('./convert-worker.ts', import.meta.url).href;
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(bootstrap, { workerData: { entry } });
      worker.unref(); // an idle pool must not keep the process alive
      const lane: Lane = { worker, inFlight: 0 };
      worker.on('message', (m: { id: number; result?: Converted; error?: { status: number; message: string } }) => {
        lane.inFlight--;
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        if (m.result) p.resolve(m.result);
        else p.reject(m.error!.status === 500 ? new Error(m.error!.message) : new IngestError(m.error!.status, m.error!.message));
      });
      const fail = (why: string): void => {
        if (this.closing || this.broken) return;
        this.broken = true;
        this.log(`ingest: a conversion worker ${why}; converting in the request thread from now on`);
        for (const p of this.pending.values()) p.reject(new Error(`conversion worker ${why}`));
        this.pending.clear();
      };
      worker.on('error', (e) => fail(`failed: ${e.message}`));
      worker.on('exit', (code) => fail(`exited with code ${code}`));
      this.lanes.push(lane);
    }
  }

  /** Converts `body` for `plan` (built from `columns`): on the least busy worker when the body is large. */
  convert(plan: TargetPlan, columns: Column[], body: Buffer, opts: ConvertOptions): Promise<Converted> {
    if (this.broken || this.closing || this.lanes.length === 0 || body.length < WORKER_MIN_BYTES) {
      try {
        return Promise.resolve(convertBody(plan, body, opts));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    let planKey = this.planKeys.get(columns);
    if (!planKey) this.planKeys.set(columns, (planKey = `p${this.nextId++}`));
    const lane = this.lanes.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.nextId++;
    return new Promise<Converted>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      lane.inFlight++;
      // Posting copies the whole buffer under a view: copy just the body when it is a slice of a larger one.
      const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : new Uint8Array(body);
      const msg: ConvertRequest = { id, planKey, columns, body: own, opts };
      lane.worker.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
  }
}
