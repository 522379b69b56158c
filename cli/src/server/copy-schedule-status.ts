// Paused copy schedules (`POST /v0/pipes/<pipe>/copy/pause|resume`, `emailstats copy pause|resume`). The status is
// kept in the database the schedules run against, not in a process: every serve of a database (whichever holds
// the copy schedules lease) and dev after a restart see the same. The scheduler reads it just before each run.
// Keyed by pipe name, a pause outlives the rebuilds and deploys that keep the pipe, as a Tinybird push that keeps a
// schedule keeps its status, and also a pipe removed and added again under the same name; resume is the way back.
// Append-only rows, newest version wins (18.16 has no UPDATE worth the name), in one table replicated to every node
// on a cluster (deploy/record-table.ts).
import { quoteIdent, quoteString } from '../sql/quote.js';
import type { Engine } from '../engine/types.js';
import { recordTableExists } from '../engine/tables.js';
import { createRecordTable, nextRecordVersion } from '../deploy/record-table.js';
import { writeEverywhere } from '../deploy/quorum.js';

export const COPY_SCHEDULE_STATUS_TABLE = '_emailstats_copy_schedule_status';
const TABLE = quoteIdent(COPY_SCHEDULE_STATUS_TABLE);

/** Tinybird's names for a schedule's states (it also has `shutdown`, for workspaces being removed). */
export type CopyScheduleStatus = 'running' | 'paused';

/** The pipes whose schedule is paused now (none before the first pause ever made in this database). */
export async function pausedCopies(engine: Engine): Promise<Set<string>> {
  if (!(await recordTableExists(engine, COPY_SCHEDULE_STATUS_TABLE))) return new Set();
  const rows = await engine.queryRows<{ pipe: string }>(`SELECT pipe FROM (SELECT pipe, argMax(status, version) AS newest FROM ${TABLE} GROUP BY pipe) WHERE newest = 'paused'`);
  return new Set(rows.map((r) => r.pipe));
}

/**
 * Records `pipe`'s schedule as `status`; on a cluster it returns once every node has the row. Its version is past
 * the pipe's newest one, so a resume sent to a serve whose clock is behind the one that paused still wins.
 */
export async function setCopyScheduleStatus(engine: Engine, pipe: string, status: CopyScheduleStatus, who: string): Promise<void> {
  let newest = 0;
  if (await recordTableExists(engine, COPY_SCHEDULE_STATUS_TABLE)) {
    const [row] = await engine.queryRows<{ v: number | string }>(`SELECT max(version) AS v FROM ${TABLE} WHERE pipe = ${quoteString(pipe)}`);
    newest = Number(row?.v ?? 0);
  } else {
    await createRecordTable(engine, COPY_SCHEDULE_STATUS_TABLE, '(pipe String, version UInt64, status String, changed_at DateTime, who String)', 'MergeTree ORDER BY (pipe, version)');
  }
  const version = Math.max(nextRecordVersion(), newest + 1);
  await writeEverywhere(engine, `the ${status} status of copy pipe ${pipe}`, (settings) =>
    engine.command(`INSERT INTO ${TABLE} (pipe, version, status, changed_at, who) SELECT ${quoteString(pipe)}, ${version}, ${quoteString(status)}, now(), ${quoteString(who)}`, { settings }),
  );
}
