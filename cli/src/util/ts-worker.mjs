// Bootstrap of a worker thread that runs a TypeScript module of the CLI: loader hooks registered on the main
// thread do not reach workers, so each worker registers tsx itself before importing `workerData.entry`.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
