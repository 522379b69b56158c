// Write-ahead log: per target table, append-only NDJSON segment files `<walDir>/<table>/<seq>-<nonce>.ndjson`.
// An append resolves only after its bytes are fsync'd; concurrent appends share one write + fsync (group
// commit). A segment is also the unit of insertion into ClickHouse, so it rolls at the batch size and age.
// A segment is committed by deleting its file: that needs no free space, so a full disk never stops the
// log from draining. The random nonce in each name keeps dedup tokens unique without a persisted counter.
import { mkdir, open, readdir, readFile, stat, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../util/files.js';

export interface Segment {
  seq: number;
  /** Random per segment ('' for segments named by older versions); part of its dedup token. */
  nonce: string;
  path: string;
  bytes: number;
  rows: number;
  /** Found on disk at start-up: an insert of it may already have happened. */
  recovered: boolean;
}

export interface WalLimits {
  maxSegmentBytes: number;
  maxSegmentRows: number;
}

interface Meta {
  table: string;
  /** Random id of this log; part of every dedup token so a recreated WAL never reuses a token. */
  walId: string;
  /** Where rows this table's ClickHouse rejects go (absent for quarantine tables themselves). */
  quarantineTable?: string;
}

type Op =
  | { kind: 'append'; buf: Buffer; rows: number; resolve: (seq: number) => void; reject: (e: Error) => void }
  | { kind: 'seal'; resolve: () => void; reject: (e: Error) => void };

const SEG_RE = /^(\d{12})(?:-([0-9a-f]{8}))?\.ndjson$/;
const segName = (seq: number, nonce: string) => `${String(seq).padStart(12, '0')}${nonce ? `-${nonce}` : ''}.ndjson`;

/** The write-ahead log's disk is full (or over quota): nothing of the failed append was kept. */
export class WalDiskFullError extends Error {
  constructor(readonly dir: string, cause: Error) {
    super(`no space left on the disk that holds the write-ahead log (${dir}): ${cause.message}`);
    this.name = 'WalDiskFullError';
  }
}

export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** A failed write of the log under `dir`: a full disk as WalDiskFullError (a 507 to the client), others as they are. */
function walWriteError(dir: string, e: unknown): unknown {
  return isDiskFull(e) ? new WalDiskFullError(dir, e as Error) : e;
}

export function streamDirName(table: string): string {
  return encodeURIComponent(table).replace(/\*/g, '%2A');
}

export class WalStream {
  readonly sealed: Segment[] = [];
  fsyncs = 0;
  /** Bytes queued, in the open segment and in sealed segments: everything not yet in ClickHouse. */
  pendingBytes = 0;
  pendingRows = 0;
  private committed: number;
  private nextSeq: number;
  private fh?: FileHandle;
  private open?: Segment;
  private openedAt = 0;
  private queue: Op[] = [];
  private writing = false;
  private commitWaiters: { seq: number; resolve: () => void }[] = [];
  onSealed: () => void = () => {};

  private constructor(
    readonly dir: string,
    readonly meta: Meta,
    committed: number,
    private readonly limits: WalLimits,
    /** Awaited before every change to the folder (a new segment, a write, a checkpoint, a recovery's cut); throws once the folder is no longer this process's (wal-lock.ts). */
    readonly fence: () => Promise<void>,
  ) {
    this.committed = committed;
    this.nextSeq = committed + 1;
  }

  get table(): string {
    return this.meta.table;
  }
  get walId(): string {
    return this.meta.walId;
  }
  get committedSeq(): number {
    return this.committed;
  }

  /** Opens (or creates) the stream's directory and recovers segments not yet checkpointed. */
  static async open(root: string, table: string, limits: WalLimits, quarantineTable?: string, fence: () => Promise<void> = async () => {}): Promise<WalStream> {
    const dir = join(root, streamDirName(table));
    await fence();
    await mkdir(dir, { recursive: true });
    const metaPath = join(dir, 'meta.json');
    let meta: Meta;
    try {
      meta = JSON.parse(await readFile(metaPath, 'utf8')) as Meta;
    } catch {
      meta = { table, walId: randomBytes(6).toString('hex'), ...(quarantineTable ? { quarantineTable } : {}) };
      await writeFileAtomic(metaPath, JSON.stringify(meta));
      await fsyncDir(root);
    }
    if (quarantineTable && meta.quarantineTable !== quarantineTable) {
      meta = { ...meta, quarantineTable };
      await writeFileAtomic(metaPath, JSON.stringify(meta));
    }
    // Older versions recorded the last committed seq in checkpoint.json; it is still honoured, never rewritten.
    let committed = 0;
    try {
      committed = (JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8')) as { seq: number }).seq;
    } catch {
      /* none: every segment file present is uncommitted */
    }
    const s = new WalStream(dir, meta, committed, limits, fence);
    await s.recover();
    return s;
  }

  /** Lists segment files; drops committed leftovers; trims a torn (never acknowledged) last line. */
  private async recover(): Promise<void> {
    const found = (await readdir(this.dir))
      .map((f) => SEG_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ seq: Number(m[1]), nonce: m[2] ?? '' }))
      .sort((a, b) => a.seq - b.seq);
    for (const { seq, nonce } of found) {
      const path = join(this.dir, segName(seq, nonce));
      if (seq <= this.committed) {
        await this.fence();
        await unlink(path).catch(() => {});
        continue;
      }
      const buf = await readFile(path);
      let end = buf.lastIndexOf(0x0a) + 1;
      if (end < buf.length) {
        await this.fence();
        const fh = await open(path, 'r+');
        await fh.truncate(end);
        await fh.sync();
        await fh.close();
      }
      let rows = 0;
      for (let i = buf.indexOf(0x0a); i >= 0 && i < end; i = buf.indexOf(0x0a, i + 1)) rows++;
      if (rows === 0) {
        await this.fence();
        await unlink(path).catch(() => {});
        continue;
      }
      this.sealed.push({ seq, nonce, path, bytes: end, rows, recovered: true });
      this.pendingBytes += end;
      this.pendingRows += rows;
    }
    const last = found.length ? found[found.length - 1].seq : 0;
    this.nextSeq = Math.max(this.committed, last) + 1;
  }

  /** Appends complete NDJSON lines; resolves with the segment seq once they are on disk. */
  append(buf: Buffer, rows: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pendingBytes += buf.length;
      this.pendingRows += rows;
      this.queue.push({ kind: 'append', buf, rows, resolve, reject });
      void this.pump();
    });
  }

  /** Closes the open segment (if it has rows) so the flusher can insert it. */
  seal(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'seal', resolve, reject });
      void this.pump();
    });
  }

  /** The seq of the open segment, if any. */
  get openSeq(): number | undefined {
    return this.open?.seq;
  }
  openAgeMs(now: number): number {
    return this.open ? now - this.openedAt : 0;
  }

  private async pump(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0);
        let bufs: Buffer[] = [];
        let waiters: Extract<Op, { kind: 'append' }>[] = [];
        const commit = async () => {
          if (!bufs.length) return;
          const b = bufs, w = waiters;
          bufs = [];
          waiters = [];
          const seq = this.open!.seq;
          try {
            await this.writeAll(b);
            for (const op of w) op.resolve(seq);
          } catch (e) {
            for (const op of w) {
              this.pendingBytes -= op.buf.length;
              this.pendingRows -= op.rows;
              op.reject(e as Error);
            }
          }
        };
        for (const op of batch) {
          if (op.kind === 'seal') {
            await commit();
            await this.sealOpen().then(op.resolve, op.reject);
            continue;
          }
          const o = this.open;
          if (o && o.rows > 0 && (o.bytes + op.buf.length > this.limits.maxSegmentBytes || o.rows + op.rows > this.limits.maxSegmentRows)) {
            await commit();
            await this.sealOpen().catch(() => {});
          }
          try {
            await this.ensureOpen();
          } catch (e) {
            this.pendingBytes -= op.buf.length;
            this.pendingRows -= op.rows;
            op.reject(e as Error);
            continue;
          }
          this.open!.bytes += op.buf.length;
          this.open!.rows += op.rows;
          bufs.push(op.buf);
          waiters.push(op);
        }
        await commit();
      }
    } finally {
      this.writing = false;
    }
  }

  /**
   * Writes at the segment's end by position, not through the handle's file offset: after a failed write is
   * undone (truncated back), the next write must start exactly there, or the segment gets a hole of NUL bytes
   * in front of acknowledged lines.
   */
  private async writeAll(bufs: Buffer[]): Promise<void> {
    const data = bufs.length === 1 ? bufs[0] : Buffer.concat(bufs);
    const fh = this.fh!;
    const before = this.open!.bytes - data.length;
    let held = false;
    try {
      await this.fence();
      held = true;
      let off = 0;
      while (off < data.length) off += (await fh.write(data, off, data.length - off, before + off)).bytesWritten;
      await fh.datasync();
      this.fsyncs++;
    } catch (e) {
      // Undo the partial write so the segment holds only acknowledged lines.
      this.open!.bytes = before;
      this.open!.rows -= bufs.reduce((n, b) => n + countLines(b), 0);
      // Not in a folder this process no longer holds: the new holder may have cut this segment already.
      if (held) await fh.truncate(before).catch(() => {});
      throw walWriteError(this.dir, e);
    }
  }

  private async ensureOpen(): Promise<void> {
    if (this.open) return;
    const seq = this.nextSeq++;
    const nonce = randomBytes(4).toString('hex');
    const path = join(this.dir, segName(seq, nonce));
    let fh: FileHandle | undefined;
    await this.fence();
    try {
      fh = await open(path, 'wx');
      await fsyncDir(this.dir); // the new file's directory entry must survive a crash too
    } catch (e) {
      await fh?.close().catch(() => {});
      if (fh) await unlink(path).catch(() => {});
      throw walWriteError(this.dir, e);
    }
    this.fh = fh;
    this.fsyncs++;
    this.open = { seq, nonce, path, bytes: 0, rows: 0, recovered: false };
    this.openedAt = Date.now();
  }

  private async sealOpen(): Promise<void> {
    const o = this.open;
    if (!o) return;
    const fh = this.fh!;
    this.open = undefined;
    this.fh = undefined;
    // A folder this process no longer holds is the new holder's: the handle is closed and the file left as it is.
    const held = await this.fence().then(
      () => true,
      () => false,
    );
    // Its rows are already fsync'd: a failed close must not drop the segment from the flush queue. The handle is
    // gone either way. If undoing a failed write could not truncate, cut the unacknowledged tail now.
    if (o.rows > 0 && held) await fh.truncate(o.bytes).then(() => fh.datasync()).catch(() => {});
    await fh.close().catch(() => {});
    if (!held) return;
    if (o.rows === 0) {
      await unlink(o.path).catch(() => {});
      return;
    }
    this.sealed.push(o);
    this.onSealed();
  }

  /**
   * Records `seg` as committed to ClickHouse by deleting its file (a crash before the unlink reaches the disk
   * replays it, and the dedup check recognises it). Deleting needs no free space, unlike writing a checkpoint.
   */
  async checkpoint(seg: Segment): Promise<void> {
    await this.fence();
    await unlink(seg.path).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    this.committed = seg.seq;
    const i = this.sealed.indexOf(seg);
    if (i >= 0) this.sealed.splice(i, 1);
    this.pendingBytes -= seg.bytes;
    this.pendingRows -= seg.rows;
    this.commitWaiters = this.commitWaiters.filter((w) => (w.seq <= seg.seq ? (w.resolve(), false) : true));
  }

  /** Resolves once segment `seq` is committed to ClickHouse. */
  waitCommitted(seq: number): Promise<void> {
    if (seq <= this.committed) return Promise.resolve();
    return new Promise((resolve) => this.commitWaiters.push({ seq, resolve }));
  }

  /** Seals the open segment and closes the file handle (pending appends are written first). */
  async close(): Promise<void> {
    await this.seal();
  }
}

function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** The table folders under `root` (dot-files, such as the folder's lock, are not). */
export async function listStreamDirs(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const d of names) {
    if (d.startsWith('.')) continue;
    const isDir = await stat(join(root, d)).then((st) => st.isDirectory(), () => false);
    if (isDir) out.push(join(root, d));
  }
  return out;
}

export async function readMeta(dir: string): Promise<Meta | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Meta;
  } catch {
    return undefined;
  }
}
