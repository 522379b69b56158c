// The `{{ }}` allow-list (Tinybird's check_valid_code). Control statements are not checked.
import { dump, type Expr } from './ast.js';

export const VALID_FUNCTION_NAMES = new Set([
  'Boolean', 'DateTime', 'DateTime64', 'Date', 'Float32', 'Float64', 'Int8', 'Int16', 'Int32', 'Int64', 'Int128', 'Int256', 'UInt8',
  'UInt16', 'UInt32', 'UInt64', 'UInt128', 'UInt256', 'String', 'Array', 'JSON', 'Int', 'Integer', 'symbol', 'column', 'columns', 'table',
  'TABLE', 'sql_and', 'sql_unescape', 'defined', 'split_to_array', 'enumerate_with_last', 'day_diff', 'date_diff_in_seconds',
  'date_diff_in_minutes', 'date_diff_in_hours', 'date_diff_in_days', 'error', 'custom_error', 'max_threads', 'cache_ttl', 'backend_hint',
  'activate', 'disable', 'tb_secret', 'tb_var', 'len', 'list', 'min', 'max', 'int', 'float',
]);

const VALID_METHODS = new Set(['split', 'get', 'join', 'replace']);
const VALID_BINOPS = new Set(['Add', 'Sub', 'Mult']);
const VALID_UNARY = new Set(['USub', 'Not']);

export class SecurityException extends Error {}

/** Throws SecurityException with Tinybird's message for the first disallowed node (pre-order). */
export function checkValidCode(e: Expr): void {
  switch (e.t) {
    case 'Name':
      return;
    case 'Const':
      if (e.odd) throw new SecurityException(`Invalid Constant: ${e.odd.odd === 'ellipsis' ? 'Ellipsis' : e.odd.text}`);
      return;
    case 'Call':
      if (e.func.t === 'Name') {
        if (!VALID_FUNCTION_NAMES.has(e.func.id)) throw new SecurityException(`Invalid function name: ${e.func.id}`);
      } else if (e.func.t === 'Attribute') {
        if (!VALID_METHODS.has(e.func.attr)) throw new SecurityException(`Invalid method name: ${e.func.attr}`);
        checkValidCode(e.func.value);
      } else if (e.func.t === 'Call') {
        checkValidCode(e.func);
      } else {
        throw new SecurityException(`Invalid expression type: ${dump(e)}`);
      }
      // only positional arguments are checked, as in Tinybird (keyword values are not)
      for (const a of e.args) checkValidCode(a);
      return;
    case 'BinOp':
      if (!VALID_BINOPS.has(e.op)) throw new SecurityException(`Invalid BinOp: ${e.op}()`);
      checkValidCode(e.left);
      checkValidCode(e.right);
      return;
    case 'UnaryOp':
      if (!VALID_UNARY.has(e.op)) throw new SecurityException(`Invalid UnaryOp: ${e.op}()`);
      checkValidCode(e.operand);
      return;
    case 'Subscript':
      checkValidCode(e.value);
      checkValidCode(e.slice);
      return;
    case 'Slice':
      if (e.lower) checkValidCode(e.lower);
      if (e.upper) checkValidCode(e.upper);
      if (e.step) checkValidCode(e.step);
      return;
    case 'List':
    case 'Tuple':
    case 'Set':
      for (const x of e.elts) checkValidCode(x);
      return;
    case 'Dict':
      for (const x of e.keys) checkValidCode(x);
      for (const x of e.values) checkValidCode(x);
      return;
    case 'JoinedStr':
      for (const x of e.values) checkValidCode(x);
      return;
    case 'FormattedValue':
      checkValidCode(e.value);
      if (e.spec) checkValidCode(e.spec);
      return;
    case 'IfExp':
      checkValidCode(e.test);
      checkValidCode(e.body);
      checkValidCode(e.orelse);
      return;
    default:
      throw new SecurityException(`Invalid expression type: ${dump(e)}`);
  }
}

