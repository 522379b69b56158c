// Evaluates the Python expression subset against an Env (name lookup and local assignment).
import type { Comprehension, Expr, Stmt } from './ast.js';
import { PyError, tse, typeError } from '../errors.js';
import { binop, callMethod, compare, getitem, iterate, setitem, unaryop as unaryGeneric } from '../pyops.js';
import { Placeholder, PyFunc, PyTuple, repr, str, toDictKey, truthy, typeName, type PyDict, type PyValue } from '../values.js';

export interface Env {
  lookup(name: string): PyValue;
  assign(name: string, v: PyValue): void;
  ctx: unknown;
  /** Called at each step of a comprehension: throws when the render has used up its time. */
  tick(): void;
}

/** Comprehension scope: its loop variables shadow the enclosing names. */
class ChildEnv implements Env {
  private vars = new Map<string, PyValue>();
  constructor(private parent: Env) {}
  get ctx(): unknown {
    return this.parent.ctx;
  }
  lookup(name: string): PyValue {
    const v = this.vars.get(name);
    return v !== undefined ? v : this.parent.lookup(name);
  }
  assign(name: string, v: PyValue): void {
    this.vars.set(name, v);
  }
  tick(): void {
    this.parent.tick();
  }
}

export function evaluate(e: Expr, env: Env): PyValue {
  switch (e.t) {
    case 'Const':
      if (e.odd) throw typeError(`${e.odd.odd} constants are not supported in templates`);
      return e.v;
    case 'Name':
      return env.lookup(e.id);
    case 'Call':
      return evalCall(e, env);
    case 'BinOp':
      return binop(e.op, evaluate(e.left, env), evaluate(e.right, env));
    case 'UnaryOp': {
      const v = evaluate(e.operand, env);
      if (e.op === 'Not') return !truthy(v);
      return unary(e.op, v);
    }
    case 'BoolOp': {
      let v: PyValue = null;
      for (const x of e.values) {
        v = evaluate(x, env);
        if (e.op === 'And' ? !truthy(v) : truthy(v)) return v;
      }
      return v;
    }
    case 'Compare': {
      let left = evaluate(e.left, env);
      for (let i = 0; i < e.ops.length; i++) {
        const right = evaluate(e.comparators[i]!, env);
        if (!compare(e.ops[i]!, left, right)) return false;
        left = right;
      }
      return true;
    }
    case 'IfExp':
      return truthy(evaluate(e.test, env)) ? evaluate(e.body, env) : evaluate(e.orelse, env);
    case 'Subscript': {
      const v = evaluate(e.value, env);
      if (e.slice.t === 'Slice') {
        const s = e.slice;
        return getitem(v, { lower: s.lower ? evaluate(s.lower, env) : null, upper: s.upper ? evaluate(s.upper, env) : null, step: s.step ? evaluate(s.step, env) : null }, true);
      }
      return getitem(v, evaluate(e.slice, env), false);
    }
    case 'Slice':
      throw typeError('slices are only valid inside []');
    case 'List':
      return e.elts.map((x) => evaluate(x, env));
    case 'Tuple':
      return new PyTuple(e.elts.map((x) => evaluate(x, env)));
    case 'Set': {
      const s = new Set<ReturnType<typeof toDictKey>>();
      for (const x of e.elts) s.add(toDictKey(evaluate(x, env)));
      return s;
    }
    case 'Dict': {
      const m: PyDict = new Map();
      for (let i = 0; i < e.keys.length; i++) {
        const k = toDictKey(evaluate(e.keys[i]!, env));
        m.set(k, evaluate(e.values[i]!, env));
      }
      return m;
    }
    case 'JoinedStr': {
      let out = '';
      for (const p of e.values) out += p.t === 'Const' ? (p.v as string) : str(evaluate(p, env));
      return out;
    }
    case 'FormattedValue': {
      const v = evaluate(e.value, env);
      if (e.spec && !(e.spec.t === 'JoinedStr' && e.spec.values.length === 0)) {
        throw new PyError('ValueError', 'format specifications are not supported in templates');
      }
      return e.conversion === 114 || e.conversion === 97 ? repr(v) : str(v);
    }
    case 'Attribute':
      // plain attribute access (not a method call) is not modelled
      throw new PyError('AttributeError', `'${typeName(evaluate(e.value, env))}' object has no attribute '${e.attr}'`);
    case 'Lambda':
      throw typeError('lambda is not supported in templates');
    case 'ListComp':
    case 'GeneratorExp':
    case 'SetComp': {
      const out: PyValue[] = [];
      comprehend(e.generators, 0, new ChildEnv(env), env, (inner) => out.push(evaluate(e.elt, inner)));
      if (e.t === 'SetComp') return new Set(out.map(toDictKey));
      return out;
    }
    case 'DictComp': {
      const m: PyDict = new Map();
      comprehend(e.generators, 0, new ChildEnv(env), env, (inner) => m.set(toDictKey(evaluate(e.key, inner)), evaluate(e.value, inner)));
      return m;
    }
  }
}

