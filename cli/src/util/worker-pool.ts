// A pool of worker threads running one TypeScript module of the CLI (started through ts-worker.mjs). Tasks go to
// the least busy worker and resolve in any order; the worker side answers with `serveTasks`. Users: the email
// mock generator and the Events API's conversion of large bodies.
import { parentPort, Worker, type TransferListItem } from 'node:worker_threads';

/** A task the worker's handler threw on: its message, and an HTTP-like status when the error carried one. */
export class WorkerTaskError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'WorkerTaskError';
  }
}

/** A worker died (crash, exit, termination): every task still pending on the pool fails with this. */
export class WorkerPoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerPoolError';
  }
}

interface Lane {
  worker: Worker;
  inFlight: number;
}
type Reply<Res> = { id: number; result: Res } | { id: number; error: { message: string; status?: number } };

export interface WorkerPoolOptions {
  workerData?: Record<string, unknown>;
  /** Let the process exit while workers idle (a server's pool); default false. */
  unref?: boolean;
  /** Called once when the pool breaks (a worker died), with the reason. */
  onBroken?: (why: string) => void;
}

export class WorkerPool<Req, Res> {
  private readonly lanes: Lane[] = [];
  private readonly pending = new Map<number, { resolve: (r: Res) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closing = false;
  private failure?: WorkerPoolError;

  /** `entry`: the TypeScript module the workers run; it must call `serveTasks`. */
  constructor(entry: URL, size: number, private readonly opts: WorkerPoolOptions = {}) {
    const bootstrap = new URL('./ts-worker.mjs', import.meta.url);
    for (let i = 0; i < size; i++) {
      const worker = new Worker(bootstrap, { workerData: { ...opts.workerData, entry: entry.href } });
      if (opts.unref) worker.unref();
      const lane: Lane = { worker, inFlight: 0 };
      worker.on('message', (m: Reply<Res>) => {
        lane.inFlight--;
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        if ('result' in m) p.resolve(m.result);
        else p.reject(new WorkerTaskError(m.error.message, m.error.status));
      });
      worker.on('error', (e) => this.break(`a worker failed: ${e.message}`));
      // Workers never exit by themselves: any exit before close() is a failure, whatever its code.
      worker.on('exit', (code) => this.break(`a worker exited with code ${code}`));
      this.lanes.push(lane);
    }
  }

  /** True once a worker died: run() rejects from then on. */
  get broken(): boolean {
    return this.failure !== undefined;
  }

  run(req: Req): Promise<Res> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new WorkerPoolError('the worker pool is closed'));
    const lane = this.lanes.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.nextId++;
    const p = new Promise<Res>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    lane.inFlight++;
    lane.worker.postMessage({ id, req });
    return p;
  }

  private break(why: string): void {
    if (this.closing || this.failure) return;
    this.failure = new WorkerPoolError(why);
    this.opts.onBroken?.(why);
    this.rejectPending(this.failure);
    for (const l of this.lanes) void l.worker.terminate();
  }

  private rejectPending(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Terminates the workers; tasks still pending fail with WorkerPoolError. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.rejectPending(new WorkerPoolError('the worker pool was closed before the task finished'));
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
  }
}

/**
 * The worker side: answers every task with `handle`'s result (transferring the buffers it lists) or with the
 * error it threw (message, and `status` when the error has a numeric one).
 */
export function serveTasks<Req, Res>(handle: (req: Req) => { result: Res; transfer?: TransferListItem[] }): void {
  if (!parentPort) throw new Error('serveTasks must run in a worker thread');
  const port = parentPort;
  port.on('message', ({ id, req }: { id: number; req: Req }) => {
    try {
      const { result, transfer } = handle(req);
      port.postMessage({ id, result }, transfer ?? []);
    } catch (e) {
      const status = (e as { status?: unknown }).status;
      port.postMessage({ id, error: { message: (e as Error).message, status: typeof status === 'number' ? status : undefined } });
    }
  });
}
