// Write-ahead log: per target table, append-only NDJSON segment files `<walDir>/<table>/<seq>.ndjson`.
// An append resolves only after its bytes are fsync'd; concurrent appends share one write + fsync (group
// commit). A segment is also the unit of insertion into ClickHouse, so it rolls at the batch size and age.
import { mkdir, open, readdir, readFile, stat, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../util/files.js';

export interface Segment {
  seq: number;
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

const SEG_RE = /^(\d{12})\.ndjson$/;
const segName = (seq: number) => `${String(seq).padStart(12, '0')}.ndjson`;

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
  static async open(root: string, table: string, limits: WalLimits, quarantineTable?: string): Promise<WalStream> {
    const dir = join(root, streamDirName(table));
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
    let committed = 0;
    try {
      committed = (JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8')) as { seq: number }).seq;
    } catch {
      /* nothing committed yet */
    }
    const s = new WalStream(dir, meta, committed, limits);
    await s.recover();
    return s;
  }

  /** Lists segment files; drops committed leftovers; trims a torn (never acknowledged) last line. */
  private async recover(): Promise<void> {
    const seqs = (await readdir(this.dir))
      .map((f) => SEG_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const seq of seqs) {
      const path = join(this.dir, segName(seq));
      if (seq <= this.committed) {
        await unlink(path).catch(() => {});
        continue;
      }
      const buf = await readFile(path);
      let end = buf.lastIndexOf(0x0a) + 1;
      if (end < buf.length) {
        const fh = await open(path, 'r+');
        await fh.truncate(end);
        await fh.sync();
        await fh.close();
      }
      let rows = 0;
      for (let i = buf.indexOf(0x0a); i >= 0 && i < end; i = buf.indexOf(0x0a, i + 1)) rows++;
      if (rows === 0) {
        await unlink(path).catch(() => {});
        continue;
      }
      this.sealed.push({ seq, path, bytes: end, rows, recovered: true });
      this.pendingBytes += end;
      this.pendingRows += rows;
    }
    const last = seqs.length ? seqs[seqs.length - 1] : 0;
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

  private async writeAll(bufs: Buffer[]): Promise<void> {
    const data = bufs.length === 1 ? bufs[0] : Buffer.concat(bufs);
    const fh = this.fh!;
    const before = this.open!.bytes - data.length;
    try {
      let off = 0;
      while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
      await fh.datasync();
      this.fsyncs++;
    } catch (e) {
      // Undo the partial write so the segment holds only acknowledged lines.
      this.open!.bytes = before;
      this.open!.rows -= bufs.reduce((n, b) => n + countLines(b), 0);
      await fh.truncate(before).catch(() => {});
      throw e;
    }
  }

  private async ensureOpen(): Promise<void> {
    if (this.open) return;
    const seq = this.nextSeq++;
    const path = join(this.dir, segName(seq));
    this.fh = await open(path, 'wx');
    await fsyncDir(this.dir); // the new file's directory entry must survive a crash too
    this.fsyncs++;
    this.open = { seq, path, bytes: 0, rows: 0, recovered: false };
    this.openedAt = Date.now();
  }

  private async sealOpen(): Promise<void> {
    const o = this.open;
    if (!o) return;
    const fh = this.fh!;
    this.open = undefined;
    this.fh = undefined;
    // Its rows are already fsync'd: a failed close must not drop the segment from the flush queue (a later
    // checkpoint past it would then delete acknowledged rows). The handle is gone either way.
    await fh.close().catch(() => {});
    if (o.rows === 0) {
      await unlink(o.path).catch(() => {});
      return;
    }
    this.sealed.push(o);
    this.onSealed();
  }

  /** Records `seg` as committed to ClickHouse (atomic checkpoint file), then deletes its file. */
  async checkpoint(seg: Segment): Promise<void> {
    await writeFileAtomic(join(this.dir, 'checkpoint.json'), JSON.stringify({ seq: seg.seq }));
    this.committed = seg.seq;
    const i = this.sealed.indexOf(seg);
    if (i >= 0) this.sealed.splice(i, 1);
    this.pendingBytes -= seg.bytes;
    this.pendingRows -= seg.rows;
    await unlink(seg.path).catch(() => {});
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

export async function listStreamDirs(root: string): Promise<string[]> {
  try {
    const out: string[] = [];
    for (const d of await readdir(root)) {
      if ((await stat(join(root, d))).isDirectory()) out.push(join(root, d));
    }
    return out;
  } catch {
    return [];
  }
}

export async function readMeta(dir: string): Promise<Meta | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Meta;
  } catch {
    return undefined;
  }
}
