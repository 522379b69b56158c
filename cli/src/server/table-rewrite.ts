// A rewrite of tables started by this process (a datasource replace, a replace-mode copy) swaps them for copies
// made meanwhile: whatever else writes into them before the swap is lost. These keep the other writers off.
import type { Workspace } from './workspace.js';

/**
 * How long this process holds its own flushes for a rewrite: longer than a rewrite's statements may run (1 hour),
 * so that the hold ends with the rewrite, not before (the ingestor's default, 15 minutes, would let a long
 * replace swap out rows flushed after it). Acknowledged events wait in the WAL meanwhile.
 */
const OWN_HOLD_MS = 2 * 60 * 60_000;

/**
 * Runs `body` while other serve processes (through the rewrite record: `Workspace.holdOtherWriters`, serve only)
 * and this process's own event flushes hold their writes to `tables`; both holds end however `body` ends.
 * `stillHeld` turns false once the other processes' hold has outlasted its lease, or this process's own hold has
 * ended: swapping then would lose rows.
 * Throws RewriteBusyError (deploy/rewrite-hold.ts) when a deploy or another rewrite holds any of the tables.
 */
export async function withWritersHeld<T>(ws: Workspace, tables: string[], body: (stillHeld: () => Promise<boolean>) => Promise<T>): Promise<T> {
  const others = await ws.holdOtherWriters?.(tables);
  try {
    await Promise.all(tables.map((t) => ws.ingestor?.hold(t, OWN_HOLD_MS)));
    // A hold of this process that ended anyway (released by its timer, then perhaps taken again) let flushes in.
    const held = tables.map((t) => ws.ingestor?.holdId(t));
    const ownHeld = (): boolean => tables.every((t, i) => !ws.ingestor || ws.ingestor.holdId(t) === held[i]);
    return await body(async () => ownHeld() && (!others || (await others.stillHeld())));
  } finally {
    for (const t of tables) ws.ingestor?.release(t);
    await others?.end();
  }
}

/** Runs `task` in dev's turn with its rebuilds and scheduled copies (`Workspace.serialized`), or at once under serve. */
export function inTurn<T>(ws: Workspace, task: (current: Workspace) => Promise<T>): Promise<T> {
  return ws.serialized ? ws.serialized(task) : task(ws);
}
