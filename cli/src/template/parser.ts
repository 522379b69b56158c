// Block structure of a template: if/elif/else, for/while (+else), try/except/else/finally, set,
// break/continue, comment, whitespace; forbidden tags. Mirrors Tornado's _parse with Tinybird's
// restrictions, then builds a structured tree (what Python would compile) from the flat chunk list.
import type { Expr, Stmt } from './expr/ast.js';
import { checkValidCode, SecurityException } from './expr/check.js';
import { parseCondition, parseExcept, parseExpression, parseFor, parseStatement } from './expr/parser.js';
import { PySyntaxError } from './expr/tokens.js';
import { TemplateError, parseError, securityError, syntaxError } from './errors.js';
import { TemplateLexer, filterWhitespace } from './lexer.js';
import { repr } from './values.js';

export interface TextNode { k: 'text'; text: string; line: number }
export interface ExprNode { k: 'expr'; src: string; ast: Expr; line: number; col: number }
export interface Branch { cond: Expr | null; src: string; line: number; body: TNode[] }
export interface IfNode { k: 'if'; branches: Branch[]; orelse: TNode[] | null; line: number }
export interface ForNode { k: 'for'; target: Expr | null; iter: Expr | null; src: string; body: TNode[]; orelse: TNode[] | null; line: number }
export interface WhileNode { k: 'while'; cond: Expr | null; src: string; body: TNode[]; orelse: TNode[] | null; line: number }
export interface Handler { type: Expr | null; name: string | null; src: string; body: TNode[]; line: number }
export interface TryNode { k: 'try'; body: TNode[]; handlers: Handler[]; orelse: TNode[] | null; finalbody: TNode[] | null; line: number }
export interface SetNode { k: 'set'; stmt: Stmt | null; src: string; line: number }
export interface JumpNode { k: 'break' | 'continue'; line: number }

export type TNode = TextNode | ExprNode | IfNode | ForNode | WhileNode | TryNode | SetNode | JumpNode;

interface Inter { k: 'inter'; op: string; suffix: string; line: number }
type Chunk = TNode | Inter;

const FORBIDDEN: Record<string, string> = {
  extends: 'extends', import: 'import', from: 'import', include: 'include', autoescape: 'autoescape',
  raw: 'raw', module: 'module', apply: 'apply', block: 'block',
};

const INTERMEDIATE: Record<string, string[]> = {
  else: ['if', 'for', 'while', 'try'],
  elif: ['if'],
  except: ['try'],
  finally: ['try'],
};

function pySet(xs: string[]): string {
  return '{' + xs.map((x) => repr(x)).join(', ') + '}';
}

const MAX_NESTING = 100;

export interface ParsedTemplate {
  body: TNode[];
}

export class TemplateParser {
  private lex: TemplateLexer;
  private whitespace = 'all';
  /** Python SyntaxErrors of statements surface after the whole template was read (compile step). */
  private deferred: TemplateError | null = null;

  constructor(
    private text: string,
    private name = '<string>',
    private nodeName?: string,
  ) {
    this.lex = new TemplateLexer(text, name);
  }

  parse(): ParsedTemplate {
    const body = this.parseBody(null, null, false, 0);
    if (this.deferred) throw this.deferred;
    return { body: body as TNode[] };
  }

  private defer(line: number, e: unknown): void {
    if (!(e instanceof PySyntaxError)) throw e;
    // CPython reports most statement errors as plain "invalid syntax"
    if (!this.deferred) this.deferred = syntaxError(line);
  }

  private stmt<T>(line: number, f: () => T): T | null {
    try {
      return f();
    } catch (e) {
      this.defer(line, e);
      return null;
    }
  }

  private unclosed(block: string, line: number): TemplateError {
    let msg: string;
    if (this.nodeName) {
      const sqlLine = this.text.split('\n')[line - 1]?.trim() ?? '';
      msg = `Missing {% end %} block for ${block} in the node ${this.nodeName} at line ${line} of the SQL: ${sqlLine}`;
    } else msg = `Missing {% end %} block for ${block} at line ${line}`;
    return new TemplateError(msg, { line, kind: 'parse' });
  }

