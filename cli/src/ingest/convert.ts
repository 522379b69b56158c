// One request body → the JSONEachRow lines to append and the quarantine rows, with the reasons the response
// reports. Pure and synchronous, so the same code runs in the request's thread or in a conversion worker.
import { decodeBody, splitBody, TOO_DEEP } from './body.js';
import type { RowOutcome, TargetPlan } from './plan.js';
import { quarantineLine, type QuarantineEntry } from './quarantine.js';
import { LineSink } from '../util/line-sink.js';

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

/** Throws IngestError (400/413) for a body that is refused as a whole; per-row problems become quarantine rows. */
export function convertBody(plan: TargetPlan, body: Uint8Array, o: ConvertOptions): Converted {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const decoded = decodeBody(buf, o.contentEncoding, o.maxBodyBytes);
  const items = splitBody(decoded, { allInvalidOk: o.importId !== undefined });
  // Converted rows are about as long as the lines they come from (decoded: a gzip body is far smaller).
  const good = new LineSink(decoded.length + (decoded.length >> 3));
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
    const r = rowOrTooDeep(plan, it.obj, it.raw);
    if (r.line) {
      good.write(r.line);
      goodRows++;
    } else addBad(it.line, r.quarantine!);
  }
  return { good: goodRows ? good.bytes() : null, goodRows, bad: bad ? bad.bytes() : null, badRows, reasons };
}

/**
 * `plan.row`, with a stack overflow turned into a quarantine row: body.ts refuses events nested deeper than
 * MAX_JSON_DEPTH already; this net keeps one hostile event from ever failing the whole request.
 */
function rowOrTooDeep(plan: TargetPlan, obj: Record<string, unknown>, raw: string): RowOutcome {
  try {
    return plan.row(obj, raw);
  } catch (e) {
    if (!(e instanceof RangeError && /call stack/i.test(e.message))) throw e;
    return { quarantine: { errorColumns: [], errors: [TOO_DEEP], line: raw, raw: new Map() } };
  }
}
