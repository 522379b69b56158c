// Large request bodies are converted on worker threads: the result must be the one the request thread would
// have produced, byte for byte, for hostile input too; whole-body refusals keep their status; a dead worker
// sends conversion back to the request thread instead of failing requests from then on.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ConvertPool, WORKER_MIN_BYTES } from '../../cli/src/ingest/convert-pool.js';
import { convertBody, type ConvertOptions, type Converted } from '../../cli/src/ingest/convert.js';
import { IngestError } from '../../cli/src/ingest/errors.js';
import { TargetPlan } from '../../cli/src/ingest/plan.js';
import { col } from '../helpers/ingest-fixture.js';

const columns = [
  col('id', 'UInt32'), col('at', 'DateTime'), col('kind', 'String'), col('amount', 'Nullable(Decimal(10, 2))'),
  col('tags', 'Array(String)', { jsonpath: '$.tags[:]' }), col('city', 'LowCardinality(String)', { jsonpath: '$.user.city' }),
];
const plan = new TargetPlan(columns);
const opts: ConvertOptions = { maxBodyBytes: 10 * 1024 * 1024, nowSec: 1_700_000_000, maxReasons: 100 };
const logs: string[] = [];
const pool = new ConvertPool(2, (m) => logs.push(m));
afterAll(() => pool.close());

const text = (u: Uint8Array | null) => (u ? Buffer.from(u).toString('utf8') : null);
const view = (c: Converted) => ({ ...c, good: text(c.good), bad: text(c.bad) });
const same = (a: Converted, b: Converted) => expect(view(a)).toEqual(view(b));
const line = (i: number) => JSON.stringify({ id: i, at: 1714557600 + i, kind: 'open', amount: i / 100, tags: ['a', String(i)], user: { city: 'Lyon' } });

/** Pads a body with good lines until it is large enough to go to a worker. */
function large(lines: string[]): Buffer {
  const out = [...lines];
  for (let i = 0; Buffer.byteLength(out.join('\n')) < WORKER_MIN_BYTES; i++) out.push(line(i));
  return Buffer.from(out.join('\n'));
}

describe('ConvertPool', () => {
  it('converts a large body on a worker exactly as the request thread does, good and bad rows alike', async () => {
    const body = large([line(1), '{"id": "x"}', 'not json', '{"id": 4294967296}', line(2), '[1,2]', '{"id": 3, "at": "yesterday"}']);
    expect(body.length).toBeGreaterThanOrEqual(WORKER_MIN_BYTES);
    const viaPool = await pool.convert(plan, body, opts);
    same(viaPool, convertBody(plan, body, opts));
    expect(viaPool.badRows).toBe(5);
    expect(viaPool.reasons.map((r) => r.line)).toEqual([2, 3, 4, 6, 7]);
  });

  it('agrees with the request thread on arbitrary hostile lines (property)', async () => {
    const hostile = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ id: fc.oneof(fc.integer(), fc.string(), fc.double()), at: fc.oneof(fc.string(), fc.integer()), kind: fc.string({ unit: 'binary' }), tags: fc.anything() }).map((o) => JSON.stringify(o)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(hostile.map((s) => s.replace(/\n/g, ' ')), { minLength: 1, maxLength: 30 }), async (lines) => {
        const body = large(lines);
        let inline: Converted | IngestError;
        try {
          inline = convertBody(plan, body, opts);
        } catch (e) {
          inline = e as IngestError;
        }
        const pooled = await pool.convert(plan, body, opts).catch((e: unknown) => e as IngestError);
        if (inline instanceof IngestError) {
          expect(pooled).toBeInstanceOf(IngestError);
          expect({ status: (pooled as IngestError).status, message: (pooled as IngestError).message }).toEqual({ status: inline.status, message: inline.message });
        } else same(pooled as Converted, inline);
      }),
      { numRuns: 40 },
    );
  });

  it('keeps the status and message of whole-body refusals (gzip header on a plain body, oversized after gunzip)', async () => {
    const inline = (body: Buffer, o: ConvertOptions) => {
      try {
        convertBody(plan, body, o);
      } catch (e) {
        return e as IngestError;
      }
      throw new Error('expected a refusal');
    };
    const plain = large([line(1)]);
    const gz = { ...opts, contentEncoding: 'gzip' };
    // ~2 MB of NDJSON compressing to more than the threshold: decompressed it exceeds a 1 MB limit.
    const bomb = gzipSync(Buffer.from(Array.from({ length: 15_000 }, (_, i) => line(i)).join('\n')));
    const small = { ...gz, maxBodyBytes: 1024 * 1024 };
    expect(bomb.length).toBeGreaterThanOrEqual(WORKER_MIN_BYTES);
    for (const [body, o, status] of [[plain, gz, 400], [bomb, small, 413]] as const) {
      const want = inline(body, o);
      expect(want.status).toBe(status);
      const got = (await pool.convert(plan, body, o).catch((e: unknown) => e)) as IngestError;
      expect(got).toBeInstanceOf(IngestError);
      expect({ status: got.status, message: got.message }).toEqual({ status: want.status, message: want.message });
    }
  });

  it('converts in the request thread after a worker dies, and says so once', async () => {
    const own = new ConvertPool(1, (m) => logs.push(m));
    try {
      const body = large([line(7)]);
      await own.convert(plan, body, opts);
      // Kill the worker the way a crash would (private fields: this is the test of that path).
      const workerPool = (own as unknown as { pool: { lanes: { worker: { terminate(): Promise<number> } }[] } }).pool;
      await workerPool.lanes[0].worker.terminate();
      await new Promise((r) => setTimeout(r, 50));
      same(await own.convert(plan, body, opts), convertBody(plan, body, opts));
      expect(logs.filter((l) => /a worker exited/.test(l))).toHaveLength(1);
    } finally {
      await own.close();
    }
  });
});
