// Tokenizer for the Python expression subset used inside `{{ }}` and `{% %}`.
// Newlines are plain whitespace: template tags are single logical lines.

export class PySyntaxError extends Error {
  constructor(
    message: string,
    readonly pos: number,
  ) {
    super(message);
  }
}

export type TokKind = 'name' | 'num' | 'str' | 'op' | 'eof';

export interface Tok {
  k: TokKind;
  /** name / operator text; raw text for numbers and strings */
  v: string;
  pos: number;
  end: number;
  /** strings: prefix letters (lower-cased) and raw body between the quotes */
  prefix?: string;
  body?: string;
}

const OPS3 = ['**=', '//=', '>>=', '<<=', '...'];
const OPS2 = ['**', '//', '==', '!=', '<=', '>=', '<<', '>>', '->', ':=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '@=', '<>'];
const OPS1 = '+-*/%@&|^~<>()[]{},:;.=!';

function isIdStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || (c >= 0xaa && /\p{L}|\p{Nl}/u.test(String.fromCharCode(c)));
}

function isIdChar(c: number): boolean {
  return isIdStart(c) || (c >= 48 && c <= 57) || (c >= 0xaa && /\p{Mn}|\p{Mc}|\p{Nd}|\p{Pc}/u.test(String.fromCharCode(c)));
}

const STR_PREFIX = /^(?:[rRuUbBfF]|[rR][bBfF]|[bBfF][rR])$/;

export function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  const n = src.length;
  let i = 0;
  while (i < n) {
    const c = src.charCodeAt(i);
    // whitespace, including newlines and backslash continuations
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11) {
      i++;
      continue;
    }
    if (c === 92 /* \ */ && (src[i + 1] === '\n' || (src[i + 1] === '\r' && src[i + 2] === '\n'))) {
      i += src[i + 1] === '\n' ? 2 : 3;
      continue;
    }
    if (c === 35 /* # */) throw new PySyntaxError('invalid syntax', i); // a comment would swallow the generated code
    const start = i;
    if (isIdStart(c)) {
      while (i < n && isIdChar(src.charCodeAt(i))) i++;
      const word = src.slice(start, i);
      if ((src[i] === "'" || src[i] === '"') && STR_PREFIX.test(word)) {
        i = readString(src, i, toks, start, word.toLowerCase());
        continue;
      }
      toks.push({ k: 'name', v: word, pos: start, end: i });
      continue;
    }
    if ((c >= 48 && c <= 57) || (c === 46 && src.charCodeAt(i + 1) >= 48 && src.charCodeAt(i + 1) <= 57)) {
      i = readNumber(src, i);
      toks.push({ k: 'num', v: src.slice(start, i), pos: start, end: i });
      continue;
    }
    if (c === 39 || c === 34) {
      i = readString(src, i, toks, start, '');
      continue;
    }
    const three = src.slice(i, i + 3);
    if (OPS3.includes(three)) {
      toks.push({ k: 'op', v: three, pos: i, end: i + 3 });
      i += 3;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (OPS2.includes(two)) {
      toks.push({ k: 'op', v: two, pos: i, end: i + 2 });
      i += 2;
      continue;
    }
    if (OPS1.includes(src[i]!)) {
      toks.push({ k: 'op', v: src[i]!, pos: i, end: i + 1 });
      i++;
      continue;
    }
    throw new PySyntaxError('invalid syntax', i);
  }
  toks.push({ k: 'eof', v: '', pos: n, end: n });
  return toks;
}

function readNumber(src: string, i: number): number {
  const n = src.length;
  const start = i;
  const digitsRe = (re: RegExp) => {
    while (i < n && (re.test(src[i]!) || (src[i] === '_' && i + 1 < n && re.test(src[i + 1]!)))) i++;
  };
  if (src[i] === '0' && /[xXoObB]/.test(src[i + 1] ?? '')) {
    const k = src[i + 1]!.toLowerCase();
    i += 2;
    if (src[i] === '_') i++;
    const re = k === 'x' ? /[0-9a-fA-F]/ : k === 'o' ? /[0-7]/ : /[01]/;
    const s0 = i;
    digitsRe(re);
    if (i === s0) throw new PySyntaxError('invalid syntax', start);
  } else {
    digitsRe(/[0-9]/);
    if (src[i] === '.') {
      i++;
      digitsRe(/[0-9]/);
    }
    if (/[eE]/.test(src[i] ?? '')) {
      let j = i + 1;
      if (src[j] === '+' || src[j] === '-') j++;
      if (/[0-9]/.test(src[j] ?? '')) {
        i = j;
        digitsRe(/[0-9]/);
      }
    }
    if (/[jJ]/.test(src[i] ?? '')) i++;
  }
  if (i < n && isIdChar(src.charCodeAt(i))) throw new PySyntaxError('invalid syntax', start);
  return i;
}

function readString(src: string, i: number, toks: Tok[], start: number, prefix: string): number {
  const q = src[i]!;
  const triple = src.slice(i, i + 3) === q + q + q;
  const qs = triple ? q + q + q : q;
  let j = i + qs.length;
  const bodyStart = j;
  for (;;) {
    if (j >= src.length) throw new PySyntaxError('unterminated string literal', start);
    const ch = src[j]!;
    if (ch === '\\') {
      j += 2;
      continue;
    }
    if (!triple && ch === '\n') throw new PySyntaxError('unterminated string literal', start);
    if (src.startsWith(qs, j)) break;
    j++;
  }
  toks.push({ k: 'str', v: src.slice(start, j + qs.length), pos: start, end: j + qs.length, prefix, body: src.slice(bodyStart, j) });
  return j + qs.length;
}

const SIMPLE_ESC: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\n': '' };

/** Decode the escapes of a (non-raw) string body. */
export function decodeEscapes(body: string, pos: number, bytes: boolean): string {
  if (!body.includes('\\')) return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const e = body[i + 1] ?? '';
    if (e in SIMPLE_ESC) {
      out += SIMPLE_ESC[e];
      i++;
    } else if (/[0-7]/.test(e)) {
      let k = i + 1;
      let oct = '';
      while (k < body.length && oct.length < 3 && /[0-7]/.test(body[k]!)) oct += body[k++];
      out += String.fromCodePoint(parseInt(oct, 8));
      i = k - 1;
    } else if (e === 'x' || (!bytes && (e === 'u' || e === 'U'))) {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + len);
      if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex)) throw new PySyntaxError('(unicode error) truncated escape', pos);
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) throw new PySyntaxError('(unicode error) illegal Unicode character', pos);
      out += String.fromCodePoint(cp);
      i += 1 + len;
    } else if (e === 'N' && !bytes) {
      throw new PySyntaxError('(unicode error) \\N escapes are not supported', pos);
    } else if (e === '\r' && body[i + 2] === '\n') {
      i += 2;
    } else {
      out += '\\'; // unknown escapes keep the backslash
    }
  }
  return out;
}