  /** Returns the flat chunk list of one block body (up to its `{% end %}`). */
  private parseBody(inBlock: string | null, blockLine: number | null, inLoop: boolean, depth: number): Chunk[] {
    if (depth > MAX_NESTING) throw syntaxError(blockLine ?? 1, 'too many statically nested blocks');
    const body: Chunk[] = [];
    for (;;) {
      const tok = this.lex.next();
      if (tok.kind === 'eof') {
        if (inBlock) throw this.unclosed(inBlock, blockLine!);
        return body;
      }
      if (tok.kind === 'text') {
        let text = tok.text;
        if (this.whitespace !== 'all' && !text.includes('<pre>')) text = filterWhitespace(this.whitespace, text);
        if (text) body.push({ k: 'text', text, line: tok.line });
        continue;
      }
      if (tok.kind === 'expr') {
        let ast: Expr;
        try {
          ast = parseExpression(tok.src);
          checkValidCode(ast);
        } catch (e) {
          if (e instanceof SecurityException) throw securityError(e.message, tok.line);
          if (e instanceof PySyntaxError) throw syntaxError(tok.line);
          throw e;
        }
        body.push({ k: 'expr', src: tok.src, ast, line: tok.line, col: tok.col });
        continue;
      }
      const { contents, line } = tok;
      const sp = contents.indexOf(' ');
      const op = sp < 0 ? contents : contents.slice(0, sp);
      const suffix = sp < 0 ? '' : contents.slice(sp + 1).trim();
      const errLine = tok.endLine;
      if (FORBIDDEN[op]) throw parseError(`${FORBIDDEN[op]} is forbidden`, this.name, errLine);
      const parents = INTERMEDIATE[op];
      if (parents) {
        if (!inBlock) throw parseError(`${op} outside ${pySet(parents)} block`, this.name, errLine);
        if (!parents.includes(inBlock)) throw parseError(`${op} block cannot be attached to ${inBlock} block`, this.name, errLine);
        body.push({ k: 'inter', op, suffix, line });
        continue;
      }
      switch (op) {
        case 'end':
          if (!inBlock) throw parseError('Extra {% end %} block', this.name, errLine);
          return body;
        case 'comment':
          continue;
        case 'set': {
          if (!suffix) throw parseError('set missing statement', this.name, errLine);
          body.push({ k: 'set', stmt: this.stmt(line, () => parseStatement(suffix)), src: suffix, line });
          continue;
        }
        case 'whitespace': {
          try {
            filterWhitespace(suffix, '');
          } catch (e) {
            throw new TemplateError((e as Error).message, { line, kind: 'parse' });
          }
          this.whitespace = suffix;
          continue;
        }
        case 'if':
        case 'for':
        case 'while':
        case 'try': {
          const loop = op === 'for' || op === 'while' ? true : inLoop;
          const inner = this.parseBody(op, line, loop, depth + 1);
          body.push(this.build(op, suffix, line, inner));
          continue;
        }
        case 'break':
        case 'continue':
          if (!inLoop) throw parseError(`${op} outside {'for', 'while'} block`, this.name, errLine);
          if (suffix) this.defer(line, new PySyntaxError('invalid syntax', 0));
          body.push({ k: op, line });
          continue;
        default:
          throw parseError(`unknown operator: ${repr(op)}`, this.name, errLine);
      }
    }
  }

  /** Split a block body at its intermediate tags and check the Python statement shape. */
  private build(op: string, suffix: string, line: number, chunks: Chunk[]): TNode {
    const segs: { head: Inter | null; body: TNode[] }[] = [{ head: null, body: [] }];
    for (const c of chunks) {
      if (c.k === 'inter') segs.push({ head: c, body: [] });
      else segs[segs.length - 1]!.body.push(c);
    }
    const bad = (l: number) => this.defer(l, new PySyntaxError('invalid syntax', 0));
    const needEmpty = (s: { head: Inter | null }) => {
      if (s.head && s.head.suffix) bad(s.head.line);
    };
    switch (op) {
      case 'if': {
        const branches: Branch[] = [{ cond: suffix ? this.stmt(line, () => parseCondition(suffix)) : null, src: suffix, line, body: segs[0]!.body }];
        if (!suffix) bad(line);
        let orelse: TNode[] | null = null;
        for (const s of segs.slice(1)) {
          const h = s.head!;
          if (orelse) bad(h.line); // nothing may follow else
          if (h.op === 'elif') {
            if (!h.suffix) bad(h.line);
            branches.push({ cond: h.suffix ? this.stmt(h.line, () => parseCondition(h.suffix)) : null, src: h.suffix, line: h.line, body: s.body });
          } else {
            needEmpty(s);
            orelse = s.body;
          }
        }
        return { k: 'if', branches, orelse, line };
      }
      case 'for':
      case 'while': {
        let orelse: TNode[] | null = null;
        for (const s of segs.slice(1)) {
          if (orelse) bad(s.head!.line);
          needEmpty(s);
          orelse = s.body;
        }
        if (op === 'for') {
          const parsed = suffix ? this.stmt(line, () => parseFor(suffix)) : null;
          if (!suffix) bad(line);
          return { k: 'for', target: parsed?.target ?? null, iter: parsed?.iter ?? null, src: suffix, body: segs[0]!.body, orelse, line };
        }
        if (!suffix) bad(line);
        return { k: 'while', cond: suffix ? this.stmt(line, () => parseCondition(suffix)) : null, src: suffix, body: segs[0]!.body, orelse, line };
      }
      default: {
        // try
        if (suffix) bad(line);
        const handlers: Handler[] = [];
        let orelse: TNode[] | null = null;
        let finalbody: TNode[] | null = null;
        for (const s of segs.slice(1)) {
          const h = s.head!;
          if (finalbody) bad(h.line);
          if (h.op === 'except') {
            if (orelse || (handlers.length && !handlers[handlers.length - 1]!.type)) bad(h.line); // bare except must be last
            const p = this.stmt(h.line, () => parseExcept(h.suffix));
            handlers.push({ type: p?.type ?? null, name: p?.name ?? null, src: h.suffix, body: s.body, line: h.line });
          } else if (h.op === 'else') {
            needEmpty(s);
            if (!handlers.length || orelse) bad(h.line);
            orelse = s.body;
          } else {
            needEmpty(s);
            finalbody = s.body;
          }
        }
        if (!handlers.length && !finalbody) bad(line);
        return { k: 'try', body: segs[0]!.body, handlers, orelse, finalbody, line };
      }
    }
  }
}

export function parseTemplate(text: string, name = '<string>', nodeName?: string): ParsedTemplate {
  return new TemplateParser(text, name, nodeName).parse();
}
