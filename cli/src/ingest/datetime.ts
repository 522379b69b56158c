// Date/DateTime input parsing shared by the Date, DateTime and DateTime64 converters. Everything is UTC:
// a value without an offset is read as UTC, a value with `Z`/`±hh:mm` is converted to UTC.
import { numberDigits } from '../util/exact-json.js';

export interface Instant {
  /** Whole seconds since the Unix epoch (may be negative for DateTime64/Date32). */
  sec: number;
  /** Fractional digits, right-padded/truncated to the requested precision. */
  frac: string;
}

const DATE_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const NUM_RE = /^-?\d+(?:\.\d+)?$/;
/** Numbers at or above this are Unix milliseconds, below it Unix seconds (1e11 s is the year 5138). */
export const MS_THRESHOLD = 1e11;

function fracOf(digits: string, precision: number): string {
  return (digits + '000000000').slice(0, precision);
}

function fromEpochText(text: string, precision: number): Instant {
  const neg = text.startsWith('-');
  const [intPart, fracPart = ''] = (neg ? text.slice(1) : text).split('.');
  // Milliseconds of 2^40 seconds have 16 digits: anything longer is out of range, and no BigInt of a megabyte.
  if (intPart.replace(/^0+/, '').length > 20) throw new Error('out of range');
  let whole = BigInt(intPart);
  let fracDigits = fracPart;
  if (Number(intPart) >= MS_THRESHOLD) {
    // Milliseconds: move three digits from the integer part into the fraction.
    const ms = whole % 1000n;
    whole = whole / 1000n;
    fracDigits = ms.toString().padStart(3, '0') + fracPart;
  }
  if (whole > 1n << 40n) throw new Error('out of range');
  let sec = Number(whole);
  let frac = fracOf(fracDigits, precision);
  if (neg) {
    // -1.5 s is 1.5 s before the epoch: whole -2, fraction .5.
    if (/[1-9]/.test(fracDigits)) {
      sec = -sec - 1;
      const scale = 10n ** BigInt(9);
      const f = BigInt(fracOf(fracDigits, 9));
      frac = fracOf((scale - f).toString().padStart(9, '0'), precision);
    } else sec = -sec;
  }
  return { sec, frac };
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/**
 * `YYYY-MM-DD hh:mm:ss` (or with `T`), the form nearly every sender uses, read without a regex or a Date:
 * the Events API converts one per row. Any other text, or invalid fields, returns undefined and goes
 * through the general parser (which gives the reason).
 */
const DIGIT_POSITIONS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

function commonForm(s: string): Instant | undefined {
  if (s.length !== 19) return undefined;
  const c = (i: number) => s.charCodeAt(i) - 48;
  for (const i of DIGIT_POSITIONS) if (c(i) < 0 || c(i) > 9) return undefined;
  if (s[4] !== '-' || s[7] !== '-' || (s[10] !== ' ' && s[10] !== 'T') || s[13] !== ':' || s[16] !== ':') return undefined;
  const y = c(0) * 1000 + c(1) * 100 + c(2) * 10 + c(3);
  const m = c(5) * 10 + c(6), d = c(8) * 10 + c(9);
  const h = c(11) * 10 + c(12), mi = c(14) * 10 + c(15), se = c(17) * 10 + c(18);
  if (m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m) || h > 23 || mi > 59 || se > 59) return undefined;
  return { sec: daysFromCivil(y, m, d) * 86400 + h * 3600 + mi * 60 + se, frac: '' };
}

/** Parses every accepted DateTime input form; throws with a reason otherwise. */
export function parseInstant(v: unknown, precision: number): Instant {
  if (typeof v === 'string') {
    const common = commonForm(v);
    if (common) return precision ? { sec: common.sec, frac: fracOf('', precision) } : common;
  }
  // From the digits the sender wrote (an ExactNumber keeps nanoseconds a double would round), exponent expanded.
  const digits = numberDigits(v);
  if (digits !== undefined) {
    if (digits.endsWith('Infinity')) throw new Error('out of range');
    return fromEpochText(digits, precision);
  }
  if (typeof v !== 'string') throw new Error('expected a date-time string or Unix timestamp');
  const s = v.trim();
  if (NUM_RE.test(s)) return fromEpochText(s, precision);
  const m = DATE_RE.exec(s);
  if (!m) throw new Error('unrecognised date-time format');
  const [, y, mo, d, h = '0', mi = '0', se = '0', fr = '', tz] = m;
  const Y = +y, M = +mo, D = +d, H = +h, MI = +mi, S = +se;
  if (M < 1 || M > 12 || D < 1 || H > 23 || MI > 59 || S > 59) throw new Error('invalid date or time field');
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  const dt = new Date(0);
  dt.setUTCFullYear(Y, M - 1, D);
  if (dt.getUTCDate() !== D) throw new Error('invalid day of month');
  const ms = dt.getTime() + ((H * 60 + MI) * 60 + S) * 1000;
  let offset = 0;
  if (tz && tz.toUpperCase() !== 'Z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    const oh = +digits.slice(0, 2), om = digits.length > 2 ? +digits.slice(2, 4) : 0;
    if (oh > 23 || om > 59) throw new Error('invalid UTC offset');
    offset = sign * (oh * 3600 + om * 60);
  }
  return { sec: Math.floor(ms / 1000) - offset, frac: fracOf(fr, precision) };
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** `YYYY-MM-DD` of an instant in UTC. */
export function formatUtcDate(sec: number): string {
  const d = new Date(sec * 1000);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** `YYYY-MM-DD hh:mm:ss[.fff]` in UTC. */
export function formatUtc(i: Instant): string {
  const d = new Date(i.sec * 1000);
  const base = `${formatUtcDate(i.sec)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return i.frac ? `${base}.${i.frac}` : base;
}
