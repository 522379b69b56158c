// A node's SQL may end in `;` (Tinybird accepts `SELECT id FROM t;`), but emailstats wraps node SQL into
// subqueries (`FROM (<node>) AS n`, `SELECT * FROM (<node>) LIMIT 0`), where a `;` is a syntax error.
import { tokenizeSql } from '../sql/lexer.js';

/**
 * The SQL without its trailing statement terminators: every `;` after the last other token goes, with the
 * whitespace and comments around and after them. A `;` inside a string or comment is text, not a terminator,
 * and SQL that does not end in a terminator is returned unchanged (the same string).
 */
export function stripStatementTerminator(sql: string): string {
  if (!sql.includes(';')) return sql;
  const tokens = tokenizeSql(sql);
  let cut = -1;
  for (let i = tokens.length - 1; i >= 0; i--) {
    const t = tokens[i]!;
    if (t.kind === 'ws' || t.kind === 'comment') continue;
    if (t.kind === 'op' && t.text === ';') {
      cut = t.start;
      continue;
    }
    break;
  }
  return cut < 0 ? sql : sql.slice(0, cut).trimEnd();
}
