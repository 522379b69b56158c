// Throw-away projects written from a map of files, for tests that need a few datafiles of their own: each test
// file gets a writer whose folders are removed after its tests.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { removeDir } from './cli.js';

/** Writes `files` (relative path → text) into `dir`, creating their folders; files already there are replaced. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
}

/** Returns `write(files)`: a new folder `emailstats-<name>-*` holding `files` (relative path → text). */
export function useProjectFiles(name: string): (files: Record<string, string>) => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs.splice(0)) removeDir(d);
  });
  return (files) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `emailstats-${name}-`));
    dirs.push(dir);
    writeFiles(dir, files);
    return dir;
  };
}
