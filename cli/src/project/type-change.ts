// Which column type changes ClickHouse can make in place without changing a stored value (`ALTER ... MODIFY
// COLUMN` casts every row: Int64 → Int32 wraps, Float64 → UInt32 truncates, DateTime → Date drops the time).
// A change not listed here goes through a rewrite with the datasource's FORWARD_QUERY, or counts as data loss.
// Types are read with the project's type parser (sql/types.ts).
import { formatType, parseType, type TypeNode } from '../sql/types.js';

const SIGNED = ['Int8', 'Int16', 'Int32', 'Int64', 'Int128', 'Int256'];
const UNSIGNED = ['UInt8', 'UInt16', 'UInt32', 'UInt64', 'UInt128', 'UInt256'];
const bits = (t: string): number => Number(t.replace(/^U?Int/, ''));
/** Integers a float holds exactly: Float32 has a 24-bit mantissa, Float64 a 53-bit one. */
const FLOAT_EXACT_BITS: Record<string, number> = { Float32: 24, Float64: 53 };
const DECIMAL_PRECISION: Record<string, number> = { Decimal32: 9, Decimal64: 18, Decimal128: 38, Decimal256: 76 };

function parsed(type: string): TypeNode | undefined {
  try {
    return parseType(type);
  } catch {
    return undefined; // a type this parser does not read is changed by rewrite, never in place
  }
}

/** The node inside `wrapper(X)`, or undefined. */
function inner(n: TypeNode, wrapper: string): TypeNode | undefined {
  const arg = n.name === wrapper ? n.args[0] : undefined;
  return arg?.kind === 'type' ? arg.node : undefined;
}

const numberArg = (n: TypeNode, i: number): number | undefined => (n.args[i]?.kind === 'number' ? Number((n.args[i] as { value: string }).value) : undefined);

/** Whether Enum `b` has every name = value of Enum `a` (of the same width, or of Enum16 when `wider`). */
function enumKept(a: TypeNode, b: TypeNode, wider: boolean): boolean {
  if (!/^Enum(8|16)$/.test(a.name) || !/^Enum(8|16)$/.test(b.name)) return false;
  if (a.name !== b.name && !(wider && b.name === 'Enum16')) return false;
  const pairs = new Set(b.args.map((x) => (x.kind === 'enum' ? `${x.name}=${x.value}` : '')));
  return a.args.every((x) => x.kind === 'enum' && pairs.has(`${x.name}=${x.value}`));
}

/** Precision and scale of a Decimal in any spelling. */
function decimal(n: TypeNode): { precision: number; scale: number } | undefined {
  if (n.name === 'Decimal') return { precision: numberArg(n, 0) ?? 10, scale: numberArg(n, 1) ?? 0 };
  const precision = DECIMAL_PRECISION[n.name];
  return precision === undefined ? undefined : { precision, scale: numberArg(n, 0) ?? 0 };
}

/** True when every value of `before` is stored unchanged as `after`. */
export function typeChangeKeepsValues(before: string, after: string): boolean {
  const a = parsed(before);
  const b = parsed(after);
  return !!a && !!b && keeps(a, b);
}

function keeps(a: TypeNode, b: TypeNode): boolean {
  if (formatType(a) === formatType(b)) return true;
  // Wrappers: LowCardinality changes storage only; Nullable adds NULL to the values.
  const lowA = inner(a, 'LowCardinality');
  const lowB = inner(b, 'LowCardinality');
  if (lowA || lowB) return keeps(lowA ?? a, lowB ?? b);
  const nullA = inner(a, 'Nullable');
  const nullB = inner(b, 'Nullable');
  if (nullA) return !!nullB && keeps(nullA, nullB); // dropping Nullable loses NULLs
  if (nullB) return keeps(a, nullB);
  if (b.name === 'String') return !['Array', 'Map', 'Tuple', 'Nested', 'AggregateFunction', 'SimpleAggregateFunction'].includes(a.name); // written as its text
  if (SIGNED.includes(a.name) && SIGNED.includes(b.name)) return bits(b.name) >= bits(a.name);
  if (UNSIGNED.includes(a.name) && UNSIGNED.includes(b.name)) return bits(b.name) >= bits(a.name);
  if (UNSIGNED.includes(a.name) && SIGNED.includes(b.name)) return bits(b.name) > bits(a.name);
  if ((SIGNED.includes(a.name) || UNSIGNED.includes(a.name)) && b.name in FLOAT_EXACT_BITS) return bits(a.name) <= FLOAT_EXACT_BITS[b.name]!;
  if (a.name === 'Float32' && b.name === 'Float64') return true;
  const decA = decimal(a);
  const decB = decimal(b);
  if (decA && decB) return decB.scale >= decA.scale && decB.precision - decB.scale >= decA.precision - decA.scale;
  // A DateTime stores the same seconds whatever time zone it shows them in; DateTime64 (any precision up to 8)
  // covers 1900-2299. Not Date → DateTime: dates past 2106 do not fit.
  if (a.name === 'DateTime' && b.name === 'DateTime') return true;
  if ((a.name === 'Date' || a.name === 'DateTime') && b.name === 'DateTime64') return true;
  if (a.name === 'Date' && b.name === 'Date32') return true;
  if (a.name === 'DateTime64' && b.name === 'DateTime64') return (numberArg(b, 0) ?? 3) >= (numberArg(a, 0) ?? 3) && (numberArg(b, 0) ?? 3) <= 8;
  return enumKept(a, b, true);
}

/**
 * True when ClickHouse changes a key column (sorting, primary, partition) in place: the key's stored form stays
 * the same (an Enum keeping its values, LowCardinality on or off, a DateTime's time zone). Any other key column
 * change is a rewrite.
 */
export function keyTypeChangeInPlace(before: string, after: string): boolean {
  const a = parsed(before);
  const b = parsed(after);
  if (!a || !b) return false;
  const bare = (n: TypeNode): TypeNode => inner(n, 'LowCardinality') ?? n;
  if (formatType(bare(a)) === formatType(bare(b))) return true;
  if (a.name === 'DateTime' && b.name === 'DateTime') return true;
  return enumKept(a, b, false);
}
