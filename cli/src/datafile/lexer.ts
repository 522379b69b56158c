// Line lexer shared by all datafile kinds (spec 1.1, 1.2): shlex-like words per line, `KEYWORD >` blocks.

export interface Token {
  text: string;
  /** 1-based column of the token's first character. */
  col: number;
}

/** A source line kept verbatim, with its 1-based line number in the file. */
export interface SourceLine {
  line: number;
  text: string;
}

export interface Statement {
  /** Command in upper case (commands are case-insensitive). */
  cmd: string;
  line: number;
  col: number;
  args: Token[];
  /** Set when the first arg is `>`: the verbatim lines of the block (blank and comment-only lines dropped). */
  block?: SourceLine[];
  /** The line had unbalanced quotes and became a single word. */
  unbalanced: boolean;
}

const WS = new Set([' ', '\t', '\r', '\n']);

/** Universal newlines: `\r\n`, `\r` and `\n` all end a line. A leading BOM is dropped. */
export function splitLines(text: string): string[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r\n|\r|\n/);
  // A final newline ends the last line; it does not start an empty one.
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * Python's `shlex.shlex(line)` with `whitespace_split=True` (non-POSIX): quotes group words and stay in
 * the token, a quoted word ends at its closing quote, `#` starts a comment (also inside a word).
 * Unbalanced quotes make the whole line one word, as Tinybird's re-quoting does.
 */
export function tokenizeLine(line: string): { tokens: Token[]; unbalanced: boolean } {
  const tokens: Token[] = [];
  const n = line.length;
  let i = 0;
  while (i < n) {
    const c = line[i]!;
    if (WS.has(c)) {
      i++;
      continue;
    }
    if (c === '#') break;
    const start = i;
    if (c === '"' || c === "'") {
      const end = line.indexOf(c, i + 1);
      if (end < 0) {
        const trimmed = line.trim();
        return { tokens: [{ text: trimmed, col: line.indexOf(trimmed[0]!) + 1 }], unbalanced: true };
      }
      tokens.push({ text: line.slice(start, end + 1), col: start + 1 });
      i = end + 1;
      continue;
    }
    while (i < n && !WS.has(line[i]!) && line[i] !== '#') i++;
    tokens.push({ text: line.slice(start, i), col: start + 1 });
    if (i < n && line[i] === '#') break;
  }
  return { tokens, unbalanced: false };
}

/**
 * Splits a datafile into statements. A block opened by `CMD >` takes every later non-blank line until an
 * unindented line whose first word is one of `known` (upper case). Lines without tokens are skipped, even
 * inside blocks (Tinybird drops them too).
 */
export function lex(text: string, known: ReadonlySet<string>): Statement[] {
  const out: Statement[] = [];
  let open: SourceLine[] | undefined;
  const lines = splitLines(text);
  for (let idx = 0; idx < lines.length; idx++) {
    const raw = lines[idx]!;
    const { tokens, unbalanced } = tokenizeLine(raw);
    if (tokens.length === 0) continue;
    const first = tokens[0]!;
    const indented = raw.startsWith(' ') || raw.startsWith('\t');
    // Tinybird keeps an unbalanced line inside the block (it is one word); we close on its first word too,
    // so `ENGINE_SORTING_KEY "a, b` is reported as itself instead of as a broken SCHEMA line.
    const word = unbalanced ? /^\S+/.exec(first.text)![0] : first.text;
    const closes = !indented && known.has(word.toUpperCase());
    if (open && !closes) {
      open.push({ line: idx + 1, text: raw });
      continue;
    }
    open = undefined;
    let st: Statement;
    if (unbalanced) {
      // The line is one word for Tinybird; keep its first word as the command so the error can name it.
      const m = /^(\S+)(\s*)(.*)$/s.exec(first.text)!; // s: a line may hold U+2028, which . does not match otherwise
      const args = m[3] ? [{ text: m[3], col: first.col + m[1]!.length + m[2]!.length }] : [];
      st = { cmd: m[1]!.toUpperCase(), line: idx + 1, col: first.col, args, unbalanced };
    } else st = { cmd: first.text.toUpperCase(), line: idx + 1, col: first.col, args: tokens.slice(1), unbalanced };
    if (st.args[0]?.text === '>') {
      st.block = [];
      open = st.block;
    }
    out.push(st);
  }
  return out;
}

/** Python's `textwrap.dedent`: remove the whitespace prefix common to all non-blank lines. */
export function dedent(text: string): string {
  const lines = text.split('\n');
  let prefix: string | undefined;
  for (const l of lines) {
    if (l.trim() === '') continue;
    const ws = /^[ \t]*/.exec(l)![0];
    if (prefix === undefined) prefix = ws;
    else {
      let k = 0;
      while (k < prefix.length && k < ws.length && prefix[k] === ws[k]) k++;
      prefix = prefix.slice(0, k);
    }
  }
  const p = prefix ?? '';
  return lines.map((l) => (l.trim() === '' ? '' : l.slice(p.length))).join('\n');
}

/** The block as Tinybird stores it: every line followed by a newline. */
export function blockText(block: SourceLine[]): string {
  return block.map((l) => l.text + '\n').join('');
}
