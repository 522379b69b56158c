// The failure diff: unified style with context, hunks with correct line numbers, and the fields that changed
// in an NDJSON row.
import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../cli/src/testing/diff.js';

const labels = { expected: 'expected_result (tests/p.yaml, case c)', actual: 'actual (HTTP 200)' };
const rows = (n: number, f: (i: number) => string = (i) => `{"i":${i},"v":${i * 2}}`) => Array.from({ length: n }, (_, i) => f(i)).join('\n') + '\n';

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb\n', labels)).toBe('');
  });

  it('shows a changed row with three lines of context and the fields that changed', () => {
    const expected = rows(10);
    const actual = rows(10, (i) => (i === 5 ? '{"i":5,"v":11}' : `{"i":${i},"v":${i * 2}}`));
    expect(unifiedDiff(expected, actual, labels)).toBe(
      [
        '--- expected_result (tests/p.yaml, case c)',
        '+++ actual (HTTP 200)',
        '@@ -3,7 +3,7 @@',
        ' {"i":2,"v":4}',
        ' {"i":3,"v":6}',
        ' {"i":4,"v":8}',
        '-{"i":5,"v":10}',
        '+{"i":5,"v":11}',
        ' {"i":6,"v":12}',
        ' {"i":7,"v":14}',
        ' {"i":8,"v":16}',
        'first changed row (expected line 6):',
        '  v: expected 10, got 11',
      ].join('\n'),
    );
  });

  it('splits distant changes into separate hunks', () => {
    const expected = rows(30);
    const actual = rows(30, (i) => (i === 2 || i === 25 ? `{"i":${i},"v":0}` : `{"i":${i},"v":${i * 2}}`));
    const hunks = unifiedDiff(expected, actual, labels).split('\n').filter((l) => l.startsWith('@@'));
    expect(hunks).toEqual(['@@ -1,6 +1,6 @@', '@@ -23,7 +23,7 @@']);
  });

  it('handles insertions, deletions, empty sides and a missing final newline', () => {
    expect(unifiedDiff('a\nb\nc\n', 'a\nx\ny\nc\nd\n', labels).split('\n').slice(2)).toEqual(['@@ -1,3 +1,5 @@', ' a', '-b', '+x', '+y', ' c', '+d']);
    expect(unifiedDiff('', 'x\n', labels).split('\n').slice(2)).toEqual(['@@ -0,0 +1,1 @@', '+x']);
    expect(unifiedDiff('x\n', '', labels).split('\n').slice(2)).toEqual(['@@ -1,1 +0,0 @@', '-x']);
    expect(unifiedDiff('a\nb\n', 'a\nb', labels)).toContain('the texts differ only in the final newline: expected one, got none');
  });

  it('stays fast and bounded on large, wholly different results', () => {
    const started = performance.now();
    const d = unifiedDiff(rows(5000), rows(5000, (i) => `{"j":${i}}`), labels);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(d.split('\n').filter((l) => l.startsWith('-')).length).toBe(5001); // 5000 rows and the --- label
  });
});
