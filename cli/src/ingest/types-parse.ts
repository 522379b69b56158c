// Parses a ClickHouse type expression into a tree, enough to pick a converter per column.

export interface TypeNode {
  /** Family name as written, e.g. `Nullable`, `DateTime64`, `Enum8`. */
  name: string;
  /** Arguments: nested types, or raw literal text (`3`, `'UTC'`, `'a' = 1`). */
  args: TypeArg[];
}
export type TypeArg = { kind: 'type'; node: TypeNode; text: string } | { kind: 'literal'; text: string };

/** Splits `a, b(c, d), 'x,y'` at top-level commas. */
export function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = '';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = '';
    } else if (ch === "'" || ch === '"' || ch === '`') quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = s.slice(start).trim();
  if (last !== '' || out.length > 0) out.push(last);
  return out;
}

export function parseType(text: string): TypeNode {
  const t = text.trim();
  const open = t.indexOf('(');
  if (open < 0) return { name: t, args: [] };
  if (!t.endsWith(')')) throw new Error(`cannot parse type ${text}`);
  const name = t.slice(0, open).trim();
  const inner = t.slice(open + 1, -1);
  const args = splitTopLevel(inner).map((a): TypeArg => {
    // Literals: numbers, quoted strings, enum members `'a' = 1`; named tuple elements `x Int32` stay types.
    if (/^[-+]?\d/.test(a) || a.startsWith("'")) return { kind: 'literal', text: a };
    const named = /^([A-Za-z_][A-Za-z0-9_]*)\s+([A-Za-z].*)$/s.exec(a);
    if (named && name === 'Tuple') return { kind: 'type', node: parseType(named[2]), text: named[1] };
    return { kind: 'type', node: parseType(a), text: a };
  });
  return { name, args };
}

/** Unquotes a ClickHouse single-quoted string literal. */
export function unquote(lit: string): string {
  const s = lit.trim();
  if (!s.startsWith("'") || !s.endsWith("'")) return s;
  return s.slice(1, -1).replace(/\\(.)/g, '$1').replace(/''/g, "'");
}
