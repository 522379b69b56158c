// Fixtures: `fixtures/<ds>.ndjson` or `fixtures/<ds>.csv` (also `<ds>_<suffix>.*`) are loaded into a datasource
// when it has no rows, as Tinybird does on build; materialized views fire on the inserted rows.
import { rowCount } from '../engine/tables.js';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/types.js';
import { toEngineError } from '../engine/errors.js';
import type { DatasourceFile } from '../datafile/types.js';
import type { Project } from './model.js';
import { CsvHeaderError, CsvRecords } from './csv.js';

/** A fixture that could not be loaded, with the file it came from. */
export class FixtureError extends Error {
  constructor(
    readonly file: string,
    message: string,
    /** What to do about it. */
    readonly hint = 'fix the file or the datasource schema; fixtures load into empty datasources only',
  ) {
    super(message);
    this.name = 'FixtureError';
  }
}

export interface FixtureLoad {
  datasource: string;
  file: string;
  rows: number;
}

/** The datasource a fixture file belongs to: `<ds>.ndjson|csv`, or `<ds>_<suffix>.*` when no datasource has the longer name. */
export function fixtureOwner(fileName: string, datasources: ReadonlyMap<string, unknown>): string | undefined {
  const m = /^(.*)\.(ndjson|csv)$/.exec(fileName);
  if (!m) return undefined;
  if (datasources.has(m[1])) return m[1];
  let best: string | undefined;
  for (const ds of datasources.keys()) if (m[1].startsWith(`${ds}_`) && (!best || ds.length > best.length)) best = ds;
  return best;
}

/** Fixture files for each datasource, relative to the project root. */
export function findFixtures(project: Project): Map<string, string[]> {
  const dir = path.join(project.root, 'fixtures');
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return new Map();
  }
  const out = new Map<string, string[]>();
  for (const name of names) {
    const ds = fixtureOwner(name, project.datasources);
    if (ds) out.set(ds, [...(out.get(ds) ?? []), path.join('fixtures', name)]);
  }
  return out;
}

/** True when the datasource maps JSON keys to columns one to one, so the engine can read the file directly. */
function plainJsonMapping(ds: DatasourceFile): boolean {
  return ds.columns.every((c) => !c.jsonpath || c.jsonpath === `$.${c.name}`);
}

export async function loadFixtures(engine: Engine, project: Project, onlyEmpty = true): Promise<FixtureLoad[]> {
  const loads: FixtureLoad[] = [];
  for (const [dsName, files] of findFixtures(project)) {
    const ds = project.datasources.get(dsName)!;
    // Each file's rows: the count after it minus the count before it (the previous file's "after").
    let before = await rowCount(engine, dsName);
    if (onlyEmpty && before > 0) continue;
    for (const rel of files) {
      const abs = path.join(project.root, rel);
      if (!rel.endsWith('.csv') && !plainJsonMapping(ds)) {
        throw new FixtureError(rel, `datasource ${dsName} maps nested jsonpaths, which fixtures do not; post the file with emailstats append ${dsName} ${rel} instead`, `run emailstats dev, then emailstats append ${dsName} ${rel}`);
      }
      try {
        if (rel.endsWith('.csv')) await loadCsv(engine, ds, abs);
        else await engine.insertNdjsonFile(dsName, abs);
      } catch (err) {
        if (err instanceof CsvHeaderError) throw new FixtureError(rel, `cannot load into ${dsName}: ${err.message}`, 'fix the header line of the file');
        throw new FixtureError(rel, `cannot load into ${dsName}: ${toEngineError(err).message}`);
      }
      const after = await rowCount(engine, dsName);
      loads.push({ datasource: dsName, file: rel, rows: after - before });
      before = after;
    }
  }
  return loads;
}

async function loadCsv(engine: Engine, ds: DatasourceFile, file: string): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(file, 'utf8');
  // Rows go straight into the table, so fields are keyed by column name.
  const csv = new CsvRecords(ds.name, ds.columns, 'column-name');
  const rows = text
    .split(/\r?\n/)
    .filter((l) => l.trim().length > 0)
    .flatMap((l) => {
      const record = csv.next(l);
      return record ? [record] : [];
    });
  if (rows.length) await engine.insertRows(ds.name, rows);
}
