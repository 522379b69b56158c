// Error types of the template engine. TemplateError is the only error that leaves the public API;
// PyError models a Python exception raised while evaluating, so `{% try %}` can catch it by class
// and the final mapping to Tinybird's messages (render.ts) can look at the Python type.

export const DOC = '/cli/advanced-templates.html';
export const TSE_PREFIX = 'Template Syntax Error: ';

export type TemplateErrorKind = 'parse' | 'syntax' | 'security' | 'runtime' | 'custom';

export class TemplateError extends Error {
  status: number;
  documentation?: string;
  line?: number;
  kind: TemplateErrorKind;
  /** custom_error() payload when it was not a string (a dict), as plain JSON. */
  body?: unknown;
  constructor(message: string, opts: { status?: number; documentation?: string; line?: number; kind?: TemplateErrorKind; body?: unknown } = {}) {
    super(message);
    this.name = 'TemplateError';
    this.status = opts.status ?? 400;
    if (opts.documentation !== undefined) this.documentation = opts.documentation;
    if (opts.line !== undefined) this.line = opts.line;
    this.kind = opts.kind ?? 'runtime';
    if (opts.body !== undefined) this.body = opts.body;
  }
}

/** Tornado ParseError: "<msg> at <name>:<line>" (no TSE prefix). */
export function parseError(msg: string, name: string, line: number): TemplateError {
  return new TemplateError(`${msg} at ${name}:${line}`, { line, kind: 'parse' });
}

/** Python SyntaxError while compiling a statement or expression. */
export function syntaxError(line: number, detail = 'invalid syntax'): TemplateError {
  return new TemplateError(detail, { line, kind: 'syntax' });
}

/** SecurityException from the `{{ }}` allow-list, surfaced with the TSE prefix. */
export function securityError(msg: string, line: number): TemplateError {
  return new TemplateError(TSE_PREFIX + msg, { line, kind: 'security', documentation: DOC });
}

/**
 * A Python exception during evaluation. `pyType` is the Python class name; SQLTemplateException is
 * a ValueError subclass and SQLTemplateCustomError an Exception subclass, as in sql_template.py.
 */
export class PyError extends Error {
  constructor(
    public pyType: string,
    message: string,
    public documentation?: string,
    public status?: number,
    public payload?: unknown,
  ) {
    super(message);
  }
}

/** SQLTemplateException: message gets the TSE prefix when mapped. */
export function tse(msg: string, documentation: string | undefined = DOC): PyError {
  return new PyError('SQLTemplateException', msg, documentation);
}

export function typeError(msg: string): PyError {
  return new PyError('TypeError', msg);
}

/** Python exception class hierarchy used by `{% except X %}`. */
const PARENTS: Record<string, string> = {
  SQLTemplateException: 'ValueError',
  SQLTemplateCustomError: 'Exception',
  ValueError: 'Exception',
  TypeError: 'Exception',
  NameError: 'Exception',
  UnboundLocalError: 'NameError',
  AttributeError: 'Exception',
  IndexError: 'LookupError',
  KeyError: 'LookupError',
  LookupError: 'Exception',
  ZeroDivisionError: 'ArithmeticError',
  OverflowError: 'ArithmeticError',
  ArithmeticError: 'Exception',
  JSONDecodeError: 'ValueError',
  RecursionError: 'RuntimeError',
  RuntimeError: 'Exception',
  MemoryError: 'Exception',
  Exception: 'BaseException',
};

export const EXCEPTION_NAMES = new Set(Object.keys(PARENTS).concat(['BaseException']));

export function pyErrorIsA(pyType: string, cls: string): boolean {
  let t: string | undefined = pyType;
  while (t) {
    if (t === cls) return true;
    t = PARENTS[t];
  }
  return false;
}

/** Raised for resource limits; never catchable by `{% try %}`. */
export class LimitError extends Error {}
