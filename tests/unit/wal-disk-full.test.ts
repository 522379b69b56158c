// A full disk under the write-ahead log, on a real tmpfs: a failed append must leave no hole and no
// unacknowledged bytes, a damaged segment must not block its stream, and the ingestor refuses (507) before the
// disk is full so queued events can still drain.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Ingestor, IngestError } from '../../cli/src/ingest/index.js';
import { WalDiskFullError, WalStream, streamDirName } from '../../cli/src/ingest/wal.js';
import { ChdbTestEngine } from '../helpers/chdb-engine.js';
import { col, count, createTarget, tempDir } from '../helpers/ingest-fixture.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

// Each test fills a disk of its own.
const disks: Tmpfs[] = [];
const newDisk = (): Tmpfs => {
  const d = mountTmpfs(2 * 1024 * 1024);
  disks.push(d);
  return d;
};
afterAll(() => disks.forEach((d) => d.unmount()));

/** `n` NDJSON lines of ~100 bytes, numbered from `from`; 10,000-byte bodies end mid-page, as real bodies do. */
const lines = (from: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => `{"id":${from + i},"v":"${'x'.repeat(80)}"}\n`).join(''));

describe('WAL on a full disk', () => {
  it('a failed append leaves neither a hole nor its partial bytes, and appends go on once space is back', async () => {
    const disk = newDisk();
    const root = join(disk.dir, 'wal-hole');
    const wal = await WalStream.open(root, 't', { maxSegmentBytes: 1 << 30, maxSegmentRows: 1 << 30 });
    const ballast = disk.ballast(512 * 1024);
    const acked: Buffer[] = [];
    let refused = 0;
    let id = 0;
    for (let i = 0; i < 1000 && refused < 5; i++) {
      const body = lines(id, 95); // 95 lines, 9,975 bytes
      id += 95;
      try {
        await wal.append(body, 95);
        acked.push(body);
      } catch (e) {
        expect(e).toBeInstanceOf(WalDiskFullError);
        refused++;
      }
    }
    expect(refused).toBe(5);
    ballast.free();
    for (let i = 0; i < 5; i++) {
      const body = lines(id, 95);
      id += 95;
      await wal.append(body, 95);
      acked.push(body);
    }
    await wal.close();
    const segs = readdirSync(join(root, streamDirName('t'))).filter((f) => f.endsWith('.ndjson')).sort();
    const stored = Buffer.concat(segs.map((f) => readFileSync(join(root, streamDirName('t'), f))));
    expect(stored.includes(0)).toBe(false); // no NUL bytes: no hole
    expect(stored.equals(Buffer.concat(acked))).toBe(true); // exactly the acknowledged lines, in order
    expect(wal.pendingRows).toBe(acked.length * 95);
  });
});

