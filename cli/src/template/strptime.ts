// The subset of Python's datetime.strptime used by date_diff_*: %Y %m %d %H %M %S %f %y %z %%,
// literal text (case-insensitive, like CPython) and whitespace runs.

const DIRECTIVES: Record<string, string> = {
  Y: '(\\d\\d\\d\\d)',
  m: '(1[0-2]|0[1-9]|[1-9])',
  d: '(3[01]|[12]\\d|0[1-9]|[1-9]| [1-9])',
  H: '(2[0-3]|[0-1]\\d|\\d)',
  M: '([0-5]\\d|\\d)',
  S: '(6[0-1]|[0-5]\\d|\\d)',
  f: '([0-9]{1,6})',
  y: '(\\d\\d)',
  z: '([+-]\\d\\d:?[0-5]\\d(?::?[0-5]\\d(?:\\.\\d{1,6})?)?|Z)',
};

const cache = new Map<string, { re: RegExp; fields: string[] }>();

function compile(fmt: string): { re: RegExp; fields: string[] } {
  let c = cache.get(fmt);
  if (c) return c;
  let pat = '';
  const fields: string[] = [];
  for (let i = 0; i < fmt.length; i++) {
    const ch = fmt[i]!;
    if (ch === '%') {
      const d = fmt[++i];
      if (d === '%') pat += '%';
      else if (d !== undefined && DIRECTIVES[d]) {
        if (fields.includes(d)) throw new Error(`redefinition of group name ${d}`);
        pat += DIRECTIVES[d];
        fields.push(d);
      } else throw new Error(`'${d ?? ''}' is a bad directive in format '%${d ?? ''}'`);
    } else if (/\s/.test(ch)) {
      pat += '\\s+';
      while (i + 1 < fmt.length && /\s/.test(fmt[i + 1]!)) i++;
    } else pat += ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  c = { re: new RegExp('^' + pat + '$', 'i'), fields };
  if (cache.size > 256) cache.clear();
  cache.set(fmt, c);
  return c;
}

/** Microseconds since the epoch (naive, or UTC when %z was given); throws on mismatch. */
export function strptime(value: string, fmt: string): { us: number; aware: boolean } {
  if (typeof value !== 'string') throw new TypeError('strptime() argument 1 must be str');
  const { re, fields } = compile(fmt);
  const m = re.exec(value);
  if (!m) throw new Error(`time data '${value}' does not match format '${fmt}'`);
  let year = 1900, month = 1, day = 1, hour = 0, minute = 0, second = 0, micro = 0, offsetMin = 0;
  let aware = false;
  fields.forEach((f, k) => {
    const s = m[k + 1]!;
    switch (f) {
      case 'Y': year = +s; break;
      case 'y': { const v = +s; year = v <= 68 ? 2000 + v : 1900 + v; break; }
      case 'm': month = +s; break;
      case 'd': day = +s.trim(); break;
      case 'H': hour = +s; break;
      case 'M': minute = +s; break;
      case 'S': second = +s; break;
      case 'f': micro = +s.padEnd(6, '0'); break;
      case 'z': {
        aware = true;
        if (s.toUpperCase() !== 'Z') {
          const sign = s[0] === '-' ? -1 : 1;
          const digits = s.slice(1).replace(/:/g, '');
          offsetMin = sign * (+digits.slice(0, 2) * 60 + +digits.slice(2, 4));
        }
        break;
      }
    }
  });
  if (second > 59) throw new Error('second must be in 0..59');
  const dim = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > dim || year < 1) throw new Error('day is out of range for month');
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return { us: d.getTime() * 1000 + micro - offsetMin * 60_000_000, aware };
}
