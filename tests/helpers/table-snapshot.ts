// Prints every table of an embedded engine's data directory with its engine, columns and row count, as JSON.
// Run in its own process (`node bin/run-ts.mjs tests/helpers/table-snapshot.ts <dataDir>`) while no dev
// holds the directory: tests compare two snapshots to prove that a series of requests changed nothing.
import { openEngine } from '../../cli/src/engine/index.js';
import { quoteIdent } from '../../cli/src/sql/quote.js';

const engine = await openEngine({ dataDir: process.argv[2] });
try {
  const tables = await engine.queryRows<{ database: string; name: string; engine: string; create_table_query: string }>(
    "SELECT database, name, engine, create_table_query FROM system.tables WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') ORDER BY database, name",
  );
  const out = [];
  for (const t of tables) {
    const rows = t.engine.includes('View') ? null : Number((await engine.queryRows<{ c: string }>(`SELECT count() AS c FROM ${quoteIdent(t.database)}.${quoteIdent(t.name)}`))[0].c);
    out.push({ ...t, rows });
  }
  process.stdout.write(JSON.stringify(out));
} finally {
  await engine.close();
}
