// Runs once before the suite, in the main vitest process.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Every test file, CLI process and ClickHouse server of this run writes its temporary files under one directory,
 * removed when the run ends: the suite makes hundreds of them (WALs, engine data, projects), and a test that
 * fails before its own cleanup would otherwise leave them in the system's temp folder. Workers and the
 * processes they start inherit TMPDIR, which os.tmpdir() reads.
 */
export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const root = mkdtempSync(path.join(os.tmpdir(), 'emailstats-test-run-'));
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    try {
      // A process the suite started may still be writing for a moment (a server shutting down).
      rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    } catch (e) {
      console.warn(`could not remove the test run's temporary folder ${root}: ${(e as Error).message}`);
    }
  };
}
