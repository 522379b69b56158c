// Exactly-once ingestion replays a write-ahead log segment with the insert's dedup token after a crash, and
// ClickHouse drops the replay if its deduplication log already has the token's block. ClickHouse writes that
// record (MergeTreeDeduplicationLog::addPart) just before it renames the new part into place; a SIGKILL between
// the two leaves a record whose part never reached the disk, and the replay of that segment is then dropped as
// a duplicate of nothing: acknowledged rows lost (seen in tests/e2e/events-crash.test.ts under load).
// The embedded engine runs in our process, so such a record can only come from a crash of ours. Before chDB
// opens a data directory nobody else holds, every record of a non-replicated MergeTree table whose part is not
// on disk, nor inside a part that is (a merge of it), is ended with a DROP record, as ClickHouse itself writes
// when a part is dropped: the replay then inserts, and a replay whose part did land is still dropped.
import { appendFileSync, existsSync, readdirSync, readFileSync, realpathSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface DedupRepair {
  /** `database.table`. */
  table: string;
  /** Parts named by ended records (`<partition>_<min>_<max>_<level>`). */
  parts: string[];
}

interface PartRange {
  partition: string;
  min: number;
  max: number;
}

// Partition ids never contain '_' (a number, a date, `all`, or a hex hash); a mutation version may follow.
const PART_NAME = /^([^_]+)_(\d+)_(\d+)_(\d+)(?:_(\d+))?$/;
const LOG_NAME = /^deduplication_log_(\d+)\.txt$/;

function parsePart(name: string): PartRange | undefined {
  const m = PART_NAME.exec(name);
  return m ? { partition: m[1], min: Number(m[2]), max: Number(m[3]) } : undefined;
}

/**
 * True when `dataDir` may be held by another live process: ClickHouse keeps `status` (with its PID) while it
 * runs and leaves it behind when killed. Our own PID counts as live (a second open in this process).
 */
function heldByLiveProcess(dataDir: string): boolean {
  const status = path.join(dataDir, 'status');
  if (!existsSync(status)) return false;
  const pid = Number(/PID:\s*(\d+)/.exec(readFileSync(status, 'utf8'))?.[1]);
  if (!pid) return true; // unreadable: leave everything as it is
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Table folders that have a deduplication log, with the table's name: data/<database>/<table> is the folder
 * itself in an Ordinary database and a link into store/ in an Atomic one.
 */
function tableDirs(dataDir: string): Map<string, string> {
  const found = new Map<string, string>();
  const dataRoot = path.join(dataDir, 'data');
  if (!existsSync(dataRoot)) return found;
  for (const db of readdirSync(dataRoot)) {
    const dbDir = path.join(dataRoot, db);
    if (!statSync(dbDir).isDirectory()) continue;
    for (const table of readdirSync(dbDir)) {
      const dir = path.join(dbDir, table);
      if (existsSync(path.join(dir, 'deduplication_logs'))) found.set(realpathSync(dir), `${decodeURIComponent(db)}.${decodeURIComponent(table)}`);
    }
  }
  return found;
}

/** The block ids a table's logs still hold, with their parts, replayed as ClickHouse loads them (oldest file first). */
function liveRecords(logDir: string): { records: Map<string, string>; newest: number } {
  const files = readdirSync(logDir)
    .map((f) => ({ f, n: Number(LOG_NAME.exec(f)?.[1] ?? NaN) }))
    .filter((x) => !Number.isNaN(x.n))
    .sort((a, b) => a.n - b.n);
  const records = new Map<string, string>();
  for (const { f } of files) {
    const file = path.join(logDir, f);
    let text = readFileSync(file, 'utf8');
    // A record cut off by the crash: ClickHouse stops reading the file there, and would append its next record
    // to the torn line. Cut it off (it never described a part on disk: the part is renamed after the record).
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) {
      truncateSync(file, Buffer.byteLength(text.slice(0, end)));
      text = text.slice(0, end);
    }
    for (const line of text.split('\n')) {
      const [op, part, blockId] = line.split('\t');
      if (blockId === undefined) continue;
      if (op === '1') records.set(blockId, part);
      else if (op === '2') records.delete(blockId);
    }
  }
  return { records, newest: files.length ? files[files.length - 1].n : 0 };
}

/** Ends the records of parts that are not on disk, in every table of `dataDir`; what it ended, per table. */
export function repairDedupLogs(dataDir: string): DedupRepair[] {
  if (!existsSync(dataDir) || heldByLiveProcess(dataDir)) return [];
  const repairs: DedupRepair[] = [];
  for (const [dir, table] of tableDirs(dataDir)) {
    const logDir = path.join(dir, 'deduplication_logs');
    const { records, newest } = liveRecords(logDir);
    if (records.size === 0) continue;
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
    if (!ended.length) continue;
    // A log of its own, loaded after the others: ClickHouse then appends to it.
    const file = path.join(logDir, `deduplication_log_${newest + 1}.txt`);
    if (existsSync(file)) appendFileSync(file, drops);
    else writeFileSync(file, drops);
    repairs.push({ table, parts: ended });
  }
  return repairs;
}
