// Parameter discovery (§4.7): get_var_names (names per chunk, for placeholders, reserved-name
// checks and warnings) and get_var_names_and_types (typed params for docs and error messages).
import type { Expr } from './expr/ast.js';
import { ExprParser } from './expr/parser.js';
import type { TNode } from './parser.js';
import type { ParamInfo } from './index.js';
import { BUILTINS, TEMPLATE_FUNCTIONS } from './functions.js';

const PY_BUILTINS = (
  'abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile complex copyright credits ' +
  'delattr dict dir divmod enumerate eval exec exit filter float format frozenset getattr globals hasattr hash help hex id input int ' +
  'isinstance issubclass iter len license list locals map max memoryview min next object oct open ord pow print property quit range ' +
  'repr reversed round set setattr slice sorted staticmethod str sum super tuple type vars zip __build_class__ __debug__ __doc__ ' +
  '__import__ __loader__ __name__ __package__ __spec__ Ellipsis NotImplemented ArithmeticError AssertionError AttributeError ' +
  'BaseException BaseExceptionGroup BlockingIOError BrokenPipeError BufferError BytesWarning ChildProcessError ConnectionAbortedError ' +
  'ConnectionError ConnectionRefusedError ConnectionResetError DeprecationWarning EOFError EncodingWarning EnvironmentError Exception ' +
  'ExceptionGroup FileExistsError FileNotFoundError FloatingPointError FutureWarning GeneratorExit IOError ImportError ImportWarning ' +
  'IndentationError IndexError InterruptedError IsADirectoryError KeyError KeyboardInterrupt LookupError MemoryError ' +
  'ModuleNotFoundError NameError NotADirectoryError NotImplementedError OSError OverflowError PendingDeprecationWarning ' +
  'PermissionError ProcessLookupError RecursionError ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration ' +
  'StopIteration SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError TypeError UnboundLocalError UnicodeDecodeError ' +
  'UnicodeEncodeError UnicodeError UnicodeTranslateError UnicodeWarning UserWarning ValueError Warning ZeroDivisionError'
).split(' ');

/** reserved_vars of sql_template.py: never discovered as variables (but see PARAMETER_BUILTINS). */
export const RESERVED_VARS = new Set([..._without(PY_BUILTINS, ['format', 'id']), '_tt_tmp', '_tt_append', 'isinstance', 'str', 'error', 'custom_error']);

/**
 * Python builtins the template engine does not implement (`filter`, `map`, `type`, `hash`, ...). Projects use
 * such names as parameters (`{% if defined(filter) %}`), and a request parameter shadows the builtin in Tinybird
 * too. Used as a value anywhere in a template (not only called), such a name is a parameter here: discovered, a
 * placeholder at build, None when a request omits it (Tinybird would hand the template the Python builtin then;
 * see docs/template-notes.md). Only called (`eval(...)`), it stays an unknown name.
 */
export const PARAMETER_BUILTINS: ReadonlySet<string> = new Set(
  PY_BUILTINS.filter((n) => /^[a-z]/.test(n) && !(n in BUILTINS) && !(n in TEMPLATE_FUNCTIONS) && !['format', 'id', 'isinstance', 'open', 'print', 'input'].includes(n)),
);
/** _namespace keys of sql_template.py. */
export const NAMESPACE_NAMES = new Set([
  'column', 'symbol', 'error', 'custom_error', '_tt_utf8', '_tt_string_types', 'xhtml_escape', 'expression_wrapper', '__buildins__',
  '__import__', '__debug__', '__doc__', '__name__', '__package__', 'open', 'close', 'print', 'input',
]);
const FUNCTION_LIST = new Set([
  'columns', 'table', 'TABLE', 'error', 'custom_error', 'sql_and', 'defined', 'column', 'enumerate_with_last', 'split_to_array', 'day_diff',
  'date_diff_in_days', 'date_diff_in_hours', 'date_diff_in_minutes', 'date_diff_in_seconds', 'sql_unescape', 'JSON',
]);
export const PARAMETER_TYPES = new Set([
  'String', 'Boolean', 'DateTime64', 'DateTime', 'Date', 'Float32', 'Float64', 'Int8', 'Int16', 'Int32', 'Int64', 'Int128', 'Int256',
  'UInt8', 'UInt16', 'UInt32', 'UInt64', 'UInt128', 'UInt256', 'Array', 'JSON',
]);
// UNCONFIRMED: Tinybird's VALID_CUSTOM_FUNCTION_NAMES is not public; these are the functions whose
// first argument is a request parameter (see docs/template-notes.md).
const CUSTOM_FUNCTIONS = new Set([
  'defined', 'column', 'columns', 'split_to_array', 'enumerate_with_last', 'day_diff', 'date_diff_in_days', 'date_diff_in_hours',
  'date_diff_in_minutes', 'date_diff_in_seconds',
]);

