// What deploy prints while one of its statements runs long (a table's rewrite, a view's backfill, a DDL ON CLUSTER
// waiting for its nodes): what it fills, how many rows it has read of about how many, and for how long.
import type { ProgressListener, StatementProgress } from '../engine/types.js';
import { envSeconds } from '../util/env-seconds.js';
import { tokenizeSql } from '../sql/lexer.js';
import { identName } from '../project/references.js';

export const PROGRESS_INTERVAL_ENV = 'EMAILSTATS_PROGRESS_INTERVAL';
const PROGRESS_INTERVAL_DEFAULT_S = 10;

/** A listener that writes a progress line to `out` every EMAILSTATS_PROGRESS_INTERVAL seconds (10; 0: none). */
export function progressPrinter(out: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): ProgressListener | undefined {
  const everyS = envSeconds(PROGRESS_INTERVAL_ENV, PROGRESS_INTERVAL_DEFAULT_S, env, 'no progress lines');
  if (everyS === 0) return undefined;
  return { everyMs: everyS * 1000, report: (p) => out.write(progressLine(p) + '\n') };
}

const count = (n: number): string => n.toLocaleString('en-US');

/** `  … filling events__emailstats_new: 1,200,000 of ~5,000,000 rows read (24%), 1,200,000 written, 31 s` */
export function progressLine(p: StatementProgress): string {
  const into = insertTarget(p.sql);
  const label = into !== undefined ? `filling ${into}` : p.sql.replace(/\s+/g, ' ').trim().slice(0, 80);
  const of = p.totalRowsApprox > 0 ? ` of ~${count(p.totalRowsApprox)}` : '';
  const share = p.totalRowsApprox > 0 ? ` (${Math.min(100, Math.floor((p.readRows * 100) / p.totalRowsApprox))}%)` : '';
  return `  … ${label}: ${count(p.readRows)}${of} rows read${share}, ${count(p.writtenRows)} written, ${Math.round(p.elapsedS)} s`;
}

/** The table (without its database) an `INSERT INTO [db.]table` fills, its quotes undone; undefined for other SQL. */
function insertTarget(sql: string): string | undefined {
  // The name is in the statement's first words: no need to tokenize a long SELECT at every report.
  const tokens = tokenizeSql(sql.slice(0, 4096)).filter((t) => t.kind !== 'ws' && t.kind !== 'comment');
  if (tokens[0]?.text.toUpperCase() !== 'INSERT' || tokens[1]?.text.toUpperCase() !== 'INTO') return undefined;
  // `db.table`: the name after the last dot.
  let at = 2;
  while (tokens[at + 1]?.text === '.' && identName(tokens[at + 2]) !== undefined) at += 2;
  return identName(tokens[at]);
}
