// Python-like runtime values. Representation:
//   None -> null, bool -> boolean, int -> bigint (exact), float -> number, str -> string,
//   list -> PyValue[], tuple -> PyTuple, dict -> Map, set -> Set,
//   plus the typed wrappers of sql_template.py (Expression, Symbol, Integer, Float, Comment, Placeholder).
import { PyError, typeError } from './errors.js';

export type PyValue =
  | null
  | boolean
  | bigint
  | number
  | string
  | PyValue[]
  | PyTuple
  | PyDict
  | PySet
  | Placeholder
  | Expression
  | Symbol
  | TypedInt
  | TypedFloat
  | Comment
  | PyFunc
  | PyException;

export type PyDict = Map<DictKey, PyValue>;
export type PySet = Set<DictKey>;
export type DictKey = string | bigint | number | boolean | null;

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** An SQL fragment inserted raw (Array(), sql_and(), columns(), max_threads()...). A str subclass in Python. */
export class Expression {
  constructor(readonly s: string) {}
}

/** An identifier inserted raw (column(), symbol(), table(), tb_secret()). Not a str in Python. */
export class Symbol {
  constructor(readonly s: string) {}
}

/** Int8..UInt256 result: behaves as an int, renders `toInt32('5')`. */
export class TypedInt {
  constructor(readonly v: bigint, readonly type: string) {}
}

/** Float32/Float64 result: behaves as a float, renders `toFloat32('1.0')`. */
export class TypedFloat {
  constructor(readonly v: number, readonly type: string) {}
}

/** What error()/custom_error() return in test mode. */
export class Comment {
  constructor(readonly text: string) {}
}

/** The test-mode stand-in for a variable: truthy, equals nothing, iterates as 3 placeholders. */
export class Placeholder {
  readonly name: string;
  readonly line: number | string;
  constructor(name?: string, line?: number) {
    this.name = name || '__no_value__';
    this.line = line || 'unknown';
  }
}

/** An exception object bound by `{% except E as e %}`. */
export class PyException {
  constructor(readonly pyType: string, readonly message: string) {}
}

export interface CallCtx {
  testMode: boolean;
}

export type NativeFn = (args: PyValue[], kwargs: Map<string, PyValue> | null, ctx: any) => PyValue;

export class PyFunc {
  constructor(
    readonly name: string,
    readonly fn: NativeFn,
  ) {}
}

// ---------------------------------------------------------------------------------------------
// Python float repr

export function floatRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  // toExponential() without an argument gives the shortest round-trip digits, as repr() does.
  const e = n.toExponential();
  const k = e.indexOf('e');
  let mant = e.slice(0, k);
  const exp = parseInt(e.slice(k + 1), 10);
  const neg = mant[0] === '-';
  if (neg) mant = mant.slice(1);
  const digits = mant.replace('.', '');
  let body: string;
  if (exp < -4 || exp >= 16) {
    body = digits[0] + (digits.length > 1 ? '.' + digits.slice(1) : '') + 'e' + (exp < 0 ? '-' : '+') + String(Math.abs(exp)).padStart(2, '0');
  } else if (exp >= 0) {
    if (digits.length <= exp + 1) body = digits + '0'.repeat(exp + 1 - digits.length) + '.0';
    else body = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
  } else {
    body = '0.' + '0'.repeat(-exp - 1) + digits;
  }
  return neg ? '-' + body : body;
}

// ---------------------------------------------------------------------------------------------
// type names, str() and repr()

export function typeName(v: PyValue): string {
  if (v === null) return 'NoneType';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float';
    case 'string':
      return 'str';
  }
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (v instanceof Placeholder) return 'Placeholder';
  if (v instanceof Expression) return 'Expression';
  if (v instanceof Symbol) return 'Symbol';
  if (v instanceof TypedInt) return 'Integer';
  if (v instanceof TypedFloat) return 'Float';
  if (v instanceof Comment) return 'Comment';
  if (v instanceof PyFunc) return 'function';
  if (v instanceof PyException) return v.pyType;
  return 'object';
}

