// Small questions about a table that several layers ask (apply, fixtures, copy, the datasources API).
import { quoteIdent, quoteString } from '../sql/quote.js';
import type { Engine } from './types.js';

export async function rowCount(engine: Engine, table: string): Promise<number> {
  const [{ c }] = await engine.queryRows<{ c: number | string }>(`SELECT count() AS c FROM ${quoteIdent(table)}`);
  return Number(c);
}

/** Column names of a table of the current database. */
export async function tableColumns(engine: Engine, table: string): Promise<string[]> {
  const rows = await engine.queryRows<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ${quoteString(table)}`);
  return rows.map((r) => r.name);
}
