// swapIn puts a refilled table in place with EXCHANGE TABLES, or with a RENAME where the database refuses
// EXCHANGE (48 NOT_IMPLEMENTED). Any other failure of the EXCHANGE may come after the server did it (a dropped
// connection), and a RENAME then would swap the old rows back in: that failure is the caller's, untouched.
// Against chDB, with the failures raised around its real statements.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../cli/src/engine/errors.js';
import { swapIn } from '../../cli/src/engine/swap.js';
import type { QueryOptions } from '../../cli/src/engine/types.js';
import { ChdbTestEngine } from '../helpers/chdb-engine.js';
import { tempDir } from '../helpers/ingest-fixture.js';

/** chDB, with a fault where EXCHANGE runs: before it (the database refuses it) or after it (the answer is lost). */
class FaultyExchange extends ChdbTestEngine {
  fault: 'none' | 'refused' | 'lost-after' = 'none';
  statements: string[] = [];
  override async command(sql: string, opts?: QueryOptions): Promise<void> {
    this.statements.push(sql);
    if (!sql.startsWith('EXCHANGE') || this.fault === 'none') return super.command(sql, opts);
    if (this.fault === 'refused') throw new EngineError('Lazy: renameTable() is not supported', 48, 'NOT_IMPLEMENTED');
    await super.command(sql, opts);
    throw new EngineError('socket hang up');
  }
}

let engine: FaultyExchange;
const rows = async (table: string) => (await engine.queryRows<{ v: string }>(`SELECT v FROM ${table} ORDER BY v`)).map((r) => r.v);

beforeAll(() => {
  engine = new FaultyExchange(tempDir('swap-db'));
});
afterAll(async () => {
  await engine.close();
});
beforeEach(async () => {
  engine.statements = [];
  for (const t of ['live', 'refilled']) {
    await engine.command(`DROP TABLE IF EXISTS ${t}`);
    await engine.command(`CREATE TABLE ${t} (v String) ENGINE = MergeTree ORDER BY v`);
  }
  await engine.command("INSERT INTO live VALUES ('old')");
  await engine.command("INSERT INTO refilled VALUES ('new')");
});

describe('swapIn', () => {
  it('exchanges the tables and drops the old rows', async () => {
    await swapIn(engine, 'live', 'refilled');
    expect(await rows('live')).toEqual(['new']);
    expect(await engine.queryRows("SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = 'refilled'")).toEqual([{ n: 0 }]);
  });

  it('renames instead where the database refuses EXCHANGE', async () => {
    engine.fault = 'refused';
    await swapIn(engine, 'live', 'refilled');
    expect(await rows('live')).toEqual(['new']);
    expect(engine.statements.some((s) => s.startsWith('RENAME'))).toBe(true);
  });

  it('does not rename back when the answer to an EXCHANGE the server did is lost', async () => {
    engine.fault = 'lost-after';
    await expect(swapIn(engine, 'live', 'refilled')).rejects.toThrow('socket hang up');
    expect(await rows('live')).toEqual(['new']);
    expect(engine.statements.some((s) => s.startsWith('RENAME'))).toBe(false);
  });
});
