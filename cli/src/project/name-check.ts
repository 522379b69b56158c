// Unknown tables and columns in node SQL, found without an engine (docs/datafile-notes.md, "Names in node SQL").
// Conservative by design: a name is reported only where the datafiles alone prove it does not exist.
//  - Tables: every plain name after FROM/JOIN must be a sibling node, a pipe, a datasource (or its quarantine),
//    or a CTE of the query. Qualified names (`db.t`), table functions and templated names are not judged.
//  - Columns: only in a node that selects straight from one datasource (one FROM, no JOIN, subquery, CTE or
//    UNION), and only bare identifiers that are not keywords, functions, aliases, lambda parameters, types,
//    `tbl.col` parts or template output.
import type { Diagnostic, PipeFile, PipeNode } from '../datafile/types.js';
import { tokenizeSql, type SqlToken } from '../sql/lexer.js';
import { resolveReference, type Project } from './model.js';
import { identName, scanTableExpressions } from './references.js';
import { unversionedName } from './service-datasources.js';

export function checkNames(project: Project): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const pipe of project.pipes.values()) {
    for (const node of pipe.nodes) out.push(...checkNodeNames(project, pipe, node));
  }
  return out;
}

function checkNodeNames(project: Project, pipe: PipeFile, node: PipeNode): Diagnostic[] {
  const sql = blankTemplateTags(node.template);
  const locate = nodeLocator(node, project.sources.get(pipe.path));
  const at = (offset: number, message: string, hint: string): Diagnostic => ({ file: pipe.path, ...locate(offset), severity: 'error', message: `node ${node.name}: ${message}`, hint });
  const { tables, ctes } = scanTableExpressions(sql);
  const out: Diagnostic[] = [];
  const known = (name: string): boolean =>
    ctes.has(name) || project.datasources.has(name) || project.pipes.has(name) || pipe.nodes.some((n) => n.name === name) || isQuarantineOf(project, name) || hasDatafile(project, name) || isVersionedName(project, name);
  for (const t of tables) {
    if (t.kind !== 'table' || t.database || known(t.name) || !isTableClause(sql, t.start)) continue;
    const candidates = [...pipe.nodes.filter((n) => n !== node).map((n) => n.name), ...project.pipes.keys(), ...project.datasources.keys()];
    out.push(at(t.start, `unknown table '${t.name}': no datasource, pipe or node of ${pipe.name} has that name`, suggestion(t.name, candidates, 'datasources, pipes and nodes')));
  }
  if (out.length) return out;
  return checkColumns(project, pipe, node, sql, at);
}

/** `events__v1`: Tinybird Classic's name for a version of datasource or pipe `events` (render.ts maps it back). */
function isVersionedName(project: Project, name: string): boolean {
  const base = unversionedName(name);
  return base !== undefined && (project.datasources.has(base) || project.pipes.has(base));
}

