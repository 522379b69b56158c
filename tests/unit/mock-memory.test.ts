// Generating millions of rows streams: heap stays flat (nothing accumulates per row).
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { emailEventToNdjson, generateEmailEvents, type EmailEvent } from '../../cli/src/mock/email.js';
import { writeMock } from '../../cli/src/mock/write.js';

describe('mock memory', () => {
  it('writes 2M email events with small heap growth', async () => {
    let bytes = 0;
    // A slow-ish sink that applies backpressure now and then, to exercise the 'drain' path.
    let n = 0;
    const sink = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        if (++n % 16 === 0) setImmediate(cb);
        else cb();
      },
    });
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const res = await writeMock(generateEmailEvents({ rows: 2_000_000, seed: 'mem' }) as Iterable<unknown> as Iterable<Record<string, unknown>>, sink, 'ndjson', undefined, {
      serialize: (r) => emailEventToNdjson(r as unknown as EmailEvent),
      progressEvery: 50_000,
      onProgress: () => {
        peak = Math.max(peak, process.memoryUsage().heapUsed);
      },
    });
    expect(res.rows).toBe(2_000_000);
    expect(bytes).toBe(res.bytes);
    // ~550 MB of NDJSON went through; the heap may move by GC noise, not by the output size.
    expect(peak - before).toBeLessThan(120 * 1024 * 1024);
  }, 120_000);
});
