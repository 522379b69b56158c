// The output formats of the data routes (`/v0/pipes/<pipe>.<ext>`, a trailing FORMAT on `/v0/sql` and in `q`): the
// ClickHouse format behind each, its media type, and Parquet's particulars: its answer is bytes rather than UTF-8
// text, older servers cannot write it, and its settings are pinned where the server has them.
import type { Engine, Settings } from '../engine/types.js';
import { oncePerEngine } from '../engine/per-engine.js';
import { CAPABILITY_VERSIONS, settingsKnown } from '../engine/capabilities.js';
import { HttpError } from './http.js';

/** An endpoint's formats by extension. */
export const ENDPOINT_FORMATS: Record<string, { clickhouse: string; contentType: string }> = {
  json: { clickhouse: 'JSON', contentType: 'application/json; charset=utf-8' },
  csv: { clickhouse: 'CSVWithNames', contentType: 'text/csv; charset=utf-8' },
  ndjson: { clickhouse: 'JSONEachRow', contentType: 'application/x-ndjson; charset=utf-8' },
  // Rendered from the query's JSON (server/prometheus.ts).
  prometheus: { clickhouse: 'JSON', contentType: 'text/plain; version=0.0.4; charset=utf-8' },
  parquet: { clickhouse: 'Parquet', contentType: 'application/vnd.apache.parquet' },
};

/** An answer as the engine gave it: text, or bytes for a binary format. */
export type ResponseBody = string | Buffer;

/** Whether the answer is bytes (Parquet): read with Engine.queryBytes, never decoded as text. */
export function isBinaryFormat(chFormat: string): boolean {
  return chFormat === 'Parquet';
}

/** Refuses, before any query runs, Parquet on a server too old to write it (engine.caps.parquetOutput). */
export function checkOutputFormat(engine: Engine, chFormat: string): void {
  if (chFormat === 'Parquet' && !engine.caps.parquetOutput)
    throw new HttpError(
      400,
      `Parquet output requires ClickHouse ${CAPABILITY_VERSIONS.parquetOutput} or newer; the server runs ${engine.version.text}. ` +
        'Ask for .json, .csv or .ndjson (FORMAT JSON, CSV or JSONEachRow; --format json, csv or ndjson in the CLI), or upgrade the server',
    );
}

/**
 * Parquet settings pinned wherever the server has them, so that an answer is the same file on every server: the
 * defaults changed over the releases (strings BINARY, lz4, DateTime as a plain UInt32 and Date as a UInt16 in
 * older ones). A server without a setting writes its own default.
 */
const PARQUET_PINNED: Settings = {
  output_format_parquet_string_as_string: 1,
  output_format_parquet_compression_method: 'zstd',
  output_format_parquet_datetime_as_uint32: 0,
  output_format_parquet_date_as_uint16: 0,
};

/** Which of PARQUET_PINNED each engine has, and the pinned settings it has (worked out once). */
const parquetSettingsOf = oncePerEngine(async (engine) => {
  const known = await settingsKnown(engine, Object.keys(PARQUET_PINNED));
  return { known, pinned: Object.fromEntries(Object.entries(PARQUET_PINNED).filter(([name]) => known.has(name))) as Settings };
});

/**
 * The settings `chFormat` runs with on this engine: for Parquet the pinned ones the server has, and a check that
 * every Parquet setting the request chose (in `requested`) is one it has.
 */
export async function formatSettings(engine: Engine, chFormat: string, requested: Settings): Promise<Settings> {
  if (chFormat !== 'Parquet') return {};
  const { known, pinned } = await parquetSettingsOf(engine);
  for (const name of Object.keys(requested))
    if (name.startsWith('output_format_parquet_') && !known.has(name))
      throw new HttpError(400, `${name} is not a setting of this server (ClickHouse ${engine.version.text}), which writes its own default: leave the parameter out`);
  return pinned;
}

/** A file's headers for a binary answer: a browser saves `<name>.parquet` rather than a file named after the route. */
export function attachmentHeaders(chFormat: string, name: string): Record<string, string> {
  if (!isBinaryFormat(chFormat)) return {};
  return { 'content-disposition': `attachment; filename="${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.${chFormat.toLowerCase()}"` };
}

export function contentTypeFor(chFormat: string): string {
  if (isBinaryFormat(chFormat)) return ENDPOINT_FORMATS.parquet.contentType;
  if (chFormat.startsWith('JSONEachRow')) return ENDPOINT_FORMATS.ndjson.contentType;
  if (chFormat.startsWith('JSON')) return ENDPOINT_FORMATS.json.contentType;
  if (chFormat.startsWith('CSV')) return ENDPOINT_FORMATS.csv.contentType;
  return 'text/plain; charset=utf-8';
}
