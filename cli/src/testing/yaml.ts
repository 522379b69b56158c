// Reading and writing test files. Writing follows Tinybird's layout: keys in a fixed order, multi-line
// strings as literal block scalars, a blank line between cases, so `test update` produces reviewable diffs.
import { Document, parseDocument, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { CASE_KEYS, type TestCase } from './model.js';

/** A test file that cannot be used as it is; the message names the file, the case and what to change. */
export class TestFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'TestFileError';
  }
}

const NUMBER_KEYS = new Set(['expected_http_status', 'max_rows_read', 'max_elapsed_ms']);

export function parseTestFile(text: string, file: string): TestCase[] {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) throw new TestFileError(file, `invalid YAML: ${doc.errors[0]!.message}`);
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) return [];
  if (!Array.isArray(data)) throw new TestFileError(file, 'expected a YAML list of cases (each item starting with "- name: ...")');
  const names = new Set<string>();
  return data.map((item: unknown, i) => {
    const where = `case #${i + 1}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new TestFileError(file, `${where} is not a mapping of name, parameters, expected_result, ...`);
    const raw = item as Record<string, unknown>;
    const name = raw.name;
    if (typeof name !== 'string' || !name.trim()) throw new TestFileError(file, `${where} has no name: add "name: <identifier>"`);
    const label = `case '${name}'`;
    if (names.has(name)) throw new TestFileError(file, `${label} appears twice: case names must be unique within a file`);
    names.add(name);
    for (const key of Object.keys(raw)) {
      if (!(CASE_KEYS as readonly string[]).includes(key)) throw new TestFileError(file, `${label} has an unknown key '${key}'; allowed: ${CASE_KEYS.join(', ')}`);
    }
    const out: TestCase = { name, parameters: stringField(raw, 'parameters', file, label) ?? '', expected_result: stringField(raw, 'expected_result', file, label) ?? '' };
    const description = stringField(raw, 'description', file, label);
    if (description !== undefined) out.description = description;
    for (const key of NUMBER_KEYS) {
      const v = raw[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new TestFileError(file, `${label}: ${key} must be a whole number, got ${JSON.stringify(v)}`);
      (out as unknown as Record<string, number>)[key] = v;
    }
    return out;
  });
}

function stringField(raw: Record<string, unknown>, key: string, file: string, label: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  // Unquoted scalars like `parameters: 42` or `expected_result: 1` are read as text, as Python's YAML + str() would give.
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string') throw new TestFileError(file, `${label}: ${key} must be text, got ${Array.isArray(v) ? 'a list' : typeof v}`);
  return v;
}

/** A line of nothing but spaces or tabs: a literal block cannot keep it (YAML reads it as an empty line). */
const WHITESPACE_ONLY_LINE = /^[ \t]+$/m;

function scalar(value: string | number): Scalar {
  const node = new Scalar(value);
  // Multi-line text as a literal block, for readable diffs; double-quoted where a block would change it.
  if (typeof value === 'string' && value.includes('\n')) node.type = WHITESPACE_ONLY_LINE.test(value) ? Scalar.QUOTE_DOUBLE : Scalar.BLOCK_LITERAL;
  return node;
}

export function formatTestFile(cases: readonly TestCase[]): string {
  const doc = new Document();
  const seq = new YAMLSeq();
  cases.forEach((c, i) => {
    const map = new YAMLMap();
    for (const key of CASE_KEYS) {
      const v = c[key];
      if (v === undefined) continue;
      map.add(doc.createPair(key, scalar(v)));
    }
    if (i > 0) map.spaceBefore = true;
    seq.items.push(map);
  });
  doc.contents = seq;
  // lineWidth 0: never fold long lines (an error message or a parameter string stays one line).
  // A double-quoted string stays on one line (\n escapes): folding it across lines would not read back exactly.
  return doc.toString({ lineWidth: 0, minContentWidth: 0, singleQuote: true, doubleQuotedMinMultiLineLength: Number.MAX_SAFE_INTEGER });
}

