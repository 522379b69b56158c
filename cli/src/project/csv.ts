// CSV files for a datasource (fixtures, appends): one record per line, an optional header row, values as
// ClickHouse writes them in CSV (`\N` for NULL, `""` for an empty string, arrays and maps as `['a','b']` /
// `{'k':1}` literals).
import type { Column } from '../datafile/types.js';
import { parseJsonPath, type JsonPathStep } from '../datafile/jsonpath.js';
import { isNullableType } from '../ingest/coerce.js';
import { parseType } from '../sql/types.js';

/** One CSV field: its text, and whether it was quoted (`""` is an empty string, an empty field is no value). */
export interface CsvField {
  text: string;
  quoted: boolean;
}

/** How a CSV file separates its fields and escapes inside quotes (Tinybird's `dialect_*` parameters). */
export interface CsvDialect {
  /** One character; `,` by default. */
  delimiter: string;
  /** One character that makes the next one literal, in a quoted field or not (`\\"`, `\\,`); quotes are doubled either way. */
  escapeChar?: string;
}

export const DEFAULT_CSV_DIALECT: CsvDialect = { delimiter: ',' };

/** RFC 4180 fields of one line (quotes doubled inside quoted fields), split on the dialect's delimiter. */
export function parseCsvLine(line: string, dialect: CsvDialect = DEFAULT_CSV_DIALECT): CsvField[] {
  const { delimiter, escapeChar } = dialect;
  const out: CsvField[] = [];
  let cur = '';
  let quoted = false;
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (inQuotes && ch === '"' && line[i + 1] === '"') {
      cur += '"';
      i++;
    } else if (escapeChar !== undefined && ch === escapeChar && i + 1 < line.length) {
      // As Python's csv reader (Tinybird's dialects): the next character loses any special meaning, quoted or not.
      cur += line[i + 1];
      i++;
    } else if (inQuotes) {
      if (ch === '"') inQuotes = false;
      else cur += ch;
    } else if (ch === '"') inQuotes = quoted = true;
    else if (ch === delimiter) {
      out.push({ text: cur, quoted });
      cur = '';
      quoted = false;
    } else cur += ch;
  }
  out.push({ text: cur, quoted });
  return out;
}

/** A header row naming fields the datasource has no column for. */
export class CsvHeaderError extends Error {}

/**
 * The column of each field, from the file's first record. A first record with a field that names a column (exactly,
 * or else ignoring case) is the header; fields under an empty name are skipped. A header that names a column the
 * datasource lacks is refused (CsvHeaderError): a typo would otherwise drop that column silently. A first record
 * that names no column is data, and fields map to the columns in schema order (what `emailstats mock --format
 * csv` writes).
 */
export function csvColumns(first: string[], datasource: string, columns: string[]): { names: string[]; isHeader: boolean } {
  const exact = new Set(columns);
  const byLower = new Map<string, string[]>();
  for (const c of columns) byLower.set(c.toLowerCase(), [...(byLower.get(c.toLowerCase()) ?? []), c]);
  const resolve = (f: string): string | undefined => {
    if (exact.has(f)) return f;
    const alike = byLower.get(f.toLowerCase());
    return alike?.length === 1 ? alike[0] : undefined;
  };
  const fields = first.map((f) => f.trim());
  if (!fields.some((f) => resolve(f) !== undefined)) return { names: columns, isHeader: false };
  const unknown = fields.filter((f) => f !== '' && resolve(f) === undefined);
  if (unknown.length) {
    throw new CsvHeaderError(
      `the CSV header names ${unknown.map((u) => `'${u}'`).join(', ')}, which datasource '${datasource}' has no column for (its columns: ${columns.join(', ')}); ` +
        'rename or remove those fields. If the first line is data, not a header, put a header line naming the columns before it',
    );
  }
  return { names: fields.map((f) => (f === '' ? '' : resolve(f)!)), isHeader: true };
}

