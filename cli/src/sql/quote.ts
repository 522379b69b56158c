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
const ESCAPED: Record<string, string> = Object.assign(Object.create(null), {
  '0': '\0', a: '\x07', b: '\b', e: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', N: '',
  '\\': '\\', "'": "'", '"': '"', '`': '`', '/': '/', '=': '=',
});

/**
 * The text ClickHouse reads from the inside of a quoted string or name (`quote` being its quote character):
 * `\xHH` is a byte, `\N` nothing, the escapes above their character, any other `\c` stays as it is, and a
 * doubled quote is one. Whoever checks a name must read it as ClickHouse will: `email\x5fevents` is `email_events`.
 */
export function unquoteBody(body: string, quote: string): string {
  const bytes: number[] = [];
  const text = (s: string) => bytes.push(...Buffer.from(s, 'utf8'));
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === quote && body[i + 1] === quote) {
      text(c);
      i++;
    } else if (c !== '\\' || i + 1 >= body.length) {
      text(c);
    } else if (body[i + 1] === 'x' && /^[0-9A-Fa-f]{2}$/.test(body.slice(i + 2, i + 4))) {
      bytes.push(parseInt(body.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (Object.hasOwn(ESCAPED, body[i + 1]!)) {
      text(ESCAPED[body[i + 1]!]!);
      i++;
    } else {
      text(c);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
