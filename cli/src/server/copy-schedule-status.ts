// Paused copy schedules (`POST /v0/pipes/<pipe>/copy/pause|resume`, `emailstats copy pause|resume`). The status is
// kept in the database the schedules run against, not in a process: every serve of a database (whichever holds
// the copy schedules lease) and dev after a restart see the same. The scheduler reads it in each minute that has
// a copy due. Keyed by pipe name, a pause outlives the rebuilds and deploys that keep the pipe, as a Tinybird push
// that keeps a schedule keeps its status; resume is the way back. Append-only rows, newest wins (18.16 has no
// UPDATE worth the name), one table replicated to every node on a cluster (deploy/record-table.ts).
import { quoteIdent, quoteString } from '../sql/quote.js';
import type { Engine } from '../engine/types.js';
import { createRecordTable } from '../deploy/record-table.js';
import { writeEverywhere } from '../deploy/quorum.js';

export const COPY_SCHEDULE_STATUS_TABLE = '_emailstats_copy_schedule_status';

/** Tinybird's names for a schedule's states (it also has `shutdown`, for workspaces being removed). */
export type CopyScheduleStatus = 'running' | 'paused';

/** Engines known to have the table: it is never dropped, so a positive answer holds. */
const hasTable = new WeakSet<Engine>();

async function tableExists(engine: Engine): Promise<boolean> {
  if (hasTable.has(engine)) return true;
  const rows = await engine.queryRows(`SELECT name FROM system.tables WHERE database = currentDatabase() AND name = ${quoteString(COPY_SCHEDULE_STATUS_TABLE)}`);
  if (rows.length > 0) hasTable.add(engine);
  return rows.length > 0;
}

/** The pipes whose schedule is paused now (none before the first pause ever made in this database). */
export async function pausedCopies(engine: Engine): Promise<Set<string>> {
  if (!(await tableExists(engine))) return new Set();
  const rows = await engine.queryRows<{ pipe: string }>(
    `SELECT pipe FROM (SELECT pipe, argMax(status, version) AS newest FROM ${quoteIdent(COPY_SCHEDULE_STATUS_TABLE)} GROUP BY pipe) WHERE newest = 'paused'`,
  );
  return new Set(rows.map((r) => r.pipe));
}

let lastVersion = 0;
/** Row versions: increasing within a process, time-ordered across processes (the later call wins). */
function nextVersion(): number {
  lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
  return lastVersion;
}

/** Records `pipe`'s schedule as `status`; on a cluster it returns once every node has the row. */
export async function setCopyScheduleStatus(engine: Engine, pipe: string, status: CopyScheduleStatus, who: string): Promise<void> {
  if (!hasTable.has(engine)) {
    await createRecordTable(engine, COPY_SCHEDULE_STATUS_TABLE, '(pipe String, version UInt64, status String, changed_at DateTime, who String)', 'MergeTree ORDER BY (pipe, version)');
    hasTable.add(engine);
  }
  const row = { pipe, version: nextVersion(), status, changed_at: new Date().toISOString().slice(0, 19).replace('T', ' '), who };
  await writeEverywhere(engine, `the ${status} status of copy pipe ${pipe}`, (settings) => engine.insertRows(COPY_SCHEDULE_STATUS_TABLE, [row], { settings }));
}