/** A datafile with that stem that did not parse: its own errors say what is wrong, not every use of its name. */
function hasDatafile(project: Project, name: string): boolean {
  for (const p of project.sources.keys()) if (p.replace(/^.*\//, '').replace(/\.[^.]+$/, '') === name) return true;
  return false;
}

function isQuarantineOf(project: Project, name: string): boolean {
  return name.endsWith('_quarantine') && project.datasources.has(name.slice(0, -'_quarantine'.length));
}

/** `ARRAY JOIN arr` and `IS [NOT] DISTINCT FROM x` name columns, not tables. */
function isTableClause(sql: string, start: number): boolean {
  const before = significant(sql.slice(0, start));
  const kw = before[before.length - 1]?.text.toUpperCase();
  const prev = before[before.length - 2]?.text.toUpperCase();
  return !((kw === 'JOIN' && prev === 'ARRAY') || (kw === 'FROM' && prev === 'DISTINCT'));
}

// ---- columns ----

/** Words that stand bare in a query without being columns (compared in upper case). */
const KEYWORDS = new Set(
  (
    'SELECT DISTINCT ON FROM WHERE PREWHERE GROUP ORDER BY HAVING LIMIT OFFSET FETCH FIRST NEXT ROW ROWS ONLY TIES WITH TOTALS ' +
    'ROLLUP CUBE GROUPING SETS FILL STEP TO INTERPOLATE STALENESS SETTINGS FORMAT FINAL SAMPLE AS ASC DESC ASCENDING DESCENDING NULLS ' +
    'LAST COLLATE AND OR NOT XOR IN IS LIKE ILIKE BETWEEN GLOBAL ANY ALL SOME EXISTS REGEXP MOD DIV CASE WHEN THEN ELSE END ' +
    'NULL TRUE FALSE NAN INF INFINITY OVER PARTITION WINDOW RANGE UNBOUNDED PRECEDING FOLLOWING CURRENT INTERVAL DATE TIMESTAMP TIME ' +
    'NANOSECOND NANOSECONDS MICROSECOND MICROSECONDS MILLISECOND MILLISECONDS SECOND SECONDS MINUTE MINUTES HOUR HOURS DAY DAYS WEEK WEEKS ' +
    'MONTH MONTHS QUARTER QUARTERS YEAR YEARS LEADING TRAILING BOTH FOR USING QUALIFY EXCEPT REPLACE APPLY COLUMNS UNION INTERSECT ' +
    'ARRAY JOIN LEFT RIGHT INNER OUTER FULL CROSS SEMI ANTI ASOF PASTE TOP PERCENT RECURSIVE INTO VALUES LAMBDA TUPLE MAP'
  ).split(' '),
);

/** Keywords that end an expression, so a name right after them is an alias (`NULL AS x` without the AS). */
const VALUE_KEYWORDS = new Set(['END', 'NULL', 'TRUE', 'FALSE', 'NAN', 'INF', 'INFINITY']);

/** Words after which the next word is a keyword argument or a name the engine defines (OVER w, SETTINGS x = 1). */
const NAME_AFTER = new Set(['AS', 'OVER', 'WINDOW', '::', '.']);

function checkColumns(project: Project, pipe: PipeFile, node: PipeNode, sql: string, at: (offset: number, message: string, hint: string) => Diagnostic): Diagnostic[] {
  const { tables, ctes } = scanTableExpressions(sql);
  if (tables.length !== 1 || ctes.size || tables[0].kind !== 'table' || tables[0].database) return [];
  const table = tables[0];
  if (resolveReference(project, pipe, node, table.name)) return []; // a node or a pipe: its columns need the engine
  const ds = project.datasources.get(table.name);
  if (!ds || ds.inferredFrom || ds.columns.length === 0) return [];
  const tokens = significant(sql);
  if (tokens.some((t) => t.kind === 'ident' && ['JOIN', 'UNION', 'INTERSECT', 'EXCEPT', 'WITH', 'SETTINGS', 'FORMAT'].includes(t.text.toUpperCase()))) return [];
  if (tokens.some((t) => t.kind === 'error')) return [];

  const columns = new Set(ds.columns.map((c) => c.name));
  const defined = definedNames(tokens, columns);
  const out: Diagnostic[] = [];
  const reported = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const name = identName(tok);
    if (name === undefined || tok.start === table.start) continue;
    if (tok.kind === 'ident' && KEYWORDS.has(name.toUpperCase())) continue;
    if (columns.has(name) || defined.has(name) || name.startsWith('_') || name === table.name) continue;
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    if (next?.text === '(' || next?.text === '.' || next?.text === '->') continue; // a function, `t.col` / `nested.x`, a lambda
    if (prev && NAME_AFTER.has(prev.kind === 'ident' ? prev.text.toUpperCase() : prev.text)) continue;
    if (reported.has(name)) continue;
    reported.add(name);
    out.push(at(tok.start, `unknown column '${name}': datasource ${ds.name} has no such column`, suggestion(name, [...columns], `columns of ${ds.name}`)));
  }
  return out;
}

/**
 * Names the query defines itself, wherever they stand: aliases (`expr AS x`, and `expr x` without AS), lambda
 * parameters (`x ->`, `(x, y) ->`), names after AS in CAST (types: harmless to treat as defined).
 */
function definedNames(tokens: SqlToken[], columns: ReadonlySet<string>): Set<string> {
  const names = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const name = identName(tok);
    const prev = tokens[i - 1];
    if (tok.text === '->') {
      const before = tokens[i - 1];
      if (identName(before) !== undefined) names.add(identName(before)!);
      else if (before?.text === ')') {
        for (let j = i - 2; j >= 0 && tokens[j].text !== '('; j--) if (identName(tokens[j]) !== undefined) names.add(identName(tokens[j])!);
      }
      continue;
    }
    if (name === undefined || !prev) continue;
    const prevWord = prev.kind === 'ident' ? prev.text.toUpperCase() : undefined;
    if (prevWord === 'AS' || prev.text === '::') {
      names.add(name);
      // A type with arguments (`AS LowCardinality(String)`, `::Nullable(Int32)`): every name inside is the type's.
      if (tokens[i + 1]?.text === '(') {
        for (let j = i + 2, depth = 1; j < tokens.length && depth > 0; j++) {
          if (tokens[j].text === '(') depth++;
          else if (tokens[j].text === ')') depth--;
          else if (identName(tokens[j]) !== undefined) names.add(identName(tokens[j])!);
        }
      }
    } else if (tok.kind === 'quoted_ident' || !KEYWORDS.has(name.toUpperCase())) {
      // An alias without AS follows the end of an expression: a value, a name that is not a keyword, `)` or END.
      const endsExpression =
        prev.kind === 'number' || prev.kind === 'string' || prev.kind === 'quoted_ident' || prev.text === ')' || prev.text === ']' ||
        (prev.kind === 'ident' && (!KEYWORDS.has(prevWord!) || VALUE_KEYWORDS.has(prevWord!) || columns.has(prev.text)));
      if (endsExpression) names.add(name);
    }
  }
  return names;
}

