// Finds and expands references to other resources in node SQL. A node may select FROM (or JOIN) an earlier
// node of its pipe, another pipe, or a datasource, by bare name. ClickHouse 18.16 has no table CTEs, so node
// and pipe references are expanded in place into `(subquery) AS name`, which every ClickHouse version runs;
// on servers whose CTEs reach every nested subquery, a node used more than once becomes one (render.ts).
import { quoteIdent, unquoteBody } from '../sql/quote.js';
import { tokenizeSql, type SqlToken } from '../sql/lexer.js';

/** Keywords that may follow a table expression; anything else after a table name is its alias. */
const AFTER_TABLE_KEYWORDS = new Set([
  'WHERE', 'PREWHERE', 'GROUP', 'ORDER', 'LIMIT', 'JOIN', 'LEFT', 'RIGHT', 'INNER', 'FULL', 'CROSS', 'ANY', 'ALL',
  'ARRAY', 'GLOBAL', 'ON', 'USING', 'UNION', 'HAVING', 'SETTINGS', 'FORMAT', 'FINAL', 'SAMPLE', 'WITH', 'SEMI',
  'ANTI', 'ASOF', 'OUTER', 'PASTE', 'INTO', 'WINDOW', 'QUALIFY', 'LOCAL', 'EXCEPT', 'INTERSECT', 'OFFSET', 'AS',
]);

/** Keywords that may precede a subquery or a list in brackets: what follows them is not a function call. */
const SQL_KEYWORDS_BEFORE_PAREN = new Set([
  'FROM', 'JOIN', 'IN', 'AS', 'EXISTS', 'ANY', 'ALL', 'SELECT', 'WHERE', 'AND', 'OR', 'NOT', 'ON', 'USING', 'UNION', 'WITH', 'PREWHERE',
  'HAVING', 'THEN', 'ELSE', 'WHEN', 'CASE', 'BY', 'VALUES', 'DISTINCT', 'EXCEPT', 'INTERSECT', 'LIKE', 'ILIKE', 'LIMIT', 'OFFSET', 'QUALIFY',
  'BETWEEN', 'IS', 'INTERVAL', 'ASC', 'DESC', 'GLOBAL', 'TOP', 'FETCH',
]);

export interface TableExpression {
  /** `string`: a quoted string where a table goes (`FROM 'name'`), which ClickHouse reads as a table name. */
  kind: 'table' | 'function' | 'subquery' | 'string';
  /** Table or function name (empty for subqueries). */
  name: string;
  /** Database for qualified names (`db.table`). */
  database?: string;
  /** Offsets of the name (or `db.name`) in the SQL text. */
  start: number;
  end: number;
  /** True when an alias (with or without AS) follows. */
  aliased: boolean;
}

/** The name an identifier token stands for, quotes and escapes removed; undefined for other tokens. */
export function identName(tok: SqlToken | undefined): string | undefined {
  if (!tok) return undefined;
  if (tok.kind === 'ident') return tok.text;
  if (tok.kind === 'quoted_ident') return unquoteBody(tok.text.slice(1, -1), tok.text[0]!);
  return undefined;
}

function significant(sql: string): SqlToken[] {
  return tokenizeSql(sql).filter((t) => t.kind !== 'ws' && t.kind !== 'comment');
}

/** Index just past the bracket group opened at `i` (tokens[i] is `(`). */
function skipGroup(tokens: SqlToken[], i: number): number {
  let depth = 0;
  for (let j = i; j < tokens.length; j++) {
    if (tokens[j].text === '(') depth++;
    else if (tokens[j].text === ')' && --depth === 0) return j + 1;
  }
  return tokens.length;
}

/** Names defined by `WITH [RECURSIVE] name AS (...)` CTEs anywhere in the text. */
export function cteNames(tokens: SqlToken[]): Set<string> {
  const names = new Set<string>();
  for (let i = 0; i + 2 < tokens.length; i++) {
    const name = identName(tokens[i]);
    const prev = tokens[i - 1];
    const opensWith = prev?.text.toUpperCase() === 'WITH' || (prev?.text.toUpperCase() === 'RECURSIVE' && tokens[i - 2]?.text.toUpperCase() === 'WITH');
    if (name && tokens[i + 1].text.toUpperCase() === 'AS' && tokens[i + 2].text === '(' && prev && (opensWith || prev.text === ',')) {
      names.add(name);
    }
  }
  return names;
}

/**
 * Every table expression after FROM or JOIN, including comma-separated lists (`FROM a, b`): plain and
 * qualified tables, table functions and subqueries. Subqueries' own FROM clauses are found as well.
 */
