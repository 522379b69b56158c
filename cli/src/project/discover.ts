// Finds a project's datafiles (spec 0 globs), parses them all, and runs the checks that span files.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDatafile, INTERNAL_TABLES, SERVICE_PHYSICAL_TABLES } from '../datafile/index.js';
import type { Datafile, Diagnostic } from '../datafile/types.js';

/** Folder (relative, '' = root) → datafile extension, as in Tinybird's `get_project_filenames`. */
const LOCATIONS: [string, string][] = [
  ['', '.datasource'],
  ['datasources', '.datasource'],
  ['', '.pipe'],
  ['pipes', '.pipe'],
  ['endpoints', '.pipe'],
  ['materializations', '.pipe'],
  ['sinks', '.pipe'],
  ['copies', '.pipe'],
  ['playgrounds', '.pipe'],
  ['connections', '.connection'],
];

/** Relative posix paths of the project's datafiles, sorted. */
export async function discoverDatafiles(root: string): Promise<string[]> {
  const found = new Set<string>();
  for (const [dir, ext] of LOCATIONS) {
    let entries;
    try {
      entries = await readdir(path.join(root, dir), { withFileTypes: true });
    } catch {
      continue; // a missing folder is fine
    }
    for (const e of entries) {
      if (!e.name.endsWith(ext) || e.name === ext) continue;
      if (!e.isFile() && !e.isSymbolicLink()) continue;
      found.add(dir ? `${dir}/${e.name}` : e.name);
    }
  }
  return [...found].sort();
}

export interface DatafileTexts {
  /** Source text by relative path, for parsing and excerpts. */
  sources: Map<string, string>;
  /** Every discovered relative path (including files that could not be read). */
  paths: string[];
  /** Files that could not be read. */
  diagnostics: Diagnostic[];
}

/** Reads every discovered datafile of `root`. */
export async function readDatafiles(root: string): Promise<DatafileTexts> {
  const paths = await discoverDatafiles(root);
  const diagnostics: Diagnostic[] = [];
  const sources = new Map<string, string>();
  for (const rel of paths) {
    try {
      sources.set(rel, await readFile(path.join(root, rel), 'utf8'));
    } catch (e) {
      diagnostics.push({ file: rel, line: 1, col: 1, severity: 'error', message: `Cannot read file: ${(e as Error).message}` });
    }
  }
  return { sources, paths, diagnostics };
}

export interface ParsedDatafiles {
  /** Files that parsed without errors. */
  files: Datafile[];
  /** Every diagnostic of every file, plus cross-file ones, in file order. */
  diagnostics: Diagnostic[];
}

/** Parses datafile texts (from disk, or from a deployment) and runs the checks that span files. */
export function parseDatafiles(texts: DatafileTexts, env: Record<string, string | undefined> = process.env): ParsedDatafiles {
  const files: Datafile[] = [];
  const diagnostics: Diagnostic[] = [...texts.diagnostics];
  for (const rel of texts.paths) {
    const text = texts.sources.get(rel);
    if (text === undefined) continue; // unreadable: already a diagnostic
    const res = parseDatafile(text, rel, { env });
    diagnostics.push(...res.diagnostics);
    if (res.file) files.push(res.file);
  }
  diagnostics.push(...crossFileChecks(texts.paths));
  return { files, diagnostics };
}

/** Reads and parses every datafile of `root`. */
export async function loadDatafiles(root: string, env: Record<string, string | undefined> = process.env): Promise<ParsedDatafiles & DatafileTexts> {
  const texts = await readDatafiles(root);
  return { ...texts, ...parseDatafiles(texts, env) };
}

const stem = (p: string) => p.split('/').pop()!.replace(/\.[^.]+$/, '');

/** Names shared by data sources and pipes, and names of Tinybird's internal tables. */
export function crossFileChecks(paths: string[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const byName = new Map<string, string>();
  for (const p of paths) {
    const name = stem(p);
    const at = { file: p, line: 1, col: 1, severity: 'error' as const };
    if (INTERNAL_TABLES.includes(name))
      out.push({ ...at, message: `'${name}' is the name of an internal table (tinybird.${name})`, hint: 'rename the file' });
    if (SERVICE_PHYSICAL_TABLES.includes(name))
      out.push({ ...at, message: `'${name}' is the name of the table emailstats keeps a Tinybird service data source in`, hint: 'rename the file' });
    // Each kind has its own namespace here; a data source and a pipe of one name are compared below.
    const kind = p.slice(p.lastIndexOf('.') + 1);
    const key = `${kind}:${name}`;
    const first = byName.get(key);
    if (first) out.push({ ...at, message: 'Top level object names must be unique', hint: `'${name}' is also defined in ${first}` });
    else byName.set(key, p);
  }
  // Tinybird Classic accepted a pipe named like a data source (Forward refuses it). In SQL the name means the data
  // source; the pipe stays reachable as an endpoint (/v0/pipes/<name>.json).
  for (const [key, p] of byName) {
    if (!key.startsWith('pipe:')) continue;
    const ds = byName.get(`datasource:${key.slice(5)}`);
    if (ds)
      out.push({
        file: p,
        line: 1,
        col: 1,
        severity: 'warning',
        message: `Top level object names must be unique: pipe '${key.slice(5)}' has the name of the data source in ${ds}`,
        hint: `accepted as Tinybird Classic did: in SQL, '${key.slice(5)}' means the data source; Tinybird Forward refuses it, so rename the pipe to deploy there`,
      });
  }
  return out;
}
