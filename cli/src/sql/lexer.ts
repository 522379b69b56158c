// ClickHouse SQL tokenizer (after ClickHouse's Lexer.cpp): whitespace, comments (`--`, `#!`/`# `,
// nested `/* */`), strings with backslash escapes and doubled quotes, heredocs, quoted identifiers,
// numbers, `{name:Type}` query parameters and operators. Unterminated constructs become 'error'.

export type SqlTokenKind = 'ws' | 'comment' | 'string' | 'quoted_ident' | 'ident' | 'number' | 'op' | 'param' | 'error';

export interface SqlToken {
  kind: SqlTokenKind;
  text: string;
  start: number;
  end: number;
}

const OPS2 = new Set(['->', '::', '<=', '>=', '!=', '<>', '==', '||', '<=>']);

function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
}

function isWordStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 0x80;
}

function isWord(c: number): boolean {
  return isWordStart(c) || (c >= 48 && c <= 57) || c === 36; // $ is allowed inside identifiers
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** End offset of a quoted run starting at `i` (the opening quote), or -1 when unterminated. */
function quotedEnd(sql: string, i: number, q: string): number {
  const n = sql.length;
  let j = i + 1;
  while (j < n) {
    const c = sql[j];
    if (c === '\\') {
      j += 2;
      continue;
    }
    if (c === q) {
      if (sql[j + 1] === q) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return -1;
}

function numberEnd(sql: string, i: number): number {
  const n = sql.length;
  let j = i;
  const c0 = sql[j];
  if (c0 === '0' && (sql[j + 1] === 'x' || sql[j + 1] === 'X' || sql[j + 1] === 'b' || sql[j + 1] === 'B')) {
    const hex = sql[j + 1] === 'x' || sql[j + 1] === 'X';
    const re = hex ? /[0-9a-fA-F_]/ : /[01_]/;
    let k = j + 2;
    while (k < n && re.test(sql[k]!)) k++;
    if (k > j + 2) {
      j = k;
      if (hex && sql[j] === '.') {
        j++;
        while (j < n && /[0-9a-fA-F_]/.test(sql[j]!)) j++;
      }
      if (hex && (sql[j] === 'p' || sql[j] === 'P')) {
        let k2 = j + 1;
        if (sql[k2] === '+' || sql[k2] === '-') k2++;
        if (isDigit(sql.charCodeAt(k2))) {
          j = k2;
          while (j < n && isDigit(sql.charCodeAt(j))) j++;
        }
      }
      return j;
    }
  }
  while (j < n && (isDigit(sql.charCodeAt(j)) || (sql[j] === '_' && isDigit(sql.charCodeAt(j + 1))))) j++;
  if (sql[j] === '.') {
    j++;
    while (j < n && (isDigit(sql.charCodeAt(j)) || (sql[j] === '_' && isDigit(sql.charCodeAt(j + 1))))) j++;
  }
  if (sql[j] === 'e' || sql[j] === 'E') {
    let k = j + 1;
    if (sql[k] === '+' || sql[k] === '-') k++;
    if (isDigit(sql.charCodeAt(k))) {
      j = k;
      while (j < n && isDigit(sql.charCodeAt(j))) j++;
    }
  }
  return j;
}

/** `{ name : Type }` query parameter; returns its end or -1. */
function paramEnd(sql: string, i: number): number {
  const n = sql.length;
  let j = i + 1;
  while (j < n && isWs(sql.charCodeAt(j))) j++;
  if (!(j < n && isWordStart(sql.charCodeAt(j)))) return -1;
  while (j < n && isWord(sql.charCodeAt(j))) j++;
  while (j < n && isWs(sql.charCodeAt(j))) j++;
  if (sql[j] !== ':' || sql[j + 1] === ':') return -1;
  j++;
  let depth = 0;
  let sawType = false;
  while (j < n) {
    const c = sql[j]!;
    if (c === "'" || c === '"' || c === '`') {
      const e = quotedEnd(sql, j, c);
      if (e < 0) return -1;
      j = e;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') {
      if (--depth < 0) return -1;
    } else if (c === '}') {
      return depth === 0 && sawType ? j + 1 : -1;
    } else if (c === '{' || c === ';') return -1;
    if (!isWs(sql.charCodeAt(j))) sawType = true;
    j++;
  }
  return -1;
}

export function tokenizeSql(sql: string): SqlToken[] {
  const out: SqlToken[] = [];
  const n = sql.length;
  let i = 0;
  const push = (kind: SqlTokenKind, end: number) => {
    out.push({ kind, text: sql.slice(i, end), start: i, end });
    i = end;
  };
  while (i < n) {
    const c = sql.charCodeAt(i);
    const ch = sql[i]!;
    if (isWs(c)) {
      let j = i + 1;
      while (j < n && isWs(sql.charCodeAt(j))) j++;
      push('ws', j);
      continue;
    }
    if ((ch === '-' && sql[i + 1] === '-') || (ch === '#' && (sql[i + 1] === '!' || sql[i + 1] === ' '))) {
      const nl = sql.indexOf('\n', i);
      push('comment', nl < 0 ? n : nl);
      continue;
    }
    if (ch === '/' && sql[i + 1] === '*') {
      // ClickHouse block comments nest
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      }
      push(depth === 0 ? 'comment' : 'error', depth === 0 ? j : n);
      continue;
    }
    if (ch === "'") {
      const e = quotedEnd(sql, i, "'");
      push(e < 0 ? 'error' : 'string', e < 0 ? n : e);
      continue;
    }
    if (ch === '`' || ch === '"') {
      const e = quotedEnd(sql, i, ch);
      push(e < 0 ? 'error' : 'quoted_ident', e < 0 ? n : e);
      continue;
    }
    if (ch === '$') {
      // heredoc string: $tag$ ... $tag$
      const m = /^\$([A-Za-z0-9_]*)\$/.exec(sql.slice(i, i + 256));
      if (m) {
        const close = sql.indexOf(m[0], i + m[0].length);
        push(close < 0 ? 'error' : 'string', close < 0 ? n : close + m[0].length);
        continue;
      }
    }
    if (isDigit(c) || (ch === '.' && isDigit(sql.charCodeAt(i + 1)) && !(out.length && isAfterIdentLike(out)))) {
      push('number', numberEnd(sql, i));
      continue;
    }
    if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWord(sql.charCodeAt(j))) j++;
      push('ident', j);
      continue;
    }
    if (ch === '{') {
      const e = paramEnd(sql, i);
      if (e > 0) {
        push('param', e);
        continue;
      }
    }
    const three = sql.slice(i, i + 3);
    if (OPS2.has(three)) {
      push('op', i + 3);
      continue;
    }
    const two = sql.slice(i, i + 2);
    if (OPS2.has(two)) {
      push('op', i + 2);
      continue;
    }
    if ('()[]{},;.+-*/%<>=?:^@!&|~'.includes(ch)) {
      push('op', i + 1);
      continue;
    }
    push('error', i + 1);
  }
  return out;
}

/** `t.1` is tuple element access, not the number `.1`. */
function isAfterIdentLike(out: SqlToken[]): boolean {
  const last = out[out.length - 1]!;
  return last.kind === 'ident' || last.kind === 'quoted_ident' || (last.kind === 'op' && (last.text === ')' || last.text === ']'));
}
