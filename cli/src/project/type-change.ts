// Which column type changes ClickHouse can make in place without changing a stored value (`ALTER ... MODIFY
// COLUMN` casts every row: Int64 → Int32 wraps, Float64 → UInt32 truncates, DateTime → Date drops the time).
// A change not listed here goes through a rewrite with the datasource's FORWARD_QUERY, or counts as data loss.

const SIGNED = ['Int8', 'Int16', 'Int32', 'Int64', 'Int128', 'Int256'];
const UNSIGNED = ['UInt8', 'UInt16', 'UInt32', 'UInt64', 'UInt128', 'UInt256'];
const bits = (t: string): number => Number(t.replace(/^U?Int/, ''));
/** Integers a float holds exactly: Float32 has a 24-bit mantissa, Float64 a 53-bit one. */
const FLOAT_EXACT_BITS: Record<string, number> = { Float32: 24, Float64: 53 };

/** The type's text without the spaces outside its quoted parts (`Enum8('a b' = 1)` keeps `'a b'`). */
function canonical(type: string): string {
  return type.replace(/'(?:[^'\\]|\\.)*'|\s+/g, (m) => (m.startsWith("'") ? m : ''));
}

/** X of `wrapper(X)`, or undefined. */
function unwrap(type: string, wrapper: string): string | undefined {
  return type.startsWith(`${wrapper}(`) && type.endsWith(')') ? type.slice(wrapper.length + 1, -1) : undefined;
}

/** The Enum's name = value pairs, or undefined when `type` is no Enum8/Enum16. */
function enumPairs(type: string): { width: string; pairs: Set<string> } | undefined {
  const m = /^(Enum8|Enum16)\((.*)\)$/.exec(type);
  return m ? { width: m[1]!, pairs: new Set(m[2]!.match(/'(?:[^'\\]|\\.)*'=-?\d+/g) ?? []) } : undefined;
}

/** Precision and scale of a Decimal type in any spelling, or undefined. */
function decimal(type: string): { precision: number; scale: number } | undefined {
  let m = /^Decimal\((\d+),(\d+)\)$/.exec(type);
  if (m) return { precision: Number(m[1]), scale: Number(m[2]) };
  m = /^Decimal(32|64|128|256)\((\d+)\)$/.exec(type);
  if (m) return { precision: { '32': 9, '64': 18, '128': 38, '256': 76 }[m[1] as '32']!, scale: Number(m[2]) };
  return undefined;
}

/** `DateTime`, `DateTime('UTC')`: a DateTime stores the same seconds whatever time zone it shows them in. */
const isDateTime = (t: string): boolean => t === 'DateTime' || /^DateTime\('[^']*'\)$/.test(t);
/** DateTime64's precision (every precision up to 8 covers 1900-2299), or undefined. */
function dateTime64(t: string): number | undefined {
  const m = /^DateTime64\((\d+)(?:,'[^']*')?\)$/.exec(t);
  return m ? Number(m[1]) : undefined;
}

/** True when every value of `before` is stored unchanged as `after`. */
export function typeChangeKeepsValues(before: string, after: string): boolean {
  return keeps(canonical(before.trim()), canonical(after.trim()));
}

function keeps(a: string, b: string): boolean {
  if (a === b) return true;
  // Wrappers: LowCardinality changes storage only; Nullable adds NULL to the values.
  const lowA = unwrap(a, 'LowCardinality');
  const lowB = unwrap(b, 'LowCardinality');
  if (lowA !== undefined || lowB !== undefined) return keeps(lowA ?? a, lowB ?? b);
  const nullA = unwrap(a, 'Nullable');
  const nullB = unwrap(b, 'Nullable');
  if (nullA !== undefined) return nullB !== undefined && keeps(nullA, nullB); // dropping Nullable loses NULLs
  if (nullB !== undefined) return keeps(a, nullB);
  if (b === 'String') return !/^(Array|Map|Tuple|Nested|AggregateFunction|SimpleAggregateFunction)\(/.test(a); // written as its text
  if (SIGNED.includes(a) && SIGNED.includes(b)) return bits(b) >= bits(a);
  if (UNSIGNED.includes(a) && UNSIGNED.includes(b)) return bits(b) >= bits(a);
  if (UNSIGNED.includes(a) && SIGNED.includes(b)) return bits(b) > bits(a);
  if ((SIGNED.includes(a) || UNSIGNED.includes(a)) && b in FLOAT_EXACT_BITS) return bits(a) <= FLOAT_EXACT_BITS[b]!;
  if (a === 'Float32' && b === 'Float64') return true;
  const decA = decimal(a);
  const decB = decimal(b);
  if (decA && decB) return decB.scale >= decA.scale && decB.precision - decB.scale >= decA.precision - decA.scale;
  if (isDateTime(a) && isDateTime(b)) return true;
  // Not Date → DateTime: dates past 2106 do not fit.
  if (a === 'Date' && (b === 'Date32' || dateTime64(b) !== undefined)) return true;
  if (isDateTime(a) && dateTime64(b) !== undefined) return true;
  const p64a = dateTime64(a);
  const p64b = dateTime64(b);
  if (p64a !== undefined && p64b !== undefined) return p64b >= p64a && p64b <= 8;
  const enumA = enumPairs(a);
  const enumB = enumPairs(b);
  if (enumA && enumB) return (enumA.width === enumB.width || enumB.width === 'Enum16') && [...enumA.pairs].every((p) => enumB.pairs.has(p));
  return false;
}

/**
 * True when ClickHouse changes a key column (sorting, primary, partition) in place: the key's stored form stays
 * the same (an Enum keeping its values, LowCardinality on or off, a DateTime's time zone). Any other key column
 * change is a rewrite.
 */
export function keyTypeChangeInPlace(before: string, after: string): boolean {
  const a = canonical(before.trim());
  const b = canonical(after.trim());
  if (a === b) return true;
  const inner = (t: string): string => unwrap(t, 'LowCardinality') ?? t;
  if (inner(a) === inner(b)) return true;
  if (isDateTime(a) && isDateTime(b)) return true;
  const enumA = enumPairs(a);
  const enumB = enumPairs(b);
  return !!enumA && !!enumB && enumA.width === enumB.width && [...enumA.pairs].every((p) => enumB.pairs.has(p));
}
