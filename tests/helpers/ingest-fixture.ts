// Shared setup for ingest tests: a chDB engine in a temp dir and table/target builders.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Column } from '../../cli/src/datafile/types.js';
import { dedupTableSettings, quarantineTableDDL } from '../../cli/src/ingest/quarantine.js';
import type { IngestTarget } from '../../cli/src/ingest/ingestor.js';
import { ChdbTestEngine } from './chdb-engine.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `emailstats-${prefix}-`));
}

export function col(name: string, type: string, extra: Partial<Column> = {}): Column {
  return { name, type, nullable: type.startsWith('Nullable('), pos: { line: 1, col: 1 }, ...extra };
}

export async function createTarget(engine: ChdbTestEngine, name: string, columns: Column[], tableTypes?: Record<string, string>): Promise<IngestTarget> {
  const defs = columns.map((c) => `\`${c.name}\` ${tableTypes?.[c.name] ?? c.type}${c.default !== undefined ? ` DEFAULT ${c.default}` : ''}`);
  const s = dedupTableSettings(engine.caps);
  await engine.command(`CREATE TABLE ${name} (${defs.join(', ')}) ENGINE = MergeTree() ORDER BY tuple()${s ? ` SETTINGS ${s}` : ''}`);
  await engine.command(quarantineTableDDL(name, columns, engine.caps));
  return { name, table: name, quarantineTable: `${name}_quarantine`, columns };
}

export async function count(engine: ChdbTestEngine, sql: string): Promise<number> {
  const [r] = await engine.queryRows<{ c: string | number }>(sql);
  return Number(r.c);
}
