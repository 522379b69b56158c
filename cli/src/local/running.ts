// Finds a running `emailstats dev` of a project: chDB allows one process per data directory, so while dev
// runs, other commands talk to it over HTTP instead of opening the engine themselves.
import { rmSync } from 'node:fs';
import { readJson, writeJsonAtomic } from '../util/files.js';
import { pidRunning } from '../util/process.js';

export interface RunningInfo {
  pid: number;
  port: number;
  url: string;
  startedAt: string;
}

/** The running server recorded in server.json, if its process is still alive and answers. */
export async function findRunningServer(serverFile: string): Promise<RunningInfo | undefined> {
  const info = readJson<RunningInfo>(serverFile);
  if (!info || !pidRunning(info.pid) || info.pid === process.pid) return undefined;
  try {
    const res = await fetch(`${info.url}/health`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return info;
  } catch {
    return undefined;
  }
}

export function recordRunningServer(serverFile: string, info: RunningInfo): void {
  writeJsonAtomic(serverFile, info);
}

export function clearRunningServer(serverFile: string): void {
  const info = readJson<RunningInfo>(serverFile);
  if (info?.pid === process.pid) rmSync(serverFile, { force: true });
}
