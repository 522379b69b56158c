// Generating millions of rows streams: heap stays flat (nothing accumulates per row).
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { generateEmailEvents } from '../../cli/src/mock/email.js';
import { writeEmailNdjson } from '../../cli/src/mock/parallel.js';
import { writeMock } from '../../cli/src/mock/write.js';

/** A slow-ish sink that applies backpressure now and then, to exercise the 'drain' path. */
function countingSink(): { sink: Writable; bytes: () => number } {
  let bytes = 0;
  let n = 0;
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (++n % 16 === 0) setImmediate(cb);
      else cb();
    },
  });
  return { sink, bytes: () => bytes };
}

async function ended(sink: Writable): Promise<void> {
  sink.end();
  await once(sink, 'finish');
}

describe('mock memory', () => {
  it('writes 2M email events with small heap growth', async () => {
    const { sink, bytes } = countingSink();
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const res = await writeMock(generateEmailEvents({ rows: 2_000_000, seed: 'mem' }) as Iterable<unknown> as Iterable<Record<string, unknown>>, sink, 'ndjson', undefined, {
      progressEvery: 50_000,
      onProgress: () => {
        peak = Math.max(peak, process.memoryUsage().heapUsed);
      },
    });
    expect(res.rows).toBe(2_000_000);
    await ended(sink); // writeMock leaves streams it did not open unended, with the last chunk possibly buffered
    expect(bytes()).toBe(res.bytes);
    // ~550 MB of NDJSON went through; the heap may move by GC noise, not by the output size.
    expect(peak - before).toBeLessThan(120 * 1024 * 1024);
  }, 120_000);

  it('writes 2M email events with two worker threads, memory flat in the writing thread', async () => {
    const { sink, bytes } = countingSink();
    // Blocks arrive as transferred ArrayBuffers (outside the JS heap): count them too, or run-ahead would not show.
    const used = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const before = used();
    let peak = before;
    const res = await writeEmailNdjson({ rows: 2_000_000, seed: 'mem' }, sink, {
      workers: 2,
      progressEvery: 50_000,
      onProgress: () => {
        peak = Math.max(peak, used());
      },
    });
    expect(res.rows).toBe(2_000_000);
    await ended(sink);
    expect(bytes()).toBe(res.bytes);
    expect(peak - before).toBeLessThan(120 * 1024 * 1024);
  }, 120_000);
});
