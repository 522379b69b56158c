// Converts JSON values to the wire text ClickHouse's JSONEachRow reader accepts for a column type, with one
// documented rule per type (docs/ingest-notes.md). A converter returns a JSON fragment or throws CoerceError.
import { isIPv4, isIPv6 } from 'node:net';
import { parseType, type TypeNode } from '../sql/types.js';
import { formatUtc, formatUtcDate, parseInstant } from './datetime.js';
import { isExactNumber, jsonText, numberDigits } from '../util/exact-json.js';
import { isJsonObject } from '../util/json.js';

export class CoerceError extends Error {}

/** Value → JSON fragment. `null`/`undefined` never reach a converter except through Nullable. */
export type Converter = (v: unknown) => string;

const MAX_SHOWN = 60;
/** Short, printable rendering of a rejected value for error messages. */
export function showValue(v: unknown): string {
  let s: string;
  try {
    // JSON.stringify writes Infinity (JSON.parse's 1e400) as null.
    s = typeof v === 'number' && !Number.isFinite(v) ? String(v) : (jsonText(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}…(${s.length} chars)` : s;
}

function fail(v: unknown, why: string): never {
  throw new CoerceError(`value ${showValue(v)}: ${why}`);
}

const INT_BITS: Record<string, [bigint, bigint]> = {};
for (const bits of [8, 16, 32, 64, 128, 256]) {
  INT_BITS[`Int${bits}`] = [-(1n << BigInt(bits - 1)), (1n << BigInt(bits - 1)) - 1n];
  INT_BITS[`UInt${bits}`] = [0n, (1n << BigInt(bits)) - 1n];
}
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function intConverter(name: string): Converter {
  const [lo, hi] = INT_BITS[name];
  const acceptsBool = name === 'UInt8';
  return (v) => {
    let n: bigint;
    // From the number's own digits, exponent included: 1e23 is 10^23, not the double nearest it.
    const digits = numberDigits(v);
    if (digits !== undefined) {
      if (digits.endsWith('Infinity')) fail(v, `out of range for ${name}`);
      if (digits.includes('.')) fail(v, `not an integer for ${name}`);
      n = BigInt(digits);
    } else if (typeof v === 'string' && /^[+-]?\d{1,80}$/.test(v.trim())) n = BigInt(v.trim());
    else if (typeof v === 'boolean' && acceptsBool) n = v ? 1n : 0n;
    else fail(v, `expected an integer for ${name}`);
    if (n < lo || n > hi) fail(v, `out of range for ${name}`);
    // Beyond 2^53 a JSON number would lose digits on the way; ClickHouse reads quoted integers too.
    return n >= -SAFE && n <= SAFE ? n.toString() : `"${n}"`;
  };
}

// Digits, then a point and digits: the two runs cannot trade digits, so a long string that fails costs linear
// time (`\d+\.?\d*` retried every split of a megabyte of digits).
const FLOAT_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
function floatConverter(name: string): Converter {
  const max = name === 'Float32' ? 3.4028234663852886e38 : Number.MAX_VALUE;
  return (v) => {
    let n: number;
    if (typeof v === 'number') n = v;
    else if (typeof v === 'string') {
      const s = v.trim().toLowerCase();
      if (s === 'nan') return '"nan"';
      if (s === 'inf' || s === '+inf' || s === 'infinity') return '"inf"';
      if (s === '-inf' || s === '-infinity') return '"-inf"';
      if (!FLOAT_RE.test(s)) fail(v, `expected a number for ${name}`);
      n = Number(s);
    } else fail(v, `expected a number for ${name}`);
    if (!Number.isFinite(n) || Math.abs(n) > max) fail(v, `out of range for ${name}`);
    return String(n);
  };
}

const DECIMAL_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** A plain decimal text rounded half away from zero to `scale` places, on its digits (no double in between). */
function roundPlaces(plain: string, scale: number): string {
  const negative = plain.startsWith('-');
  const [int, frac = ''] = plain.replace(/^-/, '').split('.');
  if (frac.length <= scale) return plain;
  let kept = BigInt(int + frac.slice(0, scale));
  if (frac.charCodeAt(scale) >= 0x35 /* '5' */) kept += 1n;
  if (kept === 0n) return '0';
  const digits = kept.toString().padStart(scale + 1, '0');
  const body = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${body}` : body;
}

function decimalConverter(precision: number, scale: number): Converter {
  const label = `Decimal(${precision}, ${scale})`;
  return (v) => {
    let text: string;
    const digits = numberDigits(v);
    if (digits !== undefined) {
      if (digits.endsWith('Infinity')) fail(v, `out of range for ${label}`);
      text = roundPlaces(digits, scale);
    } else if (typeof v === 'string' && DECIMAL_RE.test(v.trim())) text = v.trim();
    else fail(v, `expected a decimal number for ${label}`);
    const [ip, fp = ''] = text.replace(/^[+-]/, '').split('.');
    if (fp.length > scale && /[1-9]/.test(fp.slice(scale))) fail(v, `more than ${scale} decimal places for ${label}`);
    if (ip.replace(/^0+/, '').length > precision - scale) fail(v, `out of range for ${label}`);
    // An unquoted JSON number with the exact digits: ClickHouse 18.16 rejects quoted decimals.
    const sign = text.startsWith('-') ? '-' : '';
    return `${sign}${ip || '0'}${fp ? '.' + fp : ''}`;
  };
}

function boolConverter(): Converter {
  return (v) => {
    if (v === true || v === 1 || v === 'true' || v === '1') return 'true';
    if (v === false || v === 0 || v === 'false' || v === '0') return 'false';
    fail(v, 'expected true/false for Bool');
  };
}

function stringConverter(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  // Numbers keep their JSON spelling; objects/arrays/booleans become their JSON text.
  return JSON.stringify(typeof v === 'number' ? String(v) : jsonText(v));
}

function fixedStringConverter(n: number): Converter {
  return (v) => {
    const out = stringConverter(v);
    const len = Buffer.byteLength(JSON.parse(out) as string);
    if (len > n) fail(v, `${len} bytes is longer than FixedString(${n})`);
    return out;
  };
}

function dateConverter(name: string): Converter {
  const [lo, hi] = name === 'Date32' ? [-2208988800, 10413791999] : [0, 5662310399];
  return (v) => {
    let sec: number;
    try {
      sec = parseInstant(v, 0).sec;
    } catch (e) {
      fail(v, `${(e as Error).message} for ${name}`);
    }
    if (sec < lo || sec > hi) fail(v, `out of range for ${name}`);
    return `"${formatUtcDate(sec)}"`;
  };
}

function dateTimeConverter(precision: number | undefined): Converter {
  const is64 = precision !== undefined;
  const label = is64 ? `DateTime64(${precision})` : 'DateTime';
  // DateTime: 1970-01-01 .. 2106-02-07 06:28:15; DateTime64: 1900-01-01 .. 2299-12-31 23:59:59.
  const [lo, hi] = is64 ? [-2208988800, 10413791999] : [0, 4294967295];
  return (v) => {
    let inst;
    try {
      inst = parseInstant(v, precision ?? 0);
    } catch (e) {
      fail(v, `${(e as Error).message} for ${label}`);
    }
    if (inst.sec < lo || inst.sec > hi) fail(v, `out of range for ${label}`);
    // Unix seconds on the wire: ClickHouse reads them the same in every server/column time zone.
    if (!is64) return String(inst.sec);
    if (inst.sec >= 0) return inst.frac ? `"${inst.sec}.${inst.frac}"` : `"${inst.sec}"`;
    return JSON.stringify(formatUtc(inst)); // pre-1970: text, read in the column's time zone (UTC expected)
  };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function enumConverter(node: TypeNode): Converter {
  const byName = new Set<string>();
  const byValue = new Map<number, string>();
  for (const a of node.args) {
    if (a.kind === 'enum') {
      byName.add(a.name);
      if (a.value !== undefined) byValue.set(Number(a.value), a.name);
    } else if (a.kind === 'string') byName.add(a.value);
  }
  return (v) => {
    if (typeof v === 'string' && byName.has(v)) return JSON.stringify(v);
    if (typeof v === 'number' && byValue.has(v)) return JSON.stringify(byValue.get(v));
    fail(v, `not a member of ${node.name}`);
  };
}

function typeArg(node: TypeNode, i: number): TypeNode {
  const a = node.args[i];
  if (!a || a.kind !== 'type') throw new Error(`${node.name} needs a type argument`);
  return a.node;
}
function numArg(node: TypeNode, i: number, dflt?: number): number {
  const a = node.args[i];
  if (!a) {
    if (dflt === undefined) throw new Error(`${node.name} needs argument ${i + 1}`);
    return dflt;
  }
  if (a.kind !== 'number') throw new Error(`${node.name} argument ${i + 1} must be a number`);
  return Number(a.value);
}

/** Types whose converters read an ExactNumber's digits (or hand it to one that does). */
const KEEPS_DIGITS = new Set([
  'String', 'FixedString', 'Decimal', 'Decimal32', 'Decimal64', 'Decimal128', 'Decimal256', 'Date', 'Date32', 'DateTime', 'DateTime64',
  'JSON', 'Object', 'Dynamic', 'Variant', 'Nullable', 'LowCardinality', 'SimpleAggregateFunction',
]);

/** Builds the converter for a (non-Nullable-unwrapped) type tree. */
export function converterFor(node: TypeNode): Converter {
  const conv = typedConverter(node);
  if (node.name in INT_BITS || KEEPS_DIGITS.has(node.name)) return conv;
  // Any other type takes the double JSON.parse gives (a Float64, an IPv4 as a number); an Array's or Map's
  // elements go through their own type's converter, and so keep their digits where that type does.
  return (v) => conv(isExactNumber(v) ? Number(v.value) : v);
}

function typedConverter(node: TypeNode): Converter {
  const name = node.name;
  if (name in INT_BITS) return intConverter(name);
  switch (name) {
    case 'String':
      return stringConverter;
    case 'FixedString':
      return fixedStringConverter(numArg(node, 0));
    case 'Float32':
    case 'Float64':
      return floatConverter(name);
    case 'Bool':
    case 'Boolean':
      return boolConverter();
    case 'Decimal':
      return decimalConverter(numArg(node, 0), numArg(node, 1, 0));
    case 'Decimal32':
    case 'Decimal64':
    case 'Decimal128':
    case 'Decimal256':
      return decimalConverter({ Decimal32: 9, Decimal64: 18, Decimal128: 38, Decimal256: 76 }[name], numArg(node, 0));
    case 'Date':
    case 'Date32':
      return dateConverter(name);
    case 'DateTime':
      return dateTimeConverter(undefined);
    case 'DateTime64':
      return dateTimeConverter(numArg(node, 0, 3));
    case 'UUID':
      return (v) => {
        if (typeof v === 'string' && UUID_RE.test(v)) return JSON.stringify(v.toLowerCase());
        fail(v, 'expected a UUID like 01234567-89ab-cdef-0123-456789abcdef');
      };
    case 'IPv4':
      return (v) => {
        if (typeof v === 'string' && isIPv4(v)) return JSON.stringify(v);
        if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff)
          return JSON.stringify([24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.'));
        fail(v, 'expected an IPv4 address');
      };
    case 'IPv6':
      return (v) => {
        // Node accepts a zone id (fe80::1%eth0); ClickHouse does not, and would reject the whole segment.
        if (typeof v === 'string' && isIPv6(v) && !v.includes('%')) return JSON.stringify(v.toLowerCase());
        if (typeof v === 'string' && isIPv4(v)) return JSON.stringify(`::ffff:${v}`);
        fail(v, 'expected an IPv6 address');
      };
    case 'Enum8':
    case 'Enum16':
    case 'Enum':
      return enumConverter(node);
    case 'Nullable': {
      const inner = converterFor(typeArg(node, 0));
      const conv: Converter = (v) => (v === null || v === undefined ? 'null' : inner(v));
      NULLABLE.add(conv);
      return conv;
    }
    case 'LowCardinality':
      return converterFor(typeArg(node, 0));
    case 'SimpleAggregateFunction':
      return converterFor(typeArg(node, 1));
    case 'Array': {
      const inner = converterFor(typeArg(node, 0));
      return (v) => {
        if (!Array.isArray(v)) fail(v, 'expected a JSON array');
        return `[${v.map((x, i) => elem(inner, x, `[${i}]`)).join(',')}]`;
      };
    }
    case 'Map': {
      const key = converterFor(typeArg(node, 0));
      const val = converterFor(typeArg(node, 1));
      return (v) => {
        if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(v, 'expected a JSON object for Map');
        const parts: string[] = [];
        for (const [k, x] of Object.entries(v)) {
          const kj = elem(key, k, `key ${JSON.stringify(k)}`);
          // JSON object keys must be strings: integer keys are written quoted.
          parts.push(`${kj.startsWith('"') ? kj : JSON.stringify(kj)}:${elem(val, x, `[${JSON.stringify(k)}]`)}`);
        }
        return `{${parts.join(',')}}`;
      };
    }
    case 'Tuple': {
      const items = node.args.map((a) => (a.kind === 'type' ? converterFor(a.node) : stringConverter));
      const names = node.args.map((a) => (a.kind === 'type' ? a.field : undefined));
      return (v) => {
        let arr: unknown[];
        if (Array.isArray(v)) arr = v;
        else if (typeof v === 'object' && v !== null && names.every((n) => n)) arr = names.map((n) => (v as Record<string, unknown>)[n as string]);
        else fail(v, 'expected a JSON array for Tuple');
        if (arr.length !== items.length) fail(v, `expected ${items.length} elements for Tuple`);
        return `[${arr.map((x, i) => elem(items[i], x, `[${i}]`)).join(',')}]`;
      };
    }
    case 'JSON':
    case 'Object':
      return (v) => {
        if (!isJsonObject(v)) fail(v, 'expected a JSON object');
        return jsonText(v);
      };
    case 'Dynamic':
    case 'Variant':
      return (v) => jsonText(v);
    default:
      throw new Error(`the Events API cannot convert values to ${name}`);
  }
}

/** Converters of Nullable types: the only ones a null element may reach (a String would store "null"). */
const NULLABLE = new WeakSet<Converter>();

/** Converts one element of a container; a null element is accepted only by a Nullable element type. */
function elem(conv: Converter, x: unknown, where: string): string {
  if (x === null || x === undefined) {
    if (NULLABLE.has(conv)) return 'null';
    throw new CoerceError(`element ${where} is null; only Nullable element types accept null`);
  }
  try {
    return conv(x);
  } catch (e) {
    if (e instanceof CoerceError) throw new CoerceError(`element ${where}: ${e.message}`);
    throw e;
  }
}

/** Converter for a column type string, honouring the `nullable` flag of a parsed Column. */
export function compileConverter(type: string, nullable = false): Converter {
  let node = parseType(type);
  if (nullable && node.name !== 'Nullable') node = { name: 'Nullable', args: [{ kind: 'type', node }] };
  return converterFor(node);
}

/** True when `type` (or its LowCardinality inner type) is Nullable. */
export function isNullableType(type: string): boolean {
  const n = parseType(type);
  return n.name === 'Nullable' || (n.name === 'LowCardinality' && n.args[0]?.kind === 'type' && n.args[0].node.name === 'Nullable');
}
