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

/** Marks a parsed object or array (or one built from parsed values, as a `[:]` path's) that holds an ExactNumber. */
export function markHolder<T>(value: T): T {
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

/** A key given twice keeps its last value, as with JSON.parse (lossless-json refuses the text by default). */
const lastKeyWins = ({ newValue }: { newValue: unknown }): unknown => newValue;

/**
 * `text` parsed again by lossless-json when it may hold a number JSON.parse rounded; `parsed` (JSON.parse's value)
 * otherwise, and where the lossless parser's recursion runs out of stack (nesting thousands of levels deep).
 */
function reparsed(text: string, parsed: unknown, reviver: ((key: string, value: unknown) => unknown) | null, parseNumber: (text: string) => unknown): unknown {
  if (!LONG_NUMBER.test(text)) return parsed;
  try {
    return parse(text, reviver, { parseNumber, onDuplicateKey: lastKeyWins });
  } catch {
    return parsed;
  }
}

/** The value of `text`, which JSON.parse read as `parsed`, with every number JSON.parse rounded kept as an ExactNumber. */
export function exactValue(text: string, parsed: unknown): unknown {
  return reparsed(text, parsed, (_key, value) => markHolder(value), numberOf);
}

const digitsOrNumber = (text: string): number | string => (isSafeNumber(text) ? Number(text) : text);

/**
 * JSON.parse for a payload read field by field (a provider's webhook, endpoint parameters): a number a double
 * cannot hold becomes the string of its digits instead of a rounded double, so `4323372036854775807` stays
 * itself. Throws JSON.parse's own SyntaxError for text that is not JSON.
 */
export function parseKeepingDigits(text: string): unknown {
  return reparsed(text, JSON.parse(text), null, digitsOrNumber);
}

/**
 * A JSON number's digits as plain decimal text (`plainDecimal` of an ExactNumber's text, or of a double's shortest
 * form, which is the digits it was sent with); `Infinity`/`-Infinity` past every type's range; undefined for any
 * other value.
 */
export function numberDigits(v: unknown): string | undefined {
  if (isExactNumber(v)) return plainDecimal(v.value);
  return typeof v === 'number' ? plainDecimal(String(v)) : undefined;
}

const NUMBER_PARTS = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
/** Past this many digits before the point a number is out of every type's range (Decimal256 holds 76). */
const MAX_INT_DIGITS = 100;

/**
 * A number's text without exponent (`1.5e3` → `1500`, `-2E-3` → `-0.002`), built from its digits, no double in
 * between; `Infinity` (or `-Infinity`) when it has more than 100 digits before the point or is a double's
 * Infinity; undefined for text that is not a number.
 */
function plainDecimal(text: string): string | undefined {
  // A double past its range (JSON.parse reads 1e400 as Infinity) is past every type's as well.
  if (/^[+-]?Infinity$/.test(text)) return text.replace('+', '');
  const m = NUMBER_PARTS.exec(text.trim());
  if (!m || (m[2] === '' && !m[3])) return undefined;
  const [, sign, int, frac = '', exp = '0'] = m;
  const all = int + frac;
  let lead = 0;
  while (all.charCodeAt(lead) === 0x30) lead++;
  let digits = all.slice(lead);
  if (digits === '') return '0';
  // Where the point falls, counted from the first significant digit.
  const point = int.length - lead + Number(exp);
  if (point > MAX_INT_DIGITS) return sign === '-' ? '-Infinity' : 'Infinity';
  // Trailing zeros by a loop: /0+$/ backtracks over every run of zeros, quadratic in a megabyte of them.
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 0x30) end--;
  digits = digits.slice(0, end);
  let body: string;
  // Far below any type's scale (Decimal256 keeps 76 places): 200 zeros say "a non-zero fraction" as well as more.
  if (point <= 0) body = `0.${'0'.repeat(Math.min(-point, 200))}${digits}`;
  else if (point >= digits.length) body = digits + '0'.repeat(point - digits.length);
  else body = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return sign === '-' ? `-${body}` : body;
}

/** JSON.stringify of a parsed JSON value, with ExactNumbers written as their digits (unquoted, as they came). */
export function jsonText(v: unknown): string {
  if (isExactNumber(v)) return v.value;
  if (typeof v === 'object' && v !== null && HOLDS_EXACT.has(v)) return stringify(v) ?? 'null';
  return JSON.stringify(v);
}
