// One embedded engine per test file (chDB allows one per data directory), in a temp folder removed afterwards.
import { afterAll, beforeAll } from 'vitest';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { EmbeddedEngine } from '../../cli/src/engine/embedded.js';
import { tempDir } from './ingest-fixture.js';

/**
 * Opens an engine before the file's tests and closes it after; `dir` is a scratch folder (`emailstats-<name>-*`)
 * the data lives under.
 */
export function useEmbeddedEngine(name: string): { readonly dir: string; readonly engine: EmbeddedEngine } {
  const state = {} as { dir: string; engine: EmbeddedEngine };
  beforeAll(async () => {
    state.dir = tempDir(name);
    state.engine = await EmbeddedEngine.open(path.join(state.dir, '.data'));
  });
  afterAll(async () => {
    await state.engine?.close();
    if (state.dir) rmSync(state.dir, { recursive: true, force: true });
  });
  return state;
}
