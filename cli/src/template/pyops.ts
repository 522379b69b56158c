// Python operator semantics over PyValue: arithmetic, comparisons, membership, indexing,
// iteration and the string/dict/list methods the templates use.
import { LimitError, PyError, typeError } from './errors.js';
import {
  Placeholder, PyTuple, TypedFloat, asInt, asNum, asStr, isFloat, pyCompare, pyEq, repr, toDictKey,
  typeName, truthy as truthyOf, type PyValue,
} from './values.js';
import type { BinOpName, CmpOpName } from './expr/ast.js';

export const MAX_SEQ = 10_000_000; // cap on built strings/lists (Python would just eat memory)

function seqLimit(n: number): void {
  if (n > MAX_SEQ) throw new LimitError('Template Syntax Error: sequence too large');
}

function unsupported(op: string, a: PyValue, b: PyValue): PyError {
  return typeError(`unsupported operand type(s) for ${op}: '${typeName(a)}' and '${typeName(b)}'`);
}

const OPSYM: Record<BinOpName, string> = {
  Add: '+', Sub: '-', Mult: '*', Div: '/', FloorDiv: '//', Mod: '%', Pow: '** or pow()', MatMult: '@', LShift: '<<', RShift: '>>',
  BitOr: '|', BitXor: '^', BitAnd: '&',
};