export function strRepr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const code = c.charCodeAt(0);
    if (c === '\\') out += '\\\\';
    else if (c === q) out += '\\' + q;
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (code < 0x20 || (code >= 0x7f && code <= 0xa0)) out += '\\x' + code.toString(16).padStart(2, '0');
    else if (code >= 0xd800 && code <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        out += c + s[i + 1];
        i++;
      } else out += '\\u' + code.toString(16);
    } else out += c;
  }
  return out + q;
}

function keyRepr(k: DictKey): string {
  return repr(k as PyValue);
}

export function repr(v: PyValue): string {
  if (v === null || v === undefined) return 'None';
  switch (typeof v) {
    case 'boolean':
      return v ? 'True' : 'False';
    case 'bigint':
      return v.toString();
    case 'number':
      return floatRepr(v);
    case 'string':
      return strRepr(v);
  }
  if (Array.isArray(v)) return '[' + v.map(repr).join(', ') + ']';
  if (v instanceof PyTuple) return v.items.length === 1 ? '(' + repr(v.items[0]!) + ',)' : '(' + v.items.map(repr).join(', ') + ')';
  if (v instanceof Map) return '{' + [...v].map(([k, x]) => keyRepr(k) + ': ' + repr(x)).join(', ') + '}';
  if (v instanceof Set) return v.size === 0 ? 'set()' : '{' + [...v].map(keyRepr).join(', ') + '}';
  if (v instanceof Expression) return strRepr(v.s);
  if (v instanceof TypedInt) return v.v.toString();
  if (v instanceof TypedFloat) return floatRepr(v.v);
  return str(v);
}

/** Python str(). */
export function str(v: PyValue): string {
  if (typeof v === 'string') return v;
  if (v instanceof Expression || v instanceof Symbol) return v.s;
  if (v instanceof TypedInt) return `to${v.type}('${v.v.toString()}')`;
  if (v instanceof TypedFloat) return `to${v.type}('${floatRepr(v.v)}')`;
  if (v instanceof Placeholder) return '__no_value__';
  if (v instanceof Comment) return v.text;
  if (v instanceof PyFunc) return `<function ${v.name}>`;
  if (v instanceof PyException) return v.message;
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof PyTuple) && !(v instanceof Map) && !(v instanceof Set)) return '<object>';
  return repr(v);
}

// ---------------------------------------------------------------------------------------------
// coercions

/** The string value of a str or str subclass, else undefined. */
export function asStr(v: PyValue): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Expression) return v.s;
  return undefined;
}

/** int value for int/bool/Integer, else undefined. */
export function asInt(v: PyValue): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (v instanceof TypedInt) return v.v;
  return undefined;
}

/** float value for any real number, else undefined. */
export function asNum(v: PyValue): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof TypedFloat) return v.v;
  const i = asInt(v);
  return i === undefined ? undefined : Number(i);
}

export function isFloat(v: PyValue): boolean {
  return typeof v === 'number' || v instanceof TypedFloat;
}

export function truthy(v: PyValue): boolean {
  if (v === null) return false;
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'bigint':
      return v !== 0n;
    case 'number':
      return v !== 0; // NaN is truthy in Python too
    case 'string':
      return v.length > 0;
  }
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof PyTuple) return v.items.length > 0;
  if (v instanceof Map || v instanceof Set) return v.size > 0;
  if (v instanceof Expression) return v.s.length > 0;
  if (v instanceof TypedInt) return v.v !== 0n;
  if (v instanceof TypedFloat) return v.v !== 0;
  return true;
}

