// Checks SQL that comes from a request (`/v0/sql`, the `q` parameter) before it reaches ClickHouse: one
// SELECT statement, no SETTINGS overrides, and only tables the token may read. ClickHouse runs it read-only
// with limits as well; this layer gives clear 4xx errors and keeps other databases and files out of reach.
import { tokenizeSql } from '../sql/lexer.js';
import { identName, scanTableExpressions } from '../project/references.js';
import { unquoteBody } from '../sql/quote.js';
import type { SqlToken } from '../sql/lexer.js';
import { HttpError } from './http.js';

/** Table functions that read nothing outside the query itself. */
const SAFE_TABLE_FUNCTIONS = new Set(['numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'values', 'generaterandom']);

/**
 * Functions that reach outside the query's tables, wherever they are called: files, URLs, other servers and
 * databases, dictionaries, Join tables, models, server settings. The table functions of ClickHouse 26.x (a
 * superset of older servers') other than the safe ones, and the scalar functions of that kind. (`format` is both
 * a scalar string function and a table function over inline data: neither reads anything else.)
 */
const UNSAFE_FUNCTIONS = new Set(
  (
    'arrowstream azureblobstorage azureblobstoragecluster cluster clusterallreplicas cosn deltalake deltalakeazure ' +
    'deltalakeazurecluster deltalakecluster deltalakelocal deltalakes3 deltalakes3cluster dictionary eval executable file ' +
    'filecluster filesystem fuzzjson fuzzquery gcs hdfs hdfscluster hudi hudicluster iceberg icebergazure ' +
    'icebergazurecluster icebergcluster iceberghdfs iceberghdfscluster iceberglocal iceberglocalcluster icebergs3 ' +
    'icebergs3cluster input jdbc loop merge mergetreeanalyzeindexes mergetreeanalyzeindexesuuid mergetreeindex ' +
    'mergetreeprojection mergetreetextindex mongodb mysql odbc oss paimon paimonazure paimonazurecluster paimoncluster ' +
    'paimonhdfs paimonhdfscluster paimonlocal paimons3 paimons3cluster postgresql prometheusquery prometheusqueryrange ' +
    'redis remote remotesecure s3 s3cluster sqlite timeseriesdata timeseriesmetrics timeseriessamples timeseriesselector ' +
    'timeseriestags url urlcluster view viewexplain viewifpermitted ytsaurus ' +
    'catboostevaluate modelevaluate joinget joingetornull hascolumnintable getsetting getsettingordefault getserversetting ' +
    'getmergetreesetting globalvariable currentprofiles enabledprofiles defaultprofiles'
  ).split(' '),
);
const isUnsafeFunction = (name: string): boolean => {
  const n = name.toLowerCase();
  return UNSAFE_FUNCTIONS.has(n) || n.startsWith('dictget') || n.startsWith('dicthas') || n.startsWith('dictis');
};

/** Databases no request may name, whatever the server has besides. */
const SYSTEM_DATABASES = new Set(['system', 'information_schema']);

const OUTPUT_FORMATS: Record<string, string> = {
  json: 'JSON', jsoneachrow: 'JSONEachRow', ndjson: 'JSONEachRow', jsoncompact: 'JSONCompact', csv: 'CSV', csvwithnames: 'CSVWithNames',
  tsv: 'TSV', tabseparated: 'TabSeparated', tsvwithnames: 'TSVWithNames', tabseparatedwithnames: 'TabSeparatedWithNames', jsonstrings: 'JSONStrings',
  parquet: 'Parquet',
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
 * @param hidden tables of the workspace's database that are not datasources (materialized views, whose names are
 *   their pipes', service and internal tables, leftovers): a name of one is allowed only where the structural scan
 *   finds it after FROM or JOIN, which checks it and expands a pipe's name into its query. Anywhere else (after
 *   IN, in a list the scan does not follow) ClickHouse would open the table itself.
 */
export function guardSelect(
  sql: string,
  canRead: (name: string) => 'ok' | 'denied' | 'unknown',
  service: ServiceTables = {},
  databases: ReadonlySet<string> = new Set(),
  hidden: ReadonlySet<string> = new Set(),
): GuardedSql {
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
  // Balanced parentheses: the server may place the statement inside a subquery of its own (`.prometheus`), which a
  // stray `)` would close early.
  let depth = 0;
  for (const t of tokens.slice(0, end)) {
    depth += t.text === '(' ? 1 : t.text === ')' ? -1 : 0;
    if (depth < 0) throw new HttpError(400, `unbalanced parentheses: a ')' at offset ${t.start} closes nothing`);
  }
  if (depth > 0) throw new HttpError(400, `unbalanced parentheses: ${depth} '(' not closed`);
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
  // `{name:Type}` reads a query parameter: the pipes this query expands bind their tb_secret values as such
  // parameters, so request SQL naming one would read a secret the pipe only filters on.
  const placeholder = tokens.slice(0, end).find(
    (t, i) => t.kind === 'param' || (t.text === '{' && (tokens[i + 1]?.kind === 'ident' || tokens[i + 1]?.kind === 'quoted_ident') && tokens[i + 2]?.text === ':'),
  );
  if (placeholder)
    throw new HttpError(400, `query parameters such as ${placeholder.kind === 'param' ? placeholder.text : '{name:Type}'} are not allowed in request SQL: pass values as template parameters (a % template, or a pipe's parameters)`);
  // A backslash in a quoted name is an escape ClickHouse decodes (`email\x5fevents`); no name needs one, and a
  // check that read it otherwise than the server does would check another name.
  const escaped = tokens.slice(0, end).find((t) => t.kind === 'quoted_ident' && t.text.includes('\\'));
  if (escaped) throw new HttpError(400, `backslash escapes are not allowed in quoted names in request SQL (${escaped.text.slice(0, 40)}): write the name as it is`);
  const { tables, ctes } = scanTableExpressions(sql);
  const scanned = new Set(tables.filter((t) => t.kind === 'table').map((t) => t.start));
  checkEveryName(tokens.slice(0, end), canRead, service, databases, hidden, scanned);
  const rewrites: { start: number; end: number; text: string }[] = [];
  const usedService: string[] = [];
  for (const t of tables) {
    if (t.kind === 'subquery') continue;
    if (t.kind === 'string') {
      throw new HttpError(400, `a quoted string where a table goes ('${t.name.slice(0, 40)}') is read by ClickHouse as a table name: write the name without quotes`);
    }
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

/**
 * The structural scan above finds tables after FROM and JOIN; this pass does not rely on the query's structure.
 * Every name in the query, wherever it stands (a subquery in any bracket, after IN, after a comma), is checked:
 * no function that reaches outside the query, no `db.table` in another database, no table the token may not read
 * (internal and staging tables included). A column or alias named like such a table is refused too: the safe side.
 * So is a quoted string where ClickHouse reads it as a table name (`FROM 'system.one'`, found by the guard's
 * property test against ClickHouse's parser), even where it is a value (`SELECT 'a', 'b'`).
 */
function checkEveryName(
  tokens: SqlToken[],
  canRead: (name: string) => 'ok' | 'denied' | 'unknown',
  service: ServiceTables,
  databases: ReadonlySet<string>,
  hidden: ReadonlySet<string>,
  scanned: ReadonlySet<number>,
): void {
  const physicalService = new Map(Object.entries(service).map(([name, table]) => [table, name]));
  const deny = (what: string): never => {
    throw new HttpError(403, what);
  };
  const isOtherDatabase = (db: string): boolean => databases.has(db) || SYSTEM_DATABASES.has(db.toLowerCase());
  /**
   * A name that may stand for a table of this database; `why` ends each refusal. `tablePlace`: it stands where
   * ClickHouse may read a table (after FROM, JOIN, IN or a comma), `at` its offset (-1 for a quoted string).
   */
  const checkTable = (name: string, why: string, at: number, tablePlace: boolean): void => {
    if (name.toLowerCase().startsWith('_emailstats')) deny(`'${name}' is an internal table of emailstats${why}`);
    if (tablePlace && hidden.has(name) && !scanned.has(at)) {
      deny(`'${name}' is a table of the database that is not a datasource: a pipe's name is read after FROM or JOIN, where it stands for the pipe's query (after IN, write IN (SELECT … FROM ${name}))${why}`);
    }
    const serviceName = physicalService.get(name);
    if (serviceName !== undefined && canRead(`tinybird.${serviceName}`) !== 'ok') deny(`the token cannot read '${name}'${why}`);
    // Staging and swap tables are named `<table>__<suffix>`: they hold that table's rows.
    const owner = name.includes('__') ? name.slice(0, name.indexOf('__')) : undefined;
    for (const candidate of owner ? [name, owner] : [name]) {
      if (canRead(candidate) === 'denied') deny(`the token cannot read '${candidate}'${why}`);
    }
  };
  for (let i = 0; i < tokens.length; i++) {
    const before = tokens[i - 1]?.text ?? '';
    if (tokens[i].kind === 'string') {
      if (!/^(FROM|JOIN|,)$/i.test(before)) continue;
      const body = tokens[i].text.slice(1, -1);
      const why = '; ClickHouse reads a quoted string after FROM, JOIN or a comma as a table name';
      // Read the string as ClickHouse 26 does, and as older servers do (an unknown `\c` is `c` there); a `\x`
      // without two hex digits is read differently by each, so it is refused here.
      if (/\\x(?![0-9A-Fa-f]{2})/.test(body)) throw new HttpError(400, `a quoted string after FROM, JOIN or a comma has a \\x escape without two hex digits (${tokens[i].text.slice(0, 40)}): ClickHouse may read it as a table name; write the value another way`);
      for (const text of new Set([unquoteBody(body, "'"), unquoteBody(body, "'", true)])) {
        const dot = text.indexOf('.');
        if (dot >= 0 && (isOtherDatabase(text.slice(0, dot)) || text.slice(0, dot) === 'tinybird')) deny(`'${text}': only this workspace's datasources and pipes can be queried${why}`);
        checkTable(dot >= 0 ? text.slice(dot + 1) : text, why, -1, true);
      }
      continue;
    }
    const name = identName(tokens[i]);
    if (name === undefined || before === '.') continue;
    if (tokens[i + 1]?.text === '(') {
      if (isUnsafeFunction(name)) deny(`function ${name}() is not allowed in queries: it reads outside this workspace's datasources and pipes`);
      continue;
    }
    const member = tokens[i + 1]?.text === '.' ? identName(tokens[i + 2]) : undefined;
    if (member !== undefined) {
      if (name === 'tinybird') {
        if (!Object.hasOwn(service, member)) deny(`'tinybird.${member}' is not a service datasource emailstats provides (only ${Object.keys(service).map((n) => `tinybird.${n}`).join(', ') || 'none'})`);
        if (canRead(`tinybird.${member}`) !== 'ok') deny(`the token cannot read 'tinybird.${member}': service datasources need the ADMIN scope`);
      } else if (isOtherDatabase(name)) {
        deny(`'${name}.${member}': only this workspace's datasources and pipes can be queried`);
      }
      continue; // otherwise a qualifier: `alias.column`, `column.subcolumn`
    }
    // Where the name cannot be a table (a column, an alias), say why a name the user never meant as a table is refused.
    const asTable = /^(FROM|JOIN|IN|,)$/i.test(before) || (before === '(' && /^IN$/i.test(tokens[i - 2]?.text ?? ''));
    checkTable(name, asTable ? '' : '; names of datasources and pipes this token cannot read are refused anywhere in a query: if it is a column or an alias, rename it', tokens[i].start, asTable);
  }
}
