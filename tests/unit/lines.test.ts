// boundedLines: the same lines as node:readline for any bytes cut into any chunks, and a line over the cap
// refused before it is held whole.
import fc from 'fast-check';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { boundedLines, LineTooLongError } from '../../cli/src/util/lines.js';

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Cuts `bytes` at the given points: the chunks a socket might deliver. */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const c of [...at, bytes.length]) {
    if (c > last) out.push(bytes.subarray(last, c));
    last = c;
  }
  return out;
}

const text = fc.array(fc.oneof(fc.constantFrom('\n', '\r', '\r\n', '\n\n', 'é', '€', '😀', '"', ','), fc.string({ maxLength: 8 })), { maxLength: 40 }).map((xs) => xs.join(''));

describe('boundedLines', () => {
  it('splits as readline does (\\n, \\r\\n, a lone \\r), whatever the chunks, multi-byte characters included', async () => {
    await fc.assert(
      fc.asyncProperty(text, fc.array(fc.nat(), { maxLength: 12 }), async (s, cuts) => {
        const bytes = Buffer.from(s, 'utf8');
        const expected = await collect(createInterface({ input: Readable.from([bytes]), crlfDelay: Infinity }));
        // Views of one buffer that is overwritten after each chunk, as a parser's reused buffer would be.
        const reused = Buffer.alloc(bytes.length);
        async function* views(): AsyncGenerator<Buffer> {
          for (const c of chunked(bytes, cuts)) {
            c.copy(reused, 0);
            yield reused.subarray(0, c.length);
            reused.fill(0x21, 0, c.length);
          }
        }
        expect(await collect(boundedLines(views(), 1 << 20))).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses the first line over the cap, by its number, however it is cut', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(fc.nat(), { maxLength: 8 }), async (before, cuts) => {
        const bytes = Buffer.from('ok\n'.repeat(before) + 'x'.repeat(101) + '\nok\n');
        const seen: string[] = [];
        let error: unknown;
        try {
          for await (const line of boundedLines(Readable.from(chunked(bytes, cuts)), 100)) seen.push(line);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(LineTooLongError);
        expect((error as LineTooLongError).line).toBe(before + 1);
        expect(seen).toEqual(Array(before).fill('ok'));
      }),
    );
    // At the cap exactly is allowed.
    expect(await collect(boundedLines(Readable.from([Buffer.from('y'.repeat(100) + '\r\n')]), 100))).toEqual(['y'.repeat(100)]);
  });
});