function floorDivBig(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

function repeat<T>(items: T[], n: bigint): T[] {
  if (n <= 0n) return [];
  seqLimit(items.length * Number(n));
  const out: T[] = [];
  for (let i = 0n; i < n; i++) out.push(...items);
  return out;
}

export function binop(op: BinOpName, a: PyValue, b: PyValue): PyValue {
  // Placeholder.__add__ returns a Placeholder whatever the right operand
  if (op === 'Add' && a instanceof Placeholder) return new Placeholder();
  const ai = asInt(a);
  const bi = asInt(b);
  if (ai !== undefined && bi !== undefined) return intOp(op, ai, bi, a, b);
  const an = asNum(a);
  const bn = asNum(b);
  if (an !== undefined && bn !== undefined && (isFloat(a) || isFloat(b))) return floatOp(op, an, bn, a, b);
  const as = asStr(a);
  if (as !== undefined) {
    const bs = asStr(b);
    if (op === 'Add') {
      if (bs === undefined) throw typeError(`can only concatenate str (not "${typeName(b)}") to str`);
      seqLimit(as.length + bs.length);
      return as + bs;
    }
    if (op === 'Mult' && bi !== undefined) {
      seqLimit(as.length * Number(bi < 0n ? 0n : bi));
      return bi <= 0n ? '' : as.repeat(Number(bi));
    }
    if (op === 'Mod') throw typeError('not all arguments converted during string formatting');
    throw unsupported(OPSYM[op], a, b);
  }
  if (op === 'Mult' && ai !== undefined && asStr(b) !== undefined) return binop('Mult', b, a);
  if (Array.isArray(a)) {
    if (op === 'Add') {
      if (!Array.isArray(b)) throw typeError(`can only concatenate list (not "${typeName(b)}") to list`);
      seqLimit(a.length + b.length);
      return a.concat(b);
    }
    if (op === 'Mult' && bi !== undefined) return repeat(a, bi);
  }
  if (Array.isArray(b) && op === 'Mult' && ai !== undefined) return repeat(b, ai);
  if (a instanceof PyTuple) {
    if (op === 'Add' && b instanceof PyTuple) return new PyTuple(a.items.concat(b.items));
    if (op === 'Mult' && bi !== undefined) return new PyTuple(repeat(a.items, bi));
  }
  throw unsupported(OPSYM[op], a, b);
}

function intOp(op: BinOpName, a: bigint, b: bigint, av: PyValue, bv: PyValue): PyValue {
  switch (op) {
    case 'Add': return a + b;
    case 'Sub': return a - b;
    case 'Mult': return a * b;
    case 'Div':
      if (b === 0n) throw new PyError('ZeroDivisionError', 'division by zero');
      return Number(a) / Number(b);
    case 'FloorDiv':
      if (b === 0n) throw new PyError('ZeroDivisionError', 'integer division or modulo by zero');
      return floorDivBig(a, b);
    case 'Mod':
      if (b === 0n) throw new PyError('ZeroDivisionError', 'integer division or modulo by zero');
      return a - floorDivBig(a, b) * b;
    case 'Pow': {
      if (b < 0n) {
        if (a === 0n) throw new PyError('ZeroDivisionError', '0.0 cannot be raised to a negative power');
        return Math.pow(Number(a), Number(b));
      }
      const bits = a === 0n || a === 1n || a === -1n ? 0 : a.toString(2).length * Number(b);
      if (bits > 100_000) throw new LimitError('Template Syntax Error: integer too large');
      return a ** b;
    }
    case 'LShift':
      if (b < 0n) throw new PyError('ValueError', 'negative shift count');
      if (b > 100_000n) throw new LimitError('Template Syntax Error: integer too large');
      return a << b;
    case 'RShift':
      if (b < 0n) throw new PyError('ValueError', 'negative shift count');
      return a >> b;
    case 'BitAnd': return a & b;
    case 'BitOr': return a | b;
    case 'BitXor': return a ^ b;
    default: throw unsupported(OPSYM[op], av, bv);
  }
}

function floatOp(op: BinOpName, a: number, b: number, av: PyValue, bv: PyValue): PyValue {
  switch (op) {
    case 'Add': return a + b;
    case 'Sub': return a - b;
    case 'Mult': return a * b;
    case 'Div':
      if (b === 0) throw new PyError('ZeroDivisionError', 'float division by zero');
      return a / b;
    case 'FloorDiv':
      if (b === 0) throw new PyError('ZeroDivisionError', 'float floor division by zero');
      return Math.floor(a / b);
    case 'Mod': {
      if (b === 0) throw new PyError('ZeroDivisionError', 'float modulo');
      const r = a % b;
      return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
    }
    case 'Pow': return Math.pow(a, b);
    default: throw unsupported(OPSYM[op], av, bv);
  }
}

export function unaryop(op: string, v: PyValue): PyValue {
  if (op === 'Not') return !truthyOf(v);
  const i = asInt(v);
  if (i !== undefined) return op === 'USub' ? -i : op === 'UAdd' ? i : ~i;
  if (typeof v === 'number' || v instanceof TypedFloat) {
    const n = asNum(v)!;
    if (op === 'USub') return -n;
    if (op === 'UAdd') return n;
  }
  const sym = op === 'USub' ? '-' : op === 'UAdd' ? '+' : '~';
  throw typeError(`bad operand type for unary ${sym}: '${typeName(v)}'`);
}


export function contains(container: PyValue, item: PyValue): boolean {
  const cs = asStr(container);
  if (cs !== undefined) {
    const is = asStr(item);
    if (is === undefined) throw typeError(`'in <string>' requires string as left operand, not ${typeName(item)}`);
    return cs.includes(is);
  }
  if (container instanceof Map) return container.has(toDictKey(item));
  if (container instanceof Set) return container.has(toDictKey(item));
  for (const x of iterate(container)) if (pyEq(x, item)) return true;
  return false;
}

export function compare(op: CmpOpName, a: PyValue, b: PyValue): boolean {
  switch (op) {
    case 'Eq': return pyEq(a, b);
    case 'NotEq': return !pyEq(a, b);
    case 'Lt': return pyCompare(a, b, '<') < 0;
    case 'LtE': return pyCompare(a, b, '<=') <= 0;
    case 'Gt': return pyCompare(a, b, '>') > 0;
    case 'GtE': return pyCompare(a, b, '>=') >= 0;
    case 'In': return contains(b, a);
    case 'NotIn': return !contains(b, a);
    case 'Is': return a === b || (typeof a === 'bigint' && a === b);
    case 'IsNot': return !(a === b);
  }
}

/** Python iteration. Placeholders iterate as 3 placeholders (their __getitem__ stops at 3). */
export function iterate(v: PyValue): PyValue[] {
  if (Array.isArray(v)) return v.slice();
  if (v instanceof PyTuple) return v.items;
  const s = asStr(v);
  if (s !== undefined) return Array.from(s);
  if (v instanceof Map) return [...v.keys()] as PyValue[];
  if (v instanceof Set) return [...v] as PyValue[];
  if (v instanceof Placeholder) return [new Placeholder(), new Placeholder(), new Placeholder()];
  throw typeError(`'${typeName(v)}' object is not iterable`);
}

export function pyLen(v: PyValue): bigint {
  if (Array.isArray(v)) return BigInt(v.length);
  if (v instanceof PyTuple) return BigInt(v.items.length);
  const s = asStr(v);
  if (s !== undefined) return BigInt(codePointLength(s));
  if (v instanceof Map || v instanceof Set) return BigInt(v.size);
  throw typeError(`object of type '${typeName(v)}' has no len()`);
}

function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

export interface SliceVal {
  lower: PyValue;
  upper: PyValue;
  step: PyValue;
}

function sliceIndices(s: SliceVal, len: number): number[] {
  const idx = (v: PyValue, what: string): number | null => {
    if (v === null) return null;
    const i = asInt(v);
    if (i === undefined) throw typeError(`slice indices must be integers or None or have an __index__ method`);
    void what;
    return Number(i);
  };
  const step = idx(s.step, 'step') ?? 1;
  if (step === 0) throw new PyError('ValueError', 'slice step cannot be zero');
  let lo = idx(s.lower, 'lower');
  let hi = idx(s.upper, 'upper');
  const out: number[] = [];
  if (step > 0) {
    lo = lo === null ? 0 : lo < 0 ? Math.max(0, lo + len) : Math.min(lo, len);
    hi = hi === null ? len : hi < 0 ? Math.max(0, hi + len) : Math.min(hi, len);
    for (let i = lo; i < hi; i += step) out.push(i);
  } else {
    lo = lo === null ? len - 1 : lo < 0 ? Math.max(-1, lo + len) : Math.min(lo, len - 1);
    hi = hi === null ? -1 : hi < 0 ? Math.max(-1, hi + len) : Math.min(hi, len - 1);
    for (let i = lo; i > hi; i += step) out.push(i);
  }
  return out;
}

export function getitem(v: PyValue, key: PyValue | SliceVal, isSlice: boolean): PyValue {
  if (v instanceof Placeholder) {
    const i = isSlice ? undefined : asInt(key as PyValue);
    if (i === undefined) throw typeError(`'>' not supported between instances of '${isSlice ? 'slice' : typeName(key as PyValue)}' and 'int'`);
    if (i > 2n) throw new PyError('IndexError', '');
    return new Placeholder();
  }
  if (v instanceof Map) {
    if (isSlice) throw typeError(`unhashable type: 'slice'`);
    const k = toDictKey(key as PyValue);
    if (!v.has(k)) throw new PyError('KeyError', repr(key as PyValue));
    return v.get(k)!;
  }
  const s = asStr(v);
  let seq: PyValue[] | string[] | undefined;
  let kind: string;
  if (s !== undefined) {
    seq = /[\ud800-\udfff]/.test(s) ? Array.from(s) : s.split('');
    kind = 'string';
  } else if (Array.isArray(v)) {
    seq = v;
    kind = 'list';
  } else if (v instanceof PyTuple) {
    seq = v.items;
    kind = 'tuple';
  } else throw typeError(`'${typeName(v)}' object is not subscriptable`);
  if (isSlice) {
    const picked = sliceIndices(key as SliceVal, seq.length).map((i) => seq![i]!);
    if (kind === 'string') return (picked as string[]).join('');
    return kind === 'list' ? (picked as PyValue[]) : new PyTuple(picked as PyValue[]);
  }
  const i = asInt(key as PyValue);
  if (i === undefined) {
    throw typeError(kind === 'string' ? 'string indices must be integers' : `${kind} indices must be integers or slices, not ${typeName(key as PyValue)}`);
  }
  let n = Number(i);
  if (n < 0) n += seq.length;
  if (n < 0 || n >= seq.length) throw new PyError('IndexError', `${kind} index out of range`);
  return seq[n]!;
}

export function setitem(target: PyValue, key: PyValue, value: PyValue): void {
  if (target instanceof Map) {
    target.set(toDictKey(key), value);
    return;
  }
  if (Array.isArray(target)) {
    const i = asInt(key);
    if (i === undefined) throw typeError(`list indices must be integers or slices, not ${typeName(key)}`);
    let n = Number(i);
    if (n < 0) n += target.length;
    if (n < 0 || n >= target.length) throw new PyError('IndexError', 'list assignment index out of range');
    target[n] = value;
    return;
  }
  throw typeError(`'${typeName(target)}' object does not support item assignment`);
}

// ---------------------------------------------------------------------------------------------
// methods

function attrError(v: PyValue, name: string): PyError {
  return new PyError('AttributeError', `'${typeName(v)}' object has no attribute '${name}'`);
}

function argStr(v: PyValue, fn: string): string {
  const s = asStr(v);
  if (s === undefined) throw typeError(`${fn} arg must be None or str`);
  return s;
}

function pySplit(s: string, sep: PyValue, maxsplit: number): string[] {
  if (sep === null) {
    const out: string[] = [];
    let rest = s.replace(/^\s+/, '');
    while (rest.length) {
      if (maxsplit >= 0 && out.length === maxsplit) {
        out.push(rest);
        return out;
      }
      const m = /\s+/.exec(rest);
      if (!m) {
        out.push(rest);
        break;
      }
      out.push(rest.slice(0, m.index));
      rest = rest.slice(m.index + m[0].length);
    }
    return out;
  }
  const d = argStr(sep, 'split()');
  if (d === '') throw new PyError('ValueError', 'empty separator');
  if (maxsplit < 0) return s.split(d);
  const out: string[] = [];
  let rest = s;
  while (out.length < maxsplit) {
    const k = rest.indexOf(d);
    if (k < 0) break;
    out.push(rest.slice(0, k));
    rest = rest.slice(k + d.length);
  }
  out.push(rest);
  return out;
}

function stripChars(s: string, chars: PyValue, left: boolean, right: boolean): string {
  if (chars === null) {
    if (left && right) return s.trim();
    return left ? s.trimStart() : s.trimEnd();
  }
  const cs = argStr(chars, 'strip()');
  let a = 0;
  let b = s.length;
  if (left) while (a < b && cs.includes(s[a]!)) a++;
  if (right) while (b > a && cs.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
}

function opt(args: PyValue[], i: number, kw: Map<string, PyValue> | null, name: string, def: PyValue): PyValue {
  if (args.length > i) return args[i]!;
  if (kw && kw.has(name)) return kw.get(name)!;
  return def;
}

function prefixTest(s: string, p: PyValue, end: boolean): boolean {
  const list = p instanceof PyTuple ? p.items : [p];
  return list.some((x) => {
    const t = asStr(x);
    if (t === undefined) throw typeError(`${end ? 'endswith' : 'startswith'} first arg must be str or a tuple of str, not ${typeName(x)}`);
    return end ? s.endsWith(t) : s.startsWith(t);
  });
}

export function callMethod(recv: PyValue, name: string, args: PyValue[], kw: Map<string, PyValue> | null): PyValue {
  const s = asStr(recv);
  if (s !== undefined) {
    switch (name) {
      case 'split': {
        const ms = asInt(opt(args, 1, kw, 'maxsplit', -1n));
        return pySplit(s, opt(args, 0, kw, 'sep', null), ms === undefined ? -1 : Number(ms));
      }
      case 'join': {
        const items = iterate(args[0] ?? null);
        const parts = items.map((x, i) => {
          const t = asStr(x);
          if (t === undefined) throw typeError(`sequence item ${i}: expected str instance, ${typeName(x)} found`);
          return t;
        });
        const out = parts.join(s);
        if (out.length > MAX_SEQ) throw new LimitError('Template Syntax Error: sequence too large');
        return out;
      }
      case 'replace': {
        const old = argStr(args[0] ?? null, 'replace()');
        const neu = argStr(args[1] ?? null, 'replace()');
        const count = asInt(args[2] ?? -1n);
        let n = count === undefined ? -1 : Number(count);
        if (old === '') {
          // Python puts `neu` before every code point and at the end, at most `count` times.
          const points = Array.from(s);
          const times = n < 0 ? points.length + 1 : Math.min(n, points.length + 1);
          if ((times * neu.length + s.length) > MAX_SEQ) throw new LimitError('Template Syntax Error: sequence too large');
          return points.slice(0, times).map((p) => neu + p).join('') + (times > points.length ? neu : points.slice(times).join(''));
        }
        if (n < 0) {
          const out = s.split(old).join(neu);
          if (out.length > MAX_SEQ) throw new LimitError('Template Syntax Error: sequence too large');
          return out;
        }
        let out = '';
        let rest = s;
        while (n-- > 0) {
          const k = old === '' ? 0 : rest.indexOf(old);
          if (k < 0) break;
          out += rest.slice(0, k) + neu;
          rest = rest.slice(k + old.length);
          if (old === '') {
            out += rest.slice(0, 1);
            rest = rest.slice(1);
          }
        }
        return out + rest;
      }
      case 'lower': return s.toLowerCase();
      case 'upper': return s.toUpperCase();
      case 'strip': return stripChars(s, args[0] ?? null, true, true);
      case 'lstrip': return stripChars(s, args[0] ?? null, true, false);
      case 'rstrip': return stripChars(s, args[0] ?? null, false, true);
      case 'startswith': return prefixTest(s, args[0] ?? null, false);
      case 'endswith': return prefixTest(s, args[0] ?? null, true);
      case 'find': return BigInt(s.indexOf(argStr(args[0] ?? null, 'find()')));
      case 'count': return BigInt(s.split(argStr(args[0] ?? null, 'count()')).length - 1);
      case 'isdigit': return s.length > 0 && /^[0-9]+$/.test(s);
    }
    throw attrError(typeof recv === 'string' ? recv : s, name);
  }
  if (recv instanceof Map) {
    switch (name) {
      case 'get': {
        const k = toDictKey(args[0] ?? null);
        return recv.has(k) ? recv.get(k)! : opt(args, 1, null, '', null);
      }
      case 'keys': return [...recv.keys()] as PyValue[];
      case 'values': return [...recv.values()];
      case 'items': return [...recv].map(([k, x]) => new PyTuple([k as PyValue, x]));
    }
  }
  if (Array.isArray(recv)) {
    switch (name) {
      case 'append':
        seqLimit(recv.length + 1);
        recv.push(args[0] ?? null);
        return null;
      case 'extend': {
        const more = iterate(args[0] ?? null);
        seqLimit(recv.length + more.length);
        recv.push(...more);
        return null;
      }
      case 'count': return BigInt(recv.filter((x) => pyEq(x, args[0] ?? null)).length);
      case 'index': {
        const k = recv.findIndex((x) => pyEq(x, args[0] ?? null));
        if (k < 0) throw new PyError('ValueError', `${repr(args[0] ?? null)} is not in list`);
        return BigInt(k);
      }
    }
  }
  if (recv instanceof Placeholder) {
    if (name === 'split') return [new Placeholder(), new Placeholder()];
    if (name === 'startswith') return false;
  }
  throw attrError(recv, name);
}