function _without(xs: string[], drop: string[]): string[] {
  return xs.filter((x) => !drop.includes(x));
}

export const RESERVED_PARAM_NAMES = new Set([
  '__tb__semver', 'debug_source_tables', 'debug', 'explain', 'finalize_aggregations', 'output_format_json_quote_64bit_integers',
  'output_format_json_quote_denormals', 'output_format_parquet_string_as_string', 'pipeline', 'playground', 'q', 'query_id',
  'release_replacements', 'tag', 'template_parameters', 'token', 'job_timestamp',
]);
export const DEFAULT_PARAM_NAMES = new Set(['format', 'q']);

// ---------------------------------------------------------------------------------------------
// co_names: names in bytecode order (loads, attribute names, stores)

function coNames(e: Expr | null | undefined, out: string[]): void {
  if (!e) return;
  switch (e.t) {
    case 'Name': out.push(e.id); return;
    case 'Const': return;
    case 'Attribute': coNames(e.value, out); out.push(e.attr); return;
    case 'Call': coNames(e.func, out); e.args.forEach((a) => coNames(a, out)); e.keywords.forEach((k) => coNames(k.value, out)); return;
    case 'BinOp': coNames(e.left, out); coNames(e.right, out); return;
    case 'UnaryOp': coNames(e.operand, out); return;
    case 'BoolOp': e.values.forEach((v) => coNames(v, out)); return;
    case 'Compare': coNames(e.left, out); e.comparators.forEach((v) => coNames(v, out)); return;
    case 'IfExp': coNames(e.test, out); coNames(e.body, out); coNames(e.orelse, out); return;
    case 'Subscript': coNames(e.value, out); coNames(e.slice, out); return;
    case 'Slice': coNames(e.lower, out); coNames(e.upper, out); coNames(e.step, out); return;
    case 'List': case 'Tuple': case 'Set': e.elts.forEach((v) => coNames(v, out)); return;
    case 'Dict': e.keys.forEach((k, i) => { coNames(k, out); coNames(e.values[i], out); }); return;
    case 'JoinedStr': e.values.forEach((v) => coNames(v, out)); return;
    case 'FormattedValue': coNames(e.value, out); coNames(e.spec, out); return;
    // comprehension bodies and lambdas compile to nested code objects: only the first iterable is ours
    case 'ListComp': case 'GeneratorExp': case 'SetComp': case 'DictComp': coNames(e.generators[0]?.iter, out); return;
    case 'Lambda': return;
  }
}

export interface VarName { name: string; line: number }

function pushNames(names: string[], line: number, out: VarName[], builtinParams: ReadonlySet<string>): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) continue; // co_names is de-duplicated per compiled chunk
    seen.add(n);
    if (NAMESPACE_NAMES.has(n) || (RESERVED_VARS.has(n) && !builtinParams.has(n))) continue;
    out.push({ name: n, line });
  }
}

