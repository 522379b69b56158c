// Executes a parsed template: the node walker, the name scope, expression_wrapper and the
// mapping of Python exceptions to Tinybird's error messages.
import { DOC, LimitError, PyError, TSE_PREFIX, TemplateError, pyErrorIsA, EXCEPTION_NAMES } from './errors.js';
import { quoteString } from './escape.js';
import { assignTarget, evaluate, execStatement, type Env } from './expr/eval.js';
import { BUILTINS, TEMPLATE_FUNCTIONS, TESTERS, pyFloat, pyInt, type FnCtx } from './functions.js';
import type { ForNode, TNode, TryNode, WhileNode } from './parser.js';
import type { ParamInfo, RenderOptions, RenderResult, TemplateVars } from './index.js';
import { iterate } from './pyops.js';
import {
  Comment, Expression, Placeholder, PyException, PyFunc, PyTuple, Symbol, TypedInt, asStr, floatRepr, fromJs, str, truthy, type PyValue,
} from './values.js';

const MAX_LOOP_ITERATIONS = 1_000_000;
const MAX_OUTPUT = 50_000_000;
/**
 * Rendering runs on the event loop, and a /v0/sql template is any read token's to write: a loop over costly string
 * work could hold the server for hours within the iteration limit. Real templates render in well under 10 ms.
 */
export const MAX_RENDER_MS = 1000;

export interface CompiledData {
  body: TNode[];
  /** discovered names -> line of their last occurrence (test-mode placeholders) */
  discovered: Map<string, number>;
  assigned: Set<string>;
  warnings: string[];
  params: () => ParamInfo[];
  arrayTypes: () => Map<string, string>;
  usesJobTimestamp: boolean;
}

const FUNCS = new Map(Object.entries(TEMPLATE_FUNCTIONS));
const BUILTIN_MAP = new Map(Object.entries(BUILTINS));
const NAMESPACE_NONE = new Set(['open', 'close', 'print', 'input', 'id']);

// ---------------------------------------------------------------------------------------------
// expression_wrapper

function sqlItem(v: PyValue): string {
  if (v === null) return 'NULL';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return quoteString(v);
  if (v instanceof Placeholder) return "'__no_value__'";
  if (v instanceof PyException) return quoteString(v.message);
  if (Array.isArray(v) || v instanceof PyTuple || v instanceof Map || v instanceof Set) return sqlCollection(v);
  if (v instanceof PyFunc) throw new TemplateError(`${TSE_PREFIX}a function can not be used as a value`, { documentation: DOC });
  return str(v);
}

/** Lists/dicts are emitted as ClickHouse literals with full string escaping (Tinybird prints Python repr). */
function sqlCollection(v: PyValue): string {
  if (Array.isArray(v)) return '[' + v.map(sqlItem).join(',') + ']';
  if (v instanceof PyTuple) return v.items.length === 1 ? `tuple(${sqlItem(v.items[0]!)})` : '(' + v.items.map(sqlItem).join(',') + ')';
  if (v instanceof Map) return '{' + [...v].map(([k, x]) => sqlItem(k as PyValue) + ':' + sqlItem(x)).join(',') + '}';
  if (v instanceof Set) return '[' + [...v].map((x) => sqlItem(x as PyValue)).join(',') + ']';
  return sqlItem(v);
}

export function expressionWrapper(v: PyValue, name: string): string {
  if (typeof v === 'string') return quoteString(v);
  if (v === null) {
    const shown = name.length > 20 ? name.slice(0, 20) + '...' : name;
    throw new PyError('SQLTemplateException', `expression "${shown}" evaluated to null`);
  }
  switch (typeof v) {
    case 'bigint':
      return v.toString();
    case 'number':
      return floatRepr(v);
    case 'boolean':
      return v ? 'True' : 'False';
  }
  if (v instanceof Expression || v instanceof Symbol) return v.s;
  if (v instanceof TypedInt) return str(v);
  if (v instanceof Placeholder) return "'__no_value__'";
  // (sic) Tinybird returns the literal text "-- {x} \n" for a Comment
  if (v instanceof Comment) return '-- {x} \n';
  if (v instanceof PyException) return quoteString(v.message);
  if (v instanceof PyFunc) throw new TemplateError(`${TSE_PREFIX}expression "${name}" is a function, not a value`, { documentation: DOC });
  if (Array.isArray(v) || v instanceof PyTuple || v instanceof Map || v instanceof Set) return sqlCollection(v);
  return str(v);
}

