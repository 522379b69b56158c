// unquoteBody (unquoteBytes) reads a quoted string as each server does, judged by the servers themselves: chDB (ClickHouse 26),
// and ClickHouse 18.16, which drops the backslash of an escape it does not know. The request-SQL guard checks a
// string where ClickHouse may read a table name under both readings (sql-guard.ts), so both must be exact.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unquoteBytes } from '../../cli/src/sql/quote.js';
import { useClickHouseServer } from '../helpers/clickhouse-server.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';

const PIECES = ['a', '_', 'é', '\\\\', '\\x5f', '\\x6G', '\\xzz', '\\x41', '\\N', '\\_', '\\q', '\\n', '\\t', '\\0', '\\e', "\\'", "''", '\\"', '\\`', '\\/', '\\='];
const body = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 12 }).map((xs) => xs.join(''));

/** The bytes a server reads from each literal, as hex, in one query; undefined for those it refuses. */
async function serverHex(query: (sql: string) => Promise<string>, bodies: string[]): Promise<(string | undefined)[]> {
  return Promise.all(bodies.map((b) => query(`SELECT hex('${b}') AS h`).then((t) => t.trim(), () => undefined)));
}

describe('quoted strings read as the servers read them', () => {
  const chdb = useEmbeddedEngine('escapes');
  const ch = useClickHouseServer();

  it('as ClickHouse 26 (chDB): \\x takes any two characters, an unknown escape keeps its backslash', async () => {
    const bodies = fc.sample(body, 400);
    const hex = await serverHex((sql) => chdb.engine.queryText(sql, 'TabSeparatedRaw'), bodies);
    let judged = 0;
    bodies.forEach((b, i) => {
      if (hex[i] === undefined) return;
      judged++;
      expect(unquoteBytes(b, "'").toString('hex').toUpperCase(), b).toBe(hex[i]);
    });
    expect(judged).toBeGreaterThan(300);
  });

  it('as ClickHouse 18.16 with dropUnknown, for strings without a \\x the guard would refuse', async () => {
    const bodies = fc.sample(body, 400).filter((b) => !/\\x(?![0-9A-Fa-f]{2})/.test(b));
    const hex = await serverHex((sql) => ch.engine.queryText(sql, 'TabSeparatedRaw'), bodies);
    let judged = 0;
    bodies.forEach((b, i) => {
      if (hex[i] === undefined) return;
      judged++;
      expect(unquoteBytes(b, "'", true).toString('hex').toUpperCase(), b).toBe(hex[i]);
    });
    expect(judged).toBeGreaterThan(100);
  });
});
