// Batch writes to a datasource over HTTP (Tinybird's Data Sources API): multipart append / replace,
// truncate, delete by condition, and quarantine replay (an emailstats extension). Uploads are streamed in
// bounded chunks through the same Ingestor as the Events API: same mapping, quarantine and durability.
import { setTimeout as sleep } from 'node:timers/promises';
import busboy from 'busboy';
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { quoteIdent } from '../../engine/index.js';
import { quoteString } from '../../sql/quote.js';
import { refillTable, runAll, withTableCopy } from '../../engine/swap.js';
import { tableSpec } from '../../project/ddl.js';
import { CascadeError, cascadeFrom, rebuildTargets, type Cascade } from '../../project/cascade.js';
import type { Engine } from '../../engine/types.js';
import type { IngestTarget } from '../../ingest/index.js';
import { CsvHeaderError, CsvRecords, type CsvDialect } from '../../project/csv.js';
import type { DatasourceFile } from '../../datafile/types.js';
import { authorize, tokenKey, type ScopeType, type TokenRecord } from '../auth.js';
import { HttpError, param, sendJson, type Request } from '../http.js';
import { jobJson, jobUrl, type JobRegistry } from '../jobs.js';
import { FAIL_AFTER_MS, followMutations, startMutation, waitForMutations, type MutationOutcome } from '../mutations.js';
import { engineStateHttpError } from '../engine-http-error.js';
import { forgetEndpointAnswers } from '../endpoint-cache.js';
import { opsLogFor } from '../ops-log.js';
import { guardSelect } from '../sql-guard.js';
import type { Workspace } from '../workspace.js';
import { inTurn, withWritersHeld } from '../table-rewrite.js';
import { authorizedResource, guardLists, readableResource } from './access.js';
import { ingestHttpError, ingestorOf, ingestTarget } from './events.js';
import { HOLD_ENV, RewriteBusyError } from '../../deploy/rewrite-hold.js';
import { fetchRemoteFile } from '../remote-file.js';
import { boundedLines, LineTooLongError } from '../../util/lines.js';
import { DEFAULT_MAX_BODY_BYTES } from '../../ingest/body.js';
import { checkParquetSupport, looksLikeParquet, parquetRows } from '../parquet.js';

/** Rows are handed to the Ingestor in chunks of about this size (each is one WAL append). */
const CHUNK_BYTES = 4 * 1024 * 1024;
const MAX_REASONS = 100;
const FORMATS = ['csv', 'ndjson'] as const;
type Format = (typeof FORMATS)[number];
/** What a file may be sent as; Parquet is decoded into NDJSON rows first (../parquet.ts). */
const FILE_FORMATS = ['csv', 'ndjson', 'parquet'] as const;
type FileFormat = (typeof FILE_FORMATS)[number];

export interface ImportOptions {
  /** Largest file read whole: a URL download or a Parquet file (streamed CSV/NDJSON uploads have no cap). */
  maxFileBytes: number;
  /**
   * Scope an append from `url=` needs. Tinybird asks DATASOURCES:APPEND as for any append; `serve` asks ADMIN,
   * because the fetch comes from the server's network position (internal services, cloud metadata).
   */
  urlAppendScope: ScopeType;
  /** Where an import from a URL is recorded as a job, and the server's base URL for its job_url. */
  jobs: JobRegistry;
  baseUrl: string;
}

/** The answer to an import: its rows, and what else the route says of it. */
interface ImportTotals {
  successful_rows: number;
  quarantined_rows: number;
  quarantine: { line: number; error: string }[];
  /** A replace with replace_condition: rows of the file the condition does not match, left out. */
  outsideCondition?: number;
}

type ImportAnswer = Pick<ImportTotals, 'successful_rows' | 'quarantined_rows'> & Record<string, unknown>;

function datasourceOf(ws: Workspace, req: Request, name: string | undefined, needed: ScopeType = 'ADMIN'): DatasourceFile {
  return authorizedDatasource(ws, req, name, needed).resource;
}

function authorizedDatasource(ws: Workspace, req: Request, name: string | undefined, needed: ScopeType) {
  if (!name) throw new HttpError(400, "missing datasource 'name': e.g. POST /v0/datasources?name=email_events&mode=append");
  return authorizedResource(ws, req, 'datasources', name, needed);
}


