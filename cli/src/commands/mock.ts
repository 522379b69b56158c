// `emailstats mock <datasource>`: deterministic mock rows for a datasource, to stdout or a file (fixtures, benchmarks).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseDatasource } from '../datafile/index.js';
import { formatDiagnostic } from '../datafile/errors.js';
import { planMock, writeEmailNdjson } from '../mock/index.js';
import { writeMock, type MockFormat } from '../mock/write.js';
import { UserError } from '../util/fatal.js';

interface MockOptions {
  rows: string;
  seed: string;
  format: string;
  out?: string;
  project: string;
}

function resolveDatasource(name: string, project: string): string {
  if (name.endsWith('.datasource') && existsSync(name)) return name;
  const dir = path.join(project, 'datasources');
  const file = path.join(dir, `${name}.datasource`);
  if (existsSync(file)) return file;
  const available = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.datasource'))
        .map((f) => f.slice(0, -'.datasource'.length))
        .sort()
    : [];
  throw new UserError(
    `datasource '${name}' not found in ${dir}` +
      (available.length ? `; available: ${available.join(', ')}` : existsSync(dir) ? ' (no .datasource files there)' : ' (the folder does not exist; use --project DIR)'),
  );
}

function parseRows(s: string): number {
  const n = Number(s.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 0) throw new UserError(`--rows must be a whole number >= 0, got '${s}'`);
  return n;
}

export async function runMock(name: string, o: MockOptions): Promise<void> {
  const rows = parseRows(o.rows);
  const format = o.format.toLowerCase();
  if (format !== 'ndjson' && format !== 'csv') throw new UserError(`--format must be ndjson or csv, got '${o.format}'`);
  const file = resolveDatasource(name, o.project);
  const text = readFileSync(file, 'utf8');
  const parsed = parseDatasource(text, file, { env: process.env as Record<string, string> });
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error');
  if (!parsed.file || errors.length > 0) throw new UserError(errors.map((d) => formatDiagnostic(d, text)).join('\n') || `cannot parse ${file}`);
  const ds = parsed.file;

  const plan = planMock(ds, { rows, seed: o.seed, format: format as MockFormat });
  for (const s of plan.skipped) process.stderr.write(`warning: ${ds.name}.${s.column}: no mock value (${s.reason})\n`);

  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  const progress = tty
    ? (p: { rows: number; bytes: number; done: boolean }): void => {
        const secs = Math.max(0.001, (Date.now() - started) / 1000);
        process.stderr.write(
          `\r${p.rows.toLocaleString('en-US')} / ${rows.toLocaleString('en-US')} rows, ${(p.bytes / 1e6).toFixed(1)} MB, ${Math.round(p.rows / secs).toLocaleString('en-US')} rows/s` +
            (p.done ? '\n' : ''),
        );
      }
    : undefined;

  try {
    const out = o.out ?? process.stdout;
    if (plan.emailNdjson) await writeEmailNdjson(plan.emailNdjson, out, { onProgress: progress, progressEvery: 200_000, onWarning: (m) => void process.stderr.write(`warning: ${m}\n`) });
    else await writeMock(plan.rows, out, format as MockFormat, ds.columns, { onProgress: progress, progressEvery: 200_000 });
  } catch (e) {
    // A closed pipe (`| head`) is not an error for a generator.
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return;
    throw e;
  }
}

export function register(program: Command): void {
  program
    .command('mock')
    .description('generate deterministic mock rows for a datasource: email event funnels for email streams, schema-shaped rows otherwise')
    .argument('<datasource>', 'datasource name (datasources/<name>.datasource), or a path to a .datasource file')
    .option('--rows <n>', 'number of rows', '10')
    .option('--seed <s>', 'seed: the same seed always gives the same rows', '1')
    .option('--format <format>', 'ndjson or csv (ClickHouse CSV, columns in schema order, no header)', 'ndjson')
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--project <dir>', 'project directory', '.')
    .action(async (name: string, o: MockOptions) => {
      await runMock(name, o);
    });
}
