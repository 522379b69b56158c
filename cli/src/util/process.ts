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
 * When the process started, in clock ticks since boot (/proc/<pid>/stat, field 22): with the pid, it names one
 * process for the life of the machine, where a pid alone is reused. Undefined where it cannot be read.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] || undefined;
  } catch {
    return undefined;
  }
}

/** Whether `machine` (MACHINE_ID, or MACHINE_TAG where it was recorded so) is this pid namespace, where pids can be checked. */
export function sameMachine(machine: string): boolean {
  return MACHINE_ID !== '' && (machine === MACHINE_ID || machine === MACHINE_TAG);
}

/**
 * True only when the process is known to be gone: recorded in this pid namespace, and no such pid, or (given the
 * start time it was recorded with) the pid now belongs to a process that started at another time.
 */
export function processGone(pid: number, machine: string, startTime?: string): boolean {
  if (!sameMachine(machine)) return false;
  if (!pidRunning(pid)) return true;
  if (startTime === undefined) return false;
  const now = processStartTime(pid);
  return now !== undefined && now !== startTime;
}

/** MACHINE_ID in 12 hex digits, short enough for a lock's symlink target ('' where MACHINE_ID is unknown). */
export const MACHINE_TAG = MACHINE_ID ? createHash('sha256').update(MACHINE_ID).digest('hex').slice(0, 12) : '';

/** This process's start time (processStartTime), read once: it does not change while the process runs. */
export const OWN_START_TIME = processStartTime(process.pid);
