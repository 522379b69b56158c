// The subset of JSONPath the Events API maps columns with, compiled once per column into a closure.

export const MISSING: unique symbol = Symbol('missing');
export type Extracted = unknown | typeof MISSING;
export type Extractor = (obj: unknown) => Extracted;

type Step = { k: 'key'; key: string } | { k: 'index'; i: number } | { k: 'all' };

export class JsonPathError extends Error {}

export function parseJsonPath(path: string): Step[] {
  const p = path.trim();
  if (!p.startsWith('$')) throw new JsonPathError(`jsonpath ${path} must start with $`);
  const steps: Step[] = [];
  let i = 1;
  while (i < p.length) {
    const ch = p[i];
    if (ch === '.') {
      let j = i + 1;
      while (j < p.length && p[j] !== '.' && p[j] !== '[') j++;
      const key = p.slice(i + 1, j);
      if (!key) throw new JsonPathError(`empty key in jsonpath ${path} at ${i}`);
      steps.push({ k: 'key', key });
      i = j;
    } else if (ch === '[') {
      const close = findClose(p, i);
      const inner = p.slice(i + 1, close).trim();
      if (inner === ':' || inner === '*') steps.push({ k: 'all' });
      else if (/^\d+$/.test(inner)) steps.push({ k: 'index', i: Number(inner) });
      else if (/^'.*'$/s.test(inner) || /^".*"$/s.test(inner))
        steps.push({ k: 'key', key: inner.slice(1, -1).replace(/\\(.)/g, '$1') });
      else throw new JsonPathError(`unsupported selector [${inner}] in jsonpath ${path}`);
      i = close + 1;
    } else throw new JsonPathError(`unexpected ${JSON.stringify(ch)} in jsonpath ${path} at ${i}`);
  }
  return steps;
}

function findClose(p: string, open: number): number {
  let quote = '';
  for (let j = open + 1; j < p.length; j++) {
    const c = p[j];
    if (quote) {
      if (c === '\\') j++;
      else if (c === quote) quote = '';
    } else if (c === "'" || c === '"') quote = c;
    else if (c === ']') return j;
  }
  throw new JsonPathError(`unclosed [ in jsonpath ${p}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

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
      return out;
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
