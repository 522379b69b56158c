// Recursive-descent parser for the Python expression subset (Python operator precedence).
// Produces the AST of ./ast.ts; every node keeps its source offset.
import type { BinOpName, CmpOpName, Comprehension, Expr, Keyword, Stmt } from './ast.js';
import { PySyntaxError, decodeEscapes, tokenize, type Tok } from './tokens.js';

const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif', 'else', 'except',
  'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try',
  'while', 'with', 'yield',
]);

const MAX_DEPTH = 100; // CPython: "too many nested parentheses" at 200; keep the JS stack safe

const AUG: Record<string, BinOpName> = {
  '+=': 'Add', '-=': 'Sub', '*=': 'Mult', '/=': 'Div', '//=': 'FloorDiv', '%=': 'Mod', '**=': 'Pow', '@=': 'MatMult',
  '>>=': 'RShift', '<<=': 'LShift', '&=': 'BitAnd', '|=': 'BitOr', '^=': 'BitXor',
};

export class ExprParser {
  private toks: Tok[];
  private i = 0;
  private depth = 0;

  constructor(
    src: string,
    private base = 0,
  ) {
    this.toks = tokenize(src);
  }

  // ---- token helpers
  private peek(o = 0): Tok {
    return this.toks[Math.min(this.i + o, this.toks.length - 1)]!;
  }
  private next(): Tok {
    return this.toks[this.i++]!;
  }
  private isOp(v: string, o = 0): boolean {
    const t = this.peek(o);
    return t.k === 'op' && t.v === v;
  }
  private isKw(v: string, o = 0): boolean {
    const t = this.peek(o);
    return t.k === 'name' && t.v === v;
  }
  private eatOp(v: string): boolean {
    if (this.isOp(v)) {
      this.i++;
      return true;
    }
    return false;
  }
  private eatKw(v: string): boolean {
    if (this.isKw(v)) {
      this.i++;
      return true;
    }
    return false;
  }
  private expectOp(v: string): void {
    if (!this.eatOp(v)) this.fail();
  }
  private fail(t: Tok = this.peek(), msg = 'invalid syntax'): never {
    throw new PySyntaxError(msg, this.base + t.pos);
  }
  private p(t: Tok): number {
    return this.base + t.pos;
  }
  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new PySyntaxError('too many nested parentheses', this.base + this.peek().pos);
  }

  atEnd(): boolean {
    return this.peek().k === 'eof';
  }
  expectEnd(): void {
    if (!this.atEnd()) this.fail();
  }

  // ---- entry points
  /** A full expression; a top-level comma list is a Tuple, as in ast.parse. */
  parseExpression(): Expr {
    const e = this.testlist();
    this.expectEnd();
    return e;
  }

  /** `{% set ... %}` body: assignment, augmented assignment or expression statement. */
  parseStatement(): Stmt {
    const first = this.testlist();
    if (this.isOp('=')) {
      const targets: Expr[] = [first];
      let value: Expr = first;
      while (this.eatOp('=')) {
        value = this.testlist();
        targets.push(value);
      }
      targets.pop();
      for (const t of targets) this.checkTarget(t);
      this.expectEnd();
      return { t: 'Assign', targets, value };
    }
    const t = this.peek();
    if (t.k === 'op' && AUG[t.v]) {
      this.i++;
      if (first.t !== 'Name' && first.t !== 'Subscript' && first.t !== 'Attribute') this.fail(t);
      const value = this.testlist();
      this.expectEnd();
      return { t: 'AugAssign', target: first, op: AUG[t.v]!, value };
    }
    this.expectEnd();
    return { t: 'ExprStmt', value: first };
  }

  /** `for <targets> in <iter>` (the text after `for`). */
  parseFor(): { target: Expr; iter: Expr } {
    const target = this.targetList();
    if (!this.eatKw('in')) this.fail();
    const iter = this.testlist();
    this.expectEnd();
    return { target, iter };
  }

  /** `except [E [as name]]` (the text after `except`). */
  parseExcept(): { type?: Expr; name?: string } {
    if (this.atEnd()) return {};
    const type = this.test();
    let name: string | undefined;
    if (this.eatKw('as')) name = this.identifier();
    this.expectEnd();
    return name === undefined ? { type } : { type, name };
  }

  // ---- grammar
  private identifier(): string {
    const t = this.peek();
    if (t.k !== 'name' || KEYWORDS.has(t.v)) this.fail(t);
    this.i++;
    return t.v;
  }

  private checkTarget(e: Expr): void {
    if (e.t === 'Name' || e.t === 'Subscript' || e.t === 'Attribute') return;
    if ((e.t === 'Tuple' || e.t === 'List') && e.elts.length > 0) {
      e.elts.forEach((x) => this.checkTarget(x));
      return;
    }
    throw new PySyntaxError('cannot assign to expression', this.base + e.pos);
  }

  private targetList(): Expr {
    const pos = this.p(this.peek());
    const first = this.bitor();
    if (!this.isOp(',')) {
      this.checkTarget(first);
      return first;
    }
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.isKw('in')) break;
      elts.push(this.bitor());
    }
    const t: Expr = { t: 'Tuple', elts, pos };
    this.checkTarget(t);
    return t;
  }

  private testlist(): Expr {
    const pos = this.p(this.peek());
    const first = this.test();
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.atEnd() || this.isOp('=') || this.isOp(')') || AUG[this.peek().v]) break;
      elts.push(this.test());
    }
    return { t: 'Tuple', elts, pos };
  }

  test(): Expr {
    this.enter();
    try {
      if (this.isKw('lambda')) return this.lambda();
      const pos = this.p(this.peek());
      const body = this.orTest();
      if (this.eatKw('if')) {
        const test = this.orTest();
        if (!this.eatKw('else')) this.fail();
        const orelse = this.test();
        return { t: 'IfExp', test, body, orelse, pos };
      }
      return body;
    } finally {
      this.depth--;
    }
  }

  private testNoCond(): Expr {
    return this.orTest();
  }

  private lambda(): Expr {
    const pos = this.p(this.next());
    const args: string[] = [];
    while (!this.isOp(':')) {
      args.push(this.identifier());
      if (!this.eatOp(',')) break;
    }
    this.expectOp(':');
    return { t: 'Lambda', args, body: this.test(), pos };
  }

  private orTest(): Expr {
    const pos = this.p(this.peek());
    const first = this.andTest();
    if (!this.isKw('or')) return first;
    const values = [first];
    while (this.eatKw('or')) values.push(this.andTest());
    return { t: 'BoolOp', op: 'Or', values, pos };
  }

  private andTest(): Expr {
    const pos = this.p(this.peek());
    const first = this.notTest();
    if (!this.isKw('and')) return first;
    const values = [first];
    while (this.eatKw('and')) values.push(this.notTest());
    return { t: 'BoolOp', op: 'And', values, pos };
  }

  private notTest(): Expr {
    if (this.isKw('not')) {
      const pos = this.p(this.next());
      this.enter();
      try {
        return { t: 'UnaryOp', op: 'Not', operand: this.notTest(), pos };
      } finally {
        this.depth--;
      }
    }
    return this.comparison();
  }

  private compOp(): CmpOpName | null {
    const t = this.peek();
    if (t.k === 'op') {
      const m: Record<string, CmpOpName> = { '<': 'Lt', '>': 'Gt', '==': 'Eq', '>=': 'GtE', '<=': 'LtE', '!=': 'NotEq' };
      if (m[t.v]) {
        this.i++;
        return m[t.v]!;
      }
      if (t.v === '<>') this.fail(t);
      return null;
    }
    if (t.k === 'name') {
      if (t.v === 'in') {
        this.i++;
        return 'In';
      }
      if (t.v === 'not' && this.isKw('in', 1)) {
        this.i += 2;
        return 'NotIn';
      }
      if (t.v === 'is') {
        this.i++;
        return this.eatKw('not') ? 'IsNot' : 'Is';
      }
    }
    return null;
  }

  private comparison(): Expr {
    const pos = this.p(this.peek());
    const left = this.bitor();
    const ops: CmpOpName[] = [];
    const comparators: Expr[] = [];
    for (;;) {
      const op = this.compOp();
      if (!op) break;
      ops.push(op);
      comparators.push(this.bitor());
    }
    return ops.length ? { t: 'Compare', left, ops, comparators, pos } : left;
  }

  private binLevel(next: () => Expr, ops: Record<string, BinOpName>): Expr {
    const pos = this.p(this.peek());
    let left = next();
    for (;;) {
      const t = this.peek();
      const op = t.k === 'op' ? ops[t.v] : undefined;
      if (!op) return left;
      this.i++;
      left = { t: 'BinOp', op, left, right: next(), pos };
    }
  }

  private bitor = (): Expr => this.binLevel(this.bitxor, { '|': 'BitOr' });
  private bitxor = (): Expr => this.binLevel(this.bitand, { '^': 'BitXor' });
  private bitand = (): Expr => this.binLevel(this.shift, { '&': 'BitAnd' });
  private shift = (): Expr => this.binLevel(this.arith, { '<<': 'LShift', '>>': 'RShift' });
  private arith = (): Expr => this.binLevel(this.term, { '+': 'Add', '-': 'Sub' });
  private term = (): Expr => this.binLevel(this.factor, { '*': 'Mult', '/': 'Div', '//': 'FloorDiv', '%': 'Mod', '@': 'MatMult' });

  private factor = (): Expr => {
    const t = this.peek();
    if (t.k === 'op' && (t.v === '-' || t.v === '+' || t.v === '~')) {
      this.i++;
      this.enter();
      try {
        const operand = this.factor();
        return { t: 'UnaryOp', op: t.v === '-' ? 'USub' : t.v === '+' ? 'UAdd' : 'Invert', operand, pos: this.p(t) };
      } finally {
        this.depth--;
      }
    }
    return this.power();
  };

  private power(): Expr {
    const pos = this.p(this.peek());
    const base = this.primary();
    if (this.eatOp('**')) return { t: 'BinOp', op: 'Pow', left: base, right: this.factor(), pos };
    return base;
  }

  private primary(): Expr {
    let e = this.atom();
    for (;;) {
      const t = this.peek();
      if (t.k !== 'op') return e;
      if (t.v === '(') {
        this.i++;
        e = this.call(e, this.p(t));
      } else if (t.v === '[') {
        this.i++;
        this.enter();
        try {
          const slice = this.subscriptList();
          this.expectOp(']');
          e = { t: 'Subscript', value: e, slice, pos: this.p(t) };
        } finally {
          this.depth--;
        }
      } else if (t.v === '.') {
        this.i++;
        e = { t: 'Attribute', value: e, attr: this.identifier(), pos: this.p(t) };
      } else return e;
    }
  }

  private call(func: Expr, pos: number): Expr {
    this.enter();
    try {
      const args: Expr[] = [];
      const keywords: Keyword[] = [];
      while (!this.isOp(')')) {
        const t = this.peek();
        if (t.k === 'op' && (t.v === '*' || t.v === '**')) this.fail(t); // star-args are outside the supported subset
        if (t.k === 'name' && !KEYWORDS.has(t.v) && this.isOp('=', 1)) {
          this.i += 2;
          if (keywords.some((k) => k.arg === t.v)) this.fail(t, 'keyword argument repeated');
          keywords.push({ arg: t.v, value: this.test() });
        } else {
          if (keywords.length) this.fail(t, 'positional argument follows keyword argument');
          const a = this.test();
          if (this.isKw('for')) {
            const generators = this.compFor();
            args.push({ t: 'GeneratorExp', elt: a, generators, pos: a.pos });
            if (!this.isOp(')') || args.length > 1 || keywords.length) this.fail();
            break;
          }
          args.push(a);
        }
        if (!this.eatOp(',')) break;
      }
      this.expectOp(')');
      return { t: 'Call', func, args, keywords, pos };
    } finally {
      this.depth--;
    }
  }

  private subscriptList(): Expr {
    const pos = this.p(this.peek());
    const first = this.subscript();
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.isOp(']')) break;
      elts.push(this.subscript());
    }
    return { t: 'Tuple', elts, pos };
  }

  private subscript(): Expr {
    const pos = this.p(this.peek());
    let lower: Expr | undefined;
    if (!this.isOp(':')) {
      lower = this.test();
      if (!this.isOp(':')) return lower;
    }
    this.expectOp(':');
    const s: { t: 'Slice'; lower?: Expr; upper?: Expr; step?: Expr; pos: number } = { t: 'Slice', pos };
    if (lower) s.lower = lower;
    if (!this.isOp(']') && !this.isOp(',') && !this.isOp(':')) s.upper = this.test();
    if (this.eatOp(':')) {
      if (!this.isOp(']') && !this.isOp(',')) s.step = this.test();
    }
    return s;
  }

  private compFor(): Comprehension[] {
    const gens: Comprehension[] = [];
    while (this.eatKw('for')) {
      const target = this.targetList();
      if (!this.eatKw('in')) this.fail();
      const iter = this.testNoCond();
      const ifs: Expr[] = [];
      while (this.eatKw('if')) ifs.push(this.testNoCond());
      gens.push({ target, iter, ifs });
    }
    return gens;
  }

  private atom(): Expr {
    const t = this.peek();
    const pos = this.p(t);
    switch (t.k) {
      case 'name': {
        if (t.v === 'None' || t.v === 'True' || t.v === 'False') {
          this.i++;
          return { t: 'Const', v: t.v === 'None' ? null : t.v === 'True', pos };
        }
        if (KEYWORDS.has(t.v)) this.fail(t);
        this.i++;
        return { t: 'Name', id: t.v, pos };
      }
      case 'num':
        this.i++;
        return numberConst(t.v, pos);
      case 'str':
        return this.strings();
      case 'op':
        break;
      default:
        this.fail(t, t.k === 'eof' ? 'unexpected EOF while parsing' : 'invalid syntax');
    }
    if (t.v === '...') {
      this.i++;
      return { t: 'Const', v: null, odd: { odd: 'ellipsis', text: 'Ellipsis' }, pos };
    }
    if (t.v === '(' || t.v === '[' || t.v === '{') {
      this.i++;
      this.enter();
      try {
        if (t.v === '(') return this.parenAtom(pos);
        if (t.v === '[') return this.listAtom(pos);
        return this.braceAtom(pos);
      } finally {
        this.depth--;
      }
    }
    this.fail(t);
  }

  private parenAtom(pos: number): Expr {
    if (this.eatOp(')')) return { t: 'Tuple', elts: [], pos };
    const first = this.test();
    if (this.isKw('for')) {
      const generators = this.compFor();
      this.expectOp(')');
      return { t: 'GeneratorExp', elt: first, generators, pos };
    }
    if (this.eatOp(')')) return first;
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.isOp(')')) break;
      elts.push(this.test());
    }
    this.expectOp(')');
    return { t: 'Tuple', elts, pos };
  }

  private listAtom(pos: number): Expr {
    if (this.eatOp(']')) return { t: 'List', elts: [], pos };
    const first = this.test();
    if (this.isKw('for')) {
      const generators = this.compFor();
      this.expectOp(']');
      return { t: 'ListComp', elt: first, generators, pos };
    }
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.isOp(']')) break;
      elts.push(this.test());
    }
    this.expectOp(']');
    return { t: 'List', elts, pos };
  }

  private braceAtom(pos: number): Expr {
    if (this.eatOp('}')) return { t: 'Dict', keys: [], values: [], pos };
    const first = this.test();
    if (this.eatOp(':')) {
      const v = this.test();
      if (this.isKw('for')) {
        const generators = this.compFor();
        this.expectOp('}');
        return { t: 'DictComp', key: first, value: v, generators, pos };
      }
      const keys = [first];
      const values = [v];
      while (this.eatOp(',')) {
        if (this.isOp('}')) break;
        keys.push(this.test());
        this.expectOp(':');
        values.push(this.test());
      }
      this.expectOp('}');
      return { t: 'Dict', keys, values, pos };
    }
    if (this.isKw('for')) {
      const generators = this.compFor();
      this.expectOp('}');
      return { t: 'SetComp', elt: first, generators, pos };
    }
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.isOp('}')) break;
      elts.push(this.test());
    }
    this.expectOp('}');
    return { t: 'Set', elts, pos };
  }

  /** Adjacent string literals concatenate; any f-string makes the result a JoinedStr. */
  private strings(): Expr {
    const pos = this.p(this.peek());
    const parts: Expr[] = [];
    let sawBytes: boolean | null = null;
    let sawF = false;
    while (this.peek().k === 'str') {
      const t = this.next();
      const prefix = t.prefix!;
      const isBytes = prefix.includes('b');
      if (sawBytes !== null && sawBytes !== isBytes) this.fail(t, 'cannot mix bytes and nonbytes literals');
      sawBytes = isBytes;
      const raw = prefix.includes('r');
      if (prefix.includes('f')) {
        sawF = true;
        parts.push(...this.fstring(t.body!, this.p(t) + t.v.indexOf(t.body!.slice(0, 1) || '\u0000'), raw));
      } else {
        if (isBytes && /[^\x00-\x7f]/.test(t.body!)) this.fail(t, 'bytes can only contain ASCII literal characters');
        const s = raw ? t.body! : decodeEscapes(t.body!, this.p(t), isBytes);
        parts.push({ t: 'Const', v: s, pos: this.p(t) });
      }
    }
    if (sawBytes) {
      const text = parts.map((p) => (p.t === 'Const' ? (p.v as string) : '')).join('');
      return { t: 'Const', v: text, odd: { odd: 'bytes', text: 'b' + reprBytes(text) }, pos };
    }
    if (!sawF) return { t: 'Const', v: parts.map((p) => (p as { v: string }).v).join(''), pos };
    // merge adjacent constants, as CPython does
    const values: Expr[] = [];
    for (const p of parts) {
      const last = values[values.length - 1];
      if (p.t === 'Const' && last && last.t === 'Const') values[values.length - 1] = { t: 'Const', v: (last.v as string) + (p.v as string), pos: last.pos };
      else if (!(p.t === 'Const' && p.v === '')) values.push(p);
    }
    return { t: 'JoinedStr', values, pos };
  }

  private fstring(body: string, base: number, raw: boolean): Expr[] {
    const out: Expr[] = [];
    let lit = '';
    const flush = () => {
      if (lit) out.push({ t: 'Const', v: raw ? lit : decodeEscapes(lit, base, false), pos: base });
      lit = '';
    };
    for (let i = 0; i < body.length; i++) {
      const c = body[i]!;
      if (c === '{' && body[i + 1] === '{') {
        lit += '{';
        i++;
        continue;
      }
      if (c === '}') {
        if (body[i + 1] === '}') {
          lit += '}';
          i++;
          continue;
        }
        throw new PySyntaxError("f-string: single '}' is not allowed", base + i);
      }
      if (c !== '{') {
        lit += c;
        continue;
      }
      flush();
      // find the end of the replacement field, skipping nested brackets and strings
      let j = i + 1;
      let depth = 0;
      let exprEnd = -1;
      let conv = -1;
      let specStart = -1;
      for (; j < body.length; j++) {
        const d = body[j]!;
        if (d === "'" || d === '"') {
          const k = body.indexOf(d, j + 1);
          if (k < 0) throw new PySyntaxError('f-string: unterminated string', base + j);
          j = k;
        } else if (d === '(' || d === '[' || d === '{') depth++;
        else if ((d === ')' || d === ']' || d === '}') && depth > 0) depth--;
        else if (depth === 0 && d === '!' && body[j + 1] !== '=') {
          if (exprEnd < 0) exprEnd = j;
          const cc = body[j + 1];
          if (cc !== 's' && cc !== 'r' && cc !== 'a') throw new PySyntaxError("f-string: invalid conversion character: expected 's', 'r', or 'a'", base + j);
          conv = cc.charCodeAt(0);
          j++;
        } else if (depth === 0 && d === ':') {
          if (exprEnd < 0) exprEnd = j;
          specStart = j + 1;
          // the spec runs to the matching '}' and may hold nested fields
          let sd = 0;
          for (j = specStart; j < body.length; j++) {
            if (body[j] === '{') sd++;
            else if (body[j] === '}') {
              if (sd === 0) break;
              sd--;
            }
          }
          break;
        } else if (depth === 0 && d === '}') break;
        else if (d === '\\') throw new PySyntaxError('f-string expression part cannot include a backslash', base + j);
      }
      if (j >= body.length) throw new PySyntaxError("f-string: expecting '}'", base + i);
      if (exprEnd < 0) exprEnd = j;
      const exprSrc = body.slice(i + 1, exprEnd);
      if (!exprSrc.trim()) throw new PySyntaxError('f-string: empty expression not allowed', base + i);
      const sub = new ExprParser(exprSrc, base + i + 1);
      sub.depth = this.depth + 1;
      const value = sub.testlist();
      sub.expectEnd();
      const fv: Extract<Expr, { t: 'FormattedValue' }> = { t: 'FormattedValue', value, conversion: conv, pos: base + i };
      if (specStart >= 0) {
        const specParts = this.fstring(body.slice(specStart, j), base + specStart, raw);
        fv.spec = { t: 'JoinedStr', values: specParts, pos: base + specStart };
      }
      out.push(fv);
      i = j;
    }
    flush();
    return out;
  }
}

