// Quoting for SQL that emailstats writes itself (names from datafiles, values it generates). Request values
// never go through here: templates quote them (cli/src/template/escape.ts).

/** A backtick-quoted identifier, any name. */
export function quoteIdent(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

/** A single-quoted string literal. */
export function quoteString(value: string): string {
  return "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

/** What ClickHouse reads for `\<char>` in a quoted string or name (checked against chDB 26.7). */
const ESCAPED: Record<string, number> = Object.assign(Object.create(null), {
  '0': 0, a: 7, b: 8, e: 0x1b, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b,
  '\\': 0x5c, "'": 0x27, '"': 0x22, '`': 0x60, '/': 0x2f, '=': 0x3d,
});

const BACKSLASH = 0x5c;

/** A hex digit's value as ClickHouse takes it after `\x`: anything else counts as 0xFF. */
function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  return 0xff;
}

/**
 * The text ClickHouse reads from the inside of a quoted string or name (`quote` being its quote character):
 * `\x` and the next two characters are one byte (`(h * 16 + l) & 0xFF`, a character that is not a hex digit
 * counting as 0xFF: `\x6G` is `_`), `\N` is nothing, the escapes above their character, and a doubled quote is
 * one. Any other `\c` stays as written, as ClickHouse 26 keeps it; with `dropUnknown` the backslash goes, as
 * older servers (18.16) read it. Whoever checks a name must read it as the server will: `email\x5fevents` is
 * `email_events`.
 */
export function unquoteBody(body: string, quote: string, dropUnknown = false): string {
  if (!body.includes('\\') && !body.includes(quote)) return body;
  return unquoteBytes(body, quote, dropUnknown).toString('utf8');
}

/** unquoteBody's bytes: `\x` may make bytes that are no UTF-8. */
export function unquoteBytes(body: string, quote: string, dropUnknown = false): Buffer {
  const input = Buffer.from(body, 'utf8');
  const out = Buffer.allocUnsafe(input.length);
  const q = quote.charCodeAt(0);
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === q && input[i + 1] === q) {
      out[n++] = c;
      i++;
    } else if (c !== BACKSLASH || i + 1 >= input.length) {
      out[n++] = c;
    } else if (input[i + 1] === 0x78 /* x */ && i + 3 < input.length) {
      out[n++] = (hexValue(input[i + 2]!) * 16 + hexValue(input[i + 3]!)) & 0xff;
      i += 3;
    } else if (input[i + 1] === 0x4e /* N */) {
      i++;
    } else {
      const mapped = ESCAPED[String.fromCharCode(input[i + 1]!)];
      if (mapped !== undefined) {
        out[n++] = mapped;
        i++;
      } else if (dropUnknown) {
        out[n++] = input[++i]!;
      } else {
        out[n++] = c;
      }
    }
  }
  return out.subarray(0, n);
}
