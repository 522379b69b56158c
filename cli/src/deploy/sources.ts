// A deployment carries its datafiles as text; this turns them back into a Project with the normal parser,
// so `serve` runs exactly what `deploy` checked, without project files on disk.
import { createHash } from 'node:crypto';
import { projectFromTexts, type Project } from '../project/model.js';

export function projectFromSources(sources: Record<string, string>, root: string, env: Record<string, string | undefined> = process.env): Project {
  const paths = Object.keys(sources).sort();
  return projectFromTexts(root, { sources: new Map(paths.map((p) => [p, sources[p]])), paths, diagnostics: [] }, env);
}

/** The datafiles a deployment stores: .datasource and .pipe files (fixtures and tests are not deployed). */
export function deployableSources(project: Project): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [p, text] of [...project.sources].sort(([a], [b]) => a.localeCompare(b))) if (/\.(datasource|pipe)$/.test(p)) out[p] = text;
  return out;
}

/** Hash of the deployed content: same datafiles, same hash, whatever the order they were read in. */
export function contentHash(sources: Record<string, string>): string {
  const h = createHash('sha256');
  for (const p of Object.keys(sources).sort()) h.update(`${p}\0${sources[p]}\0`);
  return h.digest('hex').slice(0, 16);
}
