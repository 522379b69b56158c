// Test files round-trip through the YAML writer and reader unchanged, in Tinybird's layout, and bad files
// are refused with the file, the case and what to change.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { caseQuery, type TestCase } from '../../cli/src/testing/model.js';
import { formatTestFile, parseTestFile, TestFileError } from '../../cli/src/testing/yaml.js';

const REPO = path.resolve(import.meta.dirname, '../..');

describe('test file YAML', () => {
  it("writes Tinybird's layout: key order, block scalars, a blank line between cases", () => {
    const cases: TestCase[] = [
      { name: 'top_pages_default', description: 'Default parameters', parameters: '', expected_result: '{"pathname":"/","views":42}\n{"pathname":"/pricing","views":7}\n' },
      { max_rows_read: 1000, expected_result: "Error validating 'abc' to type Int32", expected_http_status: 400, parameters: 'limit=abc', name: 'bad_param' },
    ];
    expect(formatTestFile(cases)).toBe(
      [
        '- name: top_pages_default',
        '  description: Default parameters',
        "  parameters: ''",
        '  expected_result: |',
        '    {"pathname":"/","views":42}',
        '    {"pathname":"/pricing","views":7}',
        '',
        '- name: bad_param',
        '  parameters: limit=abc',
        "  expected_result: Error validating 'abc' to type Int32",
        '  expected_http_status: 400',
        '  max_rows_read: 1000',
        '',
      ].join('\n'),
    );
  });

  it('round-trips any text exactly, including edge whitespace and YAML-looking content', () => {
    const text = fc.oneof(
      fc.string(),
      fc.array(fc.oneof(fc.string(), fc.constantFrom('', '  indented', '# not a comment', '- item', 'key: value', '"quoted"', "'", '\t', '|', '>')), { maxLength: 6 }).map((l) => l.join('\n')),
    );
    const testCase = fc.record(
      { name: fc.string({ minLength: 1 }).filter((s) => s.trim() !== ''), description: text, parameters: text, expected_result: text, expected_http_status: fc.integer({ min: 100, max: 599 }) },
      { requiredKeys: ['name', 'parameters', 'expected_result'] },
    );
    fc.assert(
      fc.property(fc.uniqueArray(testCase, { selector: (c) => c.name, maxLength: 4 }), (cases) => {
        const back = parseTestFile(formatTestFile(cases), 'x.yaml');
        expect(back).toEqual(cases);
      }),
      { numRuns: 300 },
    );
  });

  it('reads the shipped test files, and rewrites them byte for byte', () => {
    for (const f of ['campaign_stats.yaml', 'campaign_timeline.yaml', 'recipient_activity.yaml']) {
      const text = readFileSync(path.join(REPO, 'tests', f), 'utf8');
      const cases = parseTestFile(text, `tests/${f}`);
      expect(cases.length).toBeGreaterThan(5);
      expect(formatTestFile(cases)).toBe(text);
    }
  });

  it('refuses malformed files naming the file and the case', () => {
    const bad = (text: string) => () => parseTestFile(text, 'tests/p.yaml');
    expect(bad('name: x')).toThrow(/^tests\/p\.yaml: expected a YAML list of cases/);
    expect(bad('- parameters: a=1')).toThrow(/tests\/p\.yaml: case #1 has no name/);
    expect(bad('- name: a\n  parameter: a=1')).toThrow(/case 'a' has an unknown key 'parameter'; allowed: name, description, parameters/);
    expect(bad('- name: a\n- name: a')).toThrow(/case 'a' appears twice/);
    expect(bad('- name: a\n  max_rows_read: lots')).toThrow(/case 'a': max_rows_read must be a whole number, got "lots"/);
    expect(bad('- name: a\n  expected_result: [1]')).toThrow(TestFileError);
    expect(bad('- name: [a')).toThrow(/tests\/p\.yaml: invalid YAML/);
  });

  it('reads unquoted numbers as text and an empty file as no cases', () => {
    expect(parseTestFile('- name: a\n  parameters: 42\n  expected_result: 1\n', 'p.yaml')).toEqual([{ name: 'a', parameters: '42', expected_result: '1' }]);
    expect(parseTestFile('', 'p.yaml')).toEqual([]);
  });

  it('sends only what follows a ? in parameters', () => {
    expect(caseQuery('/v0/pipes/x.json?a=1&b=2')).toBe('a=1&b=2');
    expect(caseQuery(' a=1 ')).toBe('a=1');
  });
});
