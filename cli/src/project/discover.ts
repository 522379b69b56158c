// Finds a project's datafiles (spec 0 globs), parses them all, and runs the checks that span files.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDatafile, INTERNAL_TABLES } from '../datafile/index.js';
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

export interface LoadedDatafiles {
  /** Files that parsed without errors. */
  files: Datafile[];
  /** Every diagnostic of every file, plus cross-file ones, in file order. */
  diagnostics: Diagnostic[];
  /** Source text by relative path, for excerpts. */
  sources: Map<string, string>;
  /** Every discovered relative path (including files that failed to parse). */
  paths: string[];
}

export async function loadDatafiles(root: string, env: Record<string, string | undefined> = process.env): Promise<LoadedDatafiles> {
  const paths = await discoverDatafiles(root);
  const files: Datafile[] = [];
  const diagnostics: Diagnostic[] = [];
  const sources = new Map<string, string>();
  for (const rel of paths) {
    let text: string;
    try {
      text = await readFile(path.join(root, rel), 'utf8');
    } catch (e) {
      diagnostics.push({ file: rel, line: 1, col: 1, severity: 'error', message: `Cannot read file: ${(e as Error).message}` });
      continue;
    }
    sources.set(rel, text);
    const res = parseDatafile(text, rel, { env });
    diagnostics.push(...res.diagnostics);
    if (res.file) files.push(res.file);
  }
  diagnostics.push(...crossFileChecks(paths));
  return { files, diagnostics, sources, paths };
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
    // Connections have their own namespace; data sources and pipes share one.
    const key = p.endsWith('.connection') ? `connection:${name}` : name;
    const first = byName.get(key);
    if (first) out.push({ ...at, message: 'Top level object names must be unique', hint: `'${name}' is also defined in ${first}` });
    else byName.set(key, p);
  }
  return out;
}