// ---------------------------------------------------------------------------------------------
// scope

interface RenderCtx extends FnCtx {
  loops: number;
  /** performance.now() past which the render stops (MAX_RENDER_MS). */
  deadline: number;
  /** Characters emitted so far: checked as they are emitted, before a join could build a string too long. */
  emitted: number;
}

class Scope implements Env {
  locals = new Map<string, PyValue>();
  private cache = new Map<string, PyValue>();

  constructor(
    private c: CompiledData,
    private vars: TemplateVars,
    private pre: Map<string, PyValue>,
    readonly ctx: RenderCtx,
  ) {}

  lookup(name: string): PyValue {
    if (this.c.assigned.has(name)) {
      const v = this.locals.get(name);
      if (v === undefined) {
        throw new PyError('UnboundLocalError', `cannot access local variable '${name}' where it is not associated with a value`);
      }
      return v;
    }
    const f = FUNCS.get(name);
    if (f) return f;
    const cached = this.cache.get(name);
    if (cached !== undefined) return cached;
    let v: PyValue | undefined;
    if (this.pre.has(name)) v = this.pre.get(name)!;
    else if (Object.prototype.hasOwnProperty.call(this.vars, name) && this.vars[name] !== undefined) v = fromJs(this.vars[name]);
    else if (this.c.discovered.has(name)) v = this.ctx.testMode ? new Placeholder(name, this.c.discovered.get(name)) : null;
    else if (NAMESPACE_NONE.has(name)) v = null;
    else {
      const b = BUILTIN_MAP.get(name);
      if (b) return b;
      throw new PyError('NameError', `name '${name}' is not defined`);
    }
    this.cache.set(name, v);
    return v;
  }

  assign(name: string, v: PyValue): void {
    this.locals.set(name, v);
  }
  tick(): void {
    timeTick(this.ctx);
  }
}

// ---------------------------------------------------------------------------------------------
// execution

const NORMAL = 0;
const BREAK = 1;
const CONTINUE = 2;

function loopTick(ctx: RenderCtx): void {
  if (++ctx.loops > MAX_LOOP_ITERATIONS) throw new LimitError(`${TSE_PREFIX}too many loop iterations (limit ${MAX_LOOP_ITERATIONS})`);
  timeTick(ctx);
}

function timeTick(ctx: RenderCtx): void {
  if (performance.now() > ctx.deadline) throw new LimitError(`${TSE_PREFIX}the template took more than ${MAX_RENDER_MS} ms to render: make its loops do less work`);
}

function emit(out: string[], ctx: RenderCtx, text: string): void {
  ctx.emitted += text.length;
  if (ctx.emitted > MAX_OUTPUT) throw new LimitError(`${TSE_PREFIX}rendered SQL is too large (limit ${MAX_OUTPUT} characters)`);
  out.push(text);
}

/** A value's text: `-{{Int(x)}}` with x = -1 would make `--1`, a comment to the end of the line that could drop a condition. */
function emitValue(out: string[], ctx: RenderCtx, text: string): void {
  if (text.startsWith('-') && endsWithMinus(out)) emit(out, ctx, ' ');
  emit(out, ctx, text);
}

function endsWithMinus(out: string[]): boolean {
  for (let i = out.length - 1; i >= 0; i--) if (out[i]!.length) return out[i]!.endsWith('-');
  return false;
}

function exceptMatches(typeVal: PyValue, err: PyError): boolean {
  const names: PyValue[] = typeVal instanceof PyTuple ? typeVal.items : [typeVal];
  return names.some((n) => {
    if (n instanceof PyFunc && n.name.startsWith('exc:')) return pyErrorIsA(err.pyType, n.name.slice(4));
    throw new PyError('TypeError', 'catching classes that do not inherit from BaseException is not allowed');
  });
}

