// Splits template text into text / {{ }} / {% %} chunks, like Tornado's _TemplateReader + _parse.
// Lazy (one token per next()) so that errors surface in the same order as Tornado's single pass.
import { parseError } from './errors.js';

export type TplToken =
  | { kind: 'text'; text: string; line: number }
  | { kind: 'expr'; src: string; line: number; col: number }
  | { kind: 'block'; contents: string; line: number; endLine: number }
  | { kind: 'eof'; line: number };

export class TemplateLexer {
  pos = 0;
  line = 1;

  constructor(
    readonly text: string,
    readonly name = '<string>',
  ) {}

  private consume(count: number): string {
    const end = Math.min(this.pos + count, this.text.length);
    const s = this.text.slice(this.pos, end);
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) this.line++;
    this.pos = end;
    return s;
  }

  private fail(msg: string): never {
    throw parseError(msg, this.name, this.line);
  }

  next(): TplToken {
    const t = this.text;
    const n = t.length;
    if (this.pos >= n) return { kind: 'eof', line: this.line };
    // find the next tag start; a lone '{' or one at the very end is text
    let curly = this.pos;
    for (;;) {
      curly = t.indexOf('{', curly);
      if (curly === -1 || curly + 1 === n) {
        const line = this.line;
        return { kind: 'text', text: this.consume(n - this.pos), line };
      }
      const c1 = t[curly + 1];
      if (c1 !== '{' && c1 !== '%' && c1 !== '#') {
        curly++;
        continue;
      }
      // with 3+ braces, the innermost '{{' starts the tag
      if (curly + 2 < n && c1 === '{' && t[curly + 2] === '{') {
        curly++;
        continue;
      }
      break;
    }
    if (curly > this.pos) {
      const line = this.line;
      return { kind: 'text', text: this.consume(curly - this.pos), line };
    }
    // 1-based column of the tag's `{`, for messages that point at it.
    const col = curly - Math.max(t.lastIndexOf('\n', curly - 1), t.lastIndexOf('\r', curly - 1));
    const start = this.consume(2);
    const line = this.line;
    if (this.pos < n && t[this.pos] === '!') {
      this.consume(1);
      return { kind: 'text', text: start, line };
    }
    if (start === '{#') {
      const end = t.indexOf('#}', this.pos);
      if (end === -1) this.fail('Missing end comment #}');
      this.consume(end - this.pos + 2);
      return this.next();
    }
    if (start === '{{') {
      const end = t.indexOf('}}', this.pos);
      if (end === -1) this.fail('Missing end expression }}');
      const raw = t.slice(this.pos, end);
      this.consume(end - this.pos + 2);
      const src = raw.trim();
      if (!src) this.fail('Empty expression');
      return { kind: 'expr', src, line, col };
    }
    const end = t.indexOf('%}', this.pos);
    if (end === -1) this.fail('Missing end block %}');
    const contents = t.slice(this.pos, end).trim();
    this.consume(end - this.pos + 2);
    if (!contents) this.fail('Empty block tag ({% %})');
    return { kind: 'block', contents, line, endLine: this.line };
  }
}

/** Tornado's filter_whitespace. */
export function filterWhitespace(mode: string, text: string): string {
  if (mode === 'all') return text;
  if (mode === 'single') return text.replace(/[\t ]+/g, ' ').replace(/\s*\n\s*/g, '\n');
  if (mode === 'oneline') return text.replace(/\s+/g, ' ');
  throw new Error(`invalid whitespace mode ${mode}`);
}
