// Issue 7, acceptance 3: `emailstats mock email_events` speed and memory beside the engine ingesting the file it
// wrote, in the same run: chDB loading it into a bare MergeTree table of the same columns (the engine's fastest
// ingest) and into the project's email_events (with the two rollup views firing). Target: generation faster
// than the engine ingests, memory flat (peak RSS at N rows ≈ at N/10 rows).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedEngine } from '../cli/src/engine/embedded.js';
import { buildProject } from '../cli/src/project/build.js';
import { loadProject } from '../cli/src/project/model.js';
import { BIN, REPO } from '../tests/helpers/cli.js';
import type { BenchResult } from './run.js';

const ROWS = Number(process.env.BENCH_MOCK_ROWS ?? 10_000_000);

/** Runs the real CLI; samples the process's RSS from /proc every 50 ms (Linux) for its peak. */
function mock(rows: number, out: string): Promise<{ seconds: number; peakRssMb: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, 'mock', 'email_events', '--rows', String(rows), '--seed', '1', '--out', out, '--project', REPO], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let peak = 0;
    const sample = setInterval(() => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch {
        /* exited between samples */
      }
    }, 50);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(sample);
      if (code !== 0) reject(new Error(`emailstats mock exited with ${code}: ${stderr}`));
      else resolve({ seconds: (performance.now() - t0) / 1000, peakRssMb: peak });
    });
  });
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-bench-mock-'));
  const file = path.join(dir, 'events.ndjson');
  try {
    const small = await mock(Math.max(1, Math.round(ROWS / 10)), file);
    const big = await mock(ROWS, file);
    const bytes = statSync(file).size;

    const engine = await EmbeddedEngine.open(path.join(dir, 'engine'));
    let bareS: number, viewsS: number;
    try {
      const report = await buildProject(engine, await loadProject(REPO), { fixtures: false });
      if (report.diagnostics.length) throw new Error(report.diagnostics.map((d) => d.message).join('\n'));
      await engine.command('CREATE TABLE bare_events AS email_events'); // same columns, defaults, engine; no views
      let t0 = performance.now();
      await engine.insertNdjsonFile('bare_events', file);
      bareS = (performance.now() - t0) / 1000;
      t0 = performance.now();
      await engine.insertNdjsonFile('email_events', file);
      viewsS = (performance.now() - t0) / 1000;
    } finally {
      await engine.close();
    }
    const rate = (s: number) => Math.round(ROWS / s).toLocaleString('en-US');
    return [
      {
        name: `emailstats mock email_events --rows ${ROWS.toLocaleString('en-US')} (${os.availableParallelism()} cores) vs the engine ingesting the same file`,
        lines: [
          `mock (whole CLI run, process start included): ${rate(big.seconds)} rows/s (${big.seconds.toFixed(2)}s, ${(bytes / 1e9).toFixed(2)} GB, ${(bytes / 1e6 / big.seconds).toFixed(0)} MB/s)`,
          `engine, bare MergeTree table: ${rate(bareS)} rows/s (${bareS.toFixed(2)}s); mock / engine = ${(bareS / big.seconds).toFixed(2)} (target > 1)`,
          `engine, email_events with its 2 rollup views: ${rate(viewsS)} rows/s (${viewsS.toFixed(2)}s); mock / engine = ${(viewsS / big.seconds).toFixed(2)}`,
          `peak RSS of the mock process: ${big.peakRssMb.toFixed(0)} MB at ${ROWS.toLocaleString('en-US')} rows, ${small.peakRssMb.toFixed(0)} MB at ${Math.round(ROWS / 10).toLocaleString('en-US')} rows`,
        ],
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