/**
 * Python loop semantics shared by `for` and `while`: run the body while `advance()` says so (a `break` stops
 * it), then the `else` block only when the loop was not broken.
 */
function runLoop(n: ForNode | WhileNode, s: Scope, out: string[], advance: () => boolean): number {
  while (advance()) {
    loopTick(s.ctx);
    if (exec(n.body, s, out) === BREAK) return NORMAL;
  }
  return n.orelse ? exec(n.orelse, s, out) : NORMAL;
}

function exec(nodes: TNode[], s: Scope, out: string[]): number {
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    switch (n.k) {
      case 'text':
        emit(out, s.ctx, n.text);
        break;
      case 'expr':
        s.ctx.at = n;
        emitValue(out, s.ctx, expressionWrapper(evaluate(n.ast, s), n.src));
        break;
      case 'if': {
        let done = false;
        for (const b of n.branches) {
          if (truthy(evaluate(b.cond!, s))) {
            const r = exec(b.body, s, out);
            if (r !== NORMAL) return r;
            done = true;
            break;
          }
        }
        if (!done && n.orelse) {
          const r = exec(n.orelse, s, out);
          if (r !== NORMAL) return r;
        }
        break;
      }
      case 'for': {
        const items = iterate(evaluate(n.iter!, s));
        let i = 0;
        const r = runLoop(n, s, out, () => {
          if (i >= items.length) return false;
          assignTarget(n.target!, items[i++], s);
          return true;
        });
        if (r !== NORMAL) return r;
        break;
      }
      case 'while': {
        const r = runLoop(n, s, out, () => truthy(evaluate(n.cond!, s)));
        if (r !== NORMAL) return r;
        break;
      }
      case 'try': {
        const r = execTry(n, s, out);
        if (r !== NORMAL) return r;
        break;
      }
      case 'set':
        execStatement(n.stmt!, s);
        break;
      case 'break':
        return BREAK;
      case 'continue':
        return CONTINUE;
    }
  }
  return NORMAL;
}

/**
 * Python's try statement. A `break` or `continue` in `finally` wins over whatever the body or a handler did,
 * including a Python exception on its way out (as in Python); internal limits are never swallowed.
 */
function execTry(n: TryNode, s: Scope, out: string[]): number {
  let result = NORMAL;
  let pending: PyError | undefined;
  try {
    result = execTryBody(n, s, out);
  } catch (e) {
    if (!(e instanceof PyError)) throw e;
    pending = e;
  }
  if (n.finalbody) {
    const r = exec(n.finalbody, s, out);
    if (r !== NORMAL) return r;
  }
  if (pending) throw pending;
  return result;
}

/** The body, the first matching `except` (errors in it propagate), and `else` (its errors are not caught). */
function execTryBody(n: TryNode, s: Scope, out: string[]): number {
  let result: number;
  try {
    result = exec(n.body, s, out);
  } catch (e) {
    if (!(e instanceof PyError)) throw e;
    // like Python, text appended before the exception stays in the output
    for (const h of n.handlers) {
      if (h.type && !exceptMatches(evaluate(h.type, s), e)) continue;
      if (h.name) s.assign(h.name, new PyException(e.pyType, e.message));
      try {
        return exec(h.body, s, out);
      } finally {
        if (h.name) s.locals.delete(h.name);
      }
    }
    throw e;
  }
  return result === NORMAL && n.orelse ? exec(n.orelse, s, out) : result;
}

// exception classes are visible to `{% except %}` as names
for (const name of EXCEPTION_NAMES) {
  if (!BUILTIN_MAP.has(name)) BUILTIN_MAP.set(name, new PyFunc('exc:' + name, () => new PyException(name, '')));
}

// ---------------------------------------------------------------------------------------------
// Array pre-processing: `?a=1,2` for an Array(Int32) param becomes [1, 2] before rendering

function preprocess(vars: TemplateVars, c: CompiledData, testMode: boolean): Map<string, PyValue> {
  const pre = new Map<string, PyValue>();
  let arrays: Map<string, string> | null = null;
  for (const key in vars) {
    const raw = vars[key];
    if (raw === undefined || raw === null) continue;
    if (typeof raw !== 'string' && !Array.isArray(raw)) continue;
    if (!arrays) arrays = c.arrayTypes();
    const t = arrays.get(key);
    if (!t) continue;
    const items: string[] = Array.isArray(raw) ? raw.map(String) : raw.split(',');
    const conv = convertItems(items, t, testMode);
    if (conv) pre.set(key, conv);
  }
  return pre;
}

