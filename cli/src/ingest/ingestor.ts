// The Events API core the HTTP server calls: body → rows → fsync'd WAL → (background) ClickHouse.
import { mkdir, statfs } from 'node:fs/promises';
import type { Column } from '../datafile/types.js';
import type { Engine } from '../engine/types.js';
import { availableParallelism } from 'node:os';
import { DEFAULT_MAX_BODY_BYTES } from './body.js';
import { ConvertPool } from './convert-pool.js';
import type { Converted } from './convert.js';
import { IngestError } from './errors.js';
import { StreamFlusher, sleep } from './flusher.js';
import { TargetPlan } from './plan.js';
import { quarantineLine, rawText } from './quarantine.js';
import { exactValue } from '../util/exact-json.js';
import { listStreamDirs, readMeta, WalDiskFullError, WalStream, type Segment } from './wal.js';
import { WalLock } from './wal-lock.js';

export interface IngestTarget {
  name: string;
  table: string;
  quarantineTable: string;
  columns: Column[];
}
export interface IngestResult {
  successful_rows: number;
  quarantined_rows: number;
  /** The first 100 reasons. */
  quarantine?: { line: number; error: string }[];
}
export interface IngestorOptions {
  engine: Engine;
  walDir: string;
  maxBodyBytes?: number;
  /** Segment age at which it is sealed and inserted (default 1000 ms). */
  flushIntervalMs?: number;
  /** Segment size at which it is sealed and inserted (default 64 MB). */
  maxBatchBytes?: number;
  /** Segment row count at which it is sealed and inserted (default 500k). */
  maxBatchRows?: number;
  /** Unflushed WAL bytes above which ingest answers 429 (default 1 GB). */
  maxWalBytes?: number;
  /**
   * Free bytes kept on the WAL's disk: a body that would leave less is refused with 507 before anything is
   * written, so the engine (on the same disk in `dev`) still has room to insert what is queued and free it.
   * Default: 5% of the filesystem, at least 1 MB, at most 256 MB.
   */
  minFreeBytes?: number;
  /** How long `wait=true` waits for ClickHouse before answering 503 (default 30 s). */
  waitTimeoutMs?: number;
  /** How long close() tries to flush before leaving the rest in the WAL (default 10 s). */
  closeTimeoutMs?: number;
  /** A hold() not released after this long is released with a warning (default 15 min, see hold()). */
  maxHoldMs?: number;
  /** Worker threads converting large bodies (default: one per core, at most 4; 0 = convert in the request thread). */
  convertWorkers?: number;
  /**
   * One process per WAL folder (wal-lock.ts). `hint`: how the user gives a process a folder of its own, for the
   * refusal; `onLost`: called if another process takes the folder over. false only for tests that play a crashed
   * process and its successor in one process.
   */
  walLock?: false | { hint?: string; onLost?: (message: string) => void };
  log?: (msg: string) => void;
}

const MAX_REASONS = 100;
const MB = 1024 * 1024;
const DISK_STAT_MS = 250;

/** Free bytes on the WAL's disk, and how many of them ingest leaves free (minFreeBytes). */
interface DiskSpace {
  free: number;
  reserve: number;
}

function diskFull(what: string): IngestError {
  return new IngestError(507, `${what}; retry later (queued events keep draining into ClickHouse and free space), or free space on that disk`, 5);
}
/**
 * Safety limit of a hold: a crashed deploy or rebuild must not stop ingestion for good. Long enough for the
 * backfill of a large table; a rewrite that takes longer loses the rows flushed after the release, so deploy
 * refuses to swap once its own lease is over (docs/deploy.md).
 */
export const DEFAULT_MAX_HOLD_MS = 15 * 60_000;

interface StreamState {
  wal: WalStream;
  flusher: StreamFlusher;
}

export class Ingestor {
  private readonly o: Required<Omit<IngestorOptions, 'log'>> & { log: (m: string) => void };
  private readonly streams = new Map<string, Promise<StreamState>>();
  private readonly plans = new WeakMap<IngestTarget['columns'], TargetPlan>();
  private started?: Promise<void>;
  private claimed?: Promise<void>;
  private walLock?: WalLock;
  /** Why this process no longer takes events: another process took its WAL folder over. */
  private lost?: string;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private flushedRows = 0;
  private quarantinedRows = 0;
  private lastFlushMs?: number;
  /** Tables whose flushes are held while they are rewritten; streams opened later start held. */
  private readonly holds = new Map<string, { id: number; since: number; count: number; deadline: number; timer: NodeJS.Timeout }>();
  private holdsTaken = 0;

