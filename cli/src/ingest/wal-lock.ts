// One process per write-ahead log folder. Two processes on one folder would each replay the other's segments
// (inserting them twice where ClickHouse cannot deduplicate), cut a segment the other is still writing at its
// last newline, and delete files the other has yet to insert.
//
// The holder keeps `<wal>/.lock`, a symbolic link whose target names it (`<nonce>.<pid>.<start time>.<machine
// tag>`) and whose own mtime it refreshes every second. A symlink because creating one is atomic and fails if
// it exists, its short target is read whole or not at all, and it needs no data block, so a restart on a full
// disk still takes the folder and drains it. Who holds it (host, command, since) is also written, best effort, to
// `<wal>/.lock-holder.json` for the messages.
//
// A holder in this pid namespace is judged by its process alone (pid and start time): alive, it is refused
// however old its link (a process frozen for a while still holds its folder); gone, its folder is taken at once.
// A holder elsewhere (another machine or container) is judged by watching its link: taken once the link has not
// changed (target and mtime) for WAL_LOCK_STALE_MS of this process's own clock, so neither clock skew nor the
// link's age when first seen matters. Only the process holding `<wal>/.lock.takeover` removes a link, and only if
// it still reads as judged; a lock is only ever made by creating the link, which fails while one is there. The
// holder checks its link before every write to the folder (WalLock.verify) and every second; a link gone or
// another's means the folder is lost. Why not proper-lockfile: docs/decisions.md, "No lock-file library for the
// write-ahead log".
import { randomBytes } from 'node:crypto';
import { lstat, lutimes, readFile, readlink, rename, symlink, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../util/files.js';
import { UserError } from '../util/fatal.js';
import { MACHINE_TAG, OWN_START_TIME, processGone, sameMachine } from '../util/process.js';

export const WAL_LOCK_FILE = '.lock';
const HOLDER_FILE = '.lock-holder.json';
/** A lock of another machine or container not refreshed for this long belongs to a process that stopped. */
const WAL_LOCK_STALE_MS = 10_000;
const HEARTBEAT_MS = 1_000;
const POLL_MS = 250;

/** Who holds a folder: the link's target, and what the holder file adds when it belongs to the same holder. */
interface WalLockHolder {
  nonce: string;
  pid: number;
  /** The process's start time (util/process.ts), where it could be read. */
  start?: string;
  /** MACHINE_TAG of the holder: where equal to ours, its pid can be checked. */
  machine: string;
  host?: string;
  command?: string;
  since?: string;
}

/** The folder is held by another live process (or by this one already). */
export class WalInUseError extends UserError {
  constructor(dir: string, holder: WalLockHolder | undefined, hint: string) {
    const who = holder
      ? describeHolder(holder)
      : `a process whose lock (${path.join(dir, WAL_LOCK_FILE)}) is not one emailstats writes; remove it if no process uses this folder`;
    super(`the write-ahead log folder ${dir} is in use by ${who}. One process at a time may use a write-ahead log: ${hint}`);
    this.name = 'WalInUseError';
  }
}

export interface WalLockOptions {
  /** What the user can do when the folder is in use (the command's own way to choose another folder). */
  hint: string;
  /** Called once if another process takes the folder over while this one holds it. */
  onLost: (message: string) => void;
  log?: (message: string) => void;
  /** Tests shorten these; the defaults are the product's. */
  staleMs?: number;
  heartbeatMs?: number;
}

function describeHolder(h: WalLockHolder): string {
  const here = sameMachine(h.machine);
  const self = here && h.pid === process.pid && h.start === OWN_START_TIME ? ', this process' : '';
  const what = [h.command, h.since && `since ${h.since}`].filter(Boolean).join(', ');
  return `pid ${h.pid}${self} on ${h.host ?? (here ? os.hostname() : 'another machine or container')}${what ? ` (${what})` : ''}`;
}

const target = (h: WalLockHolder): string => `${h.nonce}.${h.pid}.${h.start ?? '-'}.${h.machine || '-'}`;

function parseTarget(text: string): WalLockHolder | undefined {
  const m = /^([0-9a-f]+)\.(\d+)\.(\d+|-)\.([0-9a-f]+|-)$/.exec(text);
  if (!m) return undefined;
  return { nonce: m[1], pid: Number(m[2]), ...(m[3] === '-' ? {} : { start: m[3] }), machine: m[4] === '-' ? '' : m[4] };
}

/** One reading of the link: its target and mtime, both of the same link (read again if it changed meanwhile). */
interface Seen {
  text: string;
  holder?: WalLockHolder;
  mtimeMs: number;
}

const sameReading = (a: Seen, b: Seen | undefined): boolean => b !== undefined && a.text === b.text && a.mtimeMs === b.mtimeMs;

/** How long a link of elsewhere has stayed exactly as it is, on this process's monotonic clock. */
class Watch {
  private seen?: Seen;
  private since = 0;
  unchangedMs(now: Seen): number {
    if (!sameReading(now, this.seen)) {
      this.seen = now;
      this.since = performance.now();
    }
    return performance.now() - this.since;
  }
}

async function readLock(file: string): Promise<Seen | undefined> {
  for (;;) {
    try {
      const text = await readlink(file);
      const st = await lstat(file);
      if ((await readlink(file)) !== text) continue;
      return { text, holder: parseTarget(text), mtimeMs: st.mtimeMs };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      // Not a link (a file or folder put there by hand): watched like a holder elsewhere.
      if (code === 'EINVAL') return { text: '', mtimeMs: (await lstat(file)).mtimeMs };
      throw e;
    }
  }
}

/**
 * What may be done about a lock: `alive` (a process of this pid namespace that runs: refuse), `gone` (one that
 * does not, or a link from elsewhere unchanged for `staleMs` of `watch`: take over), `fresh` (from elsewhere and
 * changed lately: wait).
 */
function judge(seen: Seen, watch: Watch, staleMs: number): 'alive' | 'gone' | 'fresh' {
  const h = seen.holder;
  if (h && sameMachine(h.machine)) return processGone(h.pid, h.machine, h.start) ? 'gone' : 'alive';
  return watch.unchangedMs(seen) >= staleMs ? 'gone' : 'fresh';
}

/** The holder file's details, when it describes this holder (it is written after the link, best effort). */
async function withDetails(dir: string, h: WalLockHolder): Promise<WalLockHolder> {
  try {
    const d = JSON.parse(await readFile(path.join(dir, HOLDER_FILE), 'utf8')) as WalLockHolder;
    return d.nonce === h.nonce ? { ...h, host: d.host, command: d.command, since: d.since } : h;
  } catch {
    return h;
  }
}

/**
 * Removes the link seen as `seen` if it still reads so (target and mtime: a holder that refreshed it since is not
 * gone). Only the process holding `<lock>.takeover` may remove a lock: two processes that judged the same lock
 * cannot remove each other's new one. Otherwise says who holds that claim (it holds the folder in a moment, or its
 * claim is removed once its taker is known gone, or once unchanged for a quarter of `staleMs`).
 */
async function takeOver(file: string, seen: Seen, me: WalLockHolder, claimWatch: Watch, staleMs: number): Promise<{ taken: true } | { taken: false; by?: WalLockHolder }> {
  const claim = `${file}.takeover`;
  const mine = target(me);
  try {
    await symlink(mine, claim);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const other = await readLock(claim);
    if (other && judge(other, claimWatch, staleMs / 4) === 'gone') await moveAside(claim, other.text, me.nonce);
    return { taken: false, by: other?.holder };
  }
  try {
    if (sameReading(seen, await readLock(file))) await moveAside(file, seen.text, me.nonce);
    return { taken: true };
  } finally {
    await moveAside(claim, mine, me.nonce);
  }
}

/** Removes `file` if its link still reads `text`: moved aside first (atomic), put back if it had changed. */
async function moveAside(file: string, text: string, nonce: string): Promise<void> {
  const aside = `${file}.${nonce}.aside`;
  try {
    await rename(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const moved = await readlink(aside).catch(() => '');
  if (moved !== text && moved !== '') await symlink(moved, file).catch(() => {});
  await unlink(aside).catch(() => {});
}

/** Why the lock could not be made, and what to do: the folder, the system's error, the fix. */
function cannotLock(dir: string, e: unknown): UserError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const why = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(code)
    ? 'its filesystem does not take symbolic links: put the write-ahead log on a local filesystem (ext4, xfs, apfs...)'
    : code === 'EACCES' || code === 'EROFS'
      ? 'this user cannot write there: give the process a folder it can write (or fix the folder\'s owner and mode)'
      : 'check that the folder exists, is writable and has free inodes';
  return new UserError(`cannot lock the write-ahead log folder ${dir} (${(e as Error).message}): ${why}`);
}

export class WalLock {
  private timer?: NodeJS.Timeout;
  private state: 'held' | 'lost' | 'released' = 'held';
  private lastBeat = Date.now();
  private beatFailing = false;

  private constructor(
    readonly dir: string,
    private readonly file: string,
    private readonly text: string,
    private readonly o: WalLockOptions,
    /** o.staleMs or its default. */
    private readonly staleMs: number,
  ) {}

  /**
   * Takes `dir` for this process. A live holder of this pid namespace is refused at once, a gone one replaced; one
   * elsewhere (another machine or container) is watched: replaced once its link stays unchanged for staleMs,
   * refused if the link is still being refreshed a little after that.
   */
  static async acquire(dir: string, o: WalLockOptions): Promise<WalLock> {
    const staleMs = o.staleMs ?? WAL_LOCK_STALE_MS;
    const heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS;
    const file = path.join(dir, WAL_LOCK_FILE);
    const me: WalLockHolder = { nonce: randomBytes(8).toString('hex'), pid: process.pid, start: OWN_START_TIME, machine: MACHINE_TAG };
    const text = target(me);
    /** How long a lock from elsewhere is watched, and another process's takeover waited for, before refusing. */
    const patienceMs = staleMs + 2 * heartbeatMs;
    let waitUntil: number | undefined;
    // The holder file is read once per holder seen (again while it lacks the details: it is written after the
    // link), not at every look while waiting on it.
    let described: WalLockHolder | undefined;
    let takenFrom: string | undefined;
    const watch = new Watch();
    const claimWatch = new Watch();
    for (;;) {
      try {
        await symlink(text, file);
        if (takenFrom) o.log?.(takenFrom);
        const details = { ...me, host: os.hostname(), command: commandLine(), since: new Date().toISOString() };
        await writeFileAtomic(path.join(dir, HOLDER_FILE), JSON.stringify(details)).catch(() => {}); // a full disk: messages say less
        const lock = new WalLock(dir, file, text, o, staleMs);
        lock.beat(heartbeatMs);
        return lock;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotLock(dir, e);
      }
      const seen = await readLock(file);
      if (!seen) continue; // released between the two calls
      if (seen.holder && (described?.nonce !== seen.holder.nonce || described.host === undefined)) described = await withDetails(dir, seen.holder);
      const h = seen.holder && described;
      const verdict = judge(seen, watch, staleMs);
      if (verdict === 'alive') throw new WalInUseError(dir, h, o.hint);
      if (verdict === 'gone') {
        const why = h && sameMachine(h.machine) ? 'is no longer running' : `has not refreshed its lock for ${Math.round(watch.unchangedMs(seen) / 1000)} s`;
        const outcome = await takeOver(file, seen, me, claimWatch, staleMs).catch((e: unknown) => {
          throw cannotLock(dir, e);
        });
        if (outcome.taken) {
          takenFrom = `took over the write-ahead log ${dir} from ${h ? describeHolder(h) : 'an unreadable lock'}, which ${why}`;
          continue;
        }
        // Another process is taking the folder over: it holds it in a moment, or its claim is removed.
        waitUntil ??= Date.now() + patienceMs;
        if (Date.now() > waitUntil) throw new WalInUseError(dir, outcome.by ?? h, o.hint);
        await sleep(POLL_MS / 5);
        continue;
      }
      if (waitUntil === undefined) {
        waitUntil = Date.now() + patienceMs;
        o.log?.(`the write-ahead log ${dir} is locked by ${h ? describeHolder(h) : 'another process'}; waiting up to ${Math.ceil((waitUntil - Date.now()) / 1000)} s in case it has stopped`);
      }
      if (Date.now() > waitUntil) throw new WalInUseError(dir, h, o.hint);
      await sleep(POLL_MS);
    }
  }

  /**
   * True while the folder is still this process's: called before every write to it. A link gone or another
   * process's means the folder was taken over (or its lock removed by hand, after which another process may take
   * it at any moment): onLost is called, and the folder is not written again. Never made again by the holder: the
   * process that took the folder over may have replayed and deleted its segments and left since.
   */
  async verify(): Promise<boolean> {
    if (this.state !== 'held') return false;
    // One readlink in the common case: this runs before every write batch.
    if ((await readlink(this.file).catch(() => undefined)) === this.text) return true;
    let seen = await readLock(this.file).catch(() => undefined);
    // A takeover that moved a live link aside by mistake puts it back at once (takeOver): look again before giving up.
    if (!seen) {
      await sleep(50);
      seen = await readLock(this.file).catch(() => undefined);
    }
    if (seen?.text === this.text) return true;
    if (this.state !== 'held') return false;
    this.state = 'lost';
    clearTimeout(this.timer);
    const by = seen?.holder
      ? describeHolder(await withDetails(this.dir, seen.holder))
      : seen
        ? 'another process (its lock is unreadable)'
        : `another process, or nobody: its lock ${this.file} was removed`;
    this.o.onLost(
      `the write-ahead log folder ${this.dir} was taken over by ${by}: this process stopped taking events and writing to that folder, so that the two do not insert the same events. ` +
        'Each process needs a write-ahead log folder of its own; restart this one once the other has stopped.',
    );
    return false;
  }

  /** Checks the link and refreshes its mtime every `everyMs` (another machine judges the folder by it). */
  private beat(everyMs: number): void {
    this.timer = setTimeout(() => {
      void (async () => {
        if (!(await this.verify()) || this.state !== 'held') return;
        const now = new Date();
        try {
          await lutimes(this.file, now, now);
          this.lastBeat = Date.now();
          this.beatFailing = false;
        } catch (e) {
          if (!this.beatFailing) this.o.log?.(`cannot refresh the lock of the write-ahead log ${this.dir} (${(e as Error).message}); a process on another machine or container may take the folder over after ${this.staleMs / 1000} s without a refresh. Check that the folder is writable by this user and that its filesystem sets a symbolic link's times (lutimes)`);
          this.beatFailing = true;
        }
        if (this.state === 'held') this.beat(everyMs);
      })();
    }, everyMs);
    this.timer.unref();
  }

  /**
   * Removes the link if it is still this process's and was refreshed lately: after a long stall another process
   * may have taken the folder over meanwhile, and its link must not be removed by mistake.
   */
  async release(): Promise<void> {
    if (this.state !== 'held') return;
    this.state = 'released';
    clearTimeout(this.timer);
    const seen = await readLock(this.file).catch(() => undefined);
    if (seen?.text === this.text && Date.now() - this.lastBeat < this.staleMs / 2) await unlink(this.file).catch(() => {});
  }
}

/** The command that holds the folder, for the message another process shows (`emailstats serve`); no options, which may hold secrets. */
function commandLine(): string {
  const [, script, sub] = process.argv;
  const name = script ? path.basename(script).replace(/\.m?[jt]s$/, '') : 'node';
  return sub && /^[a-z][a-z-]*$/.test(sub) ? `${name} ${sub}` : name;
}
