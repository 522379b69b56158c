// Where test files live: `tests/<name>.yaml` for the names given, else every `tests/**/*.y*ml`. A file tests
// the pipe named by its stem (tests/campaign_stats.yaml → pipes/.../campaign_stats.pipe).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/fatal.js';
import type { TestCase } from './model.js';
import { parseTestFile } from './yaml.js';

export interface TestFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the project root, posix, as printed. */
  rel: string;
  /** The pipe it tests. */
  pipe: string;
}

const YAML_FILE = /\.ya?ml$/;
const SKIP_DIRS = new Set(['node_modules', '.emailstats', '.git']);

function describe(root: string, file: string): TestFile {
  return { path: file, rel: path.relative(root, file).split(path.sep).join('/'), pipe: path.basename(file).replace(YAML_FILE, '') };
}

function walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && !SKIP_DIRS.has(entry.name)) walk(full, out);
    else if (entry.isFile() && YAML_FILE.test(entry.name)) out.push(full);
  }
}

export function testsDir(root: string): string {
  return path.join(root, 'tests');
}

/** The default path of a pipe's test file. */
export function testFileFor(root: string, pipe: string): TestFile {
  const yml = path.join(testsDir(root), `${pipe}.yml`);
  return describe(root, existsSync(yml) ? yml : path.join(testsDir(root), `${pipe}.yaml`));
}

export function findTestFiles(root: string, names: readonly string[]): TestFile[] {
  if (!names.length) {
    const files: string[] = [];
    if (existsSync(testsDir(root))) walk(testsDir(root), files);
    return files.map((f) => describe(root, f));
  }
  return names.map((name) => {
    // A name, `tests/<name>.yaml`, or a path to a YAML file (relative to the current folder or the project).
    const candidates = YAML_FILE.test(name)
      ? [path.resolve(name), path.resolve(root, name)]
      : [path.join(testsDir(root), `${name}.yaml`), path.join(testsDir(root), `${name}.yml`)];
    const found = candidates.find((c) => existsSync(c));
    if (!found) throw new UserError(`no test file for '${name}': looked for ${candidates.map((c) => path.relative(process.cwd(), c) || c).join(' and ')}; create one with \`emailstats test create ${name.replace(YAML_FILE, '')}\``);
    return describe(root, found);
  });
}

export function readTestFile(file: TestFile): TestCase[] {
  return parseTestFile(readFileSync(file.path, 'utf8'), file.rel);
}