/**
 * The CSV dialect of an upload from Tinybird's `dialect_delimiter`, `dialect_escapechar` and `dialect_new_line`
 * (as the TypeScript SDK sends them). A tab may come as the character or as `\t`. Lines end with `\n` or `\r\n`
 * whatever the file says, so `dialect_new_line` may only name one of those.
 */
function csvDialect(req: Request): CsvDialect | undefined {
  const unescape = (v: string): string => ({ '\\t': '\t', '\\n': '\n', '\\r\\n': '\r\n', '\\\\': '\\' })[v] ?? v;
  const one = (name: string, forbidden: string[]): string | undefined => {
    const raw = param(req, name);
    if (raw === undefined || raw === '') return undefined;
    const v = unescape(raw);
    // One UTF-16 unit: the parser compares units, so a character outside the BMP (an emoji) would never match.
    if (v.length !== 1 || forbidden.includes(v)) throw new HttpError(400, `${name} must be one character (of the Basic Multilingual Plane) other than ${forbidden.map((f) => JSON.stringify(f)).join(', ')}, got ${JSON.stringify(raw)}`);
    return v;
  };
  const delimiter = one('dialect_delimiter', ['"', '\n', '\r']);
  const escapeChar = one('dialect_escapechar', ['\n', '\r']);
  const newLine = param(req, 'dialect_new_line');
  if (newLine !== undefined && newLine !== '' && !['\n', '\r\n'].includes(unescape(newLine)))
    throw new HttpError(400, `dialect_new_line must be \\n or \\r\\n (lines end with either), got ${JSON.stringify(newLine)}`);
  if (delimiter === undefined && escapeChar === undefined) return undefined;
  if ((delimiter ?? ',') === escapeChar) throw new HttpError(400, `dialect_escapechar must differ from the delimiter (${JSON.stringify(delimiter ?? ',')})`);
  return { delimiter: delimiter ?? ',', ...(escapeChar !== undefined && escapeChar !== '"' ? { escapeChar } : {}) };
}

