// `emailstats append <datasource> <file|url>`: streams an NDJSON or CSV (header row optional) file, or a download, to
// `POST /v0/datasources?mode=append` as one multipart upload. The server's import path maps, converts,
// quarantines and logs the rows exactly as for events, in bounded chunks, so a multi-GB file never sits in
// memory on either side. Progress on a terminal, a summary at the end.
import type { Command } from 'commander';
import { createReadStream, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { apiFetch } from '../local/api-session.js';
import { UserError } from '../util/fatal.js';
import { progressBar } from './progress.js';
import { withApiSession, withEngine, withProject, type EngineCliOptions } from './common.js';

interface ImportAnswer {
  successful_rows: number;
  quarantined_rows: number;
  quarantine?: { line: number; error: string }[];
}

async function openSource(source: string): Promise<{ stream: Readable; size?: number }> {
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source).catch((err: Error) => {
      throw new UserError(`cannot download ${source}: ${err.message}`);
    });
    if (!res.ok || !res.body) throw new UserError(`cannot download ${source}: HTTP ${res.status}`);
    const length = Number(res.headers.get('content-length'));
    return { stream: Readable.fromWeb(res.body as never), size: Number.isFinite(length) && length > 0 ? length : undefined };
  }
  try {
    return { stream: createReadStream(source), size: statSync(source).size };
  } catch {
    throw new UserError(`cannot read ${source}: no such file`);
  }
}

/** The multipart body around the file, as a stream (backpressure from the upload reaches the file). */
async function* multipart(boundary: string, field: string, filename: string, file: Readable, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  for await (const chunk of file) {
    onBytes((chunk as Buffer).length);
    yield chunk as Buffer;
  }
  yield Buffer.from(`\r\n--${boundary}--\r\n`);
}

export function register(program: Command): void {
  withEngine(withProject(program.command('append <datasource> <source>')))
    .description('append an NDJSON or CSV file (or URL) to a datasource, with the Events API mapping and quarantine')
    .option('--format <format>', 'ndjson or csv (default: from the file extension)')
    .action(async (datasource: string, source: string, opts: EngineCliOptions & { project?: string; format?: string }) => {
      const format = opts.format ?? (/\.csv(\?|$)/i.test(source) ? 'csv' : 'ndjson');
      if (format !== 'csv' && format !== 'ndjson') throw new UserError(`unknown --format ${format}: use ndjson or csv`);
      const { stream, size } = await openSource(source);
      const started = performance.now();
      const bar = process.stderr.isTTY ? progressBar(process.stderr) : undefined;
      let readBytes = 0;
      const answer = await withApiSession(opts, async (session) => {
        const boundary = `emailstats${randomBytes(12).toString('hex')}`;
        const body = Readable.from(
          multipart(boundary, format, source.split('/').pop() || `data.${format}`, stream, (n) => {
            readBytes += n;
            bar?.update({ readBytes, totalBytes: size, elapsedSeconds: (performance.now() - started) / 1000 });
          }),
        );
        const res = await apiFetch(session, `/v0/datasources?name=${encodeURIComponent(datasource)}&mode=append&format=${format}`, {
          method: 'POST',
          headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
          body: Readable.toWeb(body) as never,
          duplex: 'half',
        } as RequestInit);
        return (await res.json()) as ImportAnswer;
      });
      bar?.done({ readBytes, totalBytes: size, rows: answer.successful_rows, quarantined: answer.quarantined_rows, elapsedSeconds: (performance.now() - started) / 1000 });
      const seconds = (performance.now() - started) / 1000;
      process.stdout.write(`✓ ${answer.successful_rows} rows appended to ${datasource}, ${answer.quarantined_rows} quarantined, in ${seconds.toFixed(1)}s\n`);
      for (const r of (answer.quarantine ?? []).slice(0, 20)) process.stdout.write(`  line ${r.line}: ${r.error}\n`);
      if (answer.quarantined_rows) process.stdout.write(`  quarantined rows are in ${datasource}_quarantine: emailstats sql "SELECT * FROM ${datasource}_quarantine"\n`);
    });
}
