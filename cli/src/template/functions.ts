// Template built-ins of §4.4 (sql_template.py) and the Python builtins allowed in statements.
import { DOC, LimitError, PyError, tse, typeError } from './errors.js';
import { escapeIdent, escapeString } from './escape.js';
import { binop, iterate, pyLen } from './pyops.js';
import { JSONDecodeError, pyJsonLoads } from './pyjson.js';
import { strptime } from './strptime.js';
import {
  Comment, Expression, Placeholder, PyFunc, PyTuple, Symbol, TypedFloat, TypedInt, asInt, asNum, asStr, pyCompare, repr, str,
  toJs, truthy, typeName, type NativeFn, type PyValue,
} from './values.js';

/** Per-render state the functions write to (settings, secrets...). */
export interface FnCtx {
  testMode: boolean;
  secrets: Record<string, string> | undefined;
  settings: Record<string, string | number>;
  queryParams: Record<string, string>;
  cacheTtlSeconds?: number;
  /** Test mode: secrets used without a value (an empty value stands in), with the position of their `{{`. */
  unsetSecrets: { name: string; line: number; col: number }[];
  /** Position of the `{{` being evaluated, for unsetSecrets. */
  at: { line: number; col: number };
  /** expression_wrapper, provided by render.ts */
  wrap(v: PyValue, name: string): string;
}

type Kw = Map<string, PyValue> | null;

/** Bind Python-style arguments; throws the TypeErrors CPython would. */
function bind(fname: string, params: string[], required: number, args: PyValue[], kw: Kw, extraOk: string[] = []): PyValue[] {
  if (args.length > params.length) {
    throw typeError(`${fname}() takes ${required === params.length ? params.length : `from ${required} to ${params.length}`} positional arguments but ${args.length} were given`);
  }
  const out: (PyValue | undefined)[] = args.slice();
  if (kw) {
    for (const [k, v] of kw) {
      const i = params.indexOf(k);
      if (i < 0) {
        if (extraOk.includes(k)) continue;
        throw typeError(`${fname}() got an unexpected keyword argument '${k}'`);
      }
      if (i < args.length) throw typeError(`${fname}() got multiple values for argument '${k}'`);
      out[i] = v;
    }
  }
  for (let i = 0; i < required; i++) {
    if (out[i] === undefined) throw typeError(`${fname}() missing 1 required positional argument: '${params[i]}'`);
  }
  return Array.from({ length: params.length }, (_, i) => (out[i] === undefined ? NO_DEFAULT : out[i]!)) as PyValue[];
}

const NO_DEFAULT = null; // unspecified optionals are None

// ---------------------------------------------------------------------------------------------
// testers (datatypes.py), applied to str(x)