describe('damaged segments and the disk reserve (chDB)', () => {
  let engine: ChdbTestEngine;
  beforeAll(() => {
    engine = new ChdbTestEngine(tempDir('diskfull-db'));
  });
  afterAll(async () => {
    await engine.close();
  });

  it('a segment with a hole and a damaged line: its good lines are inserted, the damaged one quarantined, later events flow', async () => {
    const t = await createTarget(engine, 'damaged', [col('id', 'UInt64'), col('v', 'String')]);
    const walDir = tempDir('wal-damaged');
    const dir = join(walDir, streamDirName('damaged'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ table: 'damaged', walId: 'abcdef012345', quarantineTable: t.quarantineTable }));
    // What an undone write of an older version left: NULs in front of acknowledged lines, and a torn line.
    const seg = ['{"id":1,"v":"a"}', '\0'.repeat(4096) + '{"id":2,"v":"b"}', '{"id":3,"v":"c"}garbage', '{"id":4,"v":"d"}', ''].join('\n');
    writeFileSync(join(dir, '000000000001.ndjson'), seg);
    const ing = new Ingestor({ engine, walDir, flushIntervalMs: 50 });
    await ing.start();
    const later = await ing.ingest(t, Buffer.from('{"id":5,"v":"e"}'), { wait: true });
    expect(later.successful_rows).toBe(1);
    await ing.flush();
    await ing.close();
    expect(await count(engine, 'SELECT count() AS c FROM damaged')).toBe(4);
    expect(await count(engine, 'SELECT uniqExact(id) AS c FROM damaged WHERE id IN (1, 2, 4, 5)')).toBe(4);
    expect(await count(engine, `SELECT count() AS c FROM ${t.quarantineTable} WHERE c__line LIKE '%garbage%'`)).toBe(1);
  });

  it('refuses with 507 and Retry-After before the disk is full, storing nothing of that body', async () => {
    const t = await createTarget(engine, 'reserve', [col('id', 'UInt64'), col('v', 'String')]);
    const disk = newDisk();
    const walDir = join(disk.dir, 'wal-reserve');
    const ing = new Ingestor({ engine, walDir, minFreeBytes: 1024 * 1024, flushIntervalMs: 50 });
    const ballast = disk.ballast(1200 * 1024); // leaves ~0.8 MB, less than the 1 MB reserve of the 2 MB disk
    let err: unknown;
    try {
      await ing.ingest(t, lines(0, 10), { wait: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IngestError);
    expect((err as IngestError).status).toBe(507);
    expect((err as IngestError).retryAfterSeconds).toBeGreaterThan(0);
    expect((err as IngestError).message).toMatch(/Nothing of this request was stored/);
    ballast.free();
    const ok = await ing.ingest(t, lines(100, 10), { wait: true });
    expect(ok.successful_rows).toBe(10);
    await ing.close();
    expect(await count(engine, 'SELECT count() AS c FROM reserve')).toBe(10);
    expect(await count(engine, 'SELECT min(id) AS c FROM reserve')).toBe(100);
  });

  it('a write that hits ENOSPC answers 507 (the free-space check saw room), and the retry is stored once', async () => {
    const t = await createTarget(engine, 'enospc', [col('id', 'UInt64'), col('v', 'String')]);
    // The WAL folder is on a roomy disk, as statfs sees it; this table's stream folder is a 256 KB tmpfs of its own,
    // so only the write itself can find the disk full (as when another process fills it between check and write).
    const walDir = tempDir('wal-enospc');
    const streamDir = join(walDir, streamDirName('enospc'));
    mkdirSync(streamDir, { recursive: true });
    const small = mountTmpfs(256 * 1024, streamDir);
    disks.push(small);
    const ing = new Ingestor({ engine, walDir, minFreeBytes: 0, flushIntervalMs: 50, convertWorkers: 0 });
    await ing.start();
    const body = lines(0, 6000); // ~600 KB of rows
    let err: unknown;
    try {
      await ing.ingest(t, body);
    } catch (e) {
      err = e;
    }
    expect((err as IngestError).status).toBe(507);
    expect((err as IngestError).message).toMatch(/no space left.*Nothing of this request's valid rows was stored/s);
    small.resize(4 * 1024 * 1024); // space is back
    const ok = await ing.ingest(t, body, { wait: true });
    expect(ok.successful_rows).toBe(6000);
    await ing.close();
    expect(await count(engine, 'SELECT count() AS c FROM enospc')).toBe(6000);
    expect(await count(engine, 'SELECT uniqExact(id) AS c FROM enospc')).toBe(6000);
  });

  it('checks the reserve against the rows a gzip body becomes, not its size on the wire', async () => {
    const t = await createTarget(engine, 'gzipped', [col('id', 'UInt64'), col('v', 'String')]);
    const disk = newDisk();
    const ing = new Ingestor({ engine, walDir: join(disk.dir, 'wal-gzip'), minFreeBytes: 0, flushIntervalMs: 50, convertWorkers: 0 });
    const ballast = disk.ballast(1700 * 1024);
    const body = gzipSync(lines(0, 6000)); // ~10 KB on the wire, ~600 KB of rows: more than the disk has left
    let err: unknown;
    try {
      await ing.ingest(t, body, { contentEncoding: 'gzip' });
    } catch (e) {
      err = e;
    }
    expect((err as IngestError).status).toBe(507);
    expect((err as IngestError).message).toMatch(/bytes free.*Nothing of this request was stored/s);
    ballast.free();
    expect((await ing.ingest(t, body, { contentEncoding: 'gzip', wait: true })).successful_rows).toBe(6000);
    await ing.close();
    expect(await count(engine, 'SELECT count() AS c FROM gzipped')).toBe(6000);
  });
});
