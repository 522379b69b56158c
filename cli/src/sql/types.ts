// A small parser for ClickHouse type strings (nested parentheses, quoted strings, enum items, named tuple fields),
// shared by the generators (mock/) and the Events API type conversion (ingest/coerce.ts).
import { quoteString } from './quote.js';

export type TypeArg =
  | { kind: 'type'; node: TypeNode; field?: string }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: string }
  | { kind: 'enum'; name: string; value?: string };

export interface TypeNode {
  name: string;
  args: TypeArg[];
}

type Tok = { t: 'id' | 'str' | 'num' | 'punct'; v: string; pos: number };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"' || c === '`') {
      // Quoted: single quotes are string literals; double quotes and backticks are identifiers (field names).
      const start = i;
      let v = '';
      i++;
      while (i < src.length) {
        if (src[i] === '\\' && i + 1 < src.length) {
          v += src[i + 1];
          i += 2;
        } else if (src[i] === c) {
          // A doubled quote is the quote character itself; a single one ends the token.
          if (src[i + 1] !== c) break;
          v += c;
          i += 2;
        } else v += src[i++];
      }
      if (i >= src.length) throw new Error(`unterminated quote at ${start + 1} in type ${src}`);
      i++;
      out.push({ t: c === "'" ? 'str' : 'id', v, pos: start });
    } else if (/[0-9]/.test(c) || ((c === '-' || c === '+') && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(src.slice(i))!;
      out.push({ t: 'num', v: m[0], pos: i });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(src.slice(i))!;
      out.push({ t: 'id', v: m[0], pos: i });
      i += m[0].length;
    } else if ('(),='.includes(c)) {
      out.push({ t: 'punct', v: c, pos: i });
      i++;
    } else {
      throw new Error(`unexpected character '${c}' at ${i + 1} in type ${src}`);
    }
  }
  return out;
}

/** Parses e.g. `Map(String, Array(Nullable(DateTime64(3, 'UTC'))))` or `Enum8('a' = 1, 'b' = 2)`. */
export function parseType(src: string): TypeNode {
  const toks = tokenize(src);
  let p = 0;
  const peek = (o = 0): Tok | undefined => toks[p + o];
  const fail = (msg: string): never => {
    const t = peek();
    throw new Error(`${msg} at ${t ? t.pos + 1 : src.length + 1} in type ${src}`);
  };
  const expect = (v: string): void => {
    if (peek()?.v !== v || peek()?.t !== 'punct') fail(`expected '${v}'`);
    p++;
  };

  function parseNode(): TypeNode {
    const t = peek();
    if (!t || t.t !== 'id') return fail('expected a type name');
    p++;
    const node: TypeNode = { name: t.v, args: [] };
    if (peek()?.v === '(' && peek()?.t === 'punct') {
      p++;
      if (peek()?.v === ')') {
        p++;
        return node;
      }
      for (;;) {
        node.args.push(parseArg());
        const n = peek();
        if (n?.t === 'punct' && n.v === ',') {
          p++;
          continue;
        }
        expect(')');
        break;
      }
    }
    return node;
  }

  function parseArg(): TypeArg {
    const t = peek();
    if (!t) return fail('unexpected end');
    if (t.t === 'str') {
      p++;
      if (peek()?.t === 'punct' && peek()?.v === '=') {
        p++;
        const n = peek();
        if (!n || n.t !== 'num') return fail('expected a number after =');
        p++;
        return { kind: 'enum', name: t.v, value: n.v };
      }
      return { kind: 'string', value: t.v };
    }
    if (t.t === 'num') {
      p++;
      return { kind: 'number', value: t.v };
    }
    if (t.t === 'id') {
      // `name Type` (named Tuple / Nested field) or a plain type.
      const n = peek(1);
      if (n && n.t === 'id') {
        p++;
        return { kind: 'type', node: parseNode(), field: t.v };
      }
      return { kind: 'type', node: parseNode() };
    }
    return fail(`unexpected '${t.v}'`);
  }

  const node = parseNode();
  if (p < toks.length) fail(`unexpected '${toks[p].v}'`);
  return node;
}

/** Renders a node back to a ClickHouse type string (used in messages and tests). */
export function formatType(n: TypeNode): string {
  if (n.args.length === 0) return n.name;
  const args = n.args.map((a) => {
    switch (a.kind) {
      case 'type':
        return (a.field ? `${a.field} ` : '') + formatType(a.node);
      case 'string':
        return quoteString(a.value);
      case 'number':
        return a.value;
      case 'enum':
        return quoteString(a.name) + (a.value !== undefined ? ` = ${a.value}` : '');
    }
  });
  return `${n.name}(${args.join(', ')})`;
}
