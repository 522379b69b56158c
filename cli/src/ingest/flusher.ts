// Moves sealed WAL segments into ClickHouse, oldest first, then checkpoints. Retries with backoff while
// ClickHouse is unavailable and never drops a segment; a segment ClickHouse rejects as data is split
// until the offending lines are isolated, and those lines go to the quarantine (or a rejected file).
import { quoteString } from '../sql/quote.js';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine, Settings } from '../engine/types.js';
import type { Segment, WalStream } from './wal.js';
import { isJsonObject } from '../util/json.js';

/** Query ids emailstats gives its statements carry only these characters; others become `_`. */
export const queryIdSafe = (text: string): string => text.replace(/[^A-Za-z0-9_.:-]/g, '_');

/**
 * What every insert's query id into `table` starts with (the dedup token starts `<table>:`). A rewrite waits for
 * statements with this prefix still running before it copies the table (deploy/rewrite-hold.ts).
 */
export const ingestQueryIdPrefix = (table: string): string => queryIdSafe(`emailstats-ingest-${table}:`);

export interface FlusherHooks {
  log: (msg: string) => void;
  /** Appends quarantine lines for rows of `table` that ClickHouse rejected; resolves after fsync. */
  quarantine: (stream: WalStream, lines: { line: string; error: string }[]) => Promise<void>;
  onCommitted: (stream: WalStream, seg: Segment, ms: number) => void;
}

/** ClickHouse error codes that mean "this data can never be inserted", not "try again later". */
const DATA_ERROR_CODES = new Set([6, 26, 27, 32, 38, 41, 43, 53, 69, 70, 72, 73, 117, 130, 131, 349, 395, 441, 457, 632, 675, 676, 1001]);
/** What a rejected row's message says, whatever its code: a code missing above must not stall a stream for good. */
const DATA_ERROR_TEXT = /Cannot parse|CANNOT_PARSE|TYPE_MISMATCH|INCORRECT_DATA|Unexpected data .* after parsed/;

export function clickhouseCode(e: unknown): number | undefined {
  const err = e as { code?: unknown; message?: unknown };
  if (typeof err?.code === 'string' && /^\d+$/.test(err.code)) return Number(err.code);
  if (typeof err?.code === 'number') return err.code;
  const m = /Code: (\d+)/.exec(String(err?.message ?? e));
  return m ? Number(m[1]) : undefined;
}

