// Helpers shared by the per-kind parsers: single values, SQL block text, TOKEN and TAGS lines, names.
import type { Reporter } from './errors.js';
import { blockText, dedent, lex, type Statement } from './lexer.js';
import type { DatafileKind } from './keywords.js';
import type { SourcePos, TokenDecl } from './types.js';
import { joinValue, substituteEnv, unquote, type Env } from './values.js';
import { renderTemplateWithSecrets, TemplateError } from '../template/index.js';

export const posOf = (st: Statement): SourcePos => ({ line: st.line, col: st.col });

/**
 * The statements of a datafile whose command is valid for its kind. A command the kind does not have, or a
 * valid one on a line with an unbalanced quote (DESCRIPTION excepted: prose has apostrophes), is reported and
 * skipped.
 */
export function* validStatements(
  text: string,
  keywords: ReadonlySet<string>,
  kind: DatafileKind,
  rep: Reporter,
  hintForUnknown?: (cmd: string) => string | undefined,
): Generator<Statement> {
  for (const st of lex(text, keywords)) {
    const pos = posOf(st);
    if (!keywords.has(st.cmd)) {
      rep.error(pos, `${st.cmd} is not a valid option in ${kind} files.`, hintForUnknown?.(st.cmd) ?? (st.unbalanced ? 'this line has an unbalanced quote' : undefined));
      continue;
    }
    if (st.unbalanced && st.cmd !== 'DESCRIPTION') {
      rep.error(pos, `Unbalanced quote in ${st.cmd} line`, 'close the quote, or quote the value with the other quote character');
      continue;
    }
    yield st;
  }
}

/** The value of a one-value command, or undefined (reported) when it was given a block. */
export function singleValue(st: Statement, rep: Reporter, env: Env | null): string | undefined {
  if (st.block) {
    rep.error(posOf(st), `${st.cmd} does not support multiline arguments`);
    return undefined;
  }
  const v = joinValue(st.args);
  return env ? substituteEnv(v, env) : v;
}

/** Stored SQL: `dedent(block).rstrip()`, or `block.strip()` when it starts with `%` (spec 3.2). */
export function sqlText(st: Statement): string {
  const text = blockText(st.block ?? []);
  return text.trimStart().startsWith('%') ? text.trim() : dedent(text).trimEnd();
}

/** DESCRIPTION: a block is dedented and trimmed, a line is the joined args. */
export function descriptionText(st: Statement): string {
  return st.block ? dedent(blockText(st.block)).trim() : joinValue(st.args);
}

export function parseToken(st: Statement, rep: Reporter, kind: DatafileKind): TokenDecl | undefined {
  if (st.block) {
    rep.error(posOf(st), 'TOKEN does not support multiline arguments');
    return undefined;
  }
  const [nameTok, permTok] = st.args;
  if (!nameTok || unquote(nameTok.text) === '') {
    rep.error(posOf(st), 'TOKEN requires a name', `write TOKEN <name> ${kind === 'pipe' ? 'READ' : 'READ|APPEND'}`);
    return undefined;
  }
  const name = unquote(nameTok.text);
  // A missing permission means READ, as in the Tinybird CLI.
  const perm = permTok ? unquote(permTok.text).toUpperCase() : 'READ';
  const pos = posOf(st);
  if (perm === 'CREATE') {
    // Tinybird Classic's DATASOURCES:CREATE scope: datasources here come only from datafiles, so it grants nothing.
    rep.warn(
      pos,
      `TOKEN ${name} CREATE: the Classic DATASOURCES:CREATE scope is ignored (datasources come from .datasource files)`,
      kind === 'pipe' ? 'use TOKEN <name> READ' : 'use TOKEN <name> APPEND to let the token write rows, READ to read them',
    );
    return undefined;
  }
  if (kind === 'pipe' && perm !== 'READ') {
    rep.error(pos, `Invalid permission ${permTok!.text} for token ${name}. Only READ is allowed for pipes`);
    return undefined;
  }
  if (perm !== 'READ' && perm !== 'APPEND') {
    rep.error(pos, `Invalid permission ${permTok!.text} for token ${name}. Only READ and APPEND are allowed for datasources`);
    return undefined;
  }
  if (st.args.length > 2) rep.warn(posOf(st), `TOKEN ${name}: extra arguments are ignored`, 'quote a token name with spaces');
  return { name, permission: perm, pos };
}

/** `TAGS "k=v&k2=v2, tag1, tag2"`: bare items are tags, `k=v` items are operational tags joined by `&`. */
/** Applies a `TAGS` statement to a datasource or pipe: filtering tags, and `k=v` operational tags. */
export function applyTags(target: { tags: string[]; operationalTags?: string }, st: Statement, rep: Reporter, env: Env | null): void {
  const v = singleValue(st, rep, env);
  if (v === undefined) return;
  const { tags, operational } = parseTags(v);
  target.tags = tags;
  if (operational) target.operationalTags = operational;
}

/**
 * Renders a datasource or connection file as Tinybird does before parsing it: a template in which only
 * `tb_secret()` exists. Each secret without a value or default is reported where it stands.
 */
export function renderFileSecrets(source: string, secrets: Env, rep: Reporter): string {
  let rendered;
  try {
    rendered = renderTemplateWithSecrets(source, secrets);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    rep.error({ line: e.line ?? 1, col: 1 }, e.message, 'datasource and connection files may only use {{ tb_secret(\'NAME\', \'default\') }}');
    return source;
  }
  for (const m of rendered.missing) {
    rep.error(
      { line: m.line, col: m.col },
      `Cannot access secret '${m.name}'. Check the secret exists in the Workspace and the token has the required scope.`,
      'export it in the environment of the emailstats command, or give tb_secret a default',
    );
  }
  return rendered.text;
}

export function parseTags(value: string): { tags: string[]; operational: string } {
  const tags: string[] = [];
  const ops: string[] = [];
  for (const raw of value.split(',')) {
    const item = unquote(raw.trim()).trim();
    if (item === '') continue;
    if (item.includes('=')) ops.push(item);
    else tags.push(item);
  }
  return { tags, operational: ops.join('&') };
}

/** Resource name = file stem. */
export function stemOf(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function checkResourceName(name: string, kind: DatafileKind, rep: Reporter): void {
  if (!NAME_RE.test(name))
    rep.error(
      { line: 1, col: 1 },
      `Invalid ${kind} name '${name}'`,
      'the file name is the resource name: use letters, digits and underscores, starting with a letter or underscore',
    );
}

/** Python-style list repr used by Tinybird's "missing params" messages. */
export const pyList = (items: string[]): string => `[${items.map((i) => `'${i}'`).join(', ')}]`;

export { substituteEnv, type Env };
