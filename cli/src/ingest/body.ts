// Request body → JSON objects. Bad lines are per-line failures (quarantined); only a body with no usable
// object at all, an empty body, a bad gzip stream or an oversized body fails the whole request.
import { gunzipSync } from 'node:zlib';
import { isUtf8 } from 'node:buffer';
import { IngestError } from './errors.js';

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface BodyItem {
  /** 1-based line in the decoded body (or element index + 1 for a JSON array). */
  line: number;
  /** Raw text of the item, kept for the quarantine's `c__line`. */
  raw: string;
  /** Parsed object, or undefined with `error` set. */
  obj?: Record<string, unknown>;
  error?: string;
}

export function decodeBody(body: Buffer, contentEncoding: string | undefined, maxBytes = DEFAULT_MAX_BODY_BYTES): Buffer {
  if (body.length > maxBytes) throw new IngestError(413, `request body is ${body.length} bytes; the limit is ${maxBytes}`);
  const enc = (contentEncoding ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity') return body;
  if (enc !== 'gzip' && enc !== 'x-gzip') throw new IngestError(400, `unsupported Content-Encoding: ${contentEncoding}`);
  if (body.length < 2 || body[0] !== 0x1f || body[1] !== 0x8b)
    throw new IngestError(400, 'Content-Encoding: gzip was sent but the body is not gzip data');
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError)
      throw new IngestError(413, `decompressed request body exceeds the limit of ${maxBytes} bytes`);
    throw new IngestError(400, `invalid gzip body: ${(e as Error).message}`);
  }
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function item(line: number, raw: string): BodyItem {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    return { line, raw, error: `invalid JSON: ${(e as Error).message}` };
  }
  const obj = asObject(v);
  return obj ? { line, raw, obj } : { line, raw, error: 'line is not a JSON object' };
}

const strict = new TextDecoder('utf-8', { fatal: true });
const lenient = new TextDecoder('utf-8');

/**
 * Splits a decoded body into items: a JSON array, one (possibly multi-line) object, or NDJSON.
 * @param opts.allInvalidOk a file import sends lines in chunks, and a chunk of nothing but bad lines is still
 *   part of a file to quarantine, not a request to refuse.
 */
export function splitBody(buf: Buffer, opts: { allInvalidOk?: boolean } = {}): BodyItem[] {
  return finish(itemsOf(buf), opts.allInvalidOk);
}

function itemsOf(buf: Buffer): BodyItem[] {
  if (!isUtf8(buf)) return linesOfInvalidUtf8(buf);
  const text = buf.toString('utf8');
  const start = text.search(/\S/);
  if (start < 0) throw new IngestError(400, 'empty request body');
  const first = text[start];
  // Whole-body forms first; on failure the body is read as NDJSON so one bad line costs one row.
  if (first === '[' || first === '{') {
    let whole: unknown = undefined;
    try {
      whole = JSON.parse(text);
    } catch {
      /* not a single JSON value */
    }
    if (Array.isArray(whole)) {
      const items = whole.map((v, i): BodyItem => {
        const obj = asObject(v);
        const raw = JSON.stringify(v) ?? 'null';
        return obj ? { line: i + 1, raw, obj } : { line: i + 1, raw, error: 'array element is not a JSON object' };
      });
      return items;
    }
    if (asObject(whole))
      return [{ line: 1, raw: text.trim(), obj: whole as Record<string, unknown> }];
  }
  // NDJSON, split in the decoded text: cheaper than a Buffer slice and a decode per line.
  const items: BodyItem[] = [];
  let lineNo = 0;
  for (let pos = 0; pos <= text.length; ) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    lineNo++;
    if (!isBlank(text, pos, nl)) items.push(item(lineNo, text.slice(pos, nl)));
    pos = nl + 1;
  }
  if (items.length === 0) throw new IngestError(400, 'empty request body');
  return items;
}

/** NDJSON with invalid UTF-8 somewhere: each line is decoded strictly, and a line that fails is quarantined. */
function linesOfInvalidUtf8(buf: Buffer): BodyItem[] {
  const items: BodyItem[] = [];
  let lineNo = 0;
  for (let pos = 0; pos <= buf.length; ) {
    let nl = buf.indexOf(0x0a, pos);
    if (nl < 0) nl = buf.length;
    lineNo++;
    const slice = buf.subarray(pos, nl);
    pos = nl + 1;
    if (isBlankBytes(slice)) continue;
    try {
      items.push(item(lineNo, strict.decode(slice)));
    } catch {
      items.push({ line: lineNo, raw: lenient.decode(slice), error: 'invalid UTF-8' });
    }
  }
  if (items.length === 0) throw new IngestError(400, 'empty request body');
  return items;
}

function finish(items: BodyItem[], allInvalidOk = false): BodyItem[] {
  if (items.length === 0) throw new IngestError(400, 'empty JSON array');
  if (!allInvalidOk && !items.some((i) => i.obj)) {
    const first = items[0];
    throw new IngestError(400, `request body is not JSON: line ${first.line}: ${first.error}`);
  }
  return items;
}

/** Only spaces, tabs and carriage returns between `from` and `to`. */
function isBlank(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

function isBlankBytes(b: Uint8Array): boolean {
  for (const c of b) if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  return true;
}