function comprehend(gens: Comprehension[], i: number, inner: Env, outer: Env, body: (env: Env) => void): void {
  const g = gens[i]!;
  // the first iterable is evaluated in the enclosing scope, as in Python
  for (const item of iterate(evaluate(g.iter, i === 0 ? outer : inner))) {
    inner.tick();
    assignTarget(g.target, item, inner);
    if (!g.ifs.every((c) => truthy(evaluate(c, inner)))) continue;
    if (i + 1 < gens.length) comprehend(gens, i + 1, inner, outer, body);
    else body(inner);
  }
}

function unary(op: string, v: PyValue): PyValue {
  if (typeof v === 'bigint') return op === 'USub' ? -v : op === 'UAdd' ? v : ~v;
  if (typeof v === 'number' && op !== 'Invert') return op === 'USub' ? -v : v;
  return unaryGeneric(op, v);
}

function evalCall(e: Extract<Expr, { t: 'Call' }>, env: Env): PyValue {
  if (e.func.t === 'Attribute') {
    const recv = evaluate(e.func.value, env);
    const [args, kw] = evalArgs(e, env);
    return callMethod(recv, e.func.attr, args, kw);
  }
  const f = evaluate(e.func, env);
  const [args, kw] = evalArgs(e, env);
  if (f instanceof PyFunc) return f.fn(args, kw, env.ctx);
  if (f instanceof Placeholder) throw tse(`'${f.name}' is not a valid function, line ${f.line}`);
  throw typeError(`'${typeName(f)}' object is not callable`);
}

function evalArgs(e: Extract<Expr, { t: 'Call' }>, env: Env): [PyValue[], Map<string, PyValue> | null] {
  const args = e.args.length ? e.args.map((a) => evaluate(a, env)) : [];
  let kw: Map<string, PyValue> | null = null;
  if (e.keywords.length) {
    kw = new Map();
    for (const k of e.keywords) kw.set(k.arg, evaluate(k.value, env));
  }
  return [args, kw];
}

/** Assign to a target (Name, Tuple/List of targets, Subscript) with Python unpacking rules. */
export function assignTarget(t: Expr, v: PyValue, env: Env): void {
  if (t.t === 'Name') {
    env.assign(t.id, v);
    return;
  }
  if (t.t === 'Tuple' || t.t === 'List') {
    const items = iterate(v);
    if (items.length !== t.elts.length) {
      throw new PyError(
        'ValueError',
        items.length > t.elts.length ? `too many values to unpack (expected ${t.elts.length})` : `not enough values to unpack (expected ${t.elts.length}, got ${items.length})`,
      );
    }
    t.elts.forEach((x, i) => assignTarget(x, items[i]!, env));
    return;
  }
  if (t.t === 'Subscript' && t.slice.t !== 'Slice') {
    setitem(evaluate(t.value, env), evaluate(t.slice, env), v);
    return;
  }
  throw typeError('unsupported assignment target in template');
}

export function execStatement(s: Stmt, env: Env): void {
  switch (s.t) {
    case 'ExprStmt':
      evaluate(s.value, env);
      return;
    case 'Assign': {
      const v = evaluate(s.value, env);
      for (const t of s.targets) assignTarget(t, v, env);
      return;
    }
    case 'AugAssign': {
      const cur = evaluate(s.target, env);
      const v = binop(s.op, cur, evaluate(s.value, env));
      assignTarget(s.target, v, env);
      return;
    }
  }
}
