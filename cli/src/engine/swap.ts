// Replacing a table's contents without a window where readers see it empty or half-filled: fill a copy,
// then swap it in. EXCHANGE TABLES is atomic (ClickHouse 20.7+, not in Ordinary databases); elsewhere a
// two-table RENAME in one statement does the same.
import { quoteIdent } from '../sql/quote.js';
import type { TableSpec } from './placement.js';
import type { Engine } from './types.js';
import { oncePerEngine } from './per-engine.js';
import { toEngineError, type EngineError } from './errors.js';

const NOT_IMPLEMENTED = 48;
const UNSUPPORTED_METHOD = 1;

function refusesExchange(e: EngineError): boolean {
  return e.code === NOT_IMPLEMENTED || (e.code === UNSUPPORTED_METHOD && /renameat2/i.test(e.message));
}

// The database engine does not change while an Engine is open: asked once per Engine, not once per swap.
const canExchange = oncePerEngine(async (engine) =>
  engine.caps.exchangeTables ? (await engine.queryRows<{ engine: string }>('SELECT engine FROM system.databases WHERE name = currentDatabase()'))[0]?.engine !== 'Ordinary' : false,
);

/**
 * Puts `replacement` in `table`'s place and drops the previous contents. `shardingKey`: the Distributed
 * table's on a cluster (engine/placement.ts).
 */
export async function swapIn(engine: Engine, table: string, replacement: string, shardingKey = 'rand()'): Promise<void> {
  let exchanged = false;
  if (!engine.placement.cluster && (await canExchange(engine))) {
    try {
      await engine.command(`EXCHANGE TABLES ${quoteIdent(table)} AND ${quoteIdent(replacement)}`);
      exchanged = true;
    } catch (err) {
      // Some database engines and systems refuse EXCHANGE even on new servers: 48 NOT_IMPLEMENTED (1
      // UNSUPPORTED_METHOD naming renameat2 on 20.x-21.x), and then the RENAME below does the same. Any other
      // failure may have come after the server exchanged the tables (a dropped connection): the RENAME would
      // then swap the old rows back in, so it is not tried.
      if (!refusesExchange(toEngineError(err))) throw err;
    }
  }
  if (exchanged) {
    // Outside the try: once exchanged, `table` holds the new rows; a failed DROP must not fall back to the
    // RENAME, which would swap the old rows back in.
    await engine.command(`DROP TABLE ${quoteIdent(replacement)}`);
    return;
  }
  await runAll(engine, engine.placement.swap(table, replacement, shardingKey));
}

/**
 * Fills a staging copy of `table` with `fill`, then swaps it in; if `fill` fails the table is untouched.
 * `definition` is the table's (see withTableCopy).
 */
export async function refillTable<T>(engine: Engine, table: string, staging: string, definition: TableSpec, fill: (staging: string) => Promise<T>): Promise<T> {
  return withTableCopy(engine, table, staging, definition, async (copy) => {
    const result = await fill(copy);
    await swapIn(engine, table, copy, definition.shardingKey);
    return result;
  });
}

/**
 * Runs `use` on an empty table `copy` shaped like `table`, dropped afterwards whatever happens. `definition` is the
 * table's (its name is replaced by the copy's): on a cluster the copy is built from it, since `CREATE TABLE s AS t`
 * would copy t's ZooKeeper path too. On one ClickHouse the copy is `AS table`.
 */
export async function withTableCopy<T>(engine: Engine, table: string, copy: string, definition: TableSpec, use: (copy: string) => Promise<T>): Promise<T> {
  const { placement } = engine;
  await runAll(engine, placement.dropTable(copy));
  if (placement.cluster) await runAll(engine, placement.createTable({ ...definition, name: copy, ifNotExists: false }));
  else await engine.command(`CREATE TABLE ${quoteIdent(copy)} AS ${quoteIdent(table)}`);
  try {
    return await use(copy);
  } finally {
    await runAll(engine, placement.dropTable(copy));
  }
}

/** Runs DDL statements in order (a Placement's output). */
export async function runAll(engine: Engine, statements: string[]): Promise<void> {
  for (const sql of statements) await engine.command(sql);
}
