// `npm run bench`: runs every bench/*.bench.ts (or the ones named on the command line) and prints each
// result. Benchmarks report ratios to the raw engine measured in the same run, never absolute targets alone.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface BenchResult {
  name: string;
  /** Human-readable figure lines, e.g. `p50 0.41 ms (engine alone 0.35 ms, ratio 1.17)`. */
  lines: string[];
}

const dir = path.dirname(new URL(import.meta.url).pathname);
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
for (const f of files) {
  const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as { run: () => Promise<BenchResult[]> };
  const started = performance.now();
  for (const r of await mod.run()) {
    process.stdout.write(`\n## ${r.name}\n`);
    for (const l of r.lines) process.stdout.write(`  ${l}\n`);
  }
  process.stdout.write(`  (${f} took ${((performance.now() - started) / 1000).toFixed(1)}s)\n`);
}
