// Conversion worker: request bodies in, converted line batches out (see convert.ts). Plans are compiled once
// per column list key and kept for the worker's life.
import { parentPort } from 'node:worker_threads';
import type { Column } from '../datafile/types.js';
import { convertBody, type ConvertOptions } from './convert.js';
import { IngestError } from './errors.js';
import { TargetPlan } from './plan.js';

export interface ConvertRequest {
  id: number;
  planKey: string;
  columns: Column[];
  body: Uint8Array;
  opts: ConvertOptions;
}

const plans = new Map<string, TargetPlan>();

parentPort!.on('message', (m: ConvertRequest) => {
  try {
    let plan = plans.get(m.planKey);
    if (!plan) plans.set(m.planKey, (plan = new TargetPlan(m.columns)));
    const r = convertBody(plan, m.body, m.opts);
    const transfer = [r.good?.buffer, r.bad?.buffer].filter((b): b is ArrayBuffer => b !== undefined);
    parentPort!.postMessage({ id: m.id, result: r }, transfer);
  } catch (e) {
    const status = e instanceof IngestError ? e.status : 500;
    parentPort!.postMessage({ id: m.id, error: { status, message: (e as Error).message } });
  }
});
