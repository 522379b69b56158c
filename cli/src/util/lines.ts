// Lines of a byte stream, as readline splits them (`\n`, `\r\n` or a lone `\r`), with a cap on a line's length:
// readline holds a line of any length in memory, so one upload without line breaks could take the whole heap.

/** A line longer than the cap: reading stopped inside it. */
export class LineTooLongError extends Error {
  constructor(
    /** 1-based number of the line, counting empty ones. */
    readonly line: number,
    readonly maxBytes: number,
  ) {
    super(`line ${line} is longer than ${maxBytes} bytes`);
    this.name = 'LineTooLongError';
  }
}

const LF = 10;
const CR = 13;

/** Each line decoded as UTF-8 (bytes of a character split between chunks are joined first), without its ending. */
export async function* boundedLines(input: AsyncIterable<Buffer | string>, maxBytes: number): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let size = 0;
  let line = 0;
  let afterCr = false; // the previous chunk ended with `\r`: a `\n` starting this one belongs to it
  const take = (): string => {
    const text = Buffer.concat(parts, size).toString('utf8');
    parts = [];
    size = 0;
    return text;
  };
  for await (const piece of input) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    let pos = 0;
    if (afterCr && chunk[0] === LF) pos = 1;
    afterCr = false;
    // The next LF and CR at or after pos, each looked up again only once passed: one search per line for each
    // would rescan to the end of the chunk for a character it does not hold (a whole file in one chunk).
    let lf = -2;
    let cr = -2;
    while (pos < chunk.length) {
      if (lf !== -1 && lf < pos) lf = chunk.indexOf(LF, pos);
      if (cr !== -1 && cr < pos) cr = chunk.indexOf(CR, pos);
      const end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      const stop = end < 0 ? chunk.length : end;
      if (size + stop - pos > maxBytes) throw new LineTooLongError(line + 1, maxBytes);
      if (stop > pos) {
        // A piece kept for the next chunk is copied: a stream may hand out views of a buffer it reuses (busboy's
        // lookbehind). A piece that completes the line is joined below, before anything else runs.
        parts.push(end < 0 ? Buffer.from(chunk.subarray(pos, stop)) : chunk.subarray(pos, stop));
        size += stop - pos;
      }
      if (end < 0) break;
      line++;
      yield take();
      pos = end + 1;
      if (chunk[end] === CR) {
        if (pos === chunk.length) afterCr = true;
        else if (chunk[pos] === LF) pos++;
      }
    }
  }
  if (size > 0) yield take();
}
