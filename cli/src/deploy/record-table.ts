// emailstats' record tables (deployments, the live pointer, the schema state, rewrite holds, the deploy lock,
// paused copy schedules).
import { runAll } from '../engine/swap.js';
import type { Engine } from '../engine/types.js';

let lastVersion = 0;
/**
 * A record row's version: increasing within this process, ordered by the clock across processes (microseconds
 * since the epoch). Rows are append-only and the newest version wins.
 */
export function nextRecordVersion(): number {
  lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
  return lastVersion;
}

/**
 * Creates a record table if missing. On a cluster it is one table replicated to every node, so a serve or a
 * deploy pointed at any node reads the same record (engine/placement.ts).
 */
export async function createRecordTable(engine: Engine, name: string, columns: string, tableEngine: string): Promise<void> {
  await runAll(engine, engine.placement.createTable({ name, columns, engine: tableEngine, ifNotExists: true, everywhere: true }));
}
