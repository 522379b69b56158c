// Streams mock rows to a file or stream as NDJSON or ClickHouse CSV, in large chunks and with backpressure, so
// generating 100M rows needs neither the rows nor the output in memory.
import { createWriteStream } from 'node:fs';
import type { Column } from '../datafile/types.js';
import { compileSchema, csvField, csvValue, getPath } from './generic.js';

export type MockFormat = 'ndjson' | 'csv';

export interface WriteProgress {
  rows: number;
  bytes: number;
  done: boolean;
}

export interface WriteOptions {
  /** Called about every `progressEvery` rows and once at the end. */
  onProgress?: (p: WriteProgress) => void;
  progressEvery?: number;
  /** CSV: write a header line with the column names (default false: plain ClickHouse `CSV`, columns in schema order). */
  csvHeader?: boolean;
  /** Bytes buffered before a write (default 256 KiB). */
  chunkBytes?: number;
}


/** A CSV line serializer for `columns`: values are read from each column's jsonpath and rendered in ClickHouse text form. */
export function csvSerializer(columns: Column[]): (row: Record<string, unknown>) => string {
  const { fields } = compileSchema(columns, 0);
  const byName = new Map(fields.map((f) => [f.column.name, f]));
  const cols = columns.map((c) => byName.get(c.name));
  return (row) => {
    let line = '';
    for (let i = 0; i < cols.length; i++) {
      if (i > 0) line += ',';
      const f = cols[i];
      // A column without a generated value (skipped type, DEFAULT) stays empty: ClickHouse fills its default.
      if (!f) continue;
      const v = getPath(row, f.path);
      if (v === undefined) continue;
      line += csvValue(f.gen, v);
    }
    return line + '\n';
  };
}

/** Writes a chunk; resolves on 'drain' when the stream buffers too much (null: write more now). */
function writeChunk(out: NodeJS.WritableStream, chunk: string | Uint8Array): Promise<void> | null {
  if (out.write(chunk)) return null;
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      out.off('error', onError);
      resolve();
    };
    const onError = (e: Error): void => {
      out.off('drain', onDrain);
      reject(e);
    };
    out.once('drain', onDrain);
    out.once('error', onError);
  });
}

/** Where mock output goes: a stream the caller owns (left open) or a file this sink creates and closes. */
export interface Sink {
  /** Writes with backpressure; throws the stream's error (e.g. the file could not be opened). */
  write(chunk: string | Uint8Array): Promise<void>;
  /** Closes a file sink (a caller's stream stays open); throws if the stream failed. */
  end(): Promise<void>;
  /** Releases the file handle after a failure; safe to call after end(). */
  dispose(): void;
}

export function openSink(out: NodeJS.WritableStream | string): Sink {
  const file = typeof out === 'string' ? createWriteStream(out) : undefined;
  const stream: NodeJS.WritableStream = file ?? (out as NodeJS.WritableStream);
  let failure: Error | null = null;
  const onError = (e: Error): void => {
    failure = e;
  };
  stream.on('error', onError);
  const check = (): void => {
    if (failure) throw failure;
  };
  return {
    async write(chunk) {
      // A stream that already failed (the file could not be opened) never drains: report it instead.
      check();
      const wait = writeChunk(stream, chunk);
      if (wait) await wait;
      check();
    },
    async end() {
      if (file)
        await new Promise<void>((resolve, reject) => {
          file.once('error', reject);
          file.end(() => resolve());
        });
      check();
    },
    dispose() {
      stream.off('error', onError);
      if (file && !file.writableEnded) file.destroy();
    },
  };
}

/**
 * Writes every row of `source` to `out` (a stream, or a file path that is created/truncated). Returns the row and
 * byte counts. Streams passed in are not ended (stdout stays usable); files are closed before this resolves.
 */
export async function writeMock(
  source: Iterable<Record<string, unknown>>,
  out: NodeJS.WritableStream | string,
  format: MockFormat,
  columns?: Column[],
  opts: WriteOptions = {},
): Promise<{ rows: number; bytes: number }> {
  let serialize: (row: Record<string, unknown>) => string;
  if (format === 'csv') {
    if (!columns) throw new Error('CSV output needs the columns (their order and types)');
    serialize = csvSerializer(columns);
  } else {
    serialize = (row) => JSON.stringify(row) + '\n';
  }
  const sink = openSink(out);
  const chunkBytes = opts.chunkBytes ?? 256 * 1024;
  const every = opts.progressEvery ?? 100_000;
  let rows = 0;
  let bytes = 0;
  let chunk = '';
  try {
    if (format === 'csv' && opts.csvHeader && columns) chunk = columns.map((c) => csvField(c.name)).join(',') + '\n';
    for (const row of source) {
      chunk += serialize(row);
      rows++;
      if (chunk.length >= chunkBytes) {
        bytes += Buffer.byteLength(chunk);
        await sink.write(chunk);
        chunk = '';
      }
      if (opts.onProgress && rows % every === 0) opts.onProgress({ rows, bytes, done: false });
    }
    if (chunk) {
      bytes += Buffer.byteLength(chunk);
      await sink.write(chunk);
    }
    await sink.end();
  } finally {
    sink.dispose();
  }
  opts.onProgress?.({ rows, bytes, done: true });
  return { rows, bytes };
}
