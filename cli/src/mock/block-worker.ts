// Worker thread of the parallel email generator: block descriptors in, NDJSON bytes out. The plan is recomputed
// from the same options (deterministic), so only small block descriptors cross threads.
import { workerData } from 'node:worker_threads';
import { serveTasks } from '../util/worker-pool.js';
import { blockNdjson, planEmailMock, type EmailBlock, type EmailMockOptions } from './email.js';

const plan = planEmailMock((workerData as { opts: EmailMockOptions }).opts);
const encoder = new TextEncoder();

serveTasks<EmailBlock, { bytes: Uint8Array; events: number }>((block) => {
  const { text, events } = blockNdjson(plan, block);
  // TextEncoder output owns its ArrayBuffer: safe to transfer instead of copying.
  const bytes = encoder.encode(text);
  return { result: { bytes, events }, transfer: [bytes.buffer] };
});
