// Checks SQL that comes from a request (`/v0/sql`, the `q` parameter) before it reaches ClickHouse: one
// SELECT statement, no SETTINGS overrides, and only tables the token may read. ClickHouse runs it read-only
// with limits as well; this layer gives clear 4xx errors and keeps other databases and files out of reach.
import { tokenizeSql } from '../sql/lexer.js';
import { scanTableExpressions } from '../project/references.js';
import { HttpError } from './http.js';

/** Table functions that read nothing outside the query itself. */
const SAFE_TABLE_FUNCTIONS = new Set(['numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'values', 'generaterandom']);

const OUTPUT_FORMATS: Record<string, string> = {
  json: 'JSON', jsoneachrow: 'JSONEachRow', ndjson: 'JSONEachRow', jsoncompact: 'JSONCompact', csv: 'CSV', csvwithnames: 'CSVWithNames',
  tsv: 'TSV', tabseparated: 'TabSeparated', tsvwithnames: 'TSVWithNames', tabseparatedwithnames: 'TabSeparatedWithNames', jsonstrings: 'JSONStrings',
};

/** Service datasources (`tinybird.<name>`) that request SQL may name, mapped to their physical tables. */
export type ServiceTables = Record<string, string>;

export interface GuardedSql {
  sql: string;
  /** Output format named by a trailing FORMAT clause, which is removed from `sql`. */
  format?: string;
  /** Service datasources the query reads (their `<name>` in `tinybird.<name>`), the token being allowed to. */
  service: string[];
}

/**
 * @param canRead returns 'ok' when the token may read the named resource, 'denied' when it exists but is not
 *   readable with this token, 'unknown' when no such resource exists. Service tables are asked as `tinybird.<name>`.
 * @param service `tinybird.<name>` tables that exist; references to them are rewritten to the physical table.
 */
export function guardSelect(sql: string, canRead: (name: string) => 'ok' | 'denied' | 'unknown', service: ServiceTables = {}): GuardedSql {
  const all = tokenizeSql(sql);
  const tokens = all.filter((t) => t.kind !== 'ws' && t.kind !== 'comment');
  if (tokens.length === 0) throw new HttpError(400, 'empty query: pass a SELECT statement in q');
  const bad = tokens.find((t) => t.kind === 'error');
  if (bad) throw new HttpError(400, `cannot parse the query near offset ${bad.start}: ${bad.text.slice(0, 20)}`);
  // A trailing `;` is tolerated; anything after one is a second statement.
  let end = tokens.length;
  if (tokens[end - 1].text === ';') end--;
  if (tokens.slice(0, end).some((t) => t.text === ';')) throw new HttpError(400, 'only one statement per request is allowed');
  const first = tokens[0].text.toUpperCase();
  if (first !== 'SELECT' && first !== 'WITH' && first !== '(') throw new HttpError(400, `only SELECT queries are allowed, got ${tokens[0].text}`);
  for (let i = 0; i < end; i++) {
    const word = tokens[i].kind === 'ident' ? tokens[i].text.toUpperCase() : '';
    if (word === 'SETTINGS') throw new HttpError(400, 'SETTINGS clauses are not allowed: limits are set by the server');
    if (word === 'INTO' && tokens[i + 1]?.text.toUpperCase() === 'OUTFILE') throw new HttpError(400, 'INTO OUTFILE is not allowed');
  }
  let format: string | undefined;
  let cut = sql.length;
  if (end >= 2 && tokens[end - 2].text.toUpperCase() === 'FORMAT' && tokens[end - 1].kind === 'ident') {
    const f = OUTPUT_FORMATS[tokens[end - 1].text.toLowerCase()];
    if (!f) throw new HttpError(400, `unsupported FORMAT ${tokens[end - 1].text}; use one of ${[...new Set(Object.values(OUTPUT_FORMATS))].join(', ')}`);
    format = f;
    cut = tokens[end - 2].start;
  } else if (end < tokens.length) {
    cut = tokens[end].start;
  }
  const { tables, ctes } = scanTableExpressions(sql);
  const rewrites: { start: number; end: number; text: string }[] = [];
  const usedService: string[] = [];
  for (const t of tables) {
    if (t.kind === 'subquery') continue;
    if (t.kind === 'function') {
      if (t.database || !SAFE_TABLE_FUNCTIONS.has(t.name.toLowerCase())) throw new HttpError(403, `table function ${t.name}() is not allowed in queries`);
      continue;
    }
    if (t.database === 'tinybird' && Object.hasOwn(service, t.name)) {
      if (canRead(`tinybird.${t.name}`) !== 'ok') throw new HttpError(403, `the token cannot read 'tinybird.${t.name}': service datasources need the ADMIN scope`);
      rewrites.push({ start: t.start, end: t.end, text: service[t.name] });
      usedService.push(t.name);
      continue;
    }
    if (t.database) throw new HttpError(403, `'${t.database}.${t.name}': only this workspace's datasources and pipes can be queried`);
    if (ctes.has(t.name)) continue;
    const verdict = canRead(t.name);
    if (verdict === 'unknown') throw new HttpError(400, `unknown datasource or pipe '${t.name}'`);
    if (verdict === 'denied') throw new HttpError(403, `the token cannot read '${t.name}'`);
  }
  let out = sql.slice(0, cut);
  for (const r of rewrites.sort((a, b) => b.start - a.start)) out = out.slice(0, r.start) + r.text + out.slice(r.end);
  return { sql: out.trimEnd().replace(/;$/, ''), format, service: usedService };
}
