// The request-SQL guard against hostile composition, with ClickHouse's own parser as the judge: whatever query
// the guard lets through for a pipe-scoped token, chDB's `EXPLAIN AST` of it names no table the token may not
// read, no other database, and no function that reaches outside the query.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../cli/src/server/http.js';
import { guardSelect } from '../../cli/src/server/sql-guard.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';

/** The token may read the pipe campaign_stats only; email_events exists and is denied. */
const canRead = (name: string): 'ok' | 'denied' | 'unknown' =>
  name === 'campaign_stats' ? 'ok' : name === 'email_events' || name === 'email_events_quarantine' || name.startsWith('tinybird.') ? 'denied' : 'unknown';
const SERVICE = { pipe_stats_rt: 'tinybird_pipe_stats_rt' };
const DATABASES = new Set(['default', 'system', 'information_schema', 'INFORMATION_SCHEMA', 'other_db']);
const DENIED_TABLES = new Set(['email_events', 'email_events_quarantine', 'tinybird_pipe_stats_rt']);
/** Tables of the database that are not datasources: a service table's view, a leftover of another deployment. */
const HIDDEN = new Set(['tinybird_pipe_stats_mv', 'leftover_table']);
const OUTSIDE = /^(file|url|s3|remote|remotesecure|cluster|executable|input|mysql|postgresql|merge|loop|view|dictget\w*|joinget\w*|dictionary|filesystem|getsetting)$/i;

/** The right-hand side of every IN in the AST: a bare name there is a table ClickHouse opens. */
function inRightSides(ast: string): string[] {
  const lines = ast.split('\n').map((l) => l.replace(/^"|"$/g, ''));
  const indent = (l: string) => l.length - l.trimStart().length;
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (!/^\s*Function (global)?(not)?(null)?in /i.test(line)) return;
    const childIndent = indent(line) + 2;
    const children = [];
    for (let j = i + 2; j < lines.length && indent(lines[j]) >= childIndent; j++) if (indent(lines[j]) === childIndent) children.push(lines[j].trim());
    if (children[1]) out.push(children[1]);
  });
  return out;
}

/** What `EXPLAIN AST` shows that the token must not reach, or undefined when nothing. */
function violation(ast: string): string | undefined {
  for (const side of inRightSides(ast)) {
    const m = /^Identifier (\S+)/.exec(side);
    if (m && HIDDEN.has(m[1])) return `hidden table after IN: ${m[1]}`;
  }
  for (const raw of ast.split('\n')) {
    const line = raw.replace(/^"|"$/g, '').trim();
    let m = /^TableIdentifier (\S+)/.exec(line);
    if (m) {
      const name = m[1];
      if (name.includes('.') && DATABASES.has(name.split('.')[0])) return `table in another database: ${name}`;
      if (DENIED_TABLES.has(name) || HIDDEN.has(name) || name.startsWith('_emailstats')) return `denied table: ${name}`;
    }
    m = /^Identifier (\S+)/.exec(line);
    if (m && m[1].includes('.') && DATABASES.has(m[1].split('.')[0])) return `identifier in another database: ${m[1]}`;

    m = /^Function (\S+)/.exec(line);
    if (m && OUTSIDE.test(m[1])) return `function reaching outside: ${m[1]}`;
  }
  return undefined;
}

