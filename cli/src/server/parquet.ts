// Parquet imports: the engine decodes the file into JSON rows, which then take the same path as NDJSON
// (jsonpath mapping, coercion, quarantine, WAL). A Parquet column `x` is read by the SCHEMA path `$.x`.
// chDB reads the file from a private temp file; a ClickHouse server gets the bytes in the query, through the
// `format` table function with schema inference, which old servers lack (18.16 has no Parquet at all).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CAPABILITY_VERSIONS } from '../engine/capabilities.js';
import { EngineError } from '../engine/errors.js';
import type { Engine } from '../engine/types.js';
import { quoteString } from '../sql/quote.js';
import { HttpError } from './http.js';
import { engineStateHttpError } from './engine-http-error.js';

/** Every Parquet file starts (and ends) with these four bytes. */
const MAGIC = Buffer.from('PAR1');

export function looksLikeParquet(head: Buffer): boolean {
  return head.length >= 4 && head.subarray(0, 4).equals(MAGIC);
}

/** Refuses Parquet before anything is read when the connected server cannot decode it. */
export function checkParquetSupport(engine: Engine): void {
  if (!engine.caps.parquetInput)
    throw new HttpError(
      400,
      `Parquet imports require ClickHouse ${CAPABILITY_VERSIONS.parquetInput} or newer (the Parquet input format with schema inference); ` +
        `the server runs ${engine.version.text}. Send the rows as CSV or NDJSON, or upgrade the server`,
    );
}

/** A ClickHouse string literal holding arbitrary bytes. */
function bytesLiteral(bytes: Buffer): string {
  let out = "'";
  for (const b of bytes) out += '\\x' + (b < 16 ? '0' : '') + b.toString(16);
  return out + "'";
}

/** The rows of a Parquet file as NDJSON lines (64-bit integers quoted, so none loses precision). */
export async function parquetRows(engine: Engine, bytes: Buffer, fairShareKey?: string): Promise<Readable> {
  checkParquetSupport(engine);
  if (!looksLikeParquet(bytes)) throw new HttpError(400, 'the file is not Parquet (it does not start with PAR1); send format=csv or format=ndjson for text files');
  const settings = { output_format_json_quote_64bit_integers: 1 };
  const decode = async (): Promise<string> => {
    if (engine.kind === 'server') {
      const literal = bytesLiteral(bytes);
      return engine.queryText(`SELECT * FROM format(Parquet, ${literal})`, 'JSONEachRow', { settings: { ...settings, max_query_size: literal.length + 4096 }, fairShareKey });
    }
    const dir = await mkdtemp(path.join(os.tmpdir(), 'emailstats-parquet-'));
    try {
      const file = path.join(dir, 'upload.parquet');
      await writeFile(file, bytes, { mode: 0o600 });
      return await engine.queryText(`SELECT * FROM file(${quoteString(file)}, Parquet)`, 'JSONEachRow', { settings, fairShareKey });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    return Readable.from([await decode()]);
  } catch (e) {
    const state = engineStateHttpError(e, 'reading the Parquet file');
    if (state) throw state;
    if (e instanceof EngineError) throw new HttpError(400, `cannot read the Parquet file: ${e.message}`);
    throw e;
  }
}
