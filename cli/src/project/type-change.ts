// Which column type changes ClickHouse can make in place without changing a stored value (`ALTER ... MODIFY
// COLUMN` casts every row: Int64 → Int32 wraps, Float64 → UInt32 truncates, DateTime → Date drops the time).
// A change not listed here goes through a rewrite with the datasource's FORWARD_QUERY, or counts as data loss.

const SIGNED = ['Int8', 'Int16', 'Int32', 'Int64', 'Int128', 'Int256'];
const UNSIGNED = ['UInt8', 'UInt16', 'UInt32', 'UInt64', 'UInt128', 'UInt256'];
const bits = (t: string): number => Number(t.replace(/^U?Int/, ''));

/** X of `wrapper(X)`, or undefined. */
function unwrap(type: string, wrapper: string): string | undefined {
  const m = new RegExp(`^${wrapper}\\((.*)\\)$`).exec(type.trim());
  return m ? m[1]!.trim() : undefined;
}

/** The Enum's name = value pairs, or undefined when `type` is no Enum8/Enum16. */
function enumPairs(type: string): { width: string; pairs: Set<string> } | undefined {
  const m = /^(Enum8|Enum16)\((.*)\)$/.exec(type.trim());
  if (!m) return undefined;
  const pairs = new Set((m[2]!.match(/'(?:[^'\\]|\\.)*'\s*=\s*-?\d+/g) ?? []).map((p) => p.replace(/\s+/g, '')));
  return { width: m[1]!, pairs };
}

/** True when every value of `before` is stored unchanged as `after`. */
export function typeChangeKeepsValues(before: string, after: string): boolean {
  const a = before.replace(/\s+/g, ' ').trim();
  const b = after.replace(/\s+/g, ' ').trim();
  if (a === b) return true;
  // Wrappers: LowCardinality changes storage only; Nullable adds NULL to the values.
  const lowA = unwrap(a, 'LowCardinality');
  const lowB = unwrap(b, 'LowCardinality');
  if (lowA !== undefined || lowB !== undefined) return typeChangeKeepsValues(lowA ?? a, lowB ?? b);
  const nullB = unwrap(b, 'Nullable');
  const nullA = unwrap(a, 'Nullable');
  if (nullA !== undefined) return nullB !== undefined && typeChangeKeepsValues(nullA, nullB); // dropping Nullable loses NULLs
  if (nullB !== undefined) return typeChangeKeepsValues(a, nullB);
  if (b === 'String') return !/^(Array|Map|Tuple|Nested|AggregateFunction|SimpleAggregateFunction)\(/.test(a); // written as its text
  if (SIGNED.includes(a) && SIGNED.includes(b)) return bits(b) >= bits(a);
  if (UNSIGNED.includes(a) && UNSIGNED.includes(b)) return bits(b) >= bits(a);
  if (UNSIGNED.includes(a) && SIGNED.includes(b)) return bits(b) > bits(a);
  if (a === 'Float32' && b === 'Float64') return true;
  // Not Date → DateTime: dates past 2106 do not fit.
  if ((a === 'Date' && (b === 'Date32' || /^DateTime64\(/.test(b))) || (a === 'DateTime' && /^DateTime64\(/.test(b))) return true;
  const enumA = enumPairs(a);
  const enumB = enumPairs(b);
  if (enumA && enumB) return enumA.width === enumB.width || enumB.width === 'Enum16' ? [...enumA.pairs].every((p) => enumB.pairs.has(p)) : false;
  return false;
}
