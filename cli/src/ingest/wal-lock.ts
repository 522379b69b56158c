// One process per write-ahead log folder. Two processes on one folder would each replay the other's segments
// (inserting them twice where ClickHouse cannot deduplicate), cut a segment the other is still writing at its
// last newline, and delete files the other has yet to insert.
//
// The holder keeps `<wal>/.lock`, a symbolic link whose target names it (`<nonce>.<pid>.<machine tag>`) and whose
// own mtime it refreshes every second. A symlink because creating one is atomic and fails if it exists, its
// short target is read whole or not at all, and it needs no data block, so a restart on a full disk still takes
// the folder and drains it. Who holds it (host, command, since) is also written, best effort, to
// `<wal>/.lock-holder.json` for the messages. Another process takes the folder over when the link is stale (not
// refreshed for WAL_LOCK_STALE_MS) or its holder is known to be gone (same pid namespace, no such pid: a restart
// after a crash does not wait). Only the process holding `<wal>/.lock.takeover` removes a stale link, and only
// if it still reads as judged; a lock is only ever made by creating the link, which fails while one is there, so
// two processes taking over at once cannot both win. Why not proper-lockfile: docs/decisions.md, "No lock-file
// library for the write-ahead log".
import { randomBytes } from 'node:crypto';
import { lstat, lutimes, readFile, readlink, rename, symlink, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../util/files.js';
import { UserError } from '../util/fatal.js';
import { MACHINE_TAG, pidRunning, processGone } from '../util/process.js';

export const WAL_LOCK_FILE = '.lock';
const HOLDER_FILE = '.lock-holder.json';
/** A lock not refreshed for this long belongs to a process that stopped (or hung) and may be taken over. */
export const WAL_LOCK_STALE_MS = 10_000;
const HEARTBEAT_MS = 1_000;
const POLL_MS = 250;

/** Who holds a folder: the link's target, and what the holder file adds when it belongs to the same holder. */
export interface WalLockHolder {
  nonce: string;
  pid: number;
  /** MACHINE_TAG of the holder: where equal to ours, its pid can be checked. */
  machine: string;
  host?: string;
  command?: string;
  since?: string;
}

/** The folder is held by another live process (or by this one already). */
export class WalInUseError extends UserError {
  constructor(
    readonly dir: string,
    readonly holder: WalLockHolder | undefined,
    hint: string,
  ) {
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

export function describeHolder(h: WalLockHolder): string {
  const here = MACHINE_TAG !== '' && h.machine === MACHINE_TAG;
  const self = here && h.pid === process.pid ? ', this process' : '';
  const what = [h.command, h.since && `since ${h.since}`].filter(Boolean).join(', ');
  return `pid ${h.pid}${self} on ${h.host ?? (here ? os.hostname() : 'another machine or container')}${what ? ` (${what})` : ''}`;
}

const target = (h: WalLockHolder): string => `${h.nonce}.${h.pid}.${h.machine || '-'}`;

function parseTarget(text: string): WalLockHolder | undefined {
  const m = /^([0-9a-f]+)\.(\d+)\.([0-9a-f]+|-)$/.exec(text);
  return m ? { nonce: m[1], pid: Number(m[2]), machine: m[3] === '-' ? '' : m[3] } : undefined;
}

/** One reading of the link: its target and age, both of the same link (read again if it changed meanwhile). */
interface Seen {
  text: string;
  holder?: WalLockHolder;
  ageMs: number;
}

async function readLock(file: string): Promise<Seen | undefined> {
  for (;;) {
    try {
      const text = await readlink(file);
      const st = await lstat(file);
      if ((await readlink(file)) !== text) continue;
      return { text, holder: parseTarget(text), ageMs: Date.now() - st.mtimeMs };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      // Not a link (a file or folder put there by hand): judged by its age alone, like an unreadable target.
      if (code === 'EINVAL') return { text: '', ageMs: Date.now() - (await lstat(file)).mtimeMs };
      throw e;
    }
  }
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
 * Removes the link seen as `seen`, if it is still there. Only the process holding `<lock>.takeover` may remove a
 * lock (others wait): two processes that both judged the same lock stale cannot then remove each other's new
 * one, since a new lock is only ever made by creating the link, which fails while any link is in place. False
 * when another process is taking over (try again shortly).
 */
async function takeOver(file: string, seen: Seen, me: WalLockHolder, staleMs: number): Promise<boolean> {
  const claim = `${file}.takeover`;
  const mine = target(me);
  try {
    await symlink(mine, claim);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // A takeover takes milliseconds: a claim left by a taker that died or hung is removed, and the race rerun.
    const other = await readLock(claim);
    if (other && (other.ageMs > staleMs / 4 || (other.holder && processGone(other.holder.pid, other.holder.machine)))) await moveAside(claim, other.text, me.nonce);
    return false;
  }
  try {
    const now = await readLock(file);
    if (now?.text === seen.text) await moveAside(file, seen.text, me.nonce);
    return true;
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

export class WalLock {
  private timer?: NodeJS.Timeout;
  private done = false;

  private constructor(
    readonly dir: string,
    private readonly file: string,
    private readonly text: string,
    private readonly o: WalLockOptions,
  ) {}

  /**
   * Takes `dir` for this process. A holder that is alive and checkable (same pid namespace) is refused at once;
   * one that cannot be checked (another host or container) is waited for until its lock is stale.
   */
  static async acquire(dir: string, o: WalLockOptions): Promise<WalLock> {
    const staleMs = o.staleMs ?? WAL_LOCK_STALE_MS;
    const heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS;
    const file = path.join(dir, WAL_LOCK_FILE);
    const me: WalLockHolder = { nonce: randomBytes(8).toString('hex'), pid: process.pid, machine: MACHINE_TAG };
    const text = target(me);
    let waitUntil: number | undefined;
    let takenFrom: string | undefined;
    for (;;) {
      try {
        await symlink(text, file);
        if (takenFrom) o.log?.(takenFrom);
        const details = { ...me, host: os.hostname(), command: commandLine(), since: new Date().toISOString() };
        await writeFileAtomic(path.join(dir, HOLDER_FILE), JSON.stringify(details)).catch(() => {}); // a full disk: messages say less
        const lock = new WalLock(dir, file, text, o);
        lock.beat(heartbeatMs);
        return lock;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const seen = await readLock(file);
      if (!seen) continue; // released between the two calls
      const h = seen.holder && (await withDetails(dir, seen.holder));
      if (seen.ageMs > staleMs || (h && processGone(h.pid, h.machine))) {
        const why = seen.ageMs > staleMs ? `has not refreshed its lock for ${Math.round(seen.ageMs / 1000)} s` : 'is no longer running';
        if (await takeOver(file, seen, me, staleMs)) takenFrom = `took over the write-ahead log ${dir} from ${h ? describeHolder(h) : 'an unreadable lock'}, which ${why}`;
        else await sleep(POLL_MS / 5);
        continue;
      }
      // Alive where we can check it (this machine and pid namespace): nothing to wait for.
      if (h && MACHINE_TAG !== '' && h.machine === MACHINE_TAG && pidRunning(h.pid)) throw new WalInUseError(dir, h, o.hint);
      if (waitUntil === undefined) {
        waitUntil = Date.now() + staleMs + 2 * heartbeatMs;
        o.log?.(`the write-ahead log ${dir} is locked by ${h ? describeHolder(h) : 'another process'}; waiting up to ${Math.ceil((waitUntil - Date.now()) / 1000)} s in case it has stopped`);
      }
      if (Date.now() > waitUntil) throw new WalInUseError(dir, h, o.hint);
      await sleep(POLL_MS);
    }
  }

  /** Refreshes the link's mtime every `everyMs`, first checking it is still this process's. */
  private beat(everyMs: number): void {
    this.timer = setTimeout(() => {
      void this.check().then((ok) => {
        if (ok && !this.done) this.beat(everyMs);
      });
    }, everyMs);
    this.timer.unref();
  }

  private async check(): Promise<boolean> {
    let seen = await readLock(this.file).catch(() => undefined);
    // A takeover that moved this link aside by mistake puts it back within a moment.
    if (!seen) seen = await sleep(50).then(() => readLock(this.file).catch(() => undefined));
    if (this.done) return false;
    if (seen?.text === this.text) {
      const now = new Date();
      await lutimes(this.file, now, now).catch(() => {});
      return true;
    }
    this.done = true;
    const by = seen?.holder ? describeHolder(await withDetails(this.dir, seen.holder)) : 'another process (its lock is gone or unreadable)';
    this.o.onLost(
      `the write-ahead log folder ${this.dir} was taken over by ${by}: this process stopped taking events and inserting from that folder, so that the two do not insert the same events. ` +
        'Each process needs a write-ahead log folder of its own; restart this one once the other has stopped.',
    );
    return false;
  }

  /** Removes the link if it is still this process's. */
  async release(): Promise<void> {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    const seen = await readLock(this.file).catch(() => undefined);
    if (seen?.text === this.text) await unlink(this.file).catch(() => {});
  }
}

/** The command that holds the folder, for the message another process shows (`emailstats serve`); no options, which may hold secrets. */
function commandLine(): string {
  const [, script, sub] = process.argv;
  const name = script ? path.basename(script).replace(/\.m?[jt]s$/, '') : 'node';
  return sub && /^[a-z][a-z-]*$/.test(sub) ? `${name} ${sub}` : name;
}
