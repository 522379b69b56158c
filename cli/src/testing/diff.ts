// A line diff in unified style (`-` expected, `+` actual, three lines of context), and for NDJSON rows that
// changed, which fields changed: a long JSON line that differs in one number is hard to spot otherwise.

type Op = { kind: ' ' | '-' | '+'; line: string; a: number; b: number };

/** Cells of the LCS table above which we stop looking for the best alignment (memory, not correctness). */
const MAX_LCS_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function diffOps(a: string[], b: string[]): Op[] {
  // Trim the common prefix and suffix first: most failures change a few rows of many.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const ops: Op[] = [];
  for (let i = 0; i < start; i++) ops.push({ kind: ' ', line: a[i]!, a: i, b: i });
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  if (midA.length * midB.length > MAX_LCS_CELLS) {
    midA.forEach((line, i) => ops.push({ kind: '-', line, a: start + i, b: start }));
    midB.forEach((line, j) => ops.push({ kind: '+', line, a: endA, b: start + j }));
  } else {
    // lcs[i][j] = length of the longest common subsequence of midA[i..] and midB[j..]
    const n = midA.length;
    const m = midB.length;
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = midA[i] === midB[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && midA[i] === midB[j]) ops.push({ kind: ' ', line: midA[i]!, a: start + i++, b: start + j++ });
      // On a tie take the removal first, so a change reads `-old` then `+new` as in unified diffs.
      else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ kind: '-', line: midA[i]!, a: start + i++, b: start + j });
      else ops.push({ kind: '+', line: midB[j]!, a: start + i, b: start + j++ });
    }
  }
  for (let i = endA; i < a.length; i++) ops.push({ kind: ' ', line: a[i]!, a: i, b: endB + (i - endA) });
  return ops;
}

/** Unified diff of two texts, or '' when they are equal. Labels name the two sides (file and case, HTTP status). */
export function unifiedDiff(expected: string, actual: string, labels: { expected: string; actual: string }, context = 3): string {
  if (expected === actual) return '';
  const a = splitLines(expected);
  const b = splitLines(actual);
  const out = [`--- ${labels.expected}`, `+++ ${labels.actual}`];
  const ops = diffOps(a, b);
  const changed = ops.map((o, i) => (o.kind === ' ' ? -1 : i)).filter((i) => i >= 0);
  if (!changed.length) {
    // Same lines, different text: only the final newline differs.
    out.push(`@@ the texts differ only in the final newline: expected ${expected.endsWith('\n') ? 'one' : 'none'}, got ${actual.endsWith('\n') ? 'one' : 'none'} @@`);
    return out.join('\n');
  }
  // Group changes into hunks that share context.
  let k = 0;
  while (k < changed.length) {
    const first = changed[k]!;
    let last = first;
    while (k + 1 < changed.length && changed[k + 1]! - last <= 2 * context + 1) last = changed[++k]!;
    k++;
    const from = Math.max(0, first - context);
    const to = Math.min(ops.length - 1, last + context);
    const hunk = ops.slice(from, to + 1);
    const aStart = hunk[0]!.a;
    const bStart = hunk[0]!.b;
    const aLen = hunk.filter((o) => o.kind !== '+').length;
    const bLen = hunk.filter((o) => o.kind !== '-').length;
    out.push(`@@ -${aLen ? aStart + 1 : aStart},${aLen} +${bLen ? bStart + 1 : bStart},${bLen} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.line}`);
  }
  const fields = changedFields(ops);
  if (fields.length) out.push(...fields);
  return out.join('\n');
}

/** For the first removed/added pair of JSON object lines: `field: expected X, got Y` for each field that differs. */
function changedFields(ops: Op[]): string[] {
  const removed = ops.find((o) => o.kind === '-');
  const added = ops.find((o) => o.kind === '+');
  if (!removed || !added) return [];
  const before = parseObject(removed.line);
  const after = parseObject(added.line);
  if (!before || !after) return [];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const lines: string[] = [];
  for (const key of keys) {
    const x = JSON.stringify(before[key]);
    const y = JSON.stringify(after[key]);
    if (x !== y) lines.push(`  ${key}: expected ${x ?? '(absent)'}, got ${y ?? '(absent)'}`);
  }
  return lines.length ? [`first changed row (expected line ${removed.a + 1}):`, ...lines] : [];
}

function parseObject(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