const INT_RE = /^[+-]?[0-9]+$/;
const UINT_RE = /^[0-9]+$/;
// `[0-9]+(?:\.[0-9]*)?`, not `[0-9]+\.?[0-9]*`: the latter splits a run of digits every possible way before it
// fails, quadratic in the input (a 16 KB parameter took 0.7 s of the event loop).
const FLOAT_RE = /^\s*[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\s*$/i;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME_RE = /^(?:\d{4}.\d{2}.\d{2}(?:T|\s)\d{2}:\d{2}:\d{2}|\d{2}.\d{2}.\d{4}.\d{1,2}:\d{1,2}:\d{1,2})/;
const DATETIME64_RE = /^(?:\d{4}.\d{2}.\d{2}(?:T|\s)\d{2}:\d{2}:\d{2}.\d{3}|\d{2}.\d{2}.\d{4}.\d{1,2}:\d{1,2}:\d{1,2}.\d{1,3})/;
const BOOL_WORDS = new Set(['true', 'false', 'True', 'False', 'T', 'F', 'Y', 'N', 'Yes', 'No', 'On', 'Off', 'Enable', 'Disable', 'Enabled', 'Disabled', '1', '0']);

function intRange(bits: number, signed: boolean): [bigint, bigint] {
  const b = BigInt(bits);
  return signed ? [-(1n << (b - 1n)), (1n << (b - 1n)) - 1n] : [0n, (1n << b) - 1n];
}

/** Python 3.11+ refuses to convert longer digit strings to int (sys.get_int_max_str_digits()); so do we. */
const MAX_INT_DIGITS = 4300;

function parseBigInt(s: string): bigint {
  const neg = s[0] === '-';
  const digits = s[0] === '-' || s[0] === '+' ? s.slice(1) : s;
  if (digits.length > MAX_INT_DIGITS) {
    throw new PyError('ValueError', `Exceeds the limit (${MAX_INT_DIGITS} digits) for integer string conversion: value has ${digits.length} digits`);
  }
  const v = BigInt(digits);
  return neg ? -v : v;
}

export const INT_TYPES: Record<string, { bits: number; signed: boolean; re: RegExp }> = {};
for (const bits of [8, 16, 32, 64, 128, 256]) {
  INT_TYPES[`Int${bits}`] = { bits, signed: true, re: INT_RE };
  INT_TYPES[`UInt${bits}`] = { bits, signed: false, re: bits >= 128 ? INT_RE : UINT_RE };
}

export const TESTERS: Record<string, (s: string) => boolean> = {
  Float32: (s) => !s.includes('_') && FLOAT_RE.test(s),
  Float64: (s) => !s.includes('_') && FLOAT_RE.test(s),
  Date: (s) => DATE_RE.test(s),
  DateTime: (s) => DATETIME_RE.test(s),
  DateTime64: (s) => DATETIME64_RE.test(s),
  Boolean: (s) => BOOL_WORDS.has(s),
  bool: (s) => BOOL_WORDS.has(s),
  String: () => true,
};
for (const [name, t] of Object.entries(INT_TYPES)) {
  const [lo, hi] = intRange(t.bits, t.signed);
  TESTERS[name] = (s) => {
    if (!t.re.test(s) || s.length > MAX_INT_DIGITS + 1) return false;
    const v = parseBigInt(s);
    return v >= lo && v <= hi;
  };
}
TESTERS.Int = TESTERS.Int32!;
TESTERS.Integer = TESTERS.Int32!;
// Looked up by names a template gives (Array(x, 'toString') from a /v0/sql template): no inherited keys.
Object.setPrototypeOf(TESTERS, null);

/** Python float(): accepts str (with spaces, inf, nan), int, float, bool. */
export function pyFloat(v: PyValue): number {
  const n = asNum(v);
  if (n !== undefined) return n;
  const s = asStr(v);
  if (s !== undefined) {
    const t = s.trim().replace(/(\d)_(?=\d)/g, '$1');
    if (FLOAT_RE.test(t)) {
      const low = t.toLowerCase().replace(/^\+/, '');
      if (/^-?inf(inity)?$/.test(low)) return low[0] === '-' ? -Infinity : Infinity;
      if (/^-?nan$/.test(low)) return NaN;
      return parseFloat(t);
    }
    throw new PyError('ValueError', `could not convert string to float: ${repr(s)}`);
  }
  throw typeError(`float() argument must be a string or a real number, not '${typeName(v)}'`);
}

/** Python int(). */
export function pyInt(v: PyValue): bigint {
  const i = asInt(v);
  if (i !== undefined) return i;
  if (typeof v === 'number' || v instanceof TypedFloat) {
    const n = asNum(v)!;
    if (Number.isNaN(n)) throw new PyError('ValueError', 'cannot convert float NaN to integer');
    if (!Number.isFinite(n)) throw new PyError('OverflowError', 'cannot convert float infinity to integer');
    return BigInt(Math.trunc(n));
  }
  const s = asStr(v);
  if (s !== undefined) {
    const t = s.trim();
    if (/^[+-]?[0-9]+(?:_[0-9]+)*$/.test(t)) return parseBigInt(t.replace(/_/g, ''));
    throw new PyError('ValueError', `invalid literal for int() with base 10: ${repr(s)}`);
  }
  throw typeError(`int() argument must be a string, a bytes-like object or a real number, not '${typeName(v)}'`);
}

// ---------------------------------------------------------------------------------------------
// transform types

const DOC_KWARGS = ['required', 'description', 'enum', 'example', 'format'];
const TRANSFORM_PARAMS = ['x', 'default', 'defined', 'required', 'description', 'enum', 'example', 'format'];

const PLACEHOLDERS: Record<string, PyValue> = {
  DateTime64: '2019-01-01 00:00:00.000',
  DateTime: '2019-01-01 00:00:00',
  Date: '2019-01-01',
  Float32: 0,
  Float64: 0,
  Int: 0n,
  Integer: 0n,
};
for (const n of Object.keys(INT_TYPES)) PLACEHOLDERS[n] = 0n;
Object.setPrototypeOf(PLACEHOLDERS, null);

function validationError(x: PyValue, tester: string): PyError {
  return tse(`Error validating '${str(x)}' to type ${tester}`);
}

/** transform_type(tester, transform, placeholder) from sql_template.py. */
function transformType(fname: string, tester: string, transform: (x: PyValue) => PyValue, placeholder: PyValue): NativeFn {
  return (args, kw) => {
    const [x0, def, defined] = bind('_f', TRANSFORM_PARAMS, 1, args, kw);
    let x: PyValue = x0 as PyValue;
    if (x instanceof Placeholder) {
      x = truthy(def!) ? def! : placeholder;
    } else if (x === null) {
      x = def!;
      if (x === null) {
        const isDefined = kw?.has('defined') || args.length > 2 ? truthy(defined!) : true;
        if (isDefined) throw tse('Required parameter is not defined');
        return null;
      }
    }
    void fname;
    if (tester === 'String') {
      if (x !== null) return transform(x);
    } else if (TESTERS[tester]!(str(x))) return transform(x);
    throw validationError(x, tester);
  };
}

function typedIntTransform(type: string): (x: PyValue) => PyValue {
  return (x) => new TypedInt(pyInt(x), type);
}

function boolean(args: PyValue[], kw: Kw): PyValue {
  const [x, def] = bind('boolean', ['x', 'default'], 1, args, kw, [...DOC_KWARGS, 'defined']);
  return booleanOf(x!, def!);
}

function booleanOf(x: PyValue, def: PyValue): bigint {
  if (x === null) return def === null ? 0n : booleanOf(def, null);
  if (x instanceof Placeholder) return booleanOf(def, null);
  const s = asStr(x);
  if (s !== undefined && (s === '0' || s.toLowerCase() === 'false')) return 0n;
  return truthy(x) ? 1n : 0n;
}

// Array item transforms: plain values, not the typed wrappers
function arrayItemFns(testMode: boolean): Record<string, (x: PyValue) => PyValue> {
  const ph = (name: string) => (testMode ? PLACEHOLDERS[name] ?? null : null);
  const fns: Record<string, (x: PyValue) => PyValue> = Object.create(null);
  const wrap = (name: string, tester: string, tr: (x: PyValue) => PyValue) => {
    const f = transformType(name, tester, tr, ph(name));
    fns[name] = (x) => f([x], null, null);
  };
  for (const n of Object.keys(INT_TYPES)) wrap(n, n, pyInt);
  wrap('Int', 'Int32', pyInt);
  wrap('Integer', 'Int32', pyInt);
  wrap('Float32', 'Float32', pyFloat);
  wrap('Float64', 'Float64', pyFloat);
  wrap('Date', 'Date', (x) => str(x));
  wrap('DateTime', 'DateTime', (x) => str(x));
  wrap('DateTime64', 'DateTime64', (x) => str(x));
  wrap('String', 'String', (x) => str(x));
  fns.Boolean = (x) => booleanOf(x, null);
  fns.bool = fns.Boolean;
  fns.Symbol = (x) => symbolOf(x, '`');
  fns.Column = fns.Symbol;
  return fns;
}

const ITEM_FNS = arrayItemFns(false);
const ITEM_FNS_TEST = arrayItemFns(true);

function arrayType(args: PyValue[], kw: Kw, ctx: FnCtx): PyValue {
  const [x0, type, def, defined] = bind('_f', ['x', '_type', 'default', 'defined', ...DOC_KWARGS], 1, args, kw);
  let x: PyValue = x0 as PyValue;
  const t = type === null ? null : str(type!);
  const types = ctx.testMode ? ITEM_FNS_TEST : ITEM_FNS;
  if (x instanceof Placeholder) {
    if (truthy(def!)) x = def!;
    else if (t && types[t]) x = t === 'String' ? '' : [0, 1].map(() => str(types[t]!(x))).join(',');
    else x = '';
  } else if (x === null) {
    x = def!;
    if (x === null) {
      if (truthy(defined!) || !(kw?.has('defined') || args.length > 3)) throw tse('Required parameter is not defined');
      return null;
    }
  }
  let items: PyValue[];
  if (Array.isArray(x)) items = x;
  else {
    const s = asStr(x);
    if (s === undefined) throw tse('transform type function Array is not well defined');
    items = s.split(',');
  }
  const values: string[] = [];
  items.forEach((item, i) => {
    if (t !== null && TESTERS[t]) {
      if (!TESTERS[t]!(str(item))) {
        const shown = asStr(item) === '' ? 'empty string' : str(item);
        throw tse(`Error validating [${str(x)}][${i}] (${shown}) to type ${t}`);
      }
      values.push(ctx.wrap(types[t] ? types[t]!(item) : item, str(item)));
    } else {
      values.push(ctx.wrap(t !== null && types[t] ? types[t]!(item) : item, str(item)));
    }
  });
  return new Expression(`[${values.join(',')}]`);
}

function jsonType(args: PyValue[], kw: Kw): PyValue {
  const [x0, def] = bind('json_type', ['x', 'default'], 1, args, kw, [...DOC_KWARGS, 'defined']);
  let x: PyValue = x0 as PyValue;
  if (x instanceof Placeholder) x = truthy(def!) ? def! : '__no_value__';
  if (x === null) x = typeof def === 'string' ? def : '{}';
  const s = asStr(x);
  if (s === undefined) return x;
  const shown = s.length > 16 ? s.slice(0, 16) + '...' : s;
  try {
    return pyJsonLoads(s);
  } catch (e) {
    if (e instanceof JSONDecodeError) throw new PyError('SQLTemplateException', `Error parsing JSON: '${shown}' - ${e.message}`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// identifiers

/** Quotes symbol() may put around a name. Any other (`''` above all) would emit the escaped value unquoted. */
const SYMBOL_QUOTES = new Set(['`', '"', "'"]);

function symbolOf(x: PyValue, quote: string): PyValue {
  if (!SYMBOL_QUOTES.has(quote)) throw tse(`symbol() quote must be \`, " or ', not ${repr(quote)}: a name emitted without quotes could change the query`, `${DOC}#symbol`);
  if (x instanceof Placeholder) return new Symbol('`placeholder`');
  return new Symbol(quote + sqlescape(x) + quote);
}

function sqlescape(x: PyValue): string {
  const s = asStr(x);
  if (s === undefined) throw new PyError('AttributeError', `'${typeName(x)}' object has no attribute 'translate'`);
  return escapeIdent(s);
}

function columnOf(x: PyValue, def: PyValue): Symbol {
  if (x === null || x instanceof Placeholder) {
    if (def === null) throw tse("Missing column() default value, use `column(column_name, 'default_column_name')`", `${DOC}#column`);
    x = def;
  }
  const s = asStr(x);
  if (s === undefined) return new Symbol('`' + sqlescape(x) + '`');
  return new Symbol(s.split('.').map((p) => '`' + escapeIdent(p) + '`').join('.'));
}

// Only plain (dotted or dashed) names may be emitted unquoted: anything else could end the
// identifier, e.g. `t--` comments out the rest of the query.
const TABLE_RE = /^[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*$/;
/** A function name, with numeric parameters for a parametric aggregate (`quantile(0.9)`). */
const FUNCTION_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*(?:\(\s*-?[0-9.]+(?:[eE][-+]?[0-9]+)?(?:\s*,\s*-?[0-9.]+(?:[eE][-+]?[0-9]+)?)*\s*\))?$/;

function tableOf(args: PyValue[], kw: Kw): PyValue {
  const [x] = bind('table', ['x', 'quote'], 1, args, kw);
  if (x instanceof Placeholder) return new Symbol('placeholder');
  const s = sqlescape(x!);
  if (!TABLE_RE.test(s)) throw tse(`Invalid table name ${repr(s)}`, `${DOC}#table`);
  return new Symbol(s);
}

function columnsOf(args: PyValue[], kw: Kw): PyValue {
  const [x0, def, fn] = bind('columns', ['x', 'default', 'fn'], 1, args, kw);
  let x: PyValue = x0 as PyValue;
  if (x === null || x instanceof Placeholder) {
    if (def === null) throw tse("Missing columns() default value, use `columns(column_names, 'default_column_name')`", `${DOC}#columns`);
    x = def!;
  }
  const s = asStr(x);
  if (s === undefined) throw tse("The 'columns' function expects a String not an Array", `${DOC}#columns`);
  const cols = s.split(',').map((c) => c.trim());
  if (fn !== null && truthy(fn!)) {
    // Tinybird inserts fn raw; here it must be a function name, so that a parameter passed as fn cannot add SQL.
    const name = str(fn!);
    if (!FUNCTION_NAME_RE.test(name)) throw tse(`columns() fn must be a function name (letters, digits, _; numeric parameters as in quantile(0.9)), not ${repr(name)}`, `${DOC}#columns`);
    // the alias is backticked too (Tinybird inserts it raw)
    return new Expression(cols.map((c) => `${name}(${columnOf(c, c).s}) as ${columnOf(c, c).s}`).join(','));
  }
  return new Expression(cols.map((c) => columnOf(c, c).s).join(','));
}

// ---------------------------------------------------------------------------------------------
// misc functions

const SQL_AND_OPS: Record<string, string> = Object.assign(Object.create(null), { in: 'in', not_in: 'not in', gt: '>', lt: '<', gte: '>=', lte: '<=' });

function sqlAnd(_args: PyValue[], kw: Kw, ctx: FnCtx): PyValue {
  const parts: string[] = [];
  if (kw) {
    for (const [k, v] of kw) {
      const cut = k.lastIndexOf('__');
      const name = cut < 0 ? k : k.slice(0, cut);
      let op = '=';
      if (cut >= 0) {
        const suffix = k.slice(cut + 2);
        if (!(suffix in SQL_AND_OPS)) throw tse(`operand ${suffix} not supported`, `${DOC}#sql_and`);
        op = SQL_AND_OPS[suffix]!;
      }
      if (v === null) continue;
      parts.push(`${name} ${op} ${ctx.wrap(v, k)}`);
    }
  }
  return new Expression(parts.join(' and '));
}

function splitToArray(args: PyValue[], kw: Kw): PyValue {
  const [x0, def, sep] = bind('split_to_array', ['x', 'default', 'separator'], 1, args, kw);
  let x: PyValue = x0 as PyValue;
  if (x instanceof Placeholder || x === null) x = def === null && !(kw?.has('default') || args.length > 1) ? '' : def!;
  const s = asStr(x);
  if (s === undefined) {
    throw tse(
      'First argument of split_to_array has to be a value that can be split to a list of elements, but found a PlaceHolder with no value instead',
      `${DOC}#split_to_array`,
    );
  }
  const d = sep === null && !(kw?.has('separator') || args.length > 2) ? ',' : asStr(sep!);
  if (d === undefined) throw typeError('must be str or None, not ' + typeName(sep!));
  if (d === '') throw new PyError('ValueError', 'empty separator');
  return s.split(d).map((p) => p.trim());
}

function enumerateWithLast(args: PyValue[], kw: Kw): PyValue {
  const [arr] = bind('enumerate_with_last', ['arr'], 1, args, kw);
  const n = Number(pyLen(arr!));
  return iterate(arr!).map((x, i) => new PyTuple([n === i + 1, x]));
}

const DIFF_MSG: Record<string, string> = {
  days: 'invalid date format in function `date_diff_in_days`, it must be ISO format date YYYY-MM-DD, e.g. 2018-09-26',
  hours: 'invalid date_format in function `date_diff_in_hours`, defaults to YYYY-MM-DD hh:mm:ss. Or %Y-%m-%d %H:%M:%S [.ssssss]Z, e.g. ms: 2022-12-19T18:42:22.591Z s:2022-12-19T18:42:22Z',
  // (sic) Tinybird names date_diff_in_seconds in the minutes message
  minutes: 'invalid date_format in function `date_diff_in_seconds`, defaults to YYYY-MM-DD hh:mm:ss. Or %Y-%m-%d %H:%M:%S [.ssssss]Z, e.g. ms: 2022-12-19T18:42:22.591Z s:2022-12-19T18:42:22Z',
  seconds: 'invalid date_format in function `date_diff_in_seconds`, defaults to YYYY-MM-DD hh:mm:ss. Or %Y-%m-%d %H:%M:%S [.ssssss]Z, e.g. ms: 2022-12-19T18:42:22.591Z s:2022-12-19T18:42:22Z',
};
const UNIT_US: Record<string, number> = { days: 86_400e6, hours: 3_600e6, minutes: 60e6, seconds: 1e6 };

function dateDiff(unit: string): NativeFn {
  const defFmt = unit === 'days' ? '%Y-%m-%d' : '%Y-%m-%d %H:%M:%S';
  return (args, kw) => {
    const [d0, d1, fmt0, def, backup, noneIfError] = bind(`date_diff_in_${unit}`, ['d0', 'd1', 'date_format', 'default', 'backup_date_format', 'none_if_error'], 2, args, kw);
    if (d0 instanceof Placeholder || d1 instanceof Placeholder) return truthy(def!) ? def! : 0n;
    const fmt = fmt0 === null && !(kw?.has('date_format') || args.length > 2) ? defFmt : fmt0!;
    const formats = [fmt];
    if (backup !== null && truthy(backup!)) formats.push(backup!);
    const parse = (v: PyValue) => {
      for (const f of formats) {
        try {
          return strptime(v as string, str(f));
        } catch {
          /* try the next format */
        }
      }
      throw new Error('no format');
    };
    try {
      const a = parse(d0!);
      const b = parse(d1!);
      if (a.aware !== b.aware) throw new Error("can't subtract offset-naive and offset-aware datetimes");
      return BigInt(Math.trunc(Math.abs(b.us - a.us) / UNIT_US[unit]!));
    } catch {
      if (truthy(noneIfError!)) return null;
      throw tse(DIFF_MSG[unit]!, `${DOC}#date_diff_in_${unit}`);
    }
  };
}

function dayDiff(args: PyValue[], kw: Kw): PyValue {
  const [d0, d1] = bind('day_diff', ['d0', 'd1', 'default'], 2, args, kw);
  try {
    return dateDiff('days')([d0!, d1!, '%Y-%m-%d'], null, null);
  } catch {
    throw tse(
      'invalid date format in function `day_diff`, it must be ISO format date YYYY-MM-DD, e.g. 2018-09-26. For other fotmats, try `date_diff_in_days`',
      `${DOC}#date_diff_in_days`,
    );
  }
}

/** True when `body` is a safe single-quoted literal body (no bare quote, no dangling backslash). */
function safeLiteralBody(body: string): boolean {
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      if (i + 1 >= body.length) return false;
      i++;
    } else if (c === "'") return false;
  }
  return true;
}

function sqlUnescape(args: PyValue[], kw: Kw): PyValue {
  const [x, what0] = bind('sql_unescape', ['x', 'what'], 1, args, kw);
  const s = asStr(x!);
  if (s === undefined) throw new PyError('AttributeError', `'${typeName(x!)}' object has no attribute 'translate'`);
  const what = what0 === null && !(kw?.has('what') || args.length > 1) ? '' : str(what0!);
  const esc = escapeString(s);
  // Tinybird's default (what='') strips every backslash, which lets a quote escape the literal;
  // we only undo the escapes that cannot end it.
  const body = what === '' ? esc.replace(/\\(["%`])/g, '$1') : esc.split('\\' + what).join(what);
  if (!safeLiteralBody(body)) throw tse(`sql_unescape can not unescape ${repr(what)}`);
  return new Expression("'" + body + "'");
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]/g, ' ');
}

function errorFn(custom: boolean): NativeFn {
  return (args, kw, ctx: FnCtx) => {
    const [msg, code] = bind(custom ? 'custom_error' : 'error', ['s', 'code'], 1, args, kw);
    if (ctx.testMode) return new Comment('error launched');
    if (!custom) throw new PyError('ValueError', str(msg!));
    let status = 400;
    const c = code === null ? undefined : asInt(code!) ?? (asStr(code!) !== undefined && /^\d+$/.test(asStr(code!)!) ? BigInt(asStr(code!)!) : undefined);
    if (c !== undefined && c >= 100n && c <= 599n) status = Number(c);
    const payload = msg instanceof Map ? toJs(msg) : undefined;
    const text = payload !== undefined ? JSON.stringify(payload) : str(msg!);
    throw new PyError('SQLTemplateCustomError', text, undefined, status, payload);
  };
}

const TTL_SECONDS: Record<string, number> = Object.assign(Object.create(null), { '5s': 5, '1m': 60, '5m': 300, '30m': 1800, '1h': 3600 });

/** max_threads() values passed on as the setting; others leave a "wrong argument" comment, as a non-number does. */
const MAX_THREADS_LIMIT = 1024n;

function maxThreads(args: PyValue[], kw: Kw, ctx: FnCtx): PyValue {
  const [x] = bind('set_max_threads', ['x'], 1, args, kw);
  try {
    const n = pyInt(x!);
    if (n < 1n || n > MAX_THREADS_LIMIT) throw new PyError('ValueError', 'max_threads out of range');
    ctx.settings.max_threads = Number(n);
    return new Expression(`-- max_threads ${oneLine(str(x!))}\n`);
  } catch (e) {
    if (e instanceof LimitError) throw e;
    return new Expression(`-- max_threads: wrong argument ${oneLine(str(x!))}\n`);
  }
}

function backendHint(args: PyValue[], kw: Kw): PyValue {
  const [h] = bind('set_backend_hint', ['hint'], 1, args, kw);
  return new Expression(`-- backend_hint ${oneLine(str(h!))}\n`);
}

function cacheTtl(args: PyValue[], kw: Kw, ctx: FnCtx): PyValue {
  const [t] = bind('set_cache_ttl', ['ttl_expression'], 1, args, kw);
  const s = asStr(t!);
  if (s === undefined || !(s in TTL_SECONDS)) {
    throw tse("Invalid TTL cache expression, valid expressions are ('5s', '1m', '5m', '30m', '1h')", undefined);
  }
  ctx.cacheTtlSeconds = TTL_SECONDS[s]!;
  return new Expression(`-- cache_ttl ${s}\n`);
}

function activate(args: PyValue[], kw: Kw, ctx: FnCtx): PyValue {
  const [f] = bind('set_activate', ['feature'], 1, args, kw);
  const s = asStr(f!);
  if (s !== 'analyzer' && s !== 'parallel_replicas') throw tse(`'${str(f!)}' is not a valid 'activate' argument`, undefined);
  if (s === 'analyzer') ctx.settings.enable_analyzer = 1;
  return new Expression(`-- activate ${s}\n`);
}

function disable(args: PyValue[], kw: Kw, ctx: FnCtx): PyValue {
  const [f] = bind('set_disable_feature', ['feature'], 1, args, kw);
  const s = asStr(f!);
  if (s === undefined) throw typeError(`'in <string>' requires string as left operand, not ${typeName(f!)}`);
  // (sic) Tinybird tests `feature not in "analyzer"`, a substring test
  if (!'analyzer'.includes(s)) throw tse(`'${s}' is not a valid 'disable' argument`, undefined);
  if (s === 'analyzer') ctx.settings.enable_analyzer = 0;
  return new Expression(`-- disable ${s}\n`);
}

function tbSecret(args: PyValue[], kw: Kw, ctx: FnCtx): PyValue {
  const name = args[0] ?? kw?.get('x') ?? null;
  const fail = () => tse(`Cannot access secret '${str(name)}'. Check the secret exists in the Workspace and the token has the required scope.`, undefined);
  let def: PyValue;
  try {
    [, def] = bind('set_tb_secret', ['x', 'default'], 1, args, kw) as [PyValue, PyValue];
  } catch {
    throw fail();
  }
  const key = asStr(name);
  if (key === undefined) throw fail();
  if (ctx.secrets && Object.prototype.hasOwnProperty.call(ctx.secrets, key)) {
    ctx.queryParams[key] = ctx.secrets[key]!;
    return new Symbol('{' + escapeIdent(key) + ': String}');
  }
  if (def !== null) return def;
  if (ctx.testMode) {
    // Build still has the engine analyse the node: an empty value stands in, and the caller names the secret.
    ctx.queryParams[key] = '';
    if (!ctx.unsetSecrets.some((m) => m.name === key)) ctx.unsetSecrets.push({ name: key, ...ctx.at });
    return new Symbol('{' + escapeIdent(key) + ': String}');
  }
  throw fail();
}

function definedFn(args: PyValue[]): PyValue {
  const x = args[0] ?? null;
  return !(x instanceof Placeholder || x === null);
}

// ---------------------------------------------------------------------------------------------
// Python builtins usable in statements (and len/list/min/max/int/float in `{{ }}`)

function minmax(name: 'min' | 'max'): NativeFn {
  return (args, kw) => {
    const items = args.length === 1 ? iterate(args[0]!) : args;
    if (!items.length) {
      if (kw?.has('default')) return kw.get('default')!;
      throw new PyError('ValueError', `${name}() arg is an empty sequence`);
    }
    let best: PyValue = items[0] as PyValue;
    for (const x of items.slice(1)) {
      const c = pyCompare(x, best, name === 'min' ? '<' : '>');
      if (name === 'min' ? c < 0 : c > 0) best = x;
    }
    return best;
  };
}

function rangeFn(args: PyValue[]): PyValue {
  if (args.length === 0) throw typeError('range expected at least 1 argument, got 0');
  if (args.length > 3) throw typeError(`range expected at most 3 arguments, got ${args.length}`);
  const ints = args.map((a) => {
    const i = asInt(a);
    if (i === undefined) throw typeError(`'${typeName(a)}' object cannot be interpreted as an integer`);
    return i;
  });
  const [start, stop, step] = ints.length === 1 ? [0n, ints[0]!, 1n] : [ints[0]!, ints[1]!, ints[2] ?? 1n];
  if (step === 0n) throw new PyError('ValueError', 'range() arg 3 must not be zero');
  const n = step > 0n ? (stop - start + step - 1n) / step : (start - stop - step - 1n) / -step;
  if (n > 1_000_000n) throw new LimitError('Template Syntax Error: range too large');
  const out: PyValue[] = [];
  for (let i = start; step > 0n ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

function roundFn(args: PyValue[]): PyValue {
  const x = args[0] ?? null;
  const nd = args[1] ?? null;
  const i = asInt(x);
  if (i !== undefined) return nd === null ? i : i;
  const v = asNum(x);
  if (v === undefined) throw typeError(`type ${typeName(x)} doesn't define __round__ method`);
  if (nd === null) {
    const f = Math.floor(v);
    const d = v - f;
    const r = d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
    return pyInt(r);
  }
  const digits = Number(asInt(nd) ?? 0n);
  // Python: more digits than a double holds leave the value as it is; fewer than its range round it to 0.
  if (digits > 308 || !Number.isFinite(v)) return v;
  if (digits < -308) return v < 0 ? -0 : 0;
  const p = 10 ** digits;
  const scaled = v * p;
  // Digits past what the value's size leaves a double (round(1e10, 300)) change nothing, as in Python.
  if (!Number.isFinite(scaled)) return v;
  return Math.round(scaled) / p;
}

export const BUILTINS: Record<string, PyFunc> = {};
function builtin(name: string, fn: NativeFn): void {
  BUILTINS[name] = new PyFunc(name, fn);
}
builtin('len', (a) => pyLen(a[0] ?? null));
builtin('list', (a) => (a.length ? iterate(a[0]!) : []));
builtin('tuple', (a) => new PyTuple(a.length ? iterate(a[0]!) : []));
builtin('set', (a) => new Set(a.length ? iterate(a[0]!).map((x) => (typeof x === 'object' && x !== null ? str(x) : x)) as never : []));
builtin('dict', (_a, kw) => new Map(kw ? [...kw] : []));
builtin('min', minmax('min'));
builtin('max', minmax('max'));
builtin('sum', (a) => iterate(a[0] ?? null).reduce<PyValue>((acc, x) => binop('Add', acc, x), a[1] ?? 0n));
builtin('int', (a) => (a.length ? pyInt(a[0]!) : 0n));
builtin('float', (a) => (a.length ? pyFloat(a[0]!) : 0));
builtin('str', (a) => (a.length ? str(a[0]!) : ''));
builtin('range', rangeFn);
builtin('enumerate', (a) => {
  const start = asInt(a[1] ?? 0n) ?? 0n;
  return iterate(a[0] ?? null).map((x, i) => new PyTuple([start + BigInt(i), x]));
});
builtin('sorted', (a, kw) => {
  if (kw?.has('key')) throw typeError('sorted() key= is not supported in templates');
  const items = iterate(a[0] ?? null).slice();
  items.sort((x, y) => pyCompare(x, y, '<'));
  return kw && truthy(kw.get('reverse') ?? false) ? items.reverse() : items;
});
builtin('reversed', (a) => iterate(a[0] ?? null).reverse());
builtin('zip', (a) => {
  const lists = a.map(iterate);
  const n = lists.length ? Math.min(...lists.map((l) => l.length)) : 0;
  return Array.from({ length: n }, (_, i) => new PyTuple(lists.map((l) => l[i]!)));
});
builtin('abs', (a) => {
  const x = a[0] ?? null;
  const i = asInt(x);
  if (i !== undefined) return i < 0n ? -i : i;
  const n = asNum(x);
  if (n === undefined) throw typeError(`bad operand type for abs(): '${typeName(x)}'`);
  return Math.abs(n);
});
builtin('round', roundFn);
builtin('any', (a) => iterate(a[0] ?? null).some(truthy));
builtin('all', (a) => iterate(a[0] ?? null).every(truthy));

// ---------------------------------------------------------------------------------------------
// the template function namespace (type_fns + function_list + generate()'s specials)

export const TEMPLATE_FUNCTIONS: Record<string, PyFunc> = {};
function tf(name: string, fn: NativeFn): void {
  TEMPLATE_FUNCTIONS[name] = new PyFunc(name, fn);
}

for (const n of Object.keys(INT_TYPES)) {
  const tr = typedIntTransform(n);
  tf(n, (a, k, ctx: FnCtx) => transformType(n, n, tr, ctx.testMode ? PLACEHOLDERS[n]! : null)(a, k, ctx));
}
for (const n of ['Float32', 'Float64']) {
  tf(n, (a, k, ctx: FnCtx) => transformType(n, n, (x) => new TypedFloat(pyFloat(x), n), ctx.testMode ? 0 : null)(a, k, ctx));
}
for (const n of ['Int', 'Integer']) {
  tf(n, (a, k, ctx: FnCtx) => transformType(n, 'Int32', pyInt, ctx.testMode ? 0n : null)(a, k, ctx));
}
for (const n of ['Date', 'DateTime', 'DateTime64']) {
  tf(n, (a, k, ctx: FnCtx) => transformType(n, n, (x) => str(x), ctx.testMode ? PLACEHOLDERS[n]! : null)(a, k, ctx));
}
tf('String', (a, k, ctx) => transformType('String', 'String', (x) => str(x), '__no_value__')(a, k, ctx));
tf('Boolean', boolean);
tf('bool', boolean);
tf('Array', arrayType);
tf('JSON', jsonType);
tf('Symbol', (a, k) => {
  const [x, q] = bind('symbol', ['x', 'quote'], 1, a, k);
  return symbolOf(x!, q === null && !(k?.has('quote') || a.length > 1) ? '`' : str(q!));
});
TEMPLATE_FUNCTIONS.Column = TEMPLATE_FUNCTIONS.Symbol!;
TEMPLATE_FUNCTIONS.symbol = TEMPLATE_FUNCTIONS.Symbol!;
tf('column', (a, k) => {
  const [x, d] = bind('column', ['x', 'default'], 1, a, k);
  return columnOf(x!, d!);
});
tf('columns', columnsOf);
tf('table', tableOf);
TEMPLATE_FUNCTIONS.TABLE = TEMPLATE_FUNCTIONS.table!;
tf('error', errorFn(false));
tf('custom_error', errorFn(true));
tf('sql_and', sqlAnd);
tf('defined', definedFn);
tf('enumerate_with_last', enumerateWithLast);
tf('split_to_array', splitToArray);
tf('day_diff', dayDiff);
for (const u of ['days', 'hours', 'minutes', 'seconds']) tf(`date_diff_in_${u}`, dateDiff(u));
tf('sql_unescape', sqlUnescape);
tf('max_threads', maxThreads);
tf('backend_hint', backendHint);
tf('cache_ttl', cacheTtl);
tf('activate', activate);
tf('disable', disable);
tf('tb_secret', tbSecret);
tf('tb_var', tbSecret);

