// Compressed responses: a real `emailstats dev` on the email project answers a 1,000-row endpoint request in
// br, gzip or deflate when the client asks (q-values respected), leaves tiny bodies and Parquet alone, and says so in
// Content-Encoding and Vary. Streamed bodies still stream when compressed (server/compression.ts).
import { request, type IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyProject, removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { MIN_COMPRESSED_BYTES } from '../../cli/src/server/compression.js';

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The bytes as they came over the wire (still compressed). */
  wire: Buffer;
}

/** node:http sends no Accept-Encoding of its own (fetch would, and would decode behind our back). */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, wire: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function decode(res: RawResponse): Buffer {
  switch (res.headers['content-encoding']) {
    case undefined:
      return res.wire;
    case 'gzip':
      return gunzipSync(res.wire);
    case 'br':
      return brotliDecompressSync(res.wire);
    case 'deflate':
      return inflateSync(res.wire);
    default:
      throw new Error(`unexpected content-encoding ${res.headers['content-encoding']}`);
  }
}

/** The endpoint answer without its timing statistics, which differ from one request to the next. */
function rows(body: Buffer): unknown {
  const { statistics: _ignored, ...rest } = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  return rest;
}

describe('compressed responses from emailstats dev', () => {
  let project: string;
  let dev: DevServer;
  let endpoint: string;

  beforeAll(async () => {
    project = copyProject();
    dev = await startDev(project);
    endpoint = `${dev.url}/v0/pipes/recipient_activity.json?token=${dev.token}&campaign_id=camp_8&limit=1000`;
  });

  afterAll(async () => {
    await dev?.stop();
    if (project) removeDir(project);
  });

  it('gzips a 1,000-row answer to a fraction of its size, same rows', async () => {
    const plain = await get(endpoint);
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(Number(plain.headers['content-length'])).toBe(plain.wire.length);
    expect(String(plain.headers.vary)).toMatch(/Accept-Encoding/i); // caches must not hand this to a gzip client
    const expected = rows(plain.wire) as { rows: number };
    expect(expected.rows).toBe(1000);

    const gz = await get(endpoint, { 'accept-encoding': 'gzip' });
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(Number(gz.headers['content-length'])).toBe(gz.wire.length);
    expect(String(gz.headers.vary)).toMatch(/Accept-Encoding/i);
    expect(rows(decode(gz))).toEqual(expected);
    expect(gz.wire.length * 10).toBeLessThan(plain.wire.length);
    console.log(`1,000-row recipient_activity answer: ${plain.wire.length} bytes plain, ${gz.wire.length} bytes gzip`);
  });

  it('speaks br and deflate too, prefers br when the client takes anything, and respects q-values', async () => {
    const cases: [string, string | undefined][] = [
      ['br', 'br'],
      ['deflate', 'deflate'],
      ['gzip, deflate, br', 'br'],
      ['*', 'br'],
      ['br;q=0, gzip;q=0.5, deflate;q=0.4', 'gzip'],
      ['gzip;q=0, deflate', 'deflate'],
      ['identity', undefined],
      ['compress, zstd-unknown', undefined],
    ];
    const expected = rows((await get(endpoint)).wire);
    for (const [accept, coding] of cases) {
      const res = await get(endpoint, { 'accept-encoding': accept });
      expect(res.status, accept).toBe(200);
      expect(res.headers['content-encoding'], accept).toBe(coding);
      expect(rows(decode(res)), accept).toEqual(expected);
    }
  });

  it('compresses CSV and what fetch receives decodes transparently', async () => {
    const csvUrl = endpoint.replace('.json?', '.csv?');
    const plain = await get(csvUrl);
    const gz = await get(csvUrl, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(decode(gz).toString('utf8')).toBe(plain.wire.toString('utf8'));
    // fetch (undici) asks for compression itself and hands the page the decoded text.
    const viaFetch = await fetch(csvUrl);
    expect(viaFetch.headers.get('content-encoding')).not.toBeNull();
    expect(await viaFetch.text()).toBe(plain.wire.toString('utf8'));
  });

  it('leaves Parquet as ClickHouse compressed it, and HEAD gives its length', async () => {
    const url = endpoint.replace('.json?', '.parquet?');
    const plain = await get(url);
    expect(plain.status).toBe(200);
    expect(plain.wire.length).toBeGreaterThan(MIN_COMPRESSED_BYTES);
    const asked = await get(url, { 'accept-encoding': 'gzip, deflate, br' });
    expect(asked.headers['content-encoding']).toBeUndefined();
    expect(asked.wire.equals(plain.wire)).toBe(true);
    const head = await get(url, {}, 'HEAD');
    expect(head.headers['content-type']).toBe('application/vnd.apache.parquet');
    expect(Number(head.headers['content-length'])).toBe(plain.wire.length);
    console.log(`1,000-row recipient_activity answer as Parquet: ${plain.wire.length} bytes`);
  });

  it('leaves tiny bodies and HEAD answers uncompressed', async () => {
    const tiny = await get(`${dev.url}/v0/pipes/recipient_activity.json?token=not-a-token`, { 'accept-encoding': 'gzip' });
    expect(tiny.status).toBe(403);
    expect(tiny.wire.length).toBeLessThan(MIN_COMPRESSED_BYTES);
    expect(tiny.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(tiny.wire.toString()).error).toMatch(/invalid token/);

    const head = await get(endpoint, { 'accept-encoding': 'gzip' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-encoding']).toBeUndefined();
    expect(head.wire.length).toBe(0);
  });
});
