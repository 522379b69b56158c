// Whether a process recorded by pid (in a lock, a server file) is still running, for the locks and records that
// must tell a holder that crashed from one that is alive.
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';

/**
 * This process's pid namespace on this boot of this kernel: a pid means the same process only where this is
 * equal (hostnames repeat across containers and machines). '' where it cannot be read (not Linux).
 */
function machineId(): string {
  try {
    return `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return '';
  }
}
export const MACHINE_ID = machineId();

/** True while a process with this pid exists here (one we may not signal counts: EPERM). */
export function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * True only when the process is known to be gone: recorded in this pid namespace (`machine`: MACHINE_ID, or
 * MACHINE_TAG where it was recorded so), and no such pid.
 */
export function processGone(pid: number, machine: string): boolean {
  return MACHINE_ID !== '' && (machine === MACHINE_ID || machine === MACHINE_TAG) && !pidRunning(pid);
}

/** MACHINE_ID in 12 hex digits, short enough for a lock's symlink target ('' where MACHINE_ID is unknown). */
export const MACHINE_TAG = MACHINE_ID ? createHash('sha256').update(MACHINE_ID).digest('hex').slice(0, 12) : '';