const piece = fc.constantFrom(
  ' ', ' ', '\n', ' -- c\n', ' /* c */ ', '(', ')', '(', ')', ',', ', ', ' AS a', ' AS b', ' IN ', ' GLOBAL IN ', ' NOT IN ',
  ' DISTINCT ', ' LIMIT ', ' UNION ALL SELECT ', ' EXCEPT ', ' INTERSECT ', ' JOIN ', ' ARRAY JOIN ', ' ON 1 ', ' WHERE ',
  ' = ', ' + ', ' FROM ', ' SELECT ', ' WITH ', 'campaign_stats', 'campaign_stats', 'email_events', "'email_events'", "'system.one'", "'_emailstats_live'", '`email_events`', '"email_events"',
  'email_events__emailstats_new', '_emailstats_live', 'tinybird_pipe_stats_rt', 'tinybird.pipe_stats_rt', 'system.tables', 'system.one',
  '`system`.`one`', '"system".one', 'system', '.', 'tables', 'other_db.secrets', "file('/etc/passwd')", "file('/etc/hostname', 'LineAsString')",
  "url('http://127.0.0.1:1/', 'CSV', 'a String')", "remote('127.0.0.1', system.one)", 'numbers(3)', 'values(1)', "dictGet('d', 'a', 1)",
  "joinGet('system.one', 'dummy', 0)", "view(SELECT 1)", "merge('system', '.*')", '1', 'x', 'count()', 'groupArray(name)', "'system.one'",
  // Escapes ClickHouse decodes in strings and quoted names, and tables that are not datasources.
  "'email\\x5fevents'", '`email\\x5fevents`', '"email\\x5fevents"', "'tinybird\\x5fpipe_stats_mv'", '`sys\\x74em`', "'email\\Nevents'",
  'tinybird_pipe_stats_mv', 'leftover_table', '(SELECT 1) AS s, ',
);
const hostile = fc.array(piece, { minLength: 1, maxLength: 25 }).map((xs) => `SELECT ${xs.join('')}`);