  constructor(opts: IngestorOptions) {
    this.o = {
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      flushIntervalMs: 1000,
      maxBatchBytes: 64 * 1024 * 1024,
      maxBatchRows: 500_000,
      maxWalBytes: 1024 * 1024 * 1024,
      minFreeBytes: -1, // -1: derived from the filesystem's size (see checkDiskRoom)
      waitTimeoutMs: 30_000,
      closeTimeoutMs: 10_000,
      maxHoldMs: DEFAULT_MAX_HOLD_MS,
      convertWorkers: Math.min(4, availableParallelism()),
      walLock: {},
      log: () => {},
      ...opts,
    } as Ingestor['o'];
  }

  /**
   * Takes the WAL folder for this process, or throws WalInUseError naming the process that has it. start() does
   * this first; a command calls it earlier to be refused before doing work of its own (dev's first build).
   */
  claimWal(): Promise<void> {
    this.claimed ??= (async () => {
      await mkdir(this.o.walDir, { recursive: true });
      const opts = this.o.walLock;
      if (opts === false) return;
      this.walLock = await WalLock.acquire(this.o.walDir, {
        hint: opts.hint ?? 'stop the other process, or give this one another folder',
        log: this.o.log,
        onLost: (message) => this.walLost(message, opts.onLost),
      });
    })();
    return this.claimed;
  }

  /**
   * For a command that can do without events when another process has the folder (a query): nothing is replayed
   * from the folder and every event is refused with `message` (503).
   */
  refuseEvents(message: string): void {
    this.lost = message;
    this.started ??= Promise.resolve();
  }

  /** Whether events are refused now (the folder taken over, or refuseEvents): this process has none of its own to flush. */
  get refusing(): boolean {
    return this.lost !== undefined;
  }

  /** Throws (503) once the folder is no longer this process's: awaited by the WAL before every change to it. */
  private async fence(): Promise<void> {
    if (this.lost) throw new IngestError(503, this.lost);
    if (this.walLock && !(await this.walLock.verify()))
      throw new IngestError(503, this.lost ?? `ingestion has stopped: this process no longer holds the write-ahead log folder ${this.o.walDir}. Each process needs a write-ahead log folder of its own; restart this one once the other has stopped`);
  }

  /** Another process has the folder now: insert nothing more from it and take no more events. */
  private walLost(message: string, onLost?: (message: string) => void): void {
    this.lost = message;
    if (this.timer) clearInterval(this.timer);
    for (const st of this.settled) st.flusher.halt();
    this.o.log(message);
    onLost?.(message);
  }

