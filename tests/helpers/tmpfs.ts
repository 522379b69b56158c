// A real small filesystem for disk-full tests: a tmpfs mounted on a temp folder (the suite runs as root in CI,
// as .ci/run does). Filling it gives the same ENOSPC, partial writes included, as a full production disk.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Takes `bytes` of the filesystem with a file that free() gives back. */
  ballast(bytes: number): { free(): void };
  /** Grows (or shrinks) the filesystem in place: "space is back". */
  resize(bytes: number): void;
  unmount(): void;
}

export function mountTmpfs(sizeBytes: number, mountAt?: string): Tmpfs {
  const dir = mountAt ?? mkdtempSync(path.join(os.tmpdir(), 'emailstats-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(
      `the disk-full tests mount a small tmpfs and need root (CI runs .ci/run as root): mount failed: ${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`,
    );
  }
  let n = 0;
  return {
    dir,
    ballast(bytes) {
      const file = path.join(dir, `ballast-${n++}`);
      writeFileSync(file, Buffer.alloc(bytes, 1));
      return { free: () => rmSync(file, { force: true }) };
    },
    resize(bytes) {
      execFileSync('mount', ['-o', `remount,size=${bytes}`, dir], { stdio: 'pipe' });
    },
    unmount() {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      if (!mountAt) rmSync(dir, { recursive: true, force: true });
    },
  };
}