describe('request SQL guard (property, judged by ClickHouse)', () => {
  const chdb = useEmbeddedEngine('guard');

  it('never lets through a query whose AST reaches what the token may not', async () => {
    let judged = 0;
    await fc.assert(
      fc.asyncProperty(hostile, async (sql) => {
        let out: string;
        try {
          out = guardSelect(sql, canRead, SERVICE, DATABASES, HIDDEN).sql;
        } catch (e) {
          if (!(e instanceof HttpError)) throw e;
          expect([400, 403]).toContain(e.status);
          return;
        }
        let ast: string;
        try {
          ast = await chdb.engine.queryText(`EXPLAIN AST ${out}`, 'TabSeparatedRaw');
        } catch {
          return; // ClickHouse cannot parse it either: it would never run
        }
        judged++;
        expect(violation(ast), `guard accepted: ${sql}\nAST:\n${ast}`).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
    // The property is only worth something if ClickHouse parsed a fair share of what the guard accepted.
    expect(judged).toBeGreaterThan(100);
  }, 120_000);

  it('refuses unbalanced parentheses, which could close a subquery the server wraps the query in', () => {
    const refused = (sql: string) => {
      try {
        guardSelect(sql, canRead, SERVICE, DATABASES);
        return undefined;
      } catch (err) {
        expect(err).toBeInstanceOf(HttpError);
        return (err as HttpError).message;
      }
    };
    expect(refused('SELECT * FROM campaign_stats) WHERE (1')).toBe("unbalanced parentheses: a ')' at offset 28 closes nothing");
    expect(refused('SELECT (1 FROM campaign_stats')).toBe("unbalanced parentheses: 1 '(' not closed");
    // Parentheses inside strings and comments do not count.
    expect(refused("SELECT ')' AS p FROM campaign_stats -- (")).toBeUndefined();
  });

  it('still lets quoted values through where ClickHouse reads them as values', () => {
    expect(guardSelect("SELECT 'a', 'b' FROM campaign_stats WHERE k IN ('email_events') OR k = 'system.one'", canRead, SERVICE, DATABASES).sql).toContain("'b'");
  });

  it('judges the probe attacks as ClickHouse sees them (the oracle itself works)', async () => {
    for (const sql of [
      'SELECT DISTINCT (SELECT groupArray(name) FROM system.tables) FROM campaign_stats',
      "SELECT file('/etc/passwd')",
      'SELECT 1 FROM (SELECT 1) AS a, email_events',
      'SELECT 0 IN system.one',
      // Found by the property above: ClickHouse reads a quoted string in a table position as a table name.
      "SELECT 1 AS b FROM 'system.one'",
      "SELECT 1 FROM (SELECT 1) AS a, 'email_events'",
    ]) {
      expect(violation(await chdb.engine.queryText(`EXPLAIN AST ${sql}`, 'TabSeparatedRaw')), sql).toBeDefined();
      expect(() => guardSelect(sql, canRead, SERVICE, DATABASES, HIDDEN), sql).toThrow(HttpError);
    }
  });

  it('reads escaped names as ClickHouse does, and keeps tables that are not datasources out of every position', async () => {
    const status = (sql: string): number | undefined => {
      try {
        guardSelect(sql, canRead, SERVICE, DATABASES, HIDDEN);
        return undefined;
      } catch (e) {
        expect(e).toBeInstanceOf(HttpError);
        return (e as HttpError).status;
      }
    };
    for (const sql of [
      // Found by review: the guard read `\x5f` as `x5f`, ClickHouse as `_`.
      "SELECT * FROM 'email\\x5fevents'",
      'SELECT * FROM `email\\x5fevents`',
      'SELECT name FROM (SELECT 1) a, `sys\\x74em`.databases',
      "SELECT 1 FROM campaign_stats, 'email\\x5fevents'",
      // A string after a comma of a FROM list that the scan did not follow, escaped.
      "SELECT 1 FROM (SELECT 1) a, 'tinybird\\x5fpipe_stats_mv'",
      // Tables that are not datasources, wherever they stand.
      "SELECT * FROM 'tinybird_pipe_stats_mv'",
      'SELECT * FROM (SELECT 1) a, tinybird_pipe_stats_mv',
      'SELECT 1 IN tinybird_pipe_stats_mv',
      'SELECT 1 IN (leftover_table)',
      'SELECT * FROM (SELECT 1) AS a, (SELECT 2) AS b, email_events',
      // Found by the second review: ClickHouse takes any two characters after \x (`\x6G` is `_`), 18.16 drops the
      // backslash of an unknown escape (`\_` is `_`), and the scan stopped at FINAL and at LIKE (…).
      "SELECT * FROM campaign_stats FINAL, 'email\\x6Gevents'",
      "SELECT 1 FROM campaign_stats WHERE 'x' LIKE (SELECT any(c) FROM 'email\\x6Gevents')",
      "SELECT 1 FROM campaign_stats FINAL, 'email\\_events'",
      "SELECT 1 FROM campaign_stats SAMPLE 1 / 2 OFFSET 1 / 2, 'tinybird_pipe_stats_mv'",
      'SELECT 1 FROM campaign_stats LIMIT (SELECT count() FROM tinybird_pipe_stats_mv)',
    ]) {
      expect([400, 403], sql).toContain(status(sql));
      const ast = await chdb.engine.queryText(`EXPLAIN AST ${sql}`, 'TabSeparatedRaw').catch(() => '');
      // `\_` is `_` for 18.16 only: chDB, the oracle, reads it as written.
      if (ast && !sql.includes('\\_')) expect(violation(ast), `the oracle sees ${sql}`).toBeDefined();
    }
    // A quoted name without escapes, and a readable pipe after a subquery of the FROM list, still pass.
    expect(status('SELECT * FROM `campaign_stats`')).toBeUndefined();
    expect(status('SELECT * FROM (SELECT 1) AS a, campaign_stats')).toBeUndefined();
    expect(status("SELECT 'a\\tb', 'c\\x5fd' FROM campaign_stats")).toBeUndefined();
    // A column or alias named like such a table is no table: only where a table may stand is it refused.
    expect(status('SELECT count() AS leftover_table FROM campaign_stats')).toBeUndefined();
    expect(status('SELECT 1 FROM campaign_stats WHERE leftover_table = 1')).toBeUndefined();
    expect(status('SELECT 1 FROM campaign_stats WHERE x IN (leftover_table)')).toBe(403);
  });
});
