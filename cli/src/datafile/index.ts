// Public API of the datafile parser: text in, typed model plus diagnostics out.
import { parseConnectionText } from './connection.js';
import { parseDatasourceText, type ParseOptions } from './datasource.js';
import { Reporter } from './errors.js';
import { parsePipeText } from './pipe.js';
import type { ConnectionFile, DatasourceFile, ParseResult, PipeFile } from './types.js';

export type { ParseOptions } from './datasource.js';

/** Parse any datafile; the kind comes from the extension. Never throws on bad input. */
export function parseDatafile(text: string, path: string, opts?: ParseOptions): ParseResult {
  const ext = /\.([A-Za-z]+)$/.exec(path)?.[1]?.toLowerCase();
  if (ext === 'datasource') return parseDatasource(text, path, opts);
  if (ext === 'pipe') return parsePipe(text, path, opts);
  if (ext === 'connection') return parseConnection(text, path, opts);
  const rep = new Reporter(path);
  rep.error({ line: 1, col: 1 }, `Unknown datafile kind '${ext ?? ''}'`, 'expected a .datasource, .pipe or .connection file');
  return { diagnostics: rep.diagnostics };
}

export function parseDatasource(text: string, path: string, opts?: ParseOptions): ParseResult<DatasourceFile> {
  return guard(path, () => parseDatasourceText(text, path, opts));
}

export function parsePipe(text: string, path: string, opts?: ParseOptions): ParseResult<PipeFile> {
  return guard(path, () => parsePipeText(text, path, opts));
}

export function parseConnection(text: string, path: string, opts?: ParseOptions): ParseResult<ConnectionFile> {
  return guard(path, () => parseConnectionText(text, path, opts));
}

/** A bug in the parser must still come out as a diagnostic, like Tinybird's `Unexpected error: <e>`. */
function guard<T extends DatasourceFile | PipeFile | ConnectionFile>(path: string, run: () => ParseResult<T>): ParseResult<T> {
  try {
    const res = run();
    // Report in reading order; sort is stable, so same-position diagnostics keep their order.
    res.diagnostics.sort((a, b) => a.line - b.line || a.col - b.col);
    return res;
  } catch (e) {
    const rep = new Reporter(path);
    rep.error({ line: 1, col: 1 }, `Unexpected error: ${e instanceof Error ? e.message : String(e)}`);
    return { diagnostics: rep.diagnostics };
  }
}

export { formatDiagnostic, tinybirdMessage, DatafileError } from './errors.js';
export { engineClause, validateEngine, sortingKeyParts, SUPPORTED_ENGINES } from './engine-ddl.js';
export { renderColumn, splitTopLevel } from './schema.js';
export { indexSql } from './indexes.js';
export { INTERNAL_TABLES, SERVICE_PHYSICAL_TABLES } from './keywords.js';
export * from './types.js';