/** Every expression of a template: `{{ }}` and the statements of its blocks. */
function templateExpressions(body: TNode[], out: Expr[] = []): Expr[] {
  const add = (e: Expr | null | undefined) => void (e && out.push(e));
  for (const n of body) {
    switch (n.k) {
      case 'expr': add(n.ast); break;
      case 'if': n.branches.forEach((b) => { add(b.cond); templateExpressions(b.body, out); }); if (n.orelse) templateExpressions(n.orelse, out); break;
      case 'for': add(n.iter); add(n.target); templateExpressions(n.body, out); if (n.orelse) templateExpressions(n.orelse, out); break;
      case 'while': add(n.cond); templateExpressions(n.body, out); if (n.orelse) templateExpressions(n.orelse, out); break;
      case 'try':
        templateExpressions(n.body, out);
        n.handlers.forEach((h) => { add(h.type); templateExpressions(h.body, out); });
        if (n.orelse) templateExpressions(n.orelse, out);
        if (n.finalbody) templateExpressions(n.finalbody, out);
        break;
      case 'set':
        if (n.stmt) { add(n.stmt.value); if (n.stmt.t === 'Assign') n.stmt.targets.forEach(add); if (n.stmt.t === 'AugAssign') add(n.stmt.target); }
        break;
      default: break;
    }
  }
  return out;
}

/** The PARAMETER_BUILTINS a template uses as values somewhere (not only as the function of a call). */
function builtinParameters(body: TNode[]): Set<string> {
  const found = new Set<string>();
  const queue: [PNode, PNode | null][] = templateExpressions(body).map((e) => [e, null]);
  for (let i = 0; i < queue.length; i++) {
    const [node, parent] = queue[i]!;
    if (node.t === 'Name' && PARAMETER_BUILTINS.has(node.id) && !(parent?.t === 'Call' && parent.func === node)) found.add(node.id);
    for (const c of children(node)) queue.push([c, node]);
  }
  return found;
}

/** get_var_names: every referenced name, per chunk, in template order. */
export function getVarNames(body: TNode[], out: VarName[] = [], builtinParams: ReadonlySet<string> = builtinParameters(body)): VarName[] {
  for (const n of body) {
    switch (n.k) {
      case 'expr': {
        const names: string[] = [];
        coNames(n.ast, names);
        pushNames(names, n.line, out, builtinParams);
        break;
      }
      case 'if':
        n.branches.forEach((b) => {
          const names: string[] = [];
          coNames(b.cond, names);
          pushNames(names, b.line, out, builtinParams);
          getVarNames(b.body, out, builtinParams);
        });
        if (n.orelse) getVarNames(n.orelse, out, builtinParams);
        break;
      case 'for': {
        const names: string[] = [];
        coNames(n.iter, names);
        coNames(n.target, names);
        pushNames(names, n.line, out, builtinParams);
        getVarNames(n.body, out, builtinParams);
        if (n.orelse) getVarNames(n.orelse, out, builtinParams);
        break;
      }
      case 'while': {
        const names: string[] = [];
        coNames(n.cond, names);
        pushNames(names, n.line, out, builtinParams);
        getVarNames(n.body, out, builtinParams);
        if (n.orelse) getVarNames(n.orelse, out, builtinParams);
        break;
      }
      case 'try':
        getVarNames(n.body, out, builtinParams);
        for (const h of n.handlers) {
          const names: string[] = [];
          coNames(h.type, names);
          if (h.name) names.push(h.name);
          pushNames(names, h.line, out, builtinParams);
          getVarNames(h.body, out, builtinParams);
        }
        if (n.orelse) getVarNames(n.orelse, out, builtinParams);
        if (n.finalbody) getVarNames(n.finalbody, out, builtinParams);
        break;
      case 'set': {
        if (!n.stmt || n.src.includes('{{')) break;
        const names: string[] = [];
        const s = n.stmt;
        coNames(s.value, names);
        if (s.t === 'Assign') s.targets.forEach((t) => coNames(t, names));
        if (s.t === 'AugAssign') coNames(s.target, names);
        pushNames(names, n.line, out, builtinParams);
        break;
      }
      default:
        break;
    }
  }
  return out;
}