// ---- shared ----

function significant(sql: string): SqlToken[] {
  return tokenizeSql(sql).filter((t) => t.kind !== 'ws' && t.kind !== 'comment');
}

/**
 * The node's SQL with each template tag (`{{ }}`, `{% %}`, `{# #}`) replaced by an empty string literal padded
 * with spaces: offsets and lines stay, and what a tag outputs is never taken for a table or a column.
 */
export function blankTemplateTags(template: string): string {
  return template.replace(/\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\}/g, (tag) => "''" + tag.slice(2).replace(/[^\n]/g, ' '));
}

/** Maps an offset in `node.template` to its file line and column (`sqlLines` gives each line's file line). */
export function nodeLocator(node: PipeNode, source: string | undefined): (offset: number) => { line: number; col: number } {
  const fileLines = source?.split(/\r?\n/) ?? [];
  const templateLines = node.template.split('\n');
  return (offset) => {
    const before = node.template.slice(0, offset).split('\n');
    const index = before.length - 1;
    const inLine = before[index].length;
    const line = node.sqlLines?.[index] ?? node.sqlPos.line + index;
    // Blocks are dedented (and a template's `%` line trimmed): find the line's text in the file line.
    const text = templateLines[index] ?? '';
    const fileLine = fileLines[line - 1] ?? '';
    const shift = text.trim() === '' ? 0 : Math.max(0, fileLine.indexOf(text));
    return { line, col: shift + inLine + 1 };
  };
}

/** `did you mean 'x'?` for the closest candidate within a few edits, else the list of candidates. */
export function suggestion(name: string, candidates: readonly string[], what: string): string {
  const unique = [...new Set(candidates)];
  const limit = Math.max(2, Math.floor(name.length / 3));
  let best: { name: string; d: number } | undefined;
  for (const c of unique) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d <= limit && (!best || d < best.d)) best = { name: c, d };
  }
  if (best) return `did you mean '${best.name}'?`;
  const shown = unique.slice(0, 12).join(', ');
  return unique.length ? `${what}: ${shown}${unique.length > 12 ? ', ...' : ''}` : `the project has no ${what}`;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8) return Math.abs(a.length - b.length);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
