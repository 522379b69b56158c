// AST of the Python expression subset. Node and field names follow Python's `ast` module so that
// the allow-list errors can print the same `ast.dump()` text Tinybird prints.
import type { PyValue } from '../values.js';
import { repr, strRepr } from '../values.js';

export type BinOpName = 'Add' | 'Sub' | 'Mult' | 'Div' | 'FloorDiv' | 'Mod' | 'Pow' | 'MatMult' | 'LShift' | 'RShift' | 'BitOr' | 'BitXor' | 'BitAnd';
export type UnaryOpName = 'USub' | 'UAdd' | 'Not' | 'Invert';
export type CmpOpName = 'Eq' | 'NotEq' | 'Lt' | 'LtE' | 'Gt' | 'GtE' | 'In' | 'NotIn' | 'Is' | 'IsNot';

/** Constants Python has but the runtime does not model: they only exist to be rejected. */
export interface OddConst {
  odd: 'bytes' | 'complex' | 'ellipsis';
  text: string;
}

export interface Keyword {
  arg: string;
  value: Expr;
}

export interface Comprehension {
  target: Expr;
  iter: Expr;
  ifs: Expr[];
}

export type Expr =
  | { t: 'Name'; id: string; pos: number }
  | { t: 'Const'; v: PyValue; odd?: OddConst; pos: number }
  | { t: 'JoinedStr'; values: Expr[]; pos: number }
  | { t: 'FormattedValue'; value: Expr; conversion: number; spec?: Expr; pos: number }
  | { t: 'Attribute'; value: Expr; attr: string; pos: number }
  | { t: 'Call'; func: Expr; args: Expr[]; keywords: Keyword[]; pos: number }
  | { t: 'BinOp'; op: BinOpName; left: Expr; right: Expr; pos: number }
  | { t: 'UnaryOp'; op: UnaryOpName; operand: Expr; pos: number }
  | { t: 'BoolOp'; op: 'And' | 'Or'; values: Expr[]; pos: number }
  | { t: 'Compare'; left: Expr; ops: CmpOpName[]; comparators: Expr[]; pos: number }
  | { t: 'IfExp'; test: Expr; body: Expr; orelse: Expr; pos: number }
  | { t: 'Subscript'; value: Expr; slice: Expr; pos: number }
  | { t: 'Slice'; lower?: Expr; upper?: Expr; step?: Expr; pos: number }
  | { t: 'List' | 'Tuple' | 'Set'; elts: Expr[]; pos: number }
  | { t: 'Dict'; keys: Expr[]; values: Expr[]; pos: number }
  | { t: 'Lambda'; args: string[]; body: Expr; pos: number }
  | { t: 'ListComp' | 'GeneratorExp' | 'SetComp'; elt: Expr; generators: Comprehension[]; pos: number }
  | { t: 'DictComp'; key: Expr; value: Expr; generators: Comprehension[]; pos: number };

export type Stmt =
  | { t: 'Assign'; targets: Expr[]; value: Expr }
  | { t: 'AugAssign'; target: Expr; op: BinOpName; value: Expr }
  | { t: 'ExprStmt'; value: Expr };

// ---------------------------------------------------------------------------------------------
// ast.dump() (Python 3.9-3.12 layout: None fields omitted, empty lists kept)

function list(xs: Expr[], ctx?: string): string {
  return '[' + xs.map((x) => dump(x, ctx)).join(', ') + ']';
}

function constText(e: Extract<Expr, { t: 'Const' }>): string {
  if (e.odd) return e.odd.odd === 'ellipsis' ? 'Ellipsis' : e.odd.text;
  return repr(e.v);
}

/** `ctx` is the expression context of Name/Attribute/Subscript/List/Tuple nodes (Load or Store). */
export function dump(e: Expr, ctx = 'Load'): string {
  const c = `ctx=${ctx}()`;
  switch (e.t) {
    case 'Name':
      return `Name(id=${strRepr(e.id)}, ${c})`;
    case 'Const':
      return `Constant(value=${constText(e)})`;
    case 'JoinedStr':
      return `JoinedStr(values=${list(e.values)})`;
    case 'FormattedValue':
      return `FormattedValue(value=${dump(e.value)}, conversion=${e.conversion}${e.spec ? `, format_spec=${dump(e.spec)}` : ''})`;
    case 'Attribute':
      return `Attribute(value=${dump(e.value)}, attr=${strRepr(e.attr)}, ${c})`;
    case 'Call':
      return `Call(func=${dump(e.func)}, args=${list(e.args)}, keywords=[${e.keywords.map((k) => `keyword(arg=${strRepr(k.arg)}, value=${dump(k.value)})`).join(', ')}])`;
    case 'BinOp':
      return `BinOp(left=${dump(e.left)}, op=${e.op}(), right=${dump(e.right)})`;
    case 'UnaryOp':
      return `UnaryOp(op=${e.op}(), operand=${dump(e.operand)})`;
    case 'BoolOp':
      return `BoolOp(op=${e.op}(), values=${list(e.values)})`;
    case 'Compare':
      return `Compare(left=${dump(e.left)}, ops=[${e.ops.map((o) => o + '()').join(', ')}], comparators=${list(e.comparators)})`;
    case 'IfExp':
      return `IfExp(test=${dump(e.test)}, body=${dump(e.body)}, orelse=${dump(e.orelse)})`;
    case 'Subscript':
      return `Subscript(value=${dump(e.value)}, slice=${dump(e.slice)}, ${c})`;
    case 'Slice': {
      const parts: string[] = [];
      if (e.lower) parts.push(`lower=${dump(e.lower)}`);
      if (e.upper) parts.push(`upper=${dump(e.upper)}`);
      if (e.step) parts.push(`step=${dump(e.step)}`);
      return `Slice(${parts.join(', ')})`;
    }
    case 'List':
    case 'Tuple':
      return `${e.t}(elts=${list(e.elts, ctx)}, ${c})`;
    case 'Set':
      return `Set(elts=${list(e.elts)})`;
    case 'Dict':
      return `Dict(keys=${list(e.keys)}, values=${list(e.values)})`;
    case 'Lambda':
      return `Lambda(args=arguments(posonlyargs=[], args=[${e.args.map((a) => `arg(arg=${strRepr(a)})`).join(', ')}], kwonlyargs=[], kw_defaults=[], defaults=[]), body=${dump(e.body)})`;
    case 'ListComp':
    case 'GeneratorExp':
    case 'SetComp':
      return `${e.t}(elt=${dump(e.elt)}, generators=${gens(e.generators)})`;
    case 'DictComp':
      return `DictComp(key=${dump(e.key)}, value=${dump(e.value)}, generators=${gens(e.generators)})`;
  }
}

function gens(g: Comprehension[]): string {
  return '[' + g.map((c) => `comprehension(target=${dump(c.target, 'Store')}, iter=${dump(c.iter)}, ifs=${list(c.ifs)}, is_async=0)`).join(', ') + ']';
}
