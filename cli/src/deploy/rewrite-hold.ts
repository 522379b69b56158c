// Holding every serve process's event flushes to tables that are about to be swapped out. The record lives in
// `_emailstats_rewriting` (store.ts): each serve reads it on every poll and holds its Ingestor's flushes to
// the tables named there; the writer then waits two polls and for inserts already running. Deploy rewrites
// use it, and so does a datasource replace run by a serve process (record id 0).
import type { Engine } from '../engine/types.js';
import { DEFAULT_MAX_HOLD_MS } from '../ingest/index.js';
import { UserError } from '../util/fatal.js';
import { DeploymentStore } from './store.js';

/** Lease of a rewrite record: serve holds flushes this long at most (default DEFAULT_MAX_HOLD_MS, 15 min). */
export const HOLD_ENV = 'EMAILSTATS_DEPLOY_HOLD_MS';
/** serve's poll interval (the same variable serve reads): the writer waits two of them for every serve to hold. */
export const POLL_ENV = 'EMAILSTATS_POLL_INTERVAL_MS';
/** A swap needs at least this much of the lease left, or serve might resume flushing into the old table. */
export const SWAP_MARGIN_MS = 30_000;
/** The record id of a datasource replace (deployments are numbered from 1). */
export const REPLACE_RECORD_ID = 0;
/** How long the writer waits for ingest inserts already running on the server to finish. */
const INFLIGHT_TIMEOUT_MS = 120_000;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const leaseFromEnv = (env: NodeJS.ProcessEnv): number => Number(env[HOLD_ENV]) || DEFAULT_MAX_HOLD_MS;
export const pollFromEnv = (env: NodeJS.ProcessEnv): number => Number(env[POLL_ENV]) || 2000;

/** Waits until the server runs no Ingestor insert into `tables` (their query ids start `emailstats-ingest-<table>:`). */
export async function waitForIngestInserts(engine: Engine, tables: string[]): Promise<void> {
  const prefixes = tables.map((t) => `emailstats-ingest-${t}:`.replace(/[^A-Za-z0-9_.:-]/g, '_'));
  const cond = prefixes.map((p) => `substring(query_id, 1, ${p.length}) = '${p}'`).join(' OR ');
  const deadline = Date.now() + INFLIGHT_TIMEOUT_MS;
  for (;;) {
    const [r] = await engine.queryRows<{ c: number | string }>(`SELECT count() AS c FROM system.processes WHERE ${cond}`);
    if (Number(r?.c ?? 0) === 0) return;
    if (Date.now() > deadline) throw new UserError(`event inserts into ${tables.join(', ')} are still running after ${INFLIGHT_TIMEOUT_MS / 1000} s; nothing was rewritten, try again`);
    await sleep(200);
  }
}

/** Another rewrite (a deploy, or another replace) holds the record: one at a time per database. */
export class RewriteBusyError extends Error {}

export interface ServeHold {
  /** False once the lease is nearly over (less than SWAP_MARGIN_MS left): swapping then could lose rows. */
  stillHeld(): Promise<boolean>;
  /** Ends the hold: serve processes release on their next poll. */
  end(): Promise<void>;
}

/**
 * Makes every serve process on this database hold its flushes to `tables`, and returns once they all have
 * (two poll intervals, then no ingest insert into them still running). Refuses while another rewrite is active.
 */
export async function holdServes(engine: Engine, tables: string[], opts: { pollMs: number; leaseMs: number; log?: (line: string) => void }): Promise<ServeHold> {
  const store = new DeploymentStore(engine);
  await store.ensureTables();
  const busy = await store.rewriting();
  if (busy) {
    const who = busy.deploymentId === REPLACE_RECORD_ID ? 'a datasource replace' : `deployment #${busy.deploymentId}`;
    throw new RewriteBusyError(`${who} is rewriting ${busy.tables.join(', ')} right now (for ${Math.ceil(busy.remainingMs / 1000)} s more at most); try again when it is done`);
  }
  await store.startRewrite(REPLACE_RECORD_ID, tables, opts.leaseMs);
  try {
    const waitMs = 2 * opts.pollMs + 1000;
    opts.log?.(`» holding event flushes to ${tables.join(', ')} in every serve process (lease ${Math.round(opts.leaseMs / 1000)} s); waiting ${waitMs} ms`);
    await sleep(waitMs);
    await waitForIngestInserts(engine, tables);
  } catch (e) {
    await store.endRewrite(REPLACE_RECORD_ID);
    throw e;
  }
  return {
    async stillHeld() {
      const r = await store.rewriting();
      return r !== undefined && r.deploymentId === REPLACE_RECORD_ID && r.remainingMs >= SWAP_MARGIN_MS;
    },
    end: () => store.endRewrite(REPLACE_RECORD_ID),
  };
}
