// `emailstats append <datasource> <file|url>`: streams NDJSON or CSV (header row) through the Events API in
// bounded chunks, so a multi-GB file never sits in memory; the rows get the same mapping, quarantine and
// durability as events. Progress on a terminal, a summary at the end.
import type { Command } from 'commander';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parseCsvLine } from '../project/fixtures.js';
import { apiFetch, openApiSession } from '../local/api-session.js';
import { UserError } from '../util/fatal.js';
import { progressBar, type ProgressState } from './progress.js';
import { engineTarget, projectDir, withEngine, withProject, type EngineCliOptions } from './common.js';

const CHUNK_BYTES = 4 * 1024 * 1024;

interface Totals {
  rows: number;
  quarantined: number;
  reasons: { line: number; error: string }[];
}

function openSource(source: string): { stream: Readable; size?: number } {
  if (/^https?:\/\//.test(source)) {
    const body = fetch(source).then((res) => {
      if (!res.ok || !res.body) throw new UserError(`cannot download ${source}: HTTP ${res.status}`);
      return Readable.fromWeb(res.body as never);
    });
    const out = new Readable({ read() {} });
    body.then((r) => r.on('data', (c) => out.push(c)).on('end', () => out.push(null)).on('error', (e) => out.destroy(e))).catch((e) => out.destroy(e));
    return { stream: out };
  }
  try {
    return { stream: createReadStream(source), size: statSync(source).size };
  } catch {
    throw new UserError(`cannot read ${source}: no such file`);
  }
}

export function register(program: Command): void {
  withEngine(withProject(program.command('append <datasource> <source>')))
    .description('append an NDJSON or CSV file (or URL) to a datasource through the Events API')
    .option('--format <format>', 'ndjson or csv (default: from the file extension)')
    .action(async (datasource: string, source: string, opts: EngineCliOptions & { project?: string; format?: string }) => {
      const format = opts.format ?? (/\.csv(\?|$)/i.test(source) ? 'csv' : 'ndjson');
      if (format !== 'csv' && format !== 'ndjson') throw new UserError(`unknown --format ${format}: use ndjson or csv`);
      const { stream, size } = openSource(source);
      const session = await openApiSession(projectDir(undefined, opts), engineTarget(opts));
      const started = performance.now();
      const totals: Totals = { rows: 0, quarantined: 0, reasons: [] };
      const bar = process.stderr.isTTY ? progressBar(process.stderr) : undefined;
      const progress = (): ProgressState => ({ readBytes, totalBytes: size, rows: totals.rows, quarantined: totals.quarantined, elapsedSeconds: (performance.now() - started) / 1000 });
      let readBytes = 0;
      let lineNo = 0;
      let firstLineOfChunk = 1;
      const send = async (chunk: string[]): Promise<void> => {
        if (!chunk.length) return;
        const res = await apiFetch(session, `/v0/events?name=${encodeURIComponent(datasource)}&wait=true`, { method: 'POST', body: chunk.join('\n') + '\n' });
        const r = (await res.json()) as { successful_rows: number; quarantined_rows: number; quarantine?: { line: number; error: string }[] };
        totals.rows += r.successful_rows;
        totals.quarantined += r.quarantined_rows;
        for (const q of r.quarantine ?? []) if (totals.reasons.length < 20) totals.reasons.push({ line: q.line + firstLineOfChunk - 1, error: q.error });
        bar?.update(progress(), true);
      };
      try {
        let header: string[] | undefined;
        let chunk: string[] = [];
        let chunkBytes = 0;
        for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
          lineNo++;
          readBytes += Buffer.byteLength(line) + 1;
          bar?.update(progress());
          if (!line.trim()) continue;
          let json = line;
          if (format === 'csv') {
            if (!header) {
              header = parseCsvLine(line);
              firstLineOfChunk = lineNo + 1;
              continue;
            }
            const values = parseCsvLine(line);
            json = JSON.stringify(Object.fromEntries(header.map((h, i) => [h, values[i] ?? null])));
          }
          chunk.push(json);
          chunkBytes += json.length;
          if (chunkBytes >= CHUNK_BYTES) {
            await send(chunk);
            chunk = [];
            chunkBytes = 0;
            firstLineOfChunk = lineNo + 1;
          }
        }
        await send(chunk);
      } finally {
        await session.close();
      }
      bar?.done(progress());
      const seconds = (performance.now() - started) / 1000;
      process.stdout.write(`✓ ${totals.rows} rows appended to ${datasource}, ${totals.quarantined} quarantined, in ${seconds.toFixed(1)}s\n`);
      for (const r of totals.reasons) process.stdout.write(`  line ${r.line}: ${r.error}\n`);
      if (totals.quarantined) process.stdout.write(`  quarantined rows are in ${datasource}_quarantine: emailstats sql "SELECT * FROM ${datasource}_quarantine"\n`);
    });
}
