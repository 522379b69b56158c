// The JSONPath subset of datafile SCHEMA columns (`json:$.a.b`, `$['a-b']`, `$.a[0]`, `$.tags[:]`, `$`): parsed
// into steps. The Events API compiles them into extractors (ingest/jsonpath.ts); the generators shape rows by them.

export type JsonPathStep = { k: 'key'; key: string } | { k: 'index'; i: number } | { k: 'all' };

export class JsonPathError extends Error {}

export function parseJsonPath(path: string): JsonPathStep[] {
  const p = path.trim();
  if (!p.startsWith('$')) throw new JsonPathError(`jsonpath ${path} must start with $`);
  const steps: JsonPathStep[] = [];
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

/** The object keys a jsonpath walks through (array selectors only say the value is an array); null for `$`. */
export function jsonPathKeys(path: string): string[] | null {
  const keys = parseJsonPath(path).flatMap((s) => (s.k === 'key' ? [s.key] : []));
  return keys.length === 0 ? null : keys;
}
