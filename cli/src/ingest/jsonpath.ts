// The subset of JSONPath the Events API maps columns with, compiled once per column into a closure.
import { parseJsonPath, type JsonPathStep as Step } from '../datafile/jsonpath.js';
import { markHolder } from '../util/exact-json.js';
import { isJsonObject as isObj } from '../util/json.js';


export const MISSING: unique symbol = Symbol('missing');
export type Extracted = unknown | typeof MISSING;
export type Extractor = (obj: unknown) => Extracted;

function run(steps: Step[], from: number, v: unknown): Extracted {
  let cur: unknown = v;
  for (let s = from; s < steps.length; s++) {
    const st = steps[s];
    if (st.k === 'key') {
      if (!isObj(cur) || !Object.prototype.hasOwnProperty.call(cur, st.key)) return MISSING;
      cur = cur[st.key];
    } else if (st.k === 'index') {
      if (!Array.isArray(cur) || st.i >= cur.length) return MISSING;
      cur = cur[st.i];
    } else {
      // `[:]` collects the rest of the path over every element; elements lacking it are skipped.
      // A non-array here is a type error, not a missing field: hand it on so the converter reports it.
      if (!Array.isArray(cur)) return cur;
      const out: unknown[] = [];
      for (const e of cur) {
        const r = run(steps, s + 1, e);
        if (r !== MISSING) out.push(r);
      }
      return markHolder(out);
    }
  }
  return cur;
}

/** Compiles a column's jsonpath (default `$.<column name>`, the name taken literally). */
export function compileJsonPath(path: string | undefined, columnName: string): Extractor {
  const steps: Step[] = path === undefined ? [{ k: 'key', key: columnName }] : parseJsonPath(path);
  if (steps.length === 0) return (o) => o;
  if (steps.length === 1 && steps[0].k === 'key') {
    const key = steps[0].key; // the common case: one property read, no loop
    return (o) => (isObj(o) && Object.prototype.hasOwnProperty.call(o, key) ? o[key] : MISSING);
  }
  return (o) => run(steps, 0, o);
}