function convertItems(items: string[], t: string, testMode: boolean): PyValue[] | null {
  void testMode;
  const tester = TESTERS[t];
  const out: PyValue[] = [];
  for (const it of items) {
    if (tester && !tester(it)) return null;
    if (/^U?Int\d+$|^Int$|^Integer$/.test(t)) out.push(pyInt(it));
    else if (t === 'Float32' || t === 'Float64') out.push(pyFloat(it));
    else if (t === 'Boolean' || t === 'bool') out.push(it === '0' || it.toLowerCase() === 'false' ? 0n : it ? 1n : 0n);
    else out.push(it);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// error mapping (generate() + render_sql_template())

function joinNames(items: string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return items.slice(0, -1).join(', ') + ' and ' + items[items.length - 1];
}

export function mapError(e: unknown, c: CompiledData, s: Scope | null): TemplateError {
  if (e instanceof TemplateError) return e;
  if (e instanceof LimitError) return new TemplateError(e.message, { documentation: DOC });
  if (e instanceof RangeError) return new TemplateError(`${TSE_PREFIX}maximum recursion depth exceeded`, { documentation: DOC });
  if (!(e instanceof PyError)) throw e;
  const doc = e.documentation ?? DOC;
  switch (e.pyType) {
    case 'SQLTemplateException': {
      if (e.message.includes('Required parameter is not defined')) {
        const names: string[] = [];
        for (const p of c.params()) {
          if ((p.default === null || p.default === undefined) && !p.usedIn && !names.includes(p.name) && p.name !== 'job_timestamp') names.push(p.name);
        }
        if (names.length) {
          return new TemplateError(
            `${TSE_PREFIX}Required parameter is not defined. Check the parameters ${joinNames(names)}. Please provide a value or set a default value in the pipe code.`,
            { documentation: doc },
          );
        }
      }
      const opts: { documentation?: string } = {};
      if (e.documentation) opts.documentation = e.documentation;
      return new TemplateError(TSE_PREFIX + e.message, opts);
    }
    case 'SQLTemplateCustomError':
      return new TemplateError(e.message, { status: e.status ?? 400, kind: 'custom', body: e.payload });
    case 'UnboundLocalError':
      return new TemplateError(TSE_PREFIX + e.message, { documentation: DOC });
    case 'NameError':
      return new TemplateError(TSE_PREFIX + e.message, { documentation: `${DOC}#defined` });
    case 'AttributeError':
      if (e.message.includes("'str' object has no attribute 'get'")) {
        return new TemplateError(
          `${TSE_PREFIX}'str' object has no attribute 'get'. Make sure you're using an object/dictionary where trying to use .get()`,
          { documentation: DOC },
        );
      }
      return new TemplateError(TSE_PREFIX + e.message, { documentation: DOC });
    case 'IndexError':
      if (e.message.includes('string index out of range')) {
        return new TemplateError(
          `${TSE_PREFIX}String index out of range. Check that string parameters have values before accessing specific characters (e.g., param[0]). Provide default values or add length checks in your template.`,
          { documentation: DOC },
        );
      }
      return new TemplateError(TSE_PREFIX + e.message, { documentation: DOC });
  }
  // everything else reaches render_sql_template's generic handler
  if (c.discovered.has('length') && s) {
    let v: PyValue = null;
    try {
      v = s.lookup('length');
    } catch {
      /* ignore */
    }
    if (!truthy(v)) return new TemplateError(`${TSE_PREFIX}length cannot be used as a variable name or as a function inside of a template`);
  }
  if (e.message.includes('missing 1 required positional argument')) {
    return new TemplateError(`${TSE_PREFIX}one of the transform type functions is missing an argument`, { documentation: `${DOC}#transform-types-functions` });
  }
  if (e.message.includes('not callable') || e.message.includes('unhashable type')) {
    return new TemplateError(`${TSE_PREFIX}wrong syntax, you might be using a not valid function inside a control block`, { documentation: DOC });
  }
  return new TemplateError(e.message);
}

// ---------------------------------------------------------------------------------------------

function nowTimestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function renderCompiled(c: CompiledData, vars: TemplateVars, opts: RenderOptions = {}): RenderResult {
  const testMode = !!opts.testMode;
  const ctx: RenderCtx = {
    testMode,
    secrets: opts.secrets,
    settings: {},
    queryParams: {},
    unsetSecrets: [],
    at: { line: 1, col: 1 },
    wrap: expressionWrapper,
    loops: 0,
    deadline: performance.now() + MAX_RENDER_MS,
    emitted: 0,
  };
  if (c.usesJobTimestamp && (vars.job_timestamp === undefined || vars.job_timestamp === null)) vars = { ...vars, job_timestamp: nowTimestamp() };
  const pre = preprocess(vars, c, testMode);
  const scope = new Scope(c, vars, pre, ctx);
  const out: string[] = [];
  try {
    exec(c.body, scope, out);
  } catch (e) {
    throw mapError(e, c, scope);
  }
  const sql = out.length === 1 ? out[0]! : out.join(''); // within MAX_OUTPUT: emit() counted it
  const res: RenderResult = { sql, settings: ctx.settings, queryParams: ctx.queryParams, warnings: c.warnings };
  if (ctx.cacheTtlSeconds !== undefined) res.cacheTtlSeconds = ctx.cacheTtlSeconds;
  if (ctx.unsetSecrets.length) res.unsetSecrets = ctx.unsetSecrets.map(({ name, line, col }) => ({ name, line, col }));
  return res;
}

/** A `tb_secret(name)` without a value or a default, with the line and column of its `{{`. */
export interface MissingSecret {
  name: string;
  line: number;
  col: number;
}

/**
 * .datasource/.connection rendering: only tb_secret(name, default), substituted raw; an empty value or default
 * renders `""`. A secret without a value or default is left as written and reported, so the caller can name
 * every one with its line instead of stopping at the first.
 */
export function renderSecretsOnly(c: CompiledData, secrets: Record<string, string | undefined>): { text: string; missing: MissingSecret[] } {
  const missing: MissingSecret[] = [];
  let at = { line: 0, col: 0 };
  const tbSecret = new PyFunc('tb_secret', (args, kw) => {
    const name = asStr(args[0] ?? kw?.get('secret_name') ?? null);
    const def = args[1] ?? kw?.get('default') ?? null;
    const value = name !== undefined && Object.prototype.hasOwnProperty.call(secrets, name) ? secrets[name] : undefined;
    if (value !== undefined) return new Expression(value === '' ? '""' : value);
    if (def !== null) return asStr(def) === '' ? new Expression('""') : new Expression(str(def));
    missing.push({ name: name ?? str(args[0] ?? null), ...at });
    return null;
  });
  const env: Env = {
    ctx: {},
    lookup(name) {
      if (name === 'tb_secret') return tbSecret;
      throw new PyError('NameError', `name '${name}' is not defined`);
    },
    assign() {
      throw new PyError('TypeError', 'assignments are not allowed here');
    },
    tick() {}, // datafile text from the project, not from requests
  };
  let out = '';
  const walk = (nodes: TNode[]) => {
    for (const n of nodes) {
      if (n.k === 'text') out += n.text;
      else if (n.k === 'expr') {
        at = { line: n.line, col: n.col };
        const before = missing.length;
        let v: PyValue;
        try {
          v = evaluate(n.ast, env);
        } catch (e) {
          // `tb_secret('A') + 'x'` fails on the missing secret's None: the missing secret is the error to report.
          if (missing.length > before) v = null;
          else throw e;
        }
        out += missing.length > before ? `{{ ${n.src.trim()} }}` : str(v);
      } else throw new TemplateError(`${TSE_PREFIX}only {{ tb_secret(...) }} is allowed here`, { line: n.line });
    }
  };
  try {
    walk(c.body);
  } catch (e) {
    const err = mapError(e, c, null);
    err.line ??= at.line || undefined;
    throw err;
  }
  return { text: out, missing };
}
