// Worker thread of the parallel email generator: block descriptors in, NDJSON bytes out. The plan is recomputed
// from the same options (deterministic), so only small block descriptors cross threads.
import { workerData } from 'node:worker_threads';
import { serveTasks } from '../util/worker-pool.js';
import { blockNdjson, planEmailMock, type EmailBlock, type EmailMockOptions } from './email.js';

const plan = planEmailMock((workerData as { opts: EmailMockOptions }).opts);

serveTasks<EmailBlock, { bytes: Uint8Array; events: number }>((block) => {
  const r = blockNdjson(plan, block);
  // The bytes own their ArrayBuffer (util/line-sink.ts): transferred, not copied.
  return { result: r, transfer: [r.bytes.buffer] };
});