  /** Replays what the WAL holds beyond each checkpoint, then starts the age-based sealing loop. */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.claimWal();
      for (const dir of await listStreamDirs(this.o.walDir)) {
        if (this.lost) return; // the folder is another process's now: not a byte of it is read or cut
        const meta = await readMeta(dir);
        if (meta) {
          const st = await this.stream(meta.table, meta.quarantineTable);
          if (st.wal.sealed.length) this.o.log(`wal: replaying ${st.wal.sealed.length} segment(s) of ${meta.table}`);
          void st.flusher.kick();
        }
      }
      if (this.lost) return;
      const tick = Math.max(10, Math.min(250, this.o.flushIntervalMs / 2));
      this.timer = setInterval(() => void this.sealAged(), tick);
      this.timer.unref();
    })();
    return this.started;
  }

  private stream(table: string, quarantineTable?: string): Promise<StreamState> {
    let p = this.streams.get(table);
    if (!p) {
      // Opening a stream recovers its segments (cutting a torn last line, deleting empty ones): checked against the
      // folder's lock before each of those changes, never done in a folder this process lost.
      const fence = () => this.fence();
      p = WalStream.open(this.o.walDir, table, { maxSegmentBytes: this.o.maxBatchBytes, maxSegmentRows: this.o.maxBatchRows }, quarantineTable, fence).then((wal) => {
        const flusher = new StreamFlusher(wal, this.o.engine, {
          log: this.o.log,
          quarantine: (s, lines) => this.quarantineRejected(s, lines),
          onCommitted: (s, seg, ms) => this.committed(s, seg, ms),
        });
        if (this.holds.has(table)) void flusher.hold(); // sets the flag at once: nothing is inserted
        if (this.lost) flusher.halt();
        wal.onSealed = () => void flusher.kick();
        const st = { wal, flusher };
        this.settled.push(st);
        return st;
      });
      this.streams.set(table, p);
      p.catch(() => this.streams.delete(table));
    }
    return p;
  }

  /** Called for each batch of events committed to a datasource's table (the server's ops log listens). */
  onFlushed?: (table: string, rows: number, ms: number) => void;

  private committed(s: WalStream, seg: Segment, ms: number): void {
    if (!s.meta.quarantineTable) return; // quarantine streams are counted at ingest time
    this.flushedRows += seg.rows;
    this.lastFlushMs = ms;
    this.onFlushed?.(s.table, seg.rows, ms);
  }

  private async sealAged(): Promise<void> {
    const now = Date.now();
    for (const p of this.streams.values()) {
      const { wal } = await p;
      if (wal.openSeq !== undefined && wal.openAgeMs(now) >= this.o.flushIntervalMs) await wal.seal().catch(() => {});
    }
  }

  private pool?: ConvertPool;
  /** Bytes of request bodies that passed the backlog check and are not in the WAL yet. */
  private reserved = 0;
  /** Started on the first ingest, so commands that never ingest pay nothing for it. */
  private convertPool(): ConvertPool {
    return (this.pool ??= new ConvertPool(this.o.convertWorkers, this.o.log));
  }

  /** The compiled mapping for a target, built once per column list (a project load gives each datasource one). */
  private plan(t: IngestTarget): TargetPlan {
    let plan = this.plans.get(t.columns);
    if (!plan) {
      plan = new TargetPlan(t.columns);
      this.plans.set(t.columns, plan);
    }
    return plan;
  }


  /** Unflushed WAL bytes of every open stream (a stream still opening has none yet). */
  private pending(): number {
    let n = 0;
    for (const st of this.settled) n += st.wal.pendingBytes;
    return n;
  }

  /** `importId` marks the quarantine rows of a batch import (`c__import_id`); events leave it NULL. */
  async ingest(target: IngestTarget, body: Buffer, opts: { contentEncoding?: string; wait?: boolean; importId?: string } = {}): Promise<IngestResult> {
    if (this.closed) throw new IngestError(503, 'ingestion is shutting down');
    await this.start();
    if (this.lost) throw new IngestError(503, this.lost);
    // Bodies between this check and the WAL count too: concurrent large bodies must not overshoot the cap together.
    const pending = this.pending() + this.reserved;
    if (pending + body.length > this.o.maxWalBytes)
      throw new IngestError(429, `ingestion backlog is ${pending} bytes (limit ${this.o.maxWalBytes}); retry later`, 5);
    const plan = this.plan(target);
    let reserved = body.length;
    this.reserved += reserved;
    let converted: Converted, main: StreamState, quar: StreamState | undefined, seqMain: number | undefined, seqQuar: number | undefined;
    try {
      await this.checkDiskRoom(this.reserved); // every body in flight, this one included
      converted = await this.convertPool().convert(plan, body, {
        contentEncoding: opts.contentEncoding,
        maxBodyBytes: this.o.maxBodyBytes,
        importId: opts.importId,
        nowSec: Math.floor(Date.now() / 1000),
        maxReasons: MAX_REASONS,
      });
      // A gzip body is far larger on disk than on the wire: check again with what will be written.
      const toWrite = (converted.good?.byteLength ?? 0) + (converted.bad?.byteLength ?? 0);
      if (toWrite > reserved) {
        this.reserved += toWrite - reserved;
        reserved = toWrite;
        await this.checkDiskRoom(this.reserved);
      }
      main = await this.stream(target.table, target.quarantineTable);
      quar = converted.badRows ? await this.stream(target.quarantineTable) : undefined;
      if (opts.wait && (main.flusher.failing || quar?.flusher.failing))
        throw new IngestError(503, 'ClickHouse is not accepting inserts right now; nothing was written', 1);
      const asBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
      // Quarantine lines first: should the disk fill between the two appends, the request fails with none of its
      // valid rows stored (a retry may then quarantine a rejected line twice, never store an event twice).
      if (quar && converted.bad) seqQuar = await quar.wal.append(asBuffer(converted.bad), converted.badRows);
      if (converted.good) seqMain = await main.wal.append(asBuffer(converted.good), converted.goodRows);
      this.writtenSinceStat += (converted.good?.byteLength ?? 0) + (converted.bad?.byteLength ?? 0);
    } catch (err) {
      if (err instanceof WalDiskFullError) throw diskFull(`${err.message}. Nothing of this request's valid rows was stored`);
      throw err;
    } finally {
      this.reserved -= reserved;
    }
    const { goodRows, badRows, reasons } = converted;
    this.quarantinedRows += badRows;
    if (opts.wait) {
      const waits: Promise<void>[] = [];
      if (seqMain !== undefined) waits.push(this.waitFor(main, seqMain));
      if (seqQuar !== undefined && quar) waits.push(this.waitFor(quar, seqQuar));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.o.waitTimeoutMs)));
      const outcome = await Promise.race([Promise.all(waits), timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout')
        throw new IngestError(503, 'rows are stored in the write-ahead log but ClickHouse has not confirmed them yet; they will be inserted, do not resend', 1);
    }
    const res: IngestResult = { successful_rows: goodRows, quarantined_rows: badRows };
    if (reasons.length) res.quarantine = reasons;
    return res;
  }

  /** 507 before anything is written when this body would eat into the disk's reserve (see minFreeBytes). */
  private async checkDiskRoom(incoming: number): Promise<void> {
    const fits = (d: DiskSpace) => d.free - this.writtenSinceStat - incoming >= d.reserve;
    let disk = await this.diskSpace();
    if (disk && !fits(disk)) disk = await this.diskSpace(true); // a refusal rests on a fresh reading
    if (!disk || fits(disk)) return; // unmeasurable here: the write itself reports a full disk
    throw diskFull(
      `the disk that holds the write-ahead log (${this.o.walDir}) has ${disk.free - this.writtenSinceStat} bytes free; ${disk.reserve} are kept free so queued events can still be inserted. Nothing of this request was stored`,
    );
  }

  /** Bytes this process appended to the WAL since the last statfs: taken off the free space it reported. */
  private writtenSinceStat = 0;
  private disk?: DiskSpace & { at: number };
  private diskQuery?: Promise<DiskSpace | undefined>;

  /**
   * The WAL disk's free space and reserve, asked of the filesystem at most every DISK_STAT_MS (one call shared by
   * the requests that need it meanwhile): a statfs per request was the largest new cost in a profile of
   * single-event ingest.
   */
  private async diskSpace(fresh = false): Promise<DiskSpace | undefined> {
    if (!fresh && this.disk && Date.now() - this.disk.at < DISK_STAT_MS) return this.disk;
    this.diskQuery ??= statfs(this.o.walDir)
      .then((fs) => {
        const size = fs.blocks * fs.bsize;
        const reserve = this.o.minFreeBytes >= 0 ? this.o.minFreeBytes : Math.min(256 * MB, Math.max(MB, Math.round(size * 0.05)));
        this.disk = { at: Date.now(), free: fs.bavail * fs.bsize, reserve };
        this.writtenSinceStat = 0;
        return this.disk;
      })
      .catch(() => undefined)
      .finally(() => (this.diskQuery = undefined));
    return this.diskQuery;
  }

  private async waitFor(st: StreamState, seq: number): Promise<void> {
    if (st.wal.openSeq === seq) await st.wal.seal();
    await st.wal.waitCommitted(seq);
  }

  /** Rows ClickHouse rejected after conversion: quarantined via the WAL before their segment is checkpointed. */
  private async quarantineRejected(s: WalStream, lines: { line: string; error: string }[]): Promise<void> {
    const q = await this.stream(s.meta.quarantineTable!);
    const nowSec = Math.floor(Date.now() / 1000);
    const out = lines.map((l) => {
      const raw = new Map<string, string | null>();
      try {
        const row = exactValue(l.line, JSON.parse(l.line)) as Record<string, unknown>;
        for (const [k, v] of Object.entries(row)) raw.set(k, rawText(v));
      } catch {
        /* keep only the line */
      }
      return quarantineLine({ errorColumns: [], errors: [`ClickHouse rejected the row: ${l.error}`], line: l.line, raw }, nowSec);
    });
    await q.wal.append(Buffer.from(out.join('')), out.length);
    this.quarantinedRows += out.length;
  }

  /** The current hold on `table`, one number for as long as holds overlap (a new one after it ends); undefined when none. */
  holdId(table: string): number | undefined {
    return this.holds.get(table)?.id;
  }

  /**
   * Holds flushing into `table` while it is rewritten (deploy, dev rebuild, datasource replace): resolves once
   * the insert in flight, if any, has finished; none starts until release(). Ingest goes on: rows are
   * acknowledged from the WAL and inserted after release(), into whatever table has the name by then. Holds
   * are counted: each hold() needs its own release(), so one operation ending does not lift another's hold.
   * After `timeoutMs` (default maxHoldMs; the longest asked for wins) every hold on the table is released with
   * a warning.
   */
  async hold(table: string, timeoutMs = this.o.maxHoldMs): Promise<void> {
    const h = this.holds.get(table);
    const expire = (): NodeJS.Timeout => {
      const timer = setTimeout(() => {
        this.o.log(`wal: flushes to ${table} held for ${Math.round((Date.now() - (this.holds.get(table)?.since ?? Date.now())) / 1000)} s without release; resuming (the rewrite may miss rows flushed from now on)`);
        this.endHold(table);
      }, timeoutMs);
      timer.unref();
      return timer;
    };
    const deadline = Date.now() + timeoutMs;
    if (!h) this.holds.set(table, { id: ++this.holdsTaken, since: Date.now(), count: 1, deadline, timer: expire() });
    else {
      h.count++;
      if (deadline > h.deadline) {
        clearTimeout(h.timer);
        h.deadline = deadline;
        h.timer = expire();
      }
    }
    const p = this.streams.get(table);
    const st = p ? await p.catch(() => undefined) : undefined;
    if (st && this.holds.has(table)) await st.flusher.hold();
  }

  /** Ends one hold; when it was the last, what the WAL kept for `table` is inserted now. */
  release(table: string): void {
    const h = this.holds.get(table);
    if (!h) return;
    if (--h.count > 0) return;
    this.endHold(table);
  }

  private endHold(table: string): void {
    const h = this.holds.get(table);
    if (!h) return;
    clearTimeout(h.timer);
    this.holds.delete(table);
    void this.streams.get(table)?.then((st) => st.flusher.release(), () => {});
  }

  /** Tables currently held. */
  held(): string[] {
    return [...this.holds.keys()];
  }

  /** Seals every open segment and waits until everything sealed is in ClickHouse. */
  async flush(): Promise<void> {
    await this.start();
    if (this.lost) return;
    // Quarantine streams may receive rows while the main ones drain: loop until all are empty.
    for (let round = 0; round < 5; round++) {
      const states = await Promise.all(this.streams.values());
      await Promise.all(states.map((s) => s.wal.seal()));
      await Promise.all(states.map((s) => (s.wal.sealed.length ? s.flusher.kick() : undefined)));
      if (states.every((s) => s.wal.sealed.length === 0 && s.wal.openSeq === undefined)) return;
    }
  }

  /** Flushes (bounded by closeTimeoutMs), stops the loops; anything left stays in the WAL for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const h of this.holds.values()) clearTimeout(h.timer); // held rows stay in the WAL for the next start
    // Not started, or its start failed (the folder in use, a replay that could not begin): nothing to flush, but
    // what a partial replay started is stopped below all the same.
    const started = this.started !== undefined && (await this.started.then(() => true, () => false));
    if (started) {
      // The timeout must not outlive the flush: a pending timer keeps the process alive after close().
      const timeout = new AbortController();
      await Promise.race([this.flush().catch(() => {}), sleep(this.o.closeTimeoutMs, timeout.signal)]);
      timeout.abort();
    } else {
      await this.claimed?.catch(() => {});
    }
    await Promise.allSettled(this.streams.values()); // a stream still opening joins `settled`
    // An insert still in flight ends before the folder is released: its checkpoint must not delete a file that
    // the next process has already taken up.
    await Promise.all(this.settled.map((s) => s.flusher.stopAndWait()));
    await Promise.all(this.settled.map((s) => s.wal.close().catch(() => {})));
    await this.pool?.close();
    await this.walLock?.release();
  }

  stats(): { walBytes: number; pendingRows: number; flushedRows: number; quarantinedRows: number; lastFlushMs?: number; fsyncs: number } {
    let walBytes = 0, pendingRows = 0, fsyncs = 0;
    for (const st of this.settled) {
      walBytes += st.wal.pendingBytes;
      pendingRows += st.wal.pendingRows;
      fsyncs += st.wal.fsyncs;
    }
    const out: ReturnType<Ingestor['stats']> = { walBytes, pendingRows, flushedRows: this.flushedRows, quarantinedRows: this.quarantinedRows, fsyncs };
    if (this.lastFlushMs !== undefined) out.lastFlushMs = this.lastFlushMs;
    return out;
  }

  private readonly settled: StreamState[] = [];
}
