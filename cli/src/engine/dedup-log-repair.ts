// Exactly-once ingestion replays a write-ahead log segment with the insert's dedup token after a crash, and
// ClickHouse drops the replay if its deduplication log already has the token's block. ClickHouse writes that
// record (MergeTreeDeduplicationLog::addPart) before the new part is renamed into place; a SIGKILL in between
// leaves a record whose part never reached the disk, and the replay of that segment is then dropped as a
// duplicate of nothing: acknowledged rows lost (seen in tests/e2e/events-crash.test.ts under load).
// The embedded engine runs in our process, so such a record can only come from a crash of ours. Before chDB
// opens a data directory that no live process holds, every record of a non-replicated MergeTree table whose
// part is not on disk, nor inside a part that is (a merge or mutation of it), is ended with a DROP record, as
// ClickHouse itself writes when a part is dropped: the replay then inserts, and a replay whose part landed is
// still dropped. One disk per table is assumed (chDB's default): a part on another disk would look missing.
import { closeSync, existsSync, ftruncateSync, openSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pidRunning } from '../util/process.js';

export interface DedupRepair {
  /** `database.table` (the store folder's name when no link names it). */
  table: string;
  /** Parts named by ended records (`<partition>_<min>_<max>_<level>`). */
  parts: string[];
  /** Set when the table's folder could not be checked (nothing was changed in it). */
  error?: string;
}

interface PartRange {
  partition: string;
  min: number;
  max: number;
}

// ClickHouse reads a partition id up to the first '_' (a number, a date, `all`, or a hex hash); a mutation
// version may follow the level. tmp_*, detached, deduplication_logs and files do not match.
const PART_NAME = /^([^_]+)_(\d+)_(\d+)_(\d+)(?:_(\d+))?$/;
const LOG_NAME = /^deduplication_log_(\d+)\.txt$/;

function parsePart(name: string): PartRange | undefined {
  const m = PART_NAME.exec(name);
  return m ? { partition: m[1], min: Number(m[2]), max: Number(m[3]) } : undefined;
}

/**
 * Whether a live process holds `dataDir`: ClickHouse keeps `status` flock()ed while it runs and leaves the file
 * behind, unlocked, when killed. /proc/locks lists every flock of the machine, whatever the holder's pid
 * namespace (this process's own chDB included). Without /proc (not Linux) a pid in the file that still answers
 * counts as live, and so does an unreadable file: doubt leaves the folder as it is.
 */
function heldByLiveProcess(dataDir: string): boolean {
  const status = path.join(dataDir, 'status');
  if (!existsSync(status)) return false;
  const st = statSync(status);
  let locks: string | undefined;
  try {
    locks = readFileSync('/proc/locks', 'utf8');
  } catch {
    locks = undefined;
  }
  if (locks !== undefined) {
    // "1: FLOCK  ADVISORY  WRITE 23812 fe:00:2185113 0 EOF": device (hex major:minor) and inode. The inode alone is
    // compared: a lock on a file of another filesystem with the same number only makes this leave the folder alone.
    return locks.split('\n').some((line) => {
      const id = line.trim().split(/\s+/).find((x) => /^[0-9a-f]+:[0-9a-f]+:\d+$/.test(x));
      return id !== undefined && Number(id.split(':')[2]) === st.ino;
    });
  }
  const pid = Number(/PID:\s*(\d+)/.exec(readFileSync(status, 'utf8'))?.[1]);
  return !pid || pidRunning(pid);
}

/** Table folders with a deduplication log (under store/ in Atomic databases, data/ in Ordinary), with their names. */
function tableDirs(dataDir: string): Map<string, string> {
  const found = new Map<string, string>();
  // The data/ links come first, so a table is named by them rather than by its store folder.
  const add = (dir: string, name: string) => {
    if (!existsSync(dir)) return; // a dangling link
    const real = realpathSync(dir);
    if (!found.has(real) && existsSync(path.join(real, 'deduplication_logs'))) found.set(real, name);
  };
  const subdirs = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((d) => statSync(path.join(dir, d)).isDirectory()) : []);
  const dataRoot = path.join(dataDir, 'data');
  for (const db of subdirs(dataRoot)) for (const table of readdirSync(path.join(dataRoot, db))) add(path.join(dataRoot, db, table), `${db}.${table}`);
  const storeRoot = path.join(dataDir, 'store');
  for (const a of subdirs(storeRoot)) for (const b of readdirSync(path.join(storeRoot, a))) add(path.join(storeRoot, a, b), b);
  return found;
}

