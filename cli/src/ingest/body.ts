// Request body → JSON objects. Bad lines are per-line failures (quarantined); only a body with no usable
// object at all, an empty body, a bad gzip stream or an oversized body fails the whole request.
import { gunzipSync } from 'node:zlib';
import { isUtf8 } from 'node:buffer';
import { IngestError } from './errors.js';
import { isJsonObject } from '../util/json.js';
import { exactValue, jsonText } from '../util/exact-json.js';

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Deepest nesting of arrays and objects one event may have (ClickHouse's own `input_format_json_max_depth`
 * default). JSON.parse copes with any depth, but JSON.stringify (String columns, `$`, the quarantine) recurses
 * and overflows the stack a few thousand levels down; a fixed limit also keeps the request thread and the
 * conversion workers (bigger stacks) in agreement.
 */
export const MAX_JSON_DEPTH = 1000;
export const TOO_DEEP = `JSON nested more than ${MAX_JSON_DEPTH} levels deep: flatten the event (nested objects and arrays count one level each)`;

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
  return isJsonObject(v) ? v : undefined;
}

function item(line: number, raw: string): BodyItem {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    return { line, raw, error: `invalid JSON: ${(e as Error).message}` };
  }
  if (!asObject(v)) return { line, raw, error: 'line is not a JSON object' };
  return nestedDeeperThan(raw, MAX_JSON_DEPTH) ? { line, raw, error: TOO_DEEP } : { line, raw, obj: exactValue(raw, v) as Record<string, unknown> };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Index of the quote closing the JSON string opened at `open` (text.length when unterminated). */
function stringEnd(text: string, open: number): number {
  for (let i = open; ; ) {
    i = text.indexOf('"', i + 1);
    if (i < 0) return text.length;
    let backslashes = 0;
    for (let j = i - 1; text.charCodeAt(j) === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return i;
  }
}

/**
 * True when the JSON text nests arrays/objects more than `limit` levels deep. A text scan, not a walk of the
 * parsed value: no recursion, no allocation, and skipped outright for text too short to be that deep.
 */
export function nestedDeeperThan(text: string, limit: number): boolean {
  if (text.length <= 2 * limit) return false; // each level takes an opening and a closing bracket
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** The text of each element of a (valid) JSON array text, trimmed: read from the text, without recursion. */
function elementTexts(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === 0x7b || c === 0x5b) {
      if (++depth === 1) start = i + 1;
    } else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) out.push(text.slice(start, i).trim());
    } else if (c === 0x2c && depth === 1) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  return out;
}

const strict = new TextDecoder('utf-8', { fatal: true });
const lenient = new TextDecoder('utf-8');

/**
 * Splits a decoded body into items: a JSON array, one (possibly multi-line) object, or NDJSON.
 * @param opts.allInvalidOk a file import sends lines in chunks, and a chunk of nothing but bad lines is still
 *   part of a file to quarantine, not a request to refuse.
 */
export function splitBody(buf: Buffer, opts: { allInvalidOk?: boolean } = {}): BodyItem[] {
  return finish(itemsOf(buf, opts.allInvalidOk), opts.allInvalidOk);
}

/** A UTF-8 byte order mark, which editors and Windows tools put in front of a file: not part of the first line. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function itemsOf(body: Buffer, isFileChunk = false): BodyItem[] {
  const buf = body.subarray(0, 3).equals(BOM) ? body.subarray(3) : body;
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
    } catch (e) {
      // An array is one value: read line by line, a pretty-printed array with one mistake would keep the elements
      // that happen to sit alone on a line and quarantine the rest. (No NDJSON line is an array either.)
      // A file import's chunk is lines of a file: there a line that is an array is one bad line, as before.
      if (first === '[' && !isFileChunk) throw new IngestError(400, `request body is a JSON array that does not parse: ${jsonErrorAt(text, e)}; nothing was written`);
    }
    if (Array.isArray(whole)) {
      // An element nested too deep is refused with its own text (JSON.stringify, which gives the others theirs,
      // would overflow on it). With one in the body, the others are read exactly each from its own text: the
      // lossless parse of the whole array would overflow as well and leave every number as JSON.parse read it.
      const texts = nestedDeeperThan(text, MAX_JSON_DEPTH + 1) ? elementTexts(text) : undefined;
      const deep = texts?.map((t) => nestedDeeperThan(t, MAX_JSON_DEPTH)) ?? [];
      const elements = texts ? whole.map((v, i) => (deep[i] ? v : exactValue(texts[i], v))) : (exactValue(text, whole) as unknown[]);
      const items = elements.map((v, i): BodyItem => {
        if (texts && deep[i]) return { line: i + 1, raw: texts[i], error: TOO_DEEP };
        const obj = asObject(v);
        const raw = jsonText(v);
        return obj ? { line: i + 1, raw, obj } : { line: i + 1, raw, error: 'array element is not a JSON object' };
      });
      return items;
    }
    if (asObject(whole)) {
      const raw = text.trim();
      return [nestedDeeperThan(raw, MAX_JSON_DEPTH) ? { line: 1, raw, error: TOO_DEEP } : { line: 1, raw, obj: exactValue(raw, whole) as Record<string, unknown> }];
    }
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

/** A JSON.parse error with the line and column of the position it names, where it names one. */
function jsonErrorAt(text: string, err: unknown): string {
  const message = (err as Error).message;
  const pos = /at position (\d+)/.exec(message);
  if (!pos) return message;
  const before = text.slice(0, Number(pos[1]));
  const line = before.split('\n').length;
  const col = Number(pos[1]) - before.lastIndexOf('\n');
  return `${message.replace(/\s*\(line \d+ column \d+\)$/, '')} (line ${line}, column ${col})`;
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