/** Streams lines of NDJSON or CSV (optional header row) into the Ingestor, `wait=true` per chunk. */
async function importLines(ws: Workspace, target: IngestTarget, input: Readable, format: Format, importId: string, dialect?: CsvDialect): Promise<ImportTotals> {
  const ingestor = ingestorOf(ws);
  // CSV records are placed where the SCHEMA's jsonpaths read them: Events API input like any other, so a
  // quarantined row replays through the same mapping.
  const csv = format === 'csv' ? new CsvRecords(target.name, target.columns, 'jsonpath', dialect) : undefined;
  const totals: ImportTotals = { successful_rows: 0, quarantined_rows: 0, quarantine: [] };
  let chunk: string[] = [];
  let chunkLines: number[] = []; // file line number of each chunk line, to report reasons by file line
  let bytes = 0;
  /** Whether rows went in before file line `at`, and how to send the rest. */
  const appendedBefore = (at: number): string =>
    totals.successful_rows + totals.quarantined_rows > 0
      ? `Lines before file line ${at} were already appended (${totals.successful_rows} rows, ${totals.quarantined_rows} quarantined); resume from line ${at}: send the rest of the file, e.g. \`tail -n +${at} file > rest\` (put the header line back first for a CSV with one)`
      : 'Nothing was appended';
  const send = async (): Promise<void> => {
    if (!chunk.length) return;
    const body = Buffer.from(chunk.join('\n') + '\n');
    const lines = chunkLines;
    chunk = [];
    chunkLines = [];
    bytes = 0;
    // With an import id the ingestor quarantines a chunk of nothing but bad lines rather than refusing it.
    const r = await ingestor.ingest(target, body, { wait: true, importId }).catch((e: unknown) => {
      const err = ingestHttpError(e);
      // Earlier chunks are in: say where to resume, so a retry does not append them twice.
      if (err instanceof HttpError && totals.successful_rows + totals.quarantined_rows > 0) {
        const message = err.message.replace(/this request's|this request/g, `the chunk from file line ${lines[0]} on`);
        throw new HttpError(err.status, `${message}. ${appendedBefore(lines[0]!)}`, err.extra, err.headers);
      }
      throw err;
    });
    totals.successful_rows += r.successful_rows;
    totals.quarantined_rows += r.quarantined_rows;
    for (const q of r.quarantine ?? []) if (totals.quarantine.length < MAX_REASONS) totals.quarantine.push({ line: lines[q.line - 1] ?? q.line, error: q.error });
  };
  let lineNo = 0;
  // No line may be longer than a request body the ingestor takes, and it is refused before it is held whole.
  try {
    for await (const line of boundedLines(input, DEFAULT_MAX_BODY_BYTES)) {
      lineNo++;
      if (!line.trim()) continue;
      let json = line;
      if (csv) {
        let record;
        try {
          record = csv.next(line);
        } catch (e) {
          throw e instanceof CsvHeaderError ? new HttpError(400, e.message) : e;
        }
        if (!record) continue; // the header
        json = JSON.stringify(record);
      }
      chunk.push(json);
      chunkLines.push(lineNo);
      bytes += json.length + 1;
      if (bytes >= CHUNK_BYTES) await send();
    }
  } catch (e) {
    if (!(e instanceof LineTooLongError)) throw e;
    // The lines held in the chunk not yet sent did not go in: the file resumes at the first of them.
    const at = chunkLines[0] ?? e.line;
    throw new HttpError(413, `file line ${e.line} is longer than ${e.maxBytes / (1024 * 1024)} MiB, the largest row emailstats takes: is the file NDJSON or CSV with one record per line? ${appendedBefore(at)}.`);
  }
  await send();
  return totals;
}

/** Form fields that say how to read the file: they count only when they come before the file part. */
const isReadOption = (name: string): boolean => name === 'replace_condition' || name === 'format' || name.startsWith('dialect_');

/**
 * The one file part of a multipart request, as a stream, with its format (part name, `format=` or extension), and
 * `late`: the read options (isReadOption) that came after it, filled as the rest of the body is parsed.
 */
function filePart(req: Request): Promise<{ stream: Readable; format: FileFormat; declared: boolean; done: Promise<void>; late: string[] }> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('multipart/form-data'))
    throw new HttpError(400, `send the file as multipart/form-data with a part named csv or ndjson (got content-type '${type || 'none'}'), e.g. curl -F ndjson=@events.ndjson`);
  return new Promise((resolve, reject) => {
    const bb = busboy({ headers: req.headers, limits: { files: 1 } });
    let found = false;
    const late: string[] = [];
    bb.on('file', (name, stream, info) => {
      const declared = param(req, 'format') ?? (name === 'parquet' || /\.parquet$/i.test(info.filename ?? '') ? 'parquet' : undefined);
      const wanted = declared ?? (FORMATS.includes(name as Format) ? name : /\.csv$/i.test(info.filename ?? '') ? 'csv' : 'ndjson');
      if (!FILE_FORMATS.includes(wanted as FileFormat)) {
        stream.resume();
        return reject(new HttpError(400, `unknown format '${wanted}': use csv, ndjson or parquet`));
      }
      found = true;
      const done = new Promise<void>((r) => bb.once('close', () => r()));
      resolve({ stream, format: wanted as FileFormat, declared: declared !== undefined, done, late });
    });
    bb.on('field', (name, value) => {
      // Read after the file has been: too late to apply, and said so (importDatasource).
      if (found && isReadOption(name)) late.push(name);
      const list = req.params.get(name);
      if (list) list.push(value);
      else req.params.set(name, [value]);
    });
    bb.on('error', (e) => reject(new HttpError(400, `cannot read the multipart body: ${(e as Error).message}`)));
    bb.on('close', () => {
      if (!found) reject(new HttpError(400, 'no file in the request: send a multipart part named csv or ndjson'));
    });
    req.raw.pipe(bb);
  });
}