/**
 * The block ids a table's logs still hold, with their parts, read as ClickHouse loads them: files in number order,
 * each up to its first line that is not a whole record. A torn last line (a record the crash cut off) is trimmed:
 * ClickHouse would append its next record to it and lose that one at the following load.
 */
function liveRecords(logDir: string): { records: Map<string, string>; newest: number } {
  const files = readdirSync(logDir)
    .map((f) => ({ f, n: Number(LOG_NAME.exec(f)?.[1] ?? NaN) }))
    .filter((x) => !Number.isNaN(x.n))
    .sort((a, b) => a.n - b.n);
  const records = new Map<string, string>();
  for (const { f } of files) {
    const file = path.join(logDir, f);
    let bytes = readFileSync(file);
    const end = bytes.lastIndexOf(0x0a) + 1;
    if (end < bytes.length) {
      const fd = openSync(file, 'r+');
      try {
        ftruncateSync(fd, end);
      } finally {
        closeSync(fd);
      }
      bytes = bytes.subarray(0, end);
    }
    for (const line of bytes.toString('utf8').split('\n').slice(0, -1)) {
      const fields = line.split('\t');
      if (fields.length !== 3 || (fields[0] !== '1' && fields[0] !== '2')) break; // where ClickHouse stops reading
      const [op, part, blockId] = fields;
      if (op === '1') records.set(blockId, part);
      else records.delete(blockId);
    }
  }
  return { records, newest: files.length ? files[files.length - 1].n : 0 };
}

/** Ends the records of one table whose parts are not on disk; the parts it ended. */
function repairTable(dir: string): string[] {
  const logDir = path.join(dir, 'deduplication_logs');
  const { records, newest } = liveRecords(logDir);
  if (records.size === 0) return [];
  const onDisk = readdirSync(dir)
    .map(parsePart)
    .filter((p): p is PartRange => p !== undefined);
  const covered = (p: PartRange) => onDisk.some((d) => d.partition === p.partition && d.min <= p.min && d.max >= p.max);
  const ended: string[] = [];
  let drops = '';
  for (const [blockId, part] of records) {
    const range = parsePart(part);
    if (!range || covered(range)) continue;
    drops += `2\t${part}\t${blockId}\n`;
    ended.push(part);
  }
  // A log of its own, numbered after the others: ClickHouse loads it last and appends its next records to it.
  if (ended.length) writeFileSync(path.join(logDir, `deduplication_log_${newest + 1}.txt`), drops, { flag: 'wx' });
  return ended;
}

/** Ends the records of parts that are not on disk, in every table of `dataDir`; what it ended (or could not check). */
export function repairDedupLogs(dataDir: string): DedupRepair[] {
  let held: boolean;
  try {
    held = heldByLiveProcess(dataDir);
  } catch {
    held = true; // doubt leaves the folder as it is
  }
  if (!existsSync(dataDir) || held) return [];
  const repairs: DedupRepair[] = [];
  let dirs: Map<string, string>;
  try {
    dirs = tableDirs(dataDir);
  } catch (e) {
    return [{ table: dataDir, parts: [], error: (e as Error).message }];
  }
  for (const [dir, table] of dirs) {
    try {
      const parts = repairTable(dir);
      if (parts.length) repairs.push({ table, parts });
    } catch (e) {
      // The engine opens regardless: this repair only matters for a replay after a crash.
      repairs.push({ table, parts: [], error: (e as Error).message });
    }
  }
  return repairs;
}

/** What a command says of a repair: the tables and parts ended, or what could not be checked. */
export function describeDedupRepair(r: DedupRepair): string {
  return r.error
    ? `could not check the dedup records of ${r.table} for inserts a crash cut off (${r.error}); if the last run was killed mid-insert, its replay may be dropped`
    : `the last run stopped inside an insert into ${r.table}: ended the dedup records of ${r.parts.join(', ')}, parts that never reached the disk, so the write-ahead log's replay inserts those rows`;
}
