// emailstats' record tables (deployments, the live pointer, the schema state, rewrite holds, the deploy lock).
import { runAll } from '../engine/swap.js';
import type { Engine } from '../engine/types.js';

/**
 * Creates a record table if missing. On a cluster it is one table replicated to every node, so a serve or a
 * deploy pointed at any node reads the same record (engine/placement.ts).
 */
export async function createRecordTable(engine: Engine, name: string, columns: string, tableEngine: string): Promise<void> {
  await runAll(engine, engine.placement.createTable({ name, columns, engine: tableEngine, ifNotExists: true, everywhere: true }));
}
