// One request body → the JSONEachRow lines to append and the quarantine rows, with the reasons the response
// reports. Pure and synchronous, so the same code runs in the request's thread or in a conversion worker.
import { decodeBody, splitBody } from './body.js';
import type { TargetPlan } from './plan.js';
import { quarantineLine, type QuarantineEntry } from './quarantine.js';

export interface ConvertOptions {
  contentEncoding?: string;
  maxBodyBytes: number;
  /** Marks quarantine rows of a batch import; a chunk of only bad lines is then quarantined, not refused. */
  importId?: string;
  /** `insertion_date` of quarantine rows. */
  nowSec: number;
  maxReasons: number;
}

export interface Converted {
  good: Uint8Array | null;
  goodRows: number;
  bad: Uint8Array | null;
  badRows: number;
  /** The first `maxReasons` quarantine reasons, by body line. */
  reasons: { line: number; error: string }[];
}

/**
 * Lines written straight into one growing buffer: appending row strings to one big string and encoding it at
 * the end cost more than encoding each row (flattening a rope of thousands of pieces). The buffer owns its
 * ArrayBuffer (never a slice of Node's shared pool), so a worker can transfer it without copying.
 */
class LineSink {
  private buf: Buffer;
  private len = 0;
  constructor(expectedBytes: number) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(1024, expectedBytes));
  }
  write(s: string): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    if (this.len + s.length * 3 > this.buf.length) {
      const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.len + s.length * 3));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    this.len += this.buf.write(s, this.len, 'utf8');
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.buf.buffer, 0, this.len);
  }
}

/** Throws IngestError (400/413) for a body that is refused as a whole; per-row problems become quarantine rows. */
export function convertBody(plan: TargetPlan, body: Uint8Array, o: ConvertOptions): Converted {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const items = splitBody(decodeBody(buf, o.contentEncoding, o.maxBodyBytes), { allInvalidOk: o.importId !== undefined });
  // Converted rows are about as long as the lines they come from.
  const good = new LineSink(buf.length + (buf.length >> 3));
  let goodRows = 0;
  let bad: LineSink | undefined;
  let badRows = 0;
  const reasons: Converted['reasons'] = [];
  const addBad = (line: number, e: QuarantineEntry): void => {
    (bad ??= new LineSink(4096)).write(quarantineLine(e, o.nowSec, o.importId ?? null));
    badRows++;
    if (reasons.length < o.maxReasons) reasons.push({ line, error: e.errors.join('; ') });
  };
  for (const it of items) {
    if (!it.obj) {
      addBad(it.line, { errorColumns: [], errors: [it.error ?? 'invalid line'], line: it.raw, raw: new Map() });
      continue;
    }
    const r = plan.row(it.obj, it.raw);
    if (r.line) {
      good.write(r.line);
      goodRows++;
    } else addBad(it.line, r.quarantine!);
  }
  return { good: goodRows ? good.bytes() : null, goodRows, bad: bad ? bad.bytes() : null, badRows, reasons };
}
