// CSV files for a datasource (fixtures, appends): one record per line, an optional header row, values as
// ClickHouse writes them in CSV (`\N` for NULL, arrays and maps as `['a','b']` / `{'k':1}` literals).
import type { Column } from '../datafile/types.js';
import { parseType, type TypeNode } from '../sql/types.js';

/** RFC 4180 fields of one line (quotes doubled inside quoted fields). */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** A header row naming fields the datasource has no column for. */
export class CsvHeaderError extends Error {}

/**
 * The column of each field, from the file's first record. A first record whose fields name columns is the header
 * (fields under an empty name are skipped). A header that names a column the datasource lacks is refused
 * (CsvHeaderError): a typo would otherwise drop that column silently. A first record that names no column is
 * data, and fields map to the columns in schema order (what `emailstats mock --format csv` writes).
 */
export function csvColumns(first: string[], datasource: string, columns: string[]): { names: string[]; isHeader: boolean } {
  const known = new Set(columns);
  const fields = first.map((f) => f.trim());
  if (!fields.some((f) => known.has(f))) return { names: columns, isHeader: false };
  const unknown = fields.filter((f) => f !== '' && !known.has(f));
  if (unknown.length) {
    throw new CsvHeaderError(
      `the CSV header names ${unknown.map((u) => `'${u}'`).join(', ')}, which datasource '${datasource}' has no column for (its columns: ${columns.join(', ')}); ` +
        'rename or remove those fields, or leave the header out to map fields to columns in schema order',
    );
  }
  return { names: fields, isHeader: true };
}

/** How a column reads its CSV field: composite values are literals to parse, `\N` means NULL where allowed. */
interface FieldRule {
  composite: boolean;
  nullable: boolean;
}

const COMPOSITE = new Set(['Array', 'Map', 'Tuple', 'JSON', 'Object', 'Nested']);

function fieldRule(c: Column): FieldRule {
  let node: TypeNode;
  try {
    node = parseType(c.type);
  } catch {
    return { composite: false, nullable: c.nullable };
  }
  let nullable = c.nullable;
  for (;;) {
    const inner = node.args[0];
    if ((node.name === 'Nullable' || node.name === 'LowCardinality') && inner?.kind === 'type') {
      nullable ||= node.name === 'Nullable';
      node = inner.node;
    } else break;
  }
  return { composite: COMPOSITE.has(node.name), nullable };
}

/**
 * A ClickHouse text literal (`['a','b']`, `(1,'x')`, `{'k':[1,2]}`, `NULL`) or JSON, as a JSON value; undefined
 * when it is neither (the column's converter then rejects the text with its reason).
 */
export function parseCompositeField(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    /* not JSON: try ClickHouse's quoting */
  }
  let json = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'") {
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
    else if (/[Nn]/.test(ch) && /^null\b/i.test(text.slice(i))) {
      json += 'null';
      i += 3;
    } else json += ch;
  }
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

/** Per-column field rules of a datasource, for csvRecord. */
export function csvFieldRules(columns: Column[]): Map<string, FieldRule> {
  return new Map(columns.map((c) => [c.name, fieldRule(c)]));
}

/**
 * One CSV record as an object by column name. An empty field is a missing value (the column's DEFAULT); `\N`
 * is NULL for a Nullable column and missing otherwise (as ClickHouse reads CSV); composite columns get their
 * literal parsed. Fields beyond the columns are ignored, as extra JSON fields are.
 */
export function csvRecord(names: string[], values: string[], rules: Map<string, FieldRule>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const v = values[i];
    if (name === '' || v === undefined || v === '') continue;
    const rule = rules.get(name);
    if (v === '\\N') {
      if (rule?.nullable) out[name] = null;
      continue;
    }
    const parsed = rule?.composite ? parseCompositeField(v) : undefined;
    out[name] = parsed === undefined ? v : parsed;
  }
  return out;
}
