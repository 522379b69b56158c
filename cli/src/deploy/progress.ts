// What deploy prints while one of its statements runs long (a table's rewrite, a view's backfill, a DDL ON CLUSTER
// waiting for its nodes): what it fills, how many rows it has read of about how many, and for how long.
import type { ProgressListener, StatementProgress } from '../engine/types.js';
import { envSeconds } from '../util/env-seconds.js';

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

const NAME_PART = /`((?:[^`]|``)*)`|"((?:[^"]|"")*)"|(\w+)/y;

/** The table (without its database) an `INSERT INTO [db.]table` fills, its quotes undone; undefined for other SQL. */
function insertTarget(sql: string): string | undefined {
  const head = /^\s*INSERT\s+INTO\s+/i.exec(sql);
  if (!head) return undefined;
  let at = head[0].length;
  let table: string | undefined;
  for (;;) {
    NAME_PART.lastIndex = at;
    const m = NAME_PART.exec(sql);
    if (!m) return table;
    table = m[1] !== undefined ? m[1].replace(/``/g, '`') : m[2] !== undefined ? m[2].replace(/""/g, '"') : m[3];
    at = NAME_PART.lastIndex;
    if (sql[at] !== '.') return table;
    at += 1;
  }
}