export function isDataError(e: unknown): boolean {
  const code = clickhouseCode(e);
  if (code !== undefined && DATA_ERROR_CODES.has(code)) return true;
  return DATA_ERROR_TEXT.test(String((e as Error)?.message ?? e));
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export class StreamFlusher {
  private running?: Promise<void>;
  /** Set while inserts fail; wait=true requests are refused (503) before anything is written. */
  failing = false;
  private readonly stop = new AbortController();
  /** Set while the table is being rewritten (see hold()): segments stay in the WAL. */
  private held = false;
  /** Aborted by hold() to cut a retry backoff short. */
  private wake = new AbortController();

  constructor(
    readonly stream: WalStream,
    private readonly engine: Engine,
    private readonly hooks: FlusherHooks,
  ) {}

  /** Starts draining sealed segments unless a drain is already running. */
  kick(): Promise<void> {
    if (this.held) return this.running ?? Promise.resolve();
    if (!this.running) {
      this.running = this.drain().finally(() => {
        this.running = undefined;
        if (this.stream.sealed.length && !this.stop.signal.aborted && !this.held) void this.kick();
      });
    }
    return this.running;
  }

  /** Stops for good: retries and backoffs end at once; an insert in flight finishes (stopAndWait waits for it). */
  halt(): void {
    this.stop.abort(); // every backoff sleeps on this signal too
  }

  /** Halts, and resolves once the insert or checkpoint in flight (if any) has ended. */
  async stopAndWait(): Promise<void> {
    this.halt();
    await this.running?.catch(() => {});
  }

  /**
   * Stops inserting into the table: resolves once the insert in flight (if any) has finished; no new one
   * starts until release(). A retry in backoff is cut short. Sealed segments wait in the WAL meanwhile.
   */
  async hold(): Promise<void> {
    this.held = true;
    this.wake.abort();
    await this.running?.catch(() => {});
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.wake = new AbortController();
    if (this.stream.sealed.length) void this.kick();
  }

  get dedupToken(): (seg: Segment) => string {
    return (seg) => `${this.stream.table}:${this.stream.walId}:${seg.seq}${seg.nonce ? `-${seg.nonce}` : ''}`;
  }

  private async drain(): Promise<void> {
    while (this.stream.sealed.length && !this.stop.signal.aborted && !this.held) {
      const seg = this.stream.sealed[0];
      const t0 = Date.now();
      const done = await this.insertSegment(seg);
      if (!done) return; // halted
      if (!(await this.commit(seg))) return;
      this.hooks.onCommitted(this.stream, seg, Date.now() - t0);
    }
  }

  /** Checkpoints an inserted segment, retrying only the checkpoint (the insert is done); false when halted. */
  private async commit(seg: Segment): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.stream.checkpoint(seg);
        return true;
      } catch (e) {
        if (this.stop.signal.aborted) return false; // halted (the folder lost, say): the next holder replays it
        // Should the process stop before the checkpoint succeeds, the replay's dedup check recognises the insert.
        seg.recovered = true;
        const wait = Math.min(200 * 2 ** Math.min(attempt, 8), 30_000);
        this.hooks.log(`wal: ${this.stream.table} segment ${seg.seq} is in ClickHouse but could not be marked done (retry in ${wait} ms): ${(e as Error).message}`);
        await sleep(wait, this.stop.signal);
        if (this.stop.signal.aborted) return false;
      }
    }
  }

  private insertOpts(token: string): { dedupToken?: string; queryId: string; settings: Settings } {
    const queryId = queryIdSafe(`emailstats-ingest-${token}`);
    if (this.engine.caps.insertDeduplicationToken)
      return {
        dedupToken: token,
        queryId,
        settings: { insert_deduplicate: 1, deduplicate_blocks_in_dependent_materialized_views: 1 },
      };
    // No tokens (ClickHouse < 22.2): the query_id plus query_log is the evidence checked before a retry.
    return { queryId, settings: { log_queries: 1 } };
  }

  /** Inserts one segment exactly once; false when halted or held before success. */
  private async insertSegment(seg: Segment): Promise<boolean> {
    const token = this.dedupToken(seg);
    const opts = this.insertOpts(token);
    let attempt = 0;
    let dataErrors = 0;
    for (;;) {
      // A hold is honoured between attempts only: an insert that ClickHouse is running is never abandoned.
      if (this.stop.signal.aborted || this.held) return false;
      // Not from a folder this process no longer holds: the process that has it replays the segment itself.
      if (!(await this.stream.fence().then(() => true, () => false))) return false;
      try {
        // A split under way is finished as a split: the whole segment again would repeat the ranges it inserted.
        if (this.splitDone.get(seg.seq)?.finished.size) {
          await this.splitInsert(seg, token);
          break;
        }
        if (!this.engine.caps.insertDeduplicationToken && (seg.recovered || attempt > 0)) {
          if (await this.alreadyInserted(opts.queryId)) {
            this.hooks.log(`wal: ${this.stream.table} segment ${seg.seq} was already inserted (query_log), skipping`);
            break;
          }
        }
        await this.engine.insertNdjsonFile(this.stream.table, seg.path, opts);
        break;
      } catch (e) {
        attempt++;
        if (isDataError(e) && ++dataErrors >= 2) {
          this.hooks.log(`wal: ${this.stream.table} segment ${seg.seq} rejected by ClickHouse, isolating bad rows: ${(e as Error).message}`);
          try {
            await this.splitInsert(seg, token);
            break;
          } catch (e2) {
            e = e2;
          }
        }
        this.failing = true;
        const wait = Math.min(200 * 2 ** Math.min(attempt, 8), 30_000);
        this.hooks.log(`wal: insert of ${this.stream.table} segment ${seg.seq} failed (attempt ${attempt}, retry in ${wait} ms): ${(e as Error).message}`);
        await sleep(wait, AbortSignal.any([this.stop.signal, this.wake.signal]));
      }
    }
    this.splitDone.delete(seg.seq); // in, one way or another: nothing of its split to remember
    this.failing = false;
    return true;
  }

  /**
   * On servers without dedup tokens: was the insert with this query_id finished? Waits for a still
   * running one. Without a readable query_log the answer is "no" (at-least-once, see docs).
   */
  private async alreadyInserted(queryId: string): Promise<boolean> {
    const lit = quoteString(queryId);
    for (;;) {
      const running = await this.engine.queryRows<{ c: number | string }>(`SELECT count() AS c FROM system.processes WHERE query_id = ${lit}`);
      if (Number(running[0]?.c ?? 0) === 0) break;
      await sleep(500, this.stop.signal);
      if (this.stop.signal.aborted) throw new Error('halted');
    }
    try {
      await this.engine.command('SYSTEM FLUSH LOGS');
      // `type` is an Enum8 on current servers and a plain UInt8 on 18.16; as a number, QueryFinish is 2 on both.
      const rows = await this.engine.queryRows<{ c: number | string }>(
        `SELECT count() AS c FROM system.query_log WHERE query_id = ${lit} AND CAST(type AS Int8) = 2`,
      );
      return Number(rows[0]?.c ?? 0) > 0;
    } catch (e) {
      this.hooks.log(`wal: cannot read system.query_log (${(e as Error).message}); re-inserting (at-least-once)`);
      return false;
    }
  }

  /**
   * The ranges of a segment's split that are in ClickHouse, per segment, kept across attempts: a split that failed
   * part-way (the server went away, the quarantine could not be written) is tried again without inserting them a
   * second time. On servers with dedup tokens that is the token's job too; 18.16 has none.
   */
  private readonly splitDone = new Map<number, { finished: Set<string>; holding: Set<string> }>();

  /**
   * Binary split of a rejected segment; each sub-range has its own deterministic dedup token. A line that is not
   * JSON at all (a torn or damaged segment) is quarantined at once; a run of NUL bytes in front of a line (a hole
   * left by an older version's undone write) is dropped and the line kept.
   */
  private async splitInsert(seg: Segment, token: string): Promise<void> {
    const text = await readFile(seg.path, 'utf8');
    // The lines are sent as they are: parsed and sent again, a Decimal's digits past a double's would be lost.
    const lines: string[] = [];
    const bad: { line: string; error: string }[] = [];
    for (const raw of text.split('\n')) {
      const line = raw.replace(LEADING_NULS, '');
      if (line.length === 0) continue;
      if (isObjectLine(line)) lines.push(line);
      else bad.push({ line: line.replace(/\0/g, '\\0'), error: 'damaged line in the write-ahead log: not a JSON object' });
    }
    const tokens = this.engine.caps.insertDeduplicationToken;
    let done = this.splitDone.get(seg.seq);
    if (!done) this.splitDone.set(seg.seq, (done = { finished: new Set(), holding: new Set() }));
    const { finished, holding } = done;
    // The ranges of a bisection of 0..n: a finished range's ancestors are the ranges on the way down to it.
    const finish = (lo: number, hi: number) => {
      finished.add(`${lo}-${hi}`);
      for (let a = 0, b = lines.length; a !== lo || b !== hi; ) {
        holding.add(`${a}-${b}`);
        const mid = (a + b) >> 1;
        if (hi <= mid) b = mid;
        else a = mid;
      }
    };
    const go = async (lo: number, hi: number): Promise<void> => {
      if (finished.has(`${lo}-${hi}`)) return;
      // A range holding a finished one is split further (the halves are the same as last time), never sent whole.
      if (holding.has(`${lo}-${hi}`)) {
        const mid = (lo + hi) >> 1;
        await go(lo, mid);
        await go(mid, hi);
        return;
      }
      try {
        // The query id has the stream's ingest prefix, so a rewrite waits for this insert too (deploy/rewrite-hold.ts).
        const queryId = queryIdSafe(`emailstats-ingest-${token}:${lo}-${hi}`);
        await this.engine.insertNdjsonLines(this.stream.table, lines.slice(lo, hi), { queryId, ...(tokens ? { settings: { insert_deduplication_token: `${token}:${lo}-${hi}` } } : {}) });
        finish(lo, hi);
      } catch (e) {
        if (!isDataError(e)) throw e;
        if (hi - lo === 1) {
          bad.push({ line: lines[lo], error: String((e as Error).message).slice(0, 500) });
          return;
        }
        const mid = (lo + hi) >> 1;
        await go(lo, mid);
        await go(mid, hi);
      }
    };
    if (lines.length) await go(0, lines.length);
    if (!bad.length) return;
    if (this.stream.meta.quarantineTable) await this.hooks.quarantine(this.stream, bad);
    else {
      // Rows the quarantine table itself rejects are kept next to the WAL, never dropped.
      await appendFile(join(this.stream.dir, 'rejected.ndjson'), bad.map((b) => JSON.stringify(b)).join('\n') + '\n');
      this.hooks.log(`wal: ${bad.length} rows rejected by ${this.stream.table} kept in ${join(this.stream.dir, 'rejected.ndjson')}`);
    }
  }
}

const LEADING_NULS = /^\0+/;

function isObjectLine(line: string): boolean {
  try {
    return isJsonObject(JSON.parse(line));
  } catch {
    return false;
  }
}