function reprBytes(s: string): string {
  let out = "'";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === "'" || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c >= 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + "'";
}

function numberConst(text: string, pos: number): Expr {
  const s = text.replace(/_/g, '');
  if (/[jJ]$/.test(s)) return { t: 'Const', v: null, odd: { odd: 'complex', text: s.slice(0, -1) + 'j' }, pos };
  if (/^0[xX]/.test(s)) return { t: 'Const', v: BigInt(s), pos };
  if (/^0[oO]/.test(s)) return { t: 'Const', v: BigInt('0o' + s.slice(2)), pos };
  if (/^0[bB]/.test(s)) return { t: 'Const', v: BigInt('0b' + s.slice(2)), pos };
  if (/^[0-9]+$/.test(s)) {
    if (s.length > 1 && s[0] === '0' && /[1-9]/.test(s)) throw new PySyntaxError('leading zeros in decimal integer literals are not permitted', pos);
    return { t: 'Const', v: BigInt(s), pos };
  }
  return { t: 'Const', v: parseFloat(s), pos };
}

export function parseExpression(src: string): Expr {
  return new ExprParser(src).parseExpression();
}

export function parseStatement(src: string): Stmt {
  return new ExprParser(src).parseStatement();
}

export function parseFor(src: string): { target: Expr; iter: Expr } {
  return new ExprParser(src).parseFor();
}

export function parseExcept(src: string): { type?: Expr; name?: string } {
  return new ExprParser(src).parseExcept();
}

/** A condition of if/elif/while: one expression (a comma list is a Tuple, always truthy). */
export function parseCondition(src: string): Expr {
  return new ExprParser(src).parseExpression();
}
