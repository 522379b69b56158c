// Conversion worker: request bodies in, converted line batches out (see convert.ts). Compiled plans are kept
// per column-list key, the most recent few only (a dev reload brings new column lists).
import type { Column } from '../datafile/types.js';
import { serveTasks } from '../util/worker-pool.js';
import { convertBody, type ConvertOptions, type Converted } from './convert.js';
import { TargetPlan } from './plan.js';

export interface ConvertTask {
  planKey: string;
  columns: Column[];
  body: Uint8Array;
  opts: ConvertOptions;
}

const MAX_PLANS = 64;
const plans = new Map<string, TargetPlan>();

function planFor(key: string, columns: Column[]): TargetPlan {
  let plan = plans.get(key);
  if (plan) {
    plans.delete(key); // re-insert: Map order is the recency order
  } else {
    plan = new TargetPlan(columns);
    if (plans.size >= MAX_PLANS) plans.delete(plans.keys().next().value!);
  }
  plans.set(key, plan);
  return plan;
}

serveTasks<ConvertTask, Converted>((t) => {
  const r = convertBody(planFor(t.planKey, t.columns), t.body, t.opts);
  return { result: r, transfer: [r.good?.buffer, r.bad?.buffer].filter((b): b is ArrayBuffer => b !== undefined) };
});
