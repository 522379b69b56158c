// Compressed responses (br, gzip, deflate via node:zlib) for clients that send Accept-Encoding. Endpoint answers
// are repetitive JSON/CSV: a 1,000-row answer shrinks about twentyfold, which matters to browsers and trackers
// on slow links. Compression runs on libuv's thread pool (zlib's async API), off the event loop.
import type { ServerResponse } from 'node:http';
import { brotliCompress, constants, deflate, gzip } from 'node:zlib';
import { appendVary } from './vary.js';

export type ContentCoding = 'br' | 'gzip' | 'deflate';

/** Below this a body goes out as it is: compressing would cost more than the bytes it saves (headers, CPU). */
export const MIN_COMPRESSED_BYTES = 1024;

/** When the client accepts several codings equally, the smallest output first. */
const PREFERENCE: readonly ContentCoding[] = ['br', 'gzip', 'deflate'];

/** Brotli's default quality (11) is for static files: 10× slower than gzip. 5 is as fast and still smaller. */
const BROTLI_QUALITY = 5;

/** The coding to use for an Accept-Encoding header (q-values respected, `*` understood); undefined for none. */
export function negotiateEncoding(header: string | string[] | undefined): ContentCoding | undefined {
  if (!header) return undefined;
  const weights = new Map<string, number>();
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [name, ...attrs] = part.split(';').map((s) => s.trim().toLowerCase());
    if (!name) continue;
    const q = attrs.find((a) => a.startsWith('q='));
    const weight = q ? Number(q.slice(2)) : 1;
    weights.set(name === 'x-gzip' ? 'gzip' : name, Number.isFinite(weight) ? weight : 0);
  }
  let best: ContentCoding | undefined;
  let bestWeight = 0;
  for (const coding of PREFERENCE) {
    const weight = weights.get(coding) ?? weights.get('*') ?? 0;
    if (weight > bestWeight) {
      best = coding;
      bestWeight = weight;
    }
  }
  return best;
}

/** Whether a response with this status can carry a body worth compressing (not HEAD, 204 or 304). */
function bodyAllowed(res: ServerResponse, status: number): boolean {
  return res.req?.method !== 'HEAD' && status !== 204 && status !== 304;
}

/** Media types whose bodies are compressed inside (Parquet's pages, zstd): a second pass would only cost CPU. */
const PRECOMPRESSED_TYPES = new Set(['application/vnd.apache.parquet']);

function compressOnce(coding: ContentCoding, body: Buffer, done: (err: Error | null, out: Buffer) => void): void {
  if (coding === 'br') {
    brotliCompress(body, { params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } }, done);
  } else if (coding === 'gzip') {
    gzip(body, done);
  } else {
    deflate(body, done);
  }
}

/**
 * Sends a complete body, compressed when the client accepts it and the body is not tiny, with its
 * Content-Length either way. `headers` must not hold Content-Length or Vary (they are set here).
 */
export function sendBody(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string | number>): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const worthIt = bodyAllowed(res, status) && bytes.length >= MIN_COMPRESSED_BYTES && !PRECOMPRESSED_TYPES.has(String(headers['content-type']));
  if (worthIt) appendVary(res, 'Accept-Encoding');
  const coding = worthIt ? negotiateEncoding(res.req?.headers['accept-encoding']) : undefined;
  if (!coding) {
    res.writeHead(status, { ...headers, 'content-length': bytes.length });
    res.end(bytes);
    return;
  }
  compressOnce(coding, bytes, (err, out) => {
    if (res.destroyed) return; // the client left while we compressed
    if (err) {
      res.writeHead(status, { ...headers, 'content-length': bytes.length });
      res.end(bytes);
      return;
    }
    res.writeHead(status, { ...headers, 'content-encoding': coding, 'content-length': out.length });
    res.end(out);
  });
}
