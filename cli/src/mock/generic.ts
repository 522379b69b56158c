// Schema-driven mock rows: one value generator per column, compiled from the ClickHouse type string, placed in the
// row object at the column's jsonpath so the rows can be posted unchanged to the Events API.
import type { Column } from '../datafile/types.js';
import { Rng } from './random.js';
import { jsonPathKeys } from '../datafile/jsonpath.js';
import { formatType, parseType, type TypeNode } from '../sql/types.js';

/** Generates a JSON-ready value and renders a value in ClickHouse text format (for CSV). */
export interface ValueGen {
  gen(r: Rng): unknown;
  /** ClickHouse text form; `nested` = inside Array/Tuple/Map, where strings are single-quoted. */
  text(v: unknown, nested: boolean): string;
  /** Top-level CSV field(s), when not just the quoted text form: ClickHouse reads a Tuple as one CSV field per element. */
  csv?(v: unknown): string;
}

// Empty strings are quoted too: an empty unquoted tuple element would void the whole tuple.
const CSV_NEEDS_QUOTE = /^$|[",\r\n]|^\s|\s$/;
export function csvField(s: string): string {
  return CSV_NEEDS_QUOTE.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

/** One value as ClickHouse CSV: `\N` for NULL, complex values as their quoted text form, tuples flattened. */
export function csvValue(g: ValueGen, v: unknown): string {
  if (v === null) return '\\N';
  if (g.csv) return g.csv(v);
  if (typeof v === 'object') return '"' + g.text(v, false).replace(/"/g, '""') + '"';
  return csvField(g.text(v, false));
}

export class UnsupportedTypeError extends Error {}

export interface CompiledColumn {
  column: Column;
  /** Object keys from the jsonpath, or `[name]` when the column has none. */
  path: string[];
  type: TypeNode;
  gen: ValueGen;
}

export interface CompiledSchema {
  fields: CompiledColumn[];
  /** Columns left out of the rows, and why (AggregateFunction, `json:$`, a DEFAULT without a jsonpath, ...). */
  skipped: { column: string; reason: string }[];
}

const DAY = 86400;
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa'];
const TRICKY = ['quote "double" and \'single\'', 'back\\slash', 'tab\there', 'new\nline', 'unicode é ü 日本 🚀', 'comma, separated', '{"looks":"like json"}'];
const FIRST = ['Ana', 'Ben', 'Chloé', 'Dmitri', 'Eve', 'Farah', 'Gus', 'Hana', 'Ivan', 'Jo'];
const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'ES', 'BR', 'IN', 'JP', 'MX', 'CA'];
const UAS = ['Mozilla/5.0 (Windows NT 10.0; Win64; x64)', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4)', 'Mozilla/5.0 (Linux; Android 14)'];

const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;

/** `YYYY-MM-DD` for a day number since 1970-01-01 (negative allowed). */
function dateStr(day: number): string {
  const d = new Date(day * DAY * 1000);
  const y = d.getUTCFullYear();
  return `${String(y).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}
function dayOf(y: number, m = 1, d = 1): number {
  return Math.floor(Date.UTC(y, m - 1, d) / 1000 / DAY);
}
function timeStr(sec: number): string {
  return `${pad2(Math.floor(sec / 3600))}:${pad2(Math.floor(sec / 60) % 60)}:${pad2(sec % 60)}`;
}

/** Single-quoted ClickHouse string literal (text format inside arrays, tuples and maps). */
function chQuote(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r') + "'";
}

const rawText = (v: unknown): string => String(v);
const strText = (v: unknown, nested: boolean): string => (nested ? chQuote(String(v)) : String(v));

function intArg(n: TypeNode, i: number, what: string): number {
  const a = n.args[i];
  if (!a || a.kind !== 'number') throw new UnsupportedTypeError(`${formatType(n)}: expected ${what}`);
  return Number(a.value);
}
function strArg(n: TypeNode, i: number): string | undefined {
  const a = n.args[i];
  return a && a.kind === 'string' ? a.value : undefined;
}
function typeArg(n: TypeNode, i: number): TypeNode {
  const a = n.args[i];
  if (!a || a.kind !== 'type') throw new UnsupportedTypeError(`${formatType(n)}: expected a type argument`);
  return a.node;
}

function randomBigInt(r: Rng, bits: number): bigint {
  let v = 0n;
  for (let b = 0; b < bits; b += 32) v = (v << 32n) | BigInt(r.u32());
  return v & ((1n << BigInt(bits)) - 1n);
}

function intGen(bits: number, signed: boolean): ValueGen {
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  const small = bits <= 32;
  const alwaysString = bits > 64;
  const emit = (v: bigint): unknown => {
    // JSON numbers are doubles: beyond 2^53 emit a string (ClickHouse parses quoted integers).
    if (alwaysString || v > 9007199254740991n || v < -9007199254740991n) return v.toString();
    return Number(v);
  };
  return {
    gen(r) {
      const x = r.next();
      if (x < 0.03) return emit(min);
      if (x < 0.06) return emit(max);
      if (x < 0.12 && !small) return emit(min + randomBigInt(r, bits) % (max - min + 1n));
      if (small) {
        const lo = Number(min),
          hi = Number(max);
        const cap = Math.min(hi, 100000);
        const v = signed && r.chance(0.2) ? -r.int(0, Math.min(-lo, 100000)) : r.int(0, cap);
        return v;
      }
      const v = BigInt(r.int(0, 10_000_000));
      return emit(signed && r.chance(0.2) ? -v : v);
    },
    text: rawText,
  };
}

function floatGen(bits: 32 | 64): ValueGen {
  return {
    gen(r) {
      const x = r.next();
      if (x < 0.03) return 0;
      const v = r.logNormal(50, 2) * (r.chance(0.2) ? -1 : 1);
      // Float32 keeps ~7 significant digits: round so the value round-trips.
      return bits === 32 ? Math.fround(Math.round(v * 100) / 100) : Math.round(v * 1e6) / 1e6;
    },
    text: rawText,
  };
}

function decimalGen(p: number, s: number): ValueGen {
  if (p < 1 || p > 76 || s < 0 || s > p) throw new UnsupportedTypeError(`Decimal(${p}, ${s}) is out of range`);
  const intDigits = p - s;
  return {
    gen(r) {
      // Mostly modest values, sometimes as many digits as the precision allows.
      const nInt = intDigits === 0 ? 0 : r.chance(0.1) ? intDigits : Math.min(intDigits, r.int(1, 4));
      let ip = '';
      for (let i = 0; i < nInt; i++) ip += String(i === 0 ? r.int(1, 9) : r.int(0, 9));
      if (ip === '') ip = '0';
      let fp = '';
      for (let i = 0; i < s; i++) fp += String(r.int(0, 9));
      const str = (r.chance(0.15) ? '-' : '') + ip + (s > 0 ? '.' + fp : '');
      // Up to 15 significant digits a JSON number is exact; beyond, a string.
      return p <= 15 ? Number(str) : str;
    },
    text: rawText,
  };
}

function stringGen(name: string): ValueGen {
  const n = name.toLowerCase();
  let gen: (r: Rng) => string;
  if (n.includes('email')) gen = (r) => `user${r.int(1, 50000)}@example.com`;
  else if (/(^|_)(url|link|href)($|_)/.test(n) || n.endsWith('url')) gen = (r) => `https://example.com/${r.pick(WORDS)}?id=${r.int(1, 999)}`;
  else if (/user_?agent|^ua$/.test(n)) gen = (r) => r.pick(UAS);
  else if (/(^|_)ip($|_)/.test(n)) gen = (r) => `${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
  else if (/country/.test(n)) gen = (r) => r.pick(COUNTRIES);
  else if (/(^|_)id$/.test(n)) {
    const prefix = n.replace(/_?id$/, '') || 'id';
    gen = (r) => `${prefix}_${r.int(1, 100000)}`;
  } else if (/name/.test(n)) gen = (r) => `${r.pick(FIRST)} ${r.pick(WORDS)}`;
  else
    gen = (r) => {
      const x = r.next();
      if (x < 0.04) return r.pick(TRICKY);
      if (x < 0.06) return '';
      const k = r.int(1, 3);
      let s = r.pick(WORDS);
      for (let i = 1; i < k; i++) s += ' ' + r.pick(WORDS);
      return s;
    };
  return { gen, text: strText };
}

function fixedStringGen(nBytes: number): ValueGen {
  return {
    gen(r) {
      // ASCII only, so characters = bytes; shorter values are zero-padded by ClickHouse, longer ones rejected.
      let s = '';
      const len = r.chance(0.8) ? nBytes : r.int(0, nBytes);
      for (let i = 0; i < len; i++) s += '0123456789abcdef'[r.u32() & 15];
      return s;
    },
    text: strText,
  };
}

function hex(r: Rng, digits: number): string {
  let s = '';
  for (let i = 0; i < digits; i++) s += '0123456789abcdef'[r.u32() & 15];
  return s;
}

const uuidGen: ValueGen = {
  gen: (r) => `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-${'89ab'[r.u32() & 3]}${hex(r, 3)}-${hex(r, 12)}`,
  text: strText,
};

function dateGen(minDay: number, maxDay: number, commonFrom = dayOf(2020), commonTo = dayOf(2026, 12, 31)): ValueGen {
  return {
    gen: (r) => dateStr(r.chance(0.9) ? r.int(commonFrom, commonTo) : r.int(minDay, maxDay)),
    text: strText,
  };
}

function dateTimeGen(precision: number | null, minDay: number, maxDay: number): ValueGen {
  return {
    gen(r) {
      const day = r.chance(0.95) ? r.int(dayOf(2020), dayOf(2026, 12, 31)) : r.int(minDay, maxDay);
      let s = `${dateStr(day)} ${timeStr(r.int(0, DAY - 1))}`;
      if (precision !== null && precision > 0) {
        let f = '';
        for (let i = 0; i < precision; i++) f += String(r.int(0, 9));
        s += '.' + f;
      }
      return s;
    },
    text: strText,
  };
}

function timeGen(precision: number | null): ValueGen {
  return {
    gen(r) {
      let s = timeStr(r.int(0, DAY - 1));
      if (precision) s += '.' + String(r.int(0, 10 ** precision - 1)).padStart(precision, '0');
      return s;
    },
    text: strText,
  };
}

const boolGen: ValueGen = { gen: (r) => r.chance(0.5), text: (v) => (v ? 'true' : 'false') };
const ipv4Gen: ValueGen = { gen: (r) => `${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`, text: strText };
const ipv6Gen: ValueGen = {
  gen(r) {
    if (r.chance(0.1)) return `::ffff:${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
    const g: string[] = ['2001', 'db8'];
    for (let i = 0; i < 6; i++) g.push((r.u32() & 0xffff).toString(16));
    return g.join(':');
  },
  text: strText,
};

function enumGen(n: TypeNode): ValueGen {
  const names = n.args.map((a) => {
    if (a.kind !== 'enum' && a.kind !== 'string') throw new UnsupportedTypeError(`${formatType(n)}: bad enum item`);
    return a.kind === 'enum' ? a.name : a.value;
  });
  if (names.length === 0) throw new UnsupportedTypeError(`${n.name} needs at least one value`);
  return { gen: (r) => r.pick(names), text: strText };
}

/** JSON / Object('json'): a small object with a stable shape per path so column types stay consistent. */
const jsonGen: ValueGen = {
  gen(r) {
    const o: Record<string, unknown> = { id: r.int(1, 100000), kind: r.pick(WORDS) };
    if (r.chance(0.6)) o.score = Math.round(r.float(0, 100) * 100) / 100;
    if (r.chance(0.5)) o.nested = { flag: r.chance(0.5), tags: [r.pick(WORDS), r.pick(WORDS)] };
    return o;
  },
  text: (v) => JSON.stringify(v),
};

const GEO: Record<string, string> = {
  Point: 'Tuple(Float64, Float64)',
  Ring: 'Array(Point)',
  LineString: 'Array(Point)',
  MultiLineString: 'Array(LineString)',
  Polygon: 'Array(Ring)',
  MultiPolygon: 'Array(Polygon)',
};

const ALIASES: Record<string, string> = {
  int: 'Int32', integer: 'Int32', bigint: 'Int64', smallint: 'Int16', tinyint: 'Int8', float: 'Float32', double: 'Float64',
  real: 'Float32', varchar: 'String', text: 'String', char: 'String', blob: 'String', bool: 'Bool', boolean: 'Bool',
  timestamp: 'DateTime', binary: 'String',
};

/** Compiles a parsed type into a value generator. `name` is the column name, used to pick realistic strings. */
export function compileType(node: TypeNode, name: string, seedRng: Rng): ValueGen {
  const alias = ALIASES[node.name.toLowerCase()];
  const t = alias && node.args.length === 0 ? alias : node.name;
  const ints = /^(U?)Int(8|16|32|64|128|256)$/.exec(t);
  if (ints) return intGen(Number(ints[2]), ints[1] === '');
  if (GEO[t]) return compileType(parseType(GEO[t]), name, seedRng);
  switch (t) {
    case 'Float32':
    case 'BFloat16':
      return floatGen(32);
    case 'Float64':
      return floatGen(64);
    case 'Decimal':
      return decimalGen(intArg(node, 0, 'precision'), node.args.length > 1 ? intArg(node, 1, 'scale') : 0);
    case 'Decimal32':
      return decimalGen(9, intArg(node, 0, 'scale'));
    case 'Decimal64':
      return decimalGen(18, intArg(node, 0, 'scale'));
    case 'Decimal128':
      return decimalGen(38, intArg(node, 0, 'scale'));
    case 'Decimal256':
      return decimalGen(76, intArg(node, 0, 'scale'));
    case 'String':
      return stringGen(name);
    case 'FixedString':
      return fixedStringGen(intArg(node, 0, 'length'));
    case 'UUID':
      return uuidGen;
    case 'Date':
      return dateGen(0, dayOf(2149, 6, 6));
    case 'Date32':
      return dateGen(dayOf(1900), dayOf(2299, 12, 31));
    case 'DateTime':
      return dateTimeGen(null, 1, dayOf(2106, 1, 1));
    case 'DateTime64': {
      const p = node.args.length > 0 ? intArg(node, 0, 'precision') : 3;
      // With 9 digits the Int64 of nanoseconds ends at 2262-04-11.
      return dateTimeGen(p, dayOf(1900, 1, 2), p >= 9 ? dayOf(2262, 4, 10) : dayOf(2299, 12, 30));
    }
    case 'Time':
      return timeGen(null);
    case 'Time64':
      return timeGen(node.args.length > 0 ? intArg(node, 0, 'precision') : 3);
    case 'Bool':
      return boolGen;
    case 'IPv4':
      return ipv4Gen;
    case 'IPv6':
      return ipv6Gen;
    case 'Enum':
    case 'Enum8':
    case 'Enum16':
      return enumGen(node);
    case 'JSON':
      return jsonGen;
    case 'Object':
      if ((strArg(node, 0) ?? '').toLowerCase() !== 'json') throw new UnsupportedTypeError(`${formatType(node)} is not supported`);
      return jsonGen;
    case 'Dynamic':
      return { gen: (r) => (r.chance(0.5) ? r.int(0, 1000) : r.pick(WORDS)), text: (v, nested) => (typeof v === 'string' ? strText(v, nested) : String(v)) };
    case 'Nullable': {
      const inner = compileType(typeArg(node, 0), name, seedRng);
      return {
        gen: (r) => (r.chance(0.1) ? null : inner.gen(r)),
        text: (v, nested) => (v === null ? (nested ? 'NULL' : '\\N') : inner.text(v, nested)),
        csv: inner.csv,
      };
    }
    case 'LowCardinality': {
      // Few distinct values, as the type implies: a fixed pool drawn once per column.
      const inner = compileType(typeArg(node, 0), name, seedRng);
      const poolRng = seedRng.fork(`lc:${name}`);
      const pool: unknown[] = [];
      for (let i = 0; i < 12; i++) pool.push(inner.gen(poolRng));
      return { gen: (r) => pool[r.zipf(pool.length, 1)], text: inner.text, csv: inner.csv };
    }
    case 'SimpleAggregateFunction':
      return compileType(typeArg(node, 1), name, seedRng);
    case 'Array': {
      const inner = compileType(typeArg(node, 0), name, seedRng);
      return {
        gen(r) {
          const n = r.int(0, 4);
          const a: unknown[] = [];
          for (let i = 0; i < n; i++) a.push(inner.gen(r));
          return a;
        },
        text: (v) => '[' + (v as unknown[]).map((x) => inner.text(x, true)).join(',') + ']',
      };
    }
    case 'Map': {
      const k = compileType(typeArg(node, 0), `${name}_key`, seedRng);
      const v = compileType(typeArg(node, 1), `${name}_value`, seedRng);
      return {
        gen(r) {
          const n = r.int(0, 3);
          const o: Record<string, unknown> = {};
          for (let i = 0; i < n; i++) o[String(k.gen(r))] = v.gen(r);
          return o;
        },
        text: (m) =>
          '{' +
          Object.entries(m as Record<string, unknown>)
            .map(([kk, vv]) => `${k.text(kk, true)}:${v.text(vv, true)}`)
            .join(',') +
          '}',
      };
    }
    case 'Tuple': {
      const parts = node.args.map((a, i) => {
        if (a.kind !== 'type') throw new UnsupportedTypeError(`${formatType(node)}: bad tuple element`);
        return { field: a.field, gen: compileType(a.node, a.field ?? `${name}_${i + 1}`, seedRng) };
      });
      const named = parts.length > 0 && parts.every((p) => p.field);
      const values = (v: unknown): unknown[] => (named ? parts.map((p) => (v as Record<string, unknown>)[p.field!]) : (v as unknown[]));
      return {
        gen(r) {
          if (named) {
            // Named tuples as JSON objects (input_format_json_named_tuples_as_objects, on by default).
            const o: Record<string, unknown> = {};
            for (const p of parts) o[p.field!] = p.gen.gen(r);
            return o;
          }
          return parts.map((p) => p.gen.gen(r));
        },
        text: (v) => '(' + values(v).map((x, i) => parts[i].gen.text(x, true)).join(',') + ')',
        csv: (v) => values(v).map((x, i) => csvValue(parts[i].gen, x)).join(','),
      };
    }
    case 'Variant': {
      const members = node.args.map((a, i) => {
        if (a.kind !== 'type') throw new UnsupportedTypeError(`${formatType(node)}: bad variant member`);
        return compileType(a.node, `${name}_${i}`, seedRng);
      });
      return {
        gen: (r) => r.pick(members).gen(r),
        text: (v, nested) => (typeof v === 'string' ? strText(v, nested) : JSON.stringify(v)),
      };
    }
    case 'AggregateFunction':
      throw new UnsupportedTypeError('AggregateFunction columns hold aggregation states, which cannot be mocked as JSON; they are filled by materialized views');
    case 'Nested':
      throw new UnsupportedTypeError('Nested columns are not supported by the mock generator; use Array(Tuple(...))');
    default:
      throw new UnsupportedTypeError(`type ${formatType(node)} is not supported by the mock generator`);
  }
}

/** The column's full type, with `Nullable(...)` added when only the flag says so. */
export function columnType(c: Column): string {
  const t = c.type.trim();
  return c.nullable && !/^Nullable\s*\(/.test(t) ? `Nullable(${t})` : t;
}

/**
 * Compiles every column. Columns are left out (and listed in `skipped`) when a value cannot or should not be
 * generated: unsupported types, `json:$` (the whole payload), and a DEFAULT without a jsonpath (the default fills it).
 */
export function compileSchema(columns: Column[], seed: string | number): CompiledSchema {
  const seedRng = new Rng(`schema:${String(seed)}`);
  const fields: CompiledColumn[] = [];
  const skipped: CompiledSchema['skipped'] = [];
  for (const c of columns) {
    let path: string[] | null;
    try {
      path = c.jsonpath ? jsonPathKeys(c.jsonpath) : [c.name];
    } catch (e) {
      skipped.push({ column: c.name, reason: (e as Error).message });
      continue;
    }
    if (path === null) {
      skipped.push({ column: c.name, reason: 'jsonpath `$` stores the whole payload' });
      continue;
    }
    if (!c.jsonpath && c.default !== undefined) {
      skipped.push({ column: c.name, reason: `filled by its DEFAULT ${c.default}` });
      continue;
    }
    try {
      const type = parseType(columnType(c));
      fields.push({ column: c, path, type, gen: compileType(type, c.name, seedRng) });
    } catch (e) {
      skipped.push({ column: c.name, reason: (e as Error).message });
    }
  }
  return { fields, skipped };
}

/** Sets `value` at `path` in `obj`, creating intermediate objects. */
export function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let o = obj;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i];
    let next = o[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      next = {};
      o[k] = next;
    }
    o = next as Record<string, unknown>;
  }
  o[path[path.length - 1]] = value;
}

export function getPath(obj: Record<string, unknown>, path: readonly string[]): unknown {
  let o: unknown = obj;
  for (const k of path) {
    if (typeof o !== 'object' || o === null) return undefined;
    o = (o as Record<string, unknown>)[k];
  }
  return o;
}

/** Rows that fit `columns`, shaped by each column's jsonpath. Deterministic for a seed; streamed, nothing kept. */
export function* generateRows(columns: Column[], opts: { rows: number; seed: string | number }): Generator<Record<string, unknown>> {
  const { fields } = compileSchema(columns, opts.seed);
  const r = new Rng(opts.seed);
  for (let i = 0; i < opts.rows; i++) {
    const row: Record<string, unknown> = {};
    for (const f of fields) setPath(row, f.path, f.gen.gen(r));
    yield row;
  }
}
