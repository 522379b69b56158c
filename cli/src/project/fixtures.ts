// Fixtures: `fixtures/<ds>.ndjson` or `fixtures/<ds>.csv` (also `<ds>_<suffix>.*`) are loaded into a datasource
// when it has no rows, as Tinybird does on build; materialized views fire on the inserted rows. A datasource with
// neither gets the rows of `fixtures/<ds>.sql`, a query (Tinybird's generator fixture, e.g. over numbers(100)):
// its result is read as NDJSON, each column as the JSON key of its name, through the datasource's jsonpaths.
import { rowCount } from '../engine/tables.js';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/types.js';
import { toEngineError } from '../engine/errors.js';
import type { DatasourceFile } from '../datafile/types.js';
import type { Project } from './model.js';
import { CsvHeaderError, CsvRecords } from './csv.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { convertBody } from '../ingest/convert.js';
import { IngestError } from '../ingest/errors.js';
import { TargetPlan } from '../ingest/plan.js';

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

/** The datasource a fixture file belongs to: `<ds>.ndjson|csv|sql`, or `<ds>_<suffix>.*` when no datasource has the longer name. */
export function fixtureOwner(fileName: string, datasources: ReadonlyMap<string, unknown>): string | undefined {
  const m = /^(.*)\.(ndjson|csv|sql)$/.exec(fileName);
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
  // A generator is used only where no file holds rows: every NDJSON and CSV fixture of a datasource loads, and its
  // `<ds>.sql` only when it has neither (Tinybird: `.ndjson`, else `.csv`, else `.sql`).
  for (const [ds, files] of out) {
    const data = files.filter((f) => !f.endsWith('.sql'));
    out.set(ds, data.length ? data : files.filter((f) => f === path.join('fixtures', `${ds}.sql`)));
    if (!out.get(ds)!.length) out.delete(ds);
  }
  return out;
}

/**
 * The datasource a file of `fixtures/` is loaded into, as findFixtures picks them (a `.sql` generator only while
 * no NDJSON or CSV fixture of the datasource replaces it); undefined for any other file.
 */
export function fixtureInUse(project: Project, fileName: string): string | undefined {
  const ds = fixtureOwner(fileName, project.datasources);
  if (!ds || !fileName.endsWith('.sql')) return ds;
  return findFixtures(project).get(ds)?.includes(path.join('fixtures', fileName)) ? ds : undefined;
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
      try {
        if (rel.endsWith('.sql')) await loadGenerated(engine, ds, abs, rel);
        else if (rel.endsWith('.csv')) await loadCsv(engine, ds, abs);
        else if (plainJsonMapping(ds)) await engine.insertNdjsonFile(dsName, abs);
        else await loadMappedNdjson(engine, ds, await readFile(abs), rel);
      } catch (err) {
        if (err instanceof FixtureError) throw err;
        if (err instanceof CsvHeaderError) throw new FixtureError(rel, `cannot load into ${dsName}: ${err.message}`, 'fix the header line of the file');
        if (err instanceof IngestError) throw new FixtureError(rel, `cannot load into ${dsName}: ${err.message}`);
        throw new FixtureError(rel, `cannot load into ${dsName}: ${toEngineError(err).message}`);
      }
      const after = await rowCount(engine, dsName);
      loads.push({ datasource: dsName, file: rel, rows: after - before });
      before = after;
    }
  }
  return loads;
}

/**
 * NDJSON for a datasource whose jsonpaths reach into nested objects (`json:$.user.city`): each line is mapped as
 * the Events API maps an event (the same TargetPlan), and the mapped rows are bulk-loaded.
 */
async function loadMappedNdjson(engine: Engine, ds: DatasourceFile, body: Buffer, rel: string): Promise<void> {
  const converted = convertBody(new TargetPlan(ds.columns), body, { maxBodyBytes: body.length + 1, nowSec: Math.floor(Date.now() / 1000), maxReasons: 1 });
  if (converted.badRows) {
    const first = converted.reasons[0];
    throw new FixtureError(rel, `cannot load into ${ds.name}: ${converted.badRows} line(s) do not fit the schema${first ? `; line ${first.line}: ${first.error}` : ''}`, 'fix those lines or the datasource schema');
  }
  if (converted.good) await insertNdjsonText(engine, ds.name, converted.good);
}

/** NDJSON held in memory, bulk-loaded through a file the engine reads (a fixture can be large for a query's text). */
async function insertNdjsonText(engine: Engine, table: string, text: string | Uint8Array): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'emailstats-fixture-'));
  try {
    const file = path.join(dir, `${table}.ndjson`);
    await writeFile(file, text);
    await engine.insertNdjsonFile(table, file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `fixtures/<ds>.sql`: the query's rows as NDJSON, loaded as an NDJSON fixture would be. */
async function loadGenerated(engine: Engine, ds: DatasourceFile, file: string, rel: string): Promise<void> {
  const sql = (await readFile(file, 'utf8')).trim().replace(/;\s*$/, '');
  if (!sql) throw new FixtureError(rel, `cannot load into ${ds.name}: the file is empty`, 'write a SELECT whose columns are named like the datasource columns, e.g. SELECT number AS id FROM numbers(10)');
  let rows: string;
  try {
    // Under a server's read limit (its answer comes whole at the end: ServerEngine.readSettings).
    rows = await engine.queryText(sql, 'JSONEachRow', { settings: { readonly: 2, max_execution_time: 50 } });
  } catch (err) {
    throw new FixtureError(rel, `cannot generate rows for ${ds.name}: ${toEngineError(err).message}`, 'fix the query: it runs as written, with its columns named like the datasource columns (or their JSON paths)');
  }
  if (!rows.trim()) return;
  if (plainJsonMapping(ds)) await insertNdjsonText(engine, ds.name, rows);
  else await loadMappedNdjson(engine, ds, Buffer.from(rows), rel);
}

async function loadCsv(engine: Engine, ds: DatasourceFile, file: string): Promise<void> {
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
