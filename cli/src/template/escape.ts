// The two escaping tables of §4.3 (sqlescapy-derived). Both only touch ASCII characters, so a
// per-UTF-16-unit scan is equivalent to Python's per-code-point str.translate.

const STRING_MAP: Record<string, string> = {
  '\0': '\\0',
  '\r': '\\r',
  '\n': '\\n',
  '\t': '\\t',
  '\b': '\\b',
  '\x1a': '\\z',
  "'": "\\'",
  '"': '\\"',
  '\\': '\\\\',
  '%': '\\%',
  '`': '\\`',
};

const IDENT_MAP: Record<string, string> = { ...STRING_MAP, '"': '' };

const NEEDS = /[\0\r\n\t\b\x1a'"\\%`]/;

function translate(s: string, map: Record<string, string>): string {
  if (!NEEDS.test(s)) return s;
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const r = map[s[i]!];
    if (r !== undefined) {
      out += s.slice(last, i) + r;
      last = i + 1;
    }
  }
  return out + s.slice(last);
}

/** sqlescape_for_string_expression: used for quoted string values. */
export function escapeString(s: string): string {
  return translate(s, STRING_MAP);
}

/** sqlescape: used by column/symbol/table; `"` is deleted. */
export function escapeIdent(s: string): string {
  return translate(s, IDENT_MAP);
}

export function quoteString(s: string): string {
  return "'" + escapeString(s) + "'";
}
