// JSON numbers a double cannot hold (64-bit ids, long decimals) kept as the digits they were sent with. JSON.parse
// rounds 12345678901234567891 to 12345678901234567000 before any column type is known; only events that hold
// such a number pay for the second, lossless parse.
import { isSafeNumber, LosslessNumber, parse, stringify } from 'lossless-json';

/** A number a double would round: `value` is its JSON text. */
export type ExactNumber = LosslessNumber;

export function isExactNumber(v: unknown): v is ExactNumber {
  return v instanceof LosslessNumber;
}

// Sixteen digits (points between them count) is the shortest number a double may not hold exactly, and a number
// follows `:`, `[` or `,`: text without such a run parses the same either way. A string that matches anyway
// ("a:1234567890123456") only costs the second parse (~7 µs for a 300-byte event, against ~1 µs).
const LONG_NUMBER = /[:[,]\s*-?\d[\d.]{15}/;

/** Objects and arrays that hold an ExactNumber at some depth: their JSON text needs `jsonText`. */
const HOLDS_EXACT = new WeakSet<object>();

function numberOf(text: string): number | ExactNumber {
  return isSafeNumber(text) ? Number(text) : new LosslessNumber(text);
}

function markHolders(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !isExactNumber(value)) {
    for (const x of Object.values(value)) {
      if (isExactNumber(x) || (typeof x === 'object' && x !== null && HOLDS_EXACT.has(x))) {
        HOLDS_EXACT.add(value);
        break;
      }
    }
  }
  return value;
}

/**
 * The value of `text`, which JSON.parse read as `parsed`, with every number JSON.parse rounded kept as an
 * ExactNumber. Falls back to `parsed` where the lossless parser refuses what JSON.parse took: a key given twice
 * (JSON.parse keeps the last) or nesting deeper than its recursion allows (such events are refused as too deep).
 */
export function exactValue(text: string, parsed: unknown): unknown {
  if (!LONG_NUMBER.test(text)) return parsed;
  try {
    return parse(text, markHolders, numberOf);
  } catch {
    return parsed;
  }
}

/** JSON.stringify of a parsed JSON value, with ExactNumbers written as their digits (unquoted, as they came). */
export function jsonText(v: unknown): string {
  if (isExactNumber(v)) return v.value;
  if (typeof v === 'object' && v !== null && HOLDS_EXACT.has(v)) return stringify(v) ?? 'null';
  return JSON.stringify(v);
}