/** Names assigned by set / for / except-as: they are function locals in the generated Python. */
export function assignedNames(body: TNode[], out = new Set<string>()): Set<string> {
  const targets = (e: Expr | null | undefined) => {
    if (!e) return;
    if (e.t === 'Name') out.add(e.id);
    else if (e.t === 'Tuple' || e.t === 'List') e.elts.forEach(targets);
  };
  for (const n of body) {
    switch (n.k) {
      case 'if': n.branches.forEach((b) => assignedNames(b.body, out)); if (n.orelse) assignedNames(n.orelse, out); break;
      case 'for': targets(n.target); assignedNames(n.body, out); if (n.orelse) assignedNames(n.orelse, out); break;
      case 'while': assignedNames(n.body, out); if (n.orelse) assignedNames(n.orelse, out); break;
      case 'try':
        assignedNames(n.body, out);
        n.handlers.forEach((h) => { if (h.name) out.add(h.name); assignedNames(h.body, out); });
        if (n.orelse) assignedNames(n.orelse, out);
        if (n.finalbody) assignedNames(n.finalbody, out);
        break;
      case 'set':
        if (n.stmt?.t === 'Assign') n.stmt.targets.forEach(targets);
        else if (n.stmt?.t === 'AugAssign') targets(n.stmt.target);
        break;
      default: break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// get_var_data: a breadth-first walk over a Python AST, as in sql_template.py

type PNode =
  | { t: 'Module'; body: PNode[] }
  | { t: 'If' | 'While'; test: Expr | null; orelse?: PNode }
  | { t: 'For'; target: Expr | null; iter: Expr | null }
  | { t: 'Assign'; targets: Expr[]; value: Expr }
  | { t: 'Try'; handlers: { type: Expr | null }[] }
  | { t: 'ExprStmt'; value: Expr }
  | { t: 'keyword'; value: Expr }
  | { t: 'comprehension'; target: Expr; iter: Expr; ifs: Expr[] }
  | Expr;

function children(n: PNode): PNode[] {
  switch (n.t) {
    case 'Module': return n.body;
    case 'If': case 'While': return [n.test, n.orelse].filter(Boolean) as PNode[];
    case 'For': return [n.target, n.iter].filter(Boolean) as PNode[];
    case 'Assign': return [...n.targets, n.value];
    case 'Try': return n.handlers.map((h) => h.type).filter(Boolean) as PNode[];
    case 'ExprStmt': return [n.value];
    case 'keyword': return [n.value];
    case 'comprehension': return [n.target, n.iter, ...n.ifs];
    case 'Name': case 'Const': case 'Lambda': return [];
    case 'Attribute': return [n.value];
    case 'Call': return [n.func, ...n.args, ...n.keywords.map((k) => ({ t: 'keyword' as const, value: k.value }))];
    case 'BinOp': return [n.left, n.right];
    case 'UnaryOp': return [n.operand];
    case 'BoolOp': return n.values;
    case 'Compare': return [n.left, ...n.comparators];
    case 'IfExp': return [n.test, n.body, n.orelse];
    case 'Subscript': return [n.value, n.slice];
    case 'Slice': return [n.lower, n.upper, n.step].filter(Boolean) as PNode[];
    case 'List': case 'Tuple': case 'Set': return n.elts;
    case 'Dict': return [...n.keys, ...n.values];
    case 'JoinedStr': return n.values;
    case 'FormattedValue': return [n.value, n.spec].filter(Boolean) as PNode[];
    case 'ListComp': case 'GeneratorExp': case 'SetComp': return [n.elt, ...n.generators.map((g) => ({ t: 'comprehension' as const, ...g }))];
    case 'DictComp': return [n.key, n.value, ...n.generators.map((g) => ({ t: 'comprehension' as const, ...g }))];
  }
}

type Raw = string | number | bigint | boolean | null | Raw[];

function nodeToValue(x: PNode): Raw {
  switch (x.t) {
    case 'Const': return x.odd ? null : (x.v as Raw);
    case 'Name': return x.id;
    case 'List': {
      if (!x.elts.length) return [];
      const k = x.elts[0]!.t;
      if (k === 'Const' || k === 'Name') return x.elts.map((e) => (e.t === 'Const' ? (e.v as Raw) : e.t === 'Name' ? e.id : null));
      return [];
    }
    case 'BinOp': {
      const r = nodeToValue(x.left);
      return truthyRaw(r) ? r : nodeToValue(x.right);
    }
    case 'UnaryOp':
      if (x.operand.t === 'Const' && !x.operand.odd) {
        const v = x.operand.v;
        if (x.op !== 'USub') return v as Raw;
        if (typeof v === 'bigint') return -v;
        if (typeof v === 'number') return -v;
        if (typeof v === 'boolean') return v ? -1n : 0n;
        return typeof v === 'string' ? '' : null;
      }
      return null;
    default:
      return null;
  }
}

function truthyRaw(r: Raw): boolean {
  if (Array.isArray(r)) return r.length > 0;
  return !!r && r !== 0n;
}

function checkDefault(v: Raw): ParamInfo['default'] {
  if (typeof v === 'bigint') return v > 9007199254740991n || v < -9007199254740991n ? v.toString() : Number(v);
  if (Array.isArray(v)) return v.map((x) => String(x)).join(',');
  return v as ParamInfo['default'];
}

interface VarData { type: string; default: ParamInfo['default']; usedIn?: 'function_call'; kw: Record<string, Raw> }

function getVarData(root: PNode): ParamInfo[] {
  const vars = new Map<string, VarData>();
  const queue: [PNode, PNode | null][] = [[root, null]];
  for (let qi = 0; qi < queue.length; qi++) {
    const [node, parent] = queue[qi]!;
    if (node.t === 'Call' && node.func.t === 'Name') {
      const func = node.func.id;
      const args: Raw[] = [];
      for (const a of node.args) if (a.t !== 'Call') args.push(nodeToValue(a));
      const kw: Record<string, Raw> = {};
      for (const k of node.keywords) kw[k.arg] = nodeToValue(k.value);
      const a0 = args[0];
      if (CUSTOM_FUNCTIONS.has(func)) {
        if (typeof a0 === 'string' && a0 && !vars.has(a0)) vars.set(a0, { type: 'String', default: null, usedIn: 'function_call', kw: {} });
      } else if (func === 'Array') {
        const def = 'default' in kw ? kw.default! : args.length > 2 && truthyRaw(args[2]!) ? args[2]! : null;
        if (typeof a0 === 'string' && a0) vars.set(a0, { type: args.length > 1 ? `Array(${String(args[1])})` : 'Array(String)', default: checkDefault(def), kw });
      } else if (PARAMETER_TYPES.has(func) || func === 'Int' || func === 'Integer') {
        const def = 'default' in kw ? kw.default! : args.length > 1 ? args[1]! : null;
        // Int()/Integer() are documented as Int32 (Tinybird leaves them untyped)
        const type = func === 'Int' || func === 'Integer' ? 'Int32' : func;
        if (typeof a0 === 'string' && a0) vars.set(a0, { type, default: checkDefault(def), kw });
      }
    } else if (node.t === 'Name') {
      const isCall = parent !== null && parent.t === 'Call';
      const reserved = (RESERVED_VARS.has(node.id) && !PARAMETER_BUILTINS.has(node.id)) || FUNCTION_LIST.has(node.id) || NAMESPACE_NAMES.has(node.id);
      if (!isCall && !reserved) vars.set(node.id, { type: 'String', default: null, kw: {} });
    }
    for (const c of children(node)) queue.push([c, node]);
  }
  const out: ParamInfo[] = [];
  for (const [name, d] of vars) {
    const p: ParamInfo = { name, type: d.type, default: d.default };
    if (d.usedIn) p.usedIn = d.usedIn;
    for (const [k, v] of Object.entries(d.kw)) {
      if (k === 'default') continue;
      if (k === 'required' || k === 'defined') p[k] = !!v && v !== 0n;
      else if (k === 'enum') p.enum = Array.isArray(v) ? v.map((x) => String(x)) : [String(v)];
      else if (k === 'description' || k === 'example' || k === 'format') p[k] = v === null ? undefined : String(v);
    }
    out.push(p);
  }
  return out;
}

/** Replace `{{...}}` inside a statement by None (Tornado treats them as Python set braces). */
function stripEmbedded(src: string): { src: string; inner: string[] } {
  const inner: string[] = [];
  const re = /\{\{(.*?)\}\}/g;
  if (!src.includes('{{') || !src.includes('}}')) return { src, inner };
  const out = src.replace(re, (_m, g: string) => {
    inner.push(g.trim());
    return 'None';
  });
  return { src: out, inner };
}

function tryParse(src: string): Expr | null {
  try {
    const p = new ExprParser(src);
    const e = p.parseExpression();
    return e;
  } catch {
    return null;
  }
}

/** get_var_names_and_types. */
export function getParams(body: TNode[]): ParamInfo[] {
  const typed = new Set<string>();
  const out: ParamInfo[] = [];

  const statement = (src: string, wrap: (e: Expr) => PNode | null): void => {
    const exprNames = new Set<string>();
    const { src: clean, inner } = stripEmbedded(src);
    for (const s of inner) {
      if (!s) continue;
      const e = tryParse(s);
      if (!e) continue;
      for (const vd of getVarData({ t: 'Module', body: [{ t: 'ExprStmt', value: e }] })) {
        if (typed.has(vd.name)) continue;
        exprNames.add(vd.name);
        out.push(vd);
      }
    }
    const parsedRoot = buildStatementRoot(clean, wrap);
    if (!parsedRoot) return;
    for (const vd of getVarData(parsedRoot)) if (!typed.has(vd.name) && !exprNames.has(vd.name)) out.push(vd);
  };

  const walk = (nodes: TNode[]): void => {
    for (const n of nodes) {
      switch (n.k) {
        case 'expr': {
          const vd = getVarData({ t: 'Module', body: [{ t: 'ExprStmt', value: n.ast }] });
          vd.forEach((v) => typed.add(v.name));
          out.push(...vd);
          break;
        }
        case 'if': {
          walk(n.branches[0]!.body);
          for (const b of n.branches.slice(1)) {
            statement(b.src, (c) => ({ t: 'Module', body: [{ t: 'If', test: { t: 'Const', v: false, pos: 0 }, orelse: { t: 'If', test: c } }] }));
            walk(b.body);
          }
          if (n.orelse) walk(n.orelse);
          statement(n.branches[0]!.src, (c) => ({ t: 'Module', body: [{ t: 'If', test: c }] }));
          break;
        }
        case 'while':
          walk(n.body);
          if (n.orelse) walk(n.orelse);
          statement(n.src, (c) => ({ t: 'Module', body: [{ t: 'While', test: c }] }));
          break;
        case 'for':
          walk(n.body);
          if (n.orelse) walk(n.orelse);
          statementFor(n.src);
          break;
        case 'try':
          walk(n.body);
          for (const h of n.handlers) {
            if (h.type) {
              const root: PNode = { t: 'Module', body: [{ t: 'Try', handlers: [{ type: h.type }] }] };
              for (const vd of getVarData(root)) if (!typed.has(vd.name)) out.push(vd);
            }
            walk(h.body);
          }
          if (n.orelse) walk(n.orelse);
          if (n.finalbody) walk(n.finalbody);
          break;
        case 'set':
          if (n.stmt && !n.src.includes('{{')) {
            const s = n.stmt;
            const root: PNode = s.t === 'Assign'
              ? { t: 'Module', body: [{ t: 'Assign', targets: s.targets, value: s.value }] }
              : s.t === 'AugAssign'
                ? { t: 'Module', body: [{ t: 'Assign', targets: [s.target], value: s.value }] }
                : { t: 'Module', body: [{ t: 'ExprStmt', value: s.value }] };
            for (const vd of getVarData(root)) if (!typed.has(vd.name)) out.push(vd);
          }
          break;
        default:
          break;
      }
    }
  };

  const statementFor = (src: string): void => {
    const { src: clean } = stripEmbedded(src);
    try {
      const p = new ExprParser(clean).parseFor();
      for (const vd of getVarData({ t: 'Module', body: [{ t: 'For', target: p.target, iter: p.iter }] })) if (!typed.has(vd.name)) out.push(vd);
    } catch {
      /* unparsable statements contribute nothing, as in Tinybird */
    }
  };

  walk(body);
  return out;
}

function buildStatementRoot(src: string, wrap: (e: Expr) => PNode | null): PNode | null {
  const e = tryParse(src);
  return e ? wrap(e) : null;
}
