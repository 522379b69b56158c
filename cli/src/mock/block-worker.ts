// Worker thread of the parallel email generator: turns block descriptors into NDJSON bytes. The plan is
// recomputed from the same options (deterministic), so only small block descriptors cross threads.
import { parentPort, workerData } from 'node:worker_threads';
import { blockNdjson, planEmailMock, type EmailBlock, type EmailMockOptions } from './email.js';

const plan = planEmailMock((workerData as { opts: EmailMockOptions }).opts);
const encoder = new TextEncoder();

parentPort!.on('message', (m: { id: number; block: EmailBlock }) => {
  const { text, events } = blockNdjson(plan, m.block);
  const bytes = encoder.encode(text);
  parentPort!.postMessage({ id: m.id, events, bytes }, [bytes.buffer]);
});