/** How one column reads its CSV field, and where the value goes in the record. */
interface FieldRule {
  /** Array/Map/Tuple/JSON: the field is a literal to parse. */
  composite: boolean;
  /** An unquoted `\N` is NULL (otherwise no value: the column's DEFAULT). */
  nullable: boolean;
  place: (record: Record<string, unknown>, value: unknown) => void;
}

const COMPOSITE = new Set(['Array', 'Map', 'Tuple', 'JSON', 'Object', 'Nested']);

function isComposite(type: string): boolean {
  try {
    let node = parseType(type);
    while ((node.name === 'Nullable' || node.name === 'LowCardinality') && node.args[0]?.kind === 'type') node = node.args[0].node;
    return COMPOSITE.has(node.name);
  } catch {
    return false;
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Puts `value` where the column's jsonpath reads it, building objects and arrays on the way: `$.geo.city` →
 * `{geo: {city}}`, `$.tags[:]` → `{tags: [...]}`, `$.items[:].id` → `{items: [{id}, ...]}`. A place another
 * column already filled with something else is left alone (the value is then missing: the column's DEFAULT).
 */
function placeAlong(steps: JsonPathStep[], at: number, container: Record<string, unknown> | unknown[], value: unknown): void {
  const step = steps[at];
  const last = at === steps.length - 1;
  if (step.k === 'all') return; // a path that starts with [:] reads an array root: a CSV record is an object
  const key = step.k === 'key' ? step.key : step.i;
  if (step.k === 'key' ? !isObj(container) : !Array.isArray(container)) return;
  const next = steps[at + 1];
  if (last) return void setIn(container, key, value);
  if (next.k === 'all') {
    // `$.tags[:]` takes the array as it is; `$.items[:].id` spreads it over the elements. A value that is not an
    // array goes where the array would, for the column's converter to report.
    if (at + 1 === steps.length - 1 || !Array.isArray(value)) return void setIn(container, key, value);
    const existing = getIn(container, key);
    const list = Array.isArray(existing) ? existing : existing === undefined ? [] : undefined;
    if (!list) return;
    setIn(container, key, list);
    value.forEach((v, i) => {
      if (list[i] === undefined) list[i] = steps[at + 2].k === 'index' ? [] : {};
      placeAlong(steps, at + 2, list[i] as Record<string, unknown> | unknown[], v);
    });
    return;
  }
  let child = getIn(container, key);
  if (child === undefined) setIn(container, key, (child = next.k === 'index' ? [] : {}));
  if (isObj(child) || Array.isArray(child)) placeAlong(steps, at + 1, child, value);
}

function getIn(c: Record<string, unknown> | unknown[], key: string | number): unknown {
  return Array.isArray(c) ? c[key as number] : Object.prototype.hasOwnProperty.call(c, key) ? c[key as string] : undefined;
}
function setIn(c: Record<string, unknown> | unknown[], key: string | number, v: unknown): void {
  if (Array.isArray(c)) c[key as number] = v;
  else if (!Object.prototype.hasOwnProperty.call(c, key)) c[key as string] = v;
}

export type CsvPlacement = 'column-name' | 'jsonpath';

/**
 * Per-column rules of a datasource. `jsonpath` places values where the SCHEMA's jsonpaths read them, so a record
 * is ordinary Events API input (and a quarantined one replays through the same mapping); `column-name` keys them
 * by column, for inserting into the table directly.
 */
function csvFieldRules(columns: Column[], placement: CsvPlacement): Map<string, FieldRule> {
  return new Map(
    columns.map((c): [string, FieldRule] => {
      let place = (r: Record<string, unknown>, v: unknown): void => void (r[c.name] = v);
      if (placement === 'jsonpath' && c.jsonpath !== undefined) {
        const steps = parseJsonPath(c.jsonpath);
        if (steps.length > 0) place = (r, v) => placeAlong(steps, 0, r, v);
      }
      return [c.name, { composite: isComposite(c.type), nullable: c.nullable || isNullableType(c.type), place }];
    }),
  );
}

/** Digits beyond which a JSON number loses precision in JavaScript: such numbers stay text for the converters. */
const EXACT_DIGITS = 15;
const NUMBER_AT = /^-?(\d+)(?:\.(\d+))?(?:[eE][+-]?\d+)?/;
const SPECIAL_FLOAT_AT = /^-?(nan|inf)\b/i;

/**
 * A ClickHouse text literal (`['a','b']`, `(1,'x')`, `{'k':[1,2]}`, `NULL`, `nan`) or JSON, as a JSON value;
 * undefined when it is neither (the column's converter then rejects the text with its reason). Numbers with more
 * digits than a double keeps, and `nan`/`inf`, become strings, which the numeric converters read exactly.
 */
export function parseCompositeField(text: string): unknown {
  let json = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      // A JSON string: copied as it is, escapes included.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) return undefined;
      json += text.slice(i, j + 1);
      i = j;
    } else if (ch === "'") {
      let str = '';
      for (i++; i < text.length && text[i] !== "'"; i++) {
        if (text[i] !== '\\') str += text[i];
        else {
          const e = text[++i];
          str += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === '0' ? '\0' : e === 'b' ? '\b' : e === 'f' ? '\f' : (e ?? '');
        }
      }
      if (i >= text.length) return undefined; // unterminated string
      json += JSON.stringify(str);
    } else if (ch === '(') json += '[';
    else if (ch === ')') json += ']';
    else if (ch === '-' || (ch >= '0' && ch <= '9') || ch === 'n' || ch === 'N' || ch === 'i' || ch === 'I') {
      const rest = text.slice(i, i + 400);
      const num = NUMBER_AT.exec(rest);
      const special = SPECIAL_FLOAT_AT.exec(rest);
      if (num) {
        const digits = num[1].replace(/^0+/, '').length + (num[2]?.length ?? 0);
        json += digits > EXACT_DIGITS ? JSON.stringify(num[0]) : num[0];
        i += num[0].length - 1;
      } else if (special) {
        json += JSON.stringify(special[0].toLowerCase());
        i += special[0].length - 1;
      } else if (/^null\b/i.test(rest)) {
        json += 'null';
        i += 3;
      } else json += ch;
    } else json += ch;
  }
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

/**
 * One CSV record. An unquoted empty field is no value (the column's DEFAULT); `""` is the empty string; an
 * unquoted `\N` is NULL for a Nullable column and no value otherwise (as ClickHouse reads CSV); composite columns
 * get their literal parsed. Fields beyond the columns are ignored, as extra JSON fields are.
 */
function csvRecord(names: string[], fields: CsvField[], rules: Map<string, FieldRule>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < names.length && i < fields.length; i++) {
    const rule = rules.get(names[i]);
    const { text, quoted } = fields[i];
    if (!rule || (text === '' && !quoted)) continue;
    if (text === '\\N' && !quoted) {
      if (rule.nullable) rule.place(out, null);
      continue;
    }
    const parsed = rule.composite ? parseCompositeField(text) : undefined;
    rule.place(out, parsed === undefined ? text : parsed);
  }
  return out;
}

/** The records of a CSV file, line by line: the first line may be the header (see csvColumns). */
export class CsvRecords {
  private names?: string[];
  private readonly rules: Map<string, FieldRule>;
  constructor(
    private readonly datasource: string,
    private readonly columns: Column[],
    placement: CsvPlacement,
    private readonly dialect: CsvDialect = DEFAULT_CSV_DIALECT,
  ) {
    this.rules = csvFieldRules(columns, placement);
  }

  /** The record of one non-blank line, or undefined for the header. Throws CsvHeaderError for a bad header. */
  next(line: string): Record<string, unknown> | undefined {
    const fields = parseCsvLine(line, this.dialect);
    if (!this.names) {
      const h = csvColumns(
        fields.map((f) => f.text),
        this.datasource,
        this.columns.map((c) => c.name),
      );
      this.names = h.names;
      if (h.isHeader) return undefined;
    }
    return csvRecord(this.names, fields, this.rules);
  }
}