export function toDictKey(v: PyValue): DictKey {
  if (v === null || typeof v === 'string' || typeof v === 'bigint' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? BigInt(v) : v;
  if (v instanceof Expression) return v.s;
  if (v instanceof TypedInt) return v.v;
  if (v instanceof TypedFloat) return v.v;
  if (v instanceof PyTuple) return '\u0000tuple:' + repr(v); // tuples are hashable; keep a stable key
  throw typeError(`unhashable type: '${typeName(v)}'`);
}

export function pyEq(a: PyValue, b: PyValue): boolean {
  if (a instanceof Placeholder || b instanceof Placeholder) return false;
  if (a === b) return true;
  const as = asStr(a);
  if (as !== undefined) return as === asStr(b);
  const an = numLike(a);
  const bn = numLike(b);
  if (an !== undefined || bn !== undefined) {
    if (an === undefined || bn === undefined) return false;
    if (typeof an === 'bigint' && typeof bn === 'bigint') return an === bn;
    return Number(an) === Number(bn);
  }
  if (a === null || b === null) return false;
  const al = seqItems(a);
  const bl = seqItems(b);
  if (al && bl) {
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    if (al.length !== bl.length) return false;
    for (let i = 0; i < al.length; i++) if (!pyEq(al[i]!, bl[i]!)) return false;
    return true;
  }
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) {
      if (!b.has(k) || !pyEq(v, b.get(k)!)) return false;
    }
    return true;
  }
  if (a instanceof Set && b instanceof Set) return a.size === b.size && [...a].every((x) => b.has(x));
  if (a instanceof Symbol && b instanceof Symbol) return false;
  return false;
}

function numLike(v: PyValue): bigint | number | undefined {
  if (typeof v === 'bigint' || typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (v instanceof TypedInt) return v.v;
  if (v instanceof TypedFloat) return v.v;
  return undefined;
}

function seqItems(v: PyValue): PyValue[] | undefined {
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple) return v.items;
  return undefined;
}

/** Python ordering: returns <0, 0, >0 or throws TypeError like CPython. */
export function pyCompare(a: PyValue, b: PyValue, op: string): number {
  const an = numLike(a);
  const bn = numLike(b);
  if (an !== undefined && bn !== undefined) {
    if (typeof an === 'bigint' && typeof bn === 'bigint') return an < bn ? -1 : an > bn ? 1 : 0;
    const x = Number(an);
    const y = Number(bn);
    if (Number.isNaN(x) || Number.isNaN(y)) return NaN;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const as = asStr(a);
  const bs = asStr(b);
  if (as !== undefined && bs !== undefined) return cmpCodePoints(as, bs);
  const al = seqItems(a);
  const bl = seqItems(b);
  if (al && bl && Array.isArray(a) === Array.isArray(b)) {
    for (let i = 0; i < Math.min(al.length, bl.length); i++) {
      if (!pyEq(al[i]!, bl[i]!)) return pyCompare(al[i]!, bl[i]!, op);
    }
    return al.length - bl.length;
  }
  let msg = `'${op}' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`;
  if (a instanceof Placeholder || b instanceof Placeholder) {
    msg += '. If you are using a dynamic parameter, you need to wrap it around a valid Data Type (e.g. Int8(placeholder))';
  }
  throw new PyError('TypeError', msg);
}

function cmpCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  // Python compares code points; JS < compares UTF-16 units. They only differ above the BMP.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** Convert a JSON-ish JS value (from request vars) into a PyValue. */
export function fromJs(v: unknown): PyValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isInteger(v) && Number.isSafeInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(fromJs);
  if (typeof v === 'object') {
    const m: PyDict = new Map();
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) m.set(k, fromJs(x));
    return m;
  }
  return String(v);
}

/** Convert a PyValue to plain JSON-able JS (for custom_error payloads). */
export function toJs(v: PyValue): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map(toJs);
  if (v instanceof PyTuple) return v.items.map(toJs);
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[typeof k === 'string' ? k : str(k as PyValue)] = toJs(x);
    return o;
  }
  return str(v);
}