/** The first bytes of a stream, and a stream that yields them again followed by the rest. */
async function peek(stream: Readable, bytes: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = stream[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  while (size < bytes) {
    const next = await it.next();
    if (next.done) break;
    chunks.push(next.value as Buffer);
    size += (next.value as Buffer).length;
  }
  const head = Buffer.concat(chunks);
  const rest = (async function* () {
    if (head.length) yield head;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value as Buffer;
  })();
  return { head, stream: Readable.from(rest) };
}

/** A whole stream in memory, refused past `max` bytes (a Parquet file is read by its footer, so it is read whole). */
async function readAll(stream: Readable, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > max) throw new HttpError(413, `${what} is larger than the ${max}-byte limit for Parquet files (the server's body limit); split it, or send CSV or NDJSON, which are streamed`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The format a downloaded file is in: `format=`, else Parquet by content, else the extension, else a guess. */
function remoteFormat(declared: string | undefined, bytes: Buffer, pathname: string, contentType: string): FileFormat {
  if (declared !== undefined) {
    if (!FILE_FORMATS.includes(declared as FileFormat)) throw new HttpError(400, `unknown format '${declared}': use csv, ndjson or parquet`);
    return declared as FileFormat;
  }
  if (looksLikeParquet(bytes)) return 'parquet';
  if (/\.csv$/i.test(pathname) || contentType.startsWith('text/csv')) return 'csv';
  if (/\.(ndjson|jsonl|json)$/i.test(pathname) || /json/.test(contentType)) return 'ndjson';
  return /^\s*[{[]/.test(bytes.toString('utf8', 0, 64)) ? 'ndjson' : 'csv';
}

/** Rows to import: the multipart file part, or the file at `url=`; Parquet is decoded into NDJSON rows. */
/** `fairShareKey`: Parquet is decoded by the engine as the uploading token's query, not as an internal statement. */
async function importSource(ws: Workspace, req: Request, url: string | undefined, maxFileBytes: number, fairShareKey: string): Promise<{ stream: Readable; format: Format; done: Promise<void>; late: string[] }> {
  if (url) {
    if (String(req.headers['content-type'] ?? '').startsWith('multipart/form-data')) throw new HttpError(400, 'send either a file (multipart) or url=, not both');
    if (param(req, 'format') === 'parquet') checkParquetSupport(ws.engine); // before the download
    const file = await fetchRemoteFile(url, maxFileBytes);
    const format = remoteFormat(param(req, 'format'), file.bytes, file.pathname, file.contentType);
    if (format === 'parquet') return { stream: await parquetRows(ws.engine, file.bytes, fairShareKey), format: 'ndjson', done: Promise.resolve(), late: [] };
    return { stream: Readable.from([file.bytes]), format, done: Promise.resolve(), late: [] };
  }
  const part = await filePart(req);
  let { stream, format } = part;
  if (!part.declared) {
    // Clients such as the TypeScript SDK name every file part `csv`: Parquet is recognised by its first bytes.
    const peeked = await peek(stream, 4);
    stream = peeked.stream;
    if (looksLikeParquet(peeked.head)) format = 'parquet';
  }
  if (format !== 'parquet') return { stream, format, done: part.done, late: part.late };
  checkParquetSupport(ws.engine);
  const bytes = await readAll(stream, maxFileBytes, 'the Parquet file');
  return { stream: await parquetRows(ws.engine, bytes, fairShareKey), format: 'ndjson', done: part.done, late: part.late };
}

/**
 * `POST /v0/datasources?name=<ds>&mode=append|replace[&format=csv|ndjson|parquet]` with a multipart file, or with
 * `url=<http(s) URL>` (query string or form field), which the server downloads itself. Answered when the rows are in.
 */
export async function importDatasource(ws: Workspace, req: Request, res: ServerResponse, opts: ImportOptions): Promise<void> {
  const mode = param(req, 'mode') ?? 'append';
  if (mode === 'create') throw new HttpError(400, 'mode=create is not available: datasources come from .datasource files; use mode=append or mode=replace');
  if (mode !== 'append' && mode !== 'replace') throw new HttpError(400, `unknown mode '${mode}': use append or replace`);
  const url = param(req, 'url');
  const { resource: ds, record } = authorizedDatasource(ws, req, param(req, 'name'), mode === 'replace' ? 'ADMIN' : url ? opts.urlAppendScope : 'DATASOURCES:APPEND');
  const importId = randomUUID();
  // An import from a URL is a job in Tinybird (the CLI polls it); here it is final when answered.
  const job = url ? opts.jobs.start('import', { id: importId, owner: tokenKey(record), datasource: ds.name, details: { import_id: importId, mode, url } }) : undefined;
  const run = () => importRows(ws, req, { mode, url, ds, record, importId, maxFileBytes: opts.maxFileBytes });
  const importDetails = (b: ImportAnswer) => ({ statistics: { row_count: b.successful_rows }, quarantine_rows: b.quarantined_rows, invalid_lines: b.quarantined_rows });
  const body = job ? await opts.jobs.settle(job, run, importDetails) : await run();
  sendJson(res, 200, { ...body, ...(job ? { job_id: job.id, job_url: jobUrl(job, opts.baseUrl), status: job.status, job: jobJson(job, opts.baseUrl) } : {}) });
}

/** Reads the file or URL's rows into the datasource (append, replace, partial replace); the answer's body. */
async function importRows(
  ws: Workspace,
  req: Request,
  { mode, url, ds, record, importId, maxFileBytes }: { mode: 'append' | 'replace'; url: string | undefined; ds: DatasourceFile; record: TokenRecord; importId: string; maxFileBytes: number },
): Promise<ImportAnswer> {
  const startedAt = Date.now();
  const source = await importSource(ws, req, url, maxFileBytes, tokenKey(record));
  // Read once the file part has begun: form fields before it count as much as the query string.
  let condition: string | undefined;
  let dialect: CsvDialect | undefined;
  try {
    condition = param(req, 'replace_condition');
    if (condition !== undefined && mode !== 'replace') throw new HttpError(400, 'replace_condition applies to mode=replace only; drop it, or use mode=replace');
    if (condition !== undefined && !condition.trim()) throw new HttpError(400, "replace_condition is empty: give the SQL condition of the rows to replace, e.g. replace_condition=toDate(ts)='2025-01-02', or leave it out to replace every row");
    if (condition !== undefined && ws.engine.placement.cluster)
      throw new HttpError(400, `replace_condition is not available on a cluster: the rows it keeps would be read through replicas that may lag behind (rows acknowledged a moment ago could be dropped). Replace the whole datasource, or delete with delete_condition and append`);
    // Checked like a delete_condition (the SQL guard, against the live table) before the file is read.
    if (condition !== undefined) await matchingRows(ws, req, ds.name, condition, 'replace_condition');
    dialect = csvDialect(req);
  } catch (e) {
    source.stream.resume(); // the client's upload is read to its end, not left hanging
    throw e;
  }
  const tooLate = (): string[] => [...new Set(source.late)].map((f) => `the form field ${f} came after the file part and was not applied; send it in the URL's query string or before the file`);
  let totals: ImportTotals;
  let downstream: Cascade | undefined;
  if (mode === 'append') {
    totals = await importLines(ws, ingestTarget(ds), source.stream, source.format, importId, dialect);
  } else {
    // dev: after a running rebuild or scheduled copy, and before the next (Workspace.serialized), with the
    // datasource as that rebuild left it.
    const replace = (current: Workspace) => {
      const now = current.project.datasources.get(ds.name);
      if (!now) throw new HttpError(404, `datasource '${ds.name}' was removed by a rebuild while this replace waited for it; nothing was replaced`);
      // Before the swap: the whole body has been read, and a field that came after the file would change what
      // this replace means (a replace_condition): refuse rather than replace every row.
      const beforeSwap = async (): Promise<void> => {
        await source.done;
        const problems = tooLate();
        if (problems.length) throw new HttpError(400, `${problems.join('; ')}. Nothing was replaced`);
      };
      return replaceRows(current, now, source.stream, source.format, importId, { condition, dialect, beforeSwap });
    };
    try {
      ({ totals, cascade: downstream } = await inTurn(ws, replace));
    } finally {
      // Also after a replace that failed once its rows were swapped in (the views downstream): answers may be stale.
      forgetEndpointAnswers(ws.project);
    }
  }
  await source.done;
  const warnings = tooLate();
  // Appended rows are logged by the ops log when the WAL flushes them (as `append-hfi`); a replace here.
  if (mode === 'replace')
    opsLogFor(ws.engine)?.record({ eventType: 'replace', datasource: ds.name, rows: totals.successful_rows, quarantined: totals.quarantined_rows, elapsedMs: Date.now() - startedAt, requestId: req.requestId, importId });
  return {
    id: importId,
    import_id: importId,
    mode,
    datasource: { id: ds.name, name: ds.name },
    successful_rows: totals.successful_rows,
    quarantined_rows: totals.quarantined_rows,
    quarantine_rows: totals.quarantined_rows,
    invalid_lines: totals.quarantined_rows,
    error: false,
    ...(totals.quarantine.length ? { quarantine: totals.quarantine } : {}),
    ...(totals.outsideCondition !== undefined ? { replace_condition: condition, rows_outside_condition: totals.outsideCondition } : {}),
    ...(warnings.length ? { warnings } : {}),
    // An emailstats extension: the materialized-view targets the replace recomputed, and those it could not.
    ...(downstream ? { downstream: { recomputed: downstream.targets.map((t) => t.target), left_as_is: downstream.skipped } } : {}),
  };
}

/**
 * mode=replace: the rows go to a staging copy of the table, which then takes the table's place in one
 * step (EXCHANGE TABLES, or a two-table RENAME on servers without it). A failed upload leaves the table as it was.
 * Materialized views downstream are recomputed from the new rows (their targets held aggregates of the old
 * ones). Meanwhile the flusher holds inserts into every table involved (see Cascade.holdTables): events
 * acknowledged during the replace wait in the WAL and go into the new tables afterwards, instead of into
 * tables about to be swapped out.
 */
interface ReplaceOptions {
  /** replace_condition: only the rows it matches are replaced. */
  condition?: string;
  dialect?: CsvDialect;
  /** Runs once the file is in the staging table, before anything is swapped; throwing leaves the datasource as it was. */
  beforeSwap?: () => Promise<void>;
}

async function replaceRows(ws: Workspace, ds: DatasourceFile, input: Readable, format: Format, importId: string, opts: ReplaceOptions = {}): Promise<{ totals: ImportTotals; cascade: Cascade }> {
  const { condition, dialect } = opts;
  ingestorOf(ws); // a server without a write-ahead log takes no writes (503)
  const suffix = `replace_${importId.slice(0, 8)}`;
  let cascade: Cascade;
  try {
    cascade = cascadeFrom(ws.project, ds.name);
  } catch (e) {
    if (!(e instanceof CascadeError)) throw e;
    throw new HttpError(500, `cannot replace ${ds.name}: a materialized view of the project does not render, so the views downstream could not be recomputed (nothing was changed):\n${e.message}`);
  }
  try {
    return await withWritersHeld(ws, cascade.holdTables, async (stillHeld) => {
      // Past the lease the other processes resume flushing into the live tables: swapping then would lose rows.
      const leaseLeft = async (what: string): Promise<void> => {
        if (!(await stillHeld()))
          throw new HttpError(
            503,
            `the replace of ${ds.name} outlasted the hold on the other serve processes before ${what}; ` +
              `set a larger ${HOLD_ENV} in the environment of the serve processes (it is read at start) and send the file again`,
          );
      };
      const totals = await refillTable(ws.engine, ds.name, `${ds.name}__${suffix}`, tableSpec(ds, ws.engine.caps, ds.name, ws.engine.version), async (staging) => {
        const t =
          condition === undefined
            ? await importLines(ws, { ...ingestTarget(ds), table: staging }, input, format, importId, dialect)
            : await replaceMatching(ws, ds, staging, condition, (upload) => importLines(ws, { ...ingestTarget(ds), table: upload }, input, format, importId, dialect));
        await opts.beforeSwap?.();
        await leaseLeft('its rows were swapped in; nothing was replaced');
        return t;
      });
      try {
        await rebuildTargets(ws.engine, ws.project, cascade, suffix, () => leaseLeft('every view target was recomputed'));
      } catch (e) {
        throw new HttpError(
          500,
          `the rows of ${ds.name} were replaced, but recomputing the materialized views downstream failed: ${(e as Error).message}. ` +
            'Their targets may still hold aggregates of the old rows; run the same replace again to recompute them.',
        );
      }
      return { totals, cascade };
    });
  } catch (e) {
    // Another serve's replace or a deploy holds one of the tables: nothing was changed.
    if (e instanceof RewriteBusyError)
      throw new HttpError(409, `cannot replace ${ds.name} now: ${e.message}`, {}, { 'retry-after': String(Math.max(1, Math.ceil(e.retryAfterMs / 1000))) });
    throw e;
  }
}

/**
 * replace_condition (Tinybird's partial replace): the staging table gets the file's rows that match the condition
 * and the live rows that do not, so only the matching rows are replaced. The file goes into a table of its own
 * first, since its rows can only be filtered once they are typed.
 */
async function replaceMatching(ws: Workspace, ds: DatasourceFile, staging: string, condition: string, upload: (table: string) => Promise<ImportTotals>): Promise<ImportTotals> {
  const { engine } = ws;
  // The newline ends a trailing `-- comment` of the condition, which the check accepted.
  const matches = `ifNull((${condition}\n), 0)`;
  return withTableCopy(engine, ds.name, `${staging}_upload`, tableSpec(ds, engine.caps, ds.name, engine.version), async (table) => {
    const totals = await upload(table);
    const statement = (from: string, where: string): Promise<void> => engine.command(`INSERT INTO ${quoteIdent(staging)} SELECT * FROM ${quoteIdent(from)} WHERE ${where}`, { settings: { max_execution_time: 3600 } });
    try {
      // A row the condition says NULL for is not matched: it is kept, as a delete_condition would keep it.
      await statement(table, matches);
      await statement(ds.name, `NOT ${matches}`);
    } catch (e) {
      throw engineStateHttpError(e, 'the replace') ?? new HttpError(400, `replace_condition could not be applied (nothing was replaced): ${(e as Error).message}`);
    }
    const [row] = await engine.queryRows<{ c: number | string }>(`SELECT count() AS c FROM ${quoteIdent(table)} WHERE ${matches}`);
    const matched = Number(row.c);
    return { ...totals, successful_rows: matched, outsideCondition: totals.successful_rows - matched };
  });
}

/** `POST /v0/datasources/<ds>/truncate`: removes every row (the quarantine is kept). */
export async function truncateDatasource(ws: Workspace, req: Request, res: ServerResponse, name: string): Promise<void> {
  const ds = datasourceOf(ws, req, name);
  const startedAt = Date.now();
  await runAll(ws.engine, ws.engine.placement.truncate(ds.name));
  forgetEndpointAnswers(ws.project);
  opsLogFor(ws.engine)?.record({ eventType: 'truncate', datasource: ds.name, rows: 0, elapsedMs: Date.now() - startedAt, requestId: req.requestId });
  sendJson(res, 200, {});
}

/** Checks a user's WHERE condition against the SQL guard, by asking how many rows it matches. */
async function matchingRows(ws: Workspace, req: Request, table: string, condition: string, name = 'delete_condition'): Promise<number> {
  const { record } = authorize(ws.tokens, req, { type: 'ADMIN' });
  const checked = `SELECT count() AS c FROM ${quoteIdent(table)} WHERE ${condition}`;
  const guarded = guardSelect(checked, (n) => readableResource(ws, record, n), {}, ...(await guardLists(ws)));
  // The ALTER runs the condition as written: refuse anything the guard had to cut (a FORMAT, a `;`), so what
  // executes is exactly what was checked.
  if (guarded.sql !== checked.trimEnd()) throw new HttpError(400, `${name} must be a plain SQL condition (no FORMAT, no \`;\`)`);
  try {
    const [row] = await ws.engine.queryRows<{ c: number | string }>(guarded.sql);
    return Number(row.c);
  } catch (e) {
    throw engineStateHttpError(e, `the ${name} check`) ?? new HttpError(400, `invalid ${name}: ${(e as Error).message}`);
  }
}

/** How long a delete's mutation is followed after its answer before its job says it has not finished. */
const FOLLOW_MS = 24 * 3600 * 1000;

/** `POST /v0/datasources/<ds>/delete` with `delete_condition=<SQL>` [`dry_run=true`]: 201 with the delete's job. */
export async function deleteRows(ws: Workspace, req: Request, res: ServerResponse, name: string, jobs: JobRegistry, baseUrl: string): Promise<void> {
  const { resource: ds, record } = authorizedDatasource(ws, req, name, 'ADMIN');
  const condition = param(req, 'delete_condition');
  if (!condition?.trim()) throw new HttpError(400, "missing 'delete_condition': the SQL condition of the rows to delete, e.g. delete_condition=campaign_id='camp_1'");
  const rows = await matchingRows(ws, req, ds.name, condition);
  if (/^(1|true)$/i.test(param(req, 'dry_run') ?? '')) return sendJson(res, 200, { rows_to_be_deleted: rows });
  const job = jobs.start('delete_data', { owner: tokenKey(record), datasource: ds.name, details: { delete_condition: condition } });
  let ours: Set<string> | undefined;
  try {
    // The mutations listed before and after the ALTER: the new ones are this delete's (and any started beside it).
    ours = await startMutation(ws.engine, ds.name, `DELETE WHERE ${condition}`);
  } catch (err) {
    jobs.fail(job, (err as Error).message);
    throw err;
  }
  forgetEndpointAnswers(ws.project);
  // What stops it, as the user would run it: the mutation is on the shard tables where a cluster has them.
  const { placement, database } = ws.engine;
  const kill = `KILL MUTATION${placement.cluster ? ` ON CLUSTER ${quoteIdent(placement.cluster)}` : ''} WHERE database = ${quoteString(database)} AND table = ${quoteString(placement.localTable(ds.name))}`;
  const ended = (outcome: MutationOutcome) => {
    // Again once the mutation has run: a request meanwhile may have cached rows it had not removed yet.
    forgetEndpointAnswers(ws.project);
    if (outcome.state === 'done') jobs.finish(job, { rows_affected: rows });
    else if (outcome.state === 'failed')
      jobs.fail(job, `ClickHouse has failed to apply the delete for ${FAIL_AFTER_MS / 60_000} minutes: ${outcome.reason}. It keeps retrying it until it succeeds or is killed (${kill})`);
    else if (outcome.state === 'gone') jobs.fail(job, `the delete's mutation on ${ds.name} is no longer listed by ClickHouse: it was killed (KILL MUTATION) or the table was dropped, and rows it had not deleted yet are still there; run the delete again`);
    else jobs.fail(job, `the delete's mutation on ${ds.name} has not finished after ${FOLLOW_MS / 3_600_000} hours; look at system.mutations and the server's log, and stop it with ${kill} if it must not finish`);
  };
  // A failed look (the server went away) says nothing of the mutation, which the server has accepted: watched.
  const outcome = await waitForMutations(ws.engine, ds.name, ours).catch((): MutationOutcome => ({ state: 'running' }));
  if (outcome.state !== 'running') ended(outcome);
  // ClickHouse goes on with it after this answer: the job says when it is done (GET /v0/jobs/<id>).
  else
    void followMutations(ws.engine, ds.name, { ids: ours, untilMs: FOLLOW_MS, pollMs: 2_000, retryLooks: true, stopped: () => jobs.closed })
      .then((end) => end && ended(end))
      .catch((err: unknown) => jobs.fail(job, `following the delete's mutation failed: ${(err as Error).message}`));
  sendJson(res, 201, {
    id: job.id,
    job_id: job.id,
    delete_id: job.id,
    job_url: jobUrl(job, baseUrl),
    job: jobJson(job, baseUrl),
    kind: 'delete_data',
    status: job.status,
    datasource: { id: ds.name, name: ds.name },
    delete_condition: condition,
    rows_to_be_deleted: rows,
  });
}

/**
 * `POST /v0/datasources/<ds>/quarantine/replay`: sends every quarantined row (up to a cut-off second) through
 * the ingest path again, then removes those rows from the quarantine. Rows that fail again are quarantined
 * anew (with this replay's import id), so nothing is lost.
 */
export async function replayQuarantine(ws: Workspace, req: Request, res: ServerResponse, name: string): Promise<void> {
  const ds = datasourceOf(ws, req, name);
  const ingestor = ingestorOf(ws);
  const quarantine = `${ds.name}_quarantine`;
  // Cut-off: rows quarantined up to second S. Wait for S to pass, then drain the WAL, so every such row is
  // in the table before we read it, and rows quarantined from now on (this replay's too) come after S.
  const cutoff = Math.floor(Date.now() / 1000);
  await sleep((cutoff + 1) * 1000 - Date.now() + 5);
  const flushed = await Promise.race([ingestor.flush().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 30_000))]);
  if (!flushed) throw new HttpError(503, 'ClickHouse is not accepting inserts right now, so the quarantine cannot be replayed; try again later');
  const rows = await ws.engine.queryRows<{ c__line: string }>(`SELECT c__line FROM ${quoteIdent(quarantine)} WHERE insertion_date <= ${cutoff} ORDER BY insertion_date`);
  const importId = `replay:${randomUUID()}`;
  const totals = await importLines(ws, ingestTarget(ds), linesOf(rows.map((r) => r.c__line)), 'ndjson', importId);
  if (rows.length) {
    // Its own mutation, as a delete waits for: not any other one that may be stuck on the table.
    await waitForMutations(ws.engine, quarantine, await startMutation(ws.engine, quarantine, `DELETE WHERE insertion_date <= ${cutoff}`));
  }
  sendJson(res, 200, {
    datasource: ds.name,
    replayed: rows.length,
    successful_rows: totals.successful_rows,
    quarantined_rows: totals.quarantined_rows,
    removed_from_quarantine: rows.length,
    import_id: importId,
    ...(totals.quarantine.length ? { quarantine: totals.quarantine } : {}),
  });
}

/** Quarantined raw lines as an NDJSON stream; a line that held newlines (a multi-line object) is rejoined. */
function linesOf(lines: string[]): Readable {
  const text = lines.map((l) => l.replace(/\r?\n/g, ' ')).join('\n') + '\n';
  return Readable.from([text]);
}
