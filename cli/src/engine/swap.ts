// Replacing a table's contents without a window where readers see it empty or half-filled: fill a copy,
// then swap it in. EXCHANGE TABLES is atomic (ClickHouse 20.7+, not in Ordinary databases); elsewhere a
// two-table RENAME in one statement does the same.
import { quoteIdent } from '../sql/quote.js';
import type { Engine } from './types.js';

// The database engine does not change while an Engine is open: asked once per Engine, not once per swap.
const exchangeable = new WeakMap<Engine, Promise<boolean>>();

function canExchange(engine: Engine): Promise<boolean> {
  let p = exchangeable.get(engine);
  if (!p) {
    p = engine.caps.exchangeTables
      ? engine.queryRows<{ engine: string }>('SELECT engine FROM system.databases WHERE name = currentDatabase()').then((rows) => rows[0]?.engine !== 'Ordinary')
      : Promise.resolve(false);
    p.catch(() => exchangeable.delete(engine)); // a failed lookup is asked again next time
    exchangeable.set(engine, p);
  }
  return p;
}

/** Puts `replacement` in `table`'s place and drops the previous contents. */
export async function swapIn(engine: Engine, table: string, replacement: string): Promise<void> {
  let exchanged = false;
  if (await canExchange(engine)) {
    try {
      await engine.command(`EXCHANGE TABLES ${quoteIdent(table)} AND ${quoteIdent(replacement)}`);
      exchanged = true;
    } catch {
      // Some database engines refuse EXCHANGE even on new servers; the RENAME below does the same.
    }
  }
  if (exchanged) {
    // Outside the try: once exchanged, `table` holds the new rows; a failed DROP must not fall back to the
    // RENAME, which would swap the old rows back in.
    await engine.command(`DROP TABLE ${quoteIdent(replacement)}`);
    return;
  }
  // A crash between the RENAME and the DROP leaves `<replacement>_old` behind: this swap owns the name, so it
  // clears it first rather than failing on "already exists".
  const old = `${replacement}_old`;
  await engine.command(`DROP TABLE IF EXISTS ${quoteIdent(old)}`);
  await engine.command(`RENAME TABLE ${quoteIdent(table)} TO ${quoteIdent(old)}, ${quoteIdent(replacement)} TO ${quoteIdent(table)}`);
  await engine.command(`DROP TABLE ${quoteIdent(old)}`);
}

/** Fills a staging copy of `table` with `fill`, then swaps it in; if `fill` fails the table is untouched. */
export async function refillTable<T>(engine: Engine, table: string, staging: string, fill: (staging: string) => Promise<T>): Promise<T> {
  await engine.command(`DROP TABLE IF EXISTS ${quoteIdent(staging)}`);
  await engine.command(`CREATE TABLE ${quoteIdent(staging)} AS ${quoteIdent(table)}`);
  try {
    const result = await fill(staging);
    await swapIn(engine, table, staging);
    return result;
  } finally {
    await engine.command(`DROP TABLE IF EXISTS ${quoteIdent(staging)}`);
  }
}