export function scanTableExpressions(sql: string): { tables: TableExpression[]; ctes: Set<string> } {
  const tokens = significant(sql);
  const tables: TableExpression[] = [];
  /** Token indexes just past a subquery of a FROM list: a `, next_table` may follow there. */
  const afterSubquery = new Set<number>();
  /** Past an alias at `j`, a comma leads to the next table expression of the same FROM list. */
  const followList = (j: number): number => {
    if (tokens[j]?.text.toUpperCase() === 'AS') j++;
    if (tokens[j] && (tokens[j].kind === 'quoted_ident' || (tokens[j].kind === 'ident' && !AFTER_TABLE_KEYWORDS.has(tokens[j].text.toUpperCase())))) j++;
    // `t FINAL`, `t SAMPLE 1/10 OFFSET 1/2`: modifiers of the table, after which the list may go on.
    if (tokens[j]?.text.toUpperCase() === 'FINAL') j++;
    if (tokens[j]?.text.toUpperCase() === 'SAMPLE') {
      j++;
      while (tokens[j] && (tokens[j].kind === 'number' || tokens[j].text === '/' || tokens[j].text.toUpperCase() === 'OFFSET')) j++;
    }
    return tokens[j]?.text === ',' ? readOne(j + 1) : j;
  };
  const readOne = (i: number): number => {
    const tok = tokens[i];
    if (!tok) return i;
    if (tok.text === '(') {
      tables.push({ kind: 'subquery', name: '', start: tok.start, end: tok.end, aliased: false });
      afterSubquery.add(skipGroup(tokens, i));
      return i; // the subquery's tokens, its bracket included, are scanned by the main loop
    }
    if (tok.kind === 'string') {
      tables.push({ kind: 'string', name: unquoteBody(tok.text.slice(1, -1), "'"), start: tok.start, end: tok.end, aliased: false });
      return followList(i + 1);
    }
    const first = identName(tok);
    if (!first) return i;
    let name = first;
    let database: string | undefined;
    let j = i + 1;
    let end = tok.end;
    if (tokens[j]?.text === '.' && identName(tokens[j + 1])) {
      database = first;
      name = identName(tokens[j + 1])!;
      end = tokens[j + 1].end;
      j += 2;
    }
    if (tokens[j]?.text === '(') {
      tables.push({ kind: 'function', name, database, start: tok.start, end, aliased: false });
      j = skipGroup(tokens, j);
    } else {
      const next = tokens[j];
      const nextWord = next?.kind === 'ident' ? next.text.toUpperCase() : undefined;
      const aliased = next !== undefined && (nextWord === 'AS' || (next.kind === 'ident' && !AFTER_TABLE_KEYWORDS.has(nextWord!)) || next.kind === 'quoted_ident');
      tables.push({ kind: 'table', name, database, start: tok.start, end, aliased });
    }
    return followList(j);
  };
  // Brackets opened right after a name are function calls: a FROM inside one (`extract(YEAR FROM ts)`,
  // `substring(s FROM 2)`, `trim(BOTH ' ' FROM x)`) is an argument keyword, not a table clause.
  const inCall: boolean[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (afterSubquery.has(i)) {
      // `FROM (SELECT …) AS a, b`: the list goes on after the subquery.
      const next = followList(i);
      if (next > i) i = next;
      if (i >= tokens.length) break;
    }
    const text = tokens[i].text;
    if (text === '(') {
      const prev = tokens[i - 1];
      inCall.push(prev !== undefined && (prev.kind === 'ident' || prev.kind === 'quoted_ident') && !SQL_KEYWORDS_BEFORE_PAREN.has(prev.text.toUpperCase()));
      continue;
    }
    if (text === ')') {
      inCall.pop();
      continue;
    }
    if (inCall[inCall.length - 1]) continue;
    const kw = tokens[i].kind === 'ident' ? text.toUpperCase() : '';
    if (kw === 'FROM' || kw === 'JOIN') {
      // Go on from where the table expressions end; a subquery's bracket is where they stop, and is scanned.
      const next = readOne(i + 1);
      if (next > i + 1) i = next - 1;
    }
  }
  return { tables, ctes: cteNames(tokens) };
}

/** Unqualified table names after FROM/JOIN that are not CTEs: the candidates for node, pipe and datasource references. */
export function findTableReferences(sql: string): TableExpression[] {
  const { tables, ctes } = scanTableExpressions(sql);
  return tables.filter((t) => t.kind === 'table' && !t.database && !ctes.has(t.name));
}

/** Replaces each reference whose name `expand` resolves with `(sql) AS name`; other names stay as they are. */
export function expandReferences(sql: string, expand: (name: string) => string | undefined, refs = findTableReferences(sql)): string {
  return replaceReferences(sql, refs, (ref) => {
    const body = expand(ref.name);
    return body === undefined ? undefined : subqueryFor(ref, body);
  });
}

/** `(body) AS name` for a reference (its own alias, when it has one, stays after it). */
export function subqueryFor(ref: TableExpression, body: string): string {
  return `(\n${body}\n)` + aliasAfter(ref);
}

/** A common table expression's name in place of a reference, aliased to the name the SQL uses. */
export function cteReferenceFor(ref: TableExpression, cteName: string): string {
  return quoteName(cteName) + aliasAfter(ref);
}

/** What keeps a replaced reference's name for the rest of the query: ` AS name`, unless it has an alias already. */
function aliasAfter(ref: TableExpression): string {
  return ref.aliased ? '' : ` AS ${quoteName(ref.name)}`;
}

/** Replaces each of `refs` (in text order) with what `replace` returns for it; undefined leaves it as it is. */
export function replaceReferences(sql: string, refs: readonly TableExpression[], replace: (ref: TableExpression) => string | undefined): string {
  if (refs.length === 0) return sql;
  let out = '';
  let pos = 0;
  for (const ref of refs) {
    const text = replace(ref);
    if (text === undefined) continue;
    out += sql.slice(pos, ref.start) + text;
    pos = ref.end;
  }
  return out + sql.slice(pos);
}

function quoteName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : quoteIdent(name);
}
