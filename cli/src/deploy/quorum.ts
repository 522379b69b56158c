// Writes of emailstats' records (deployments, live pointer, schema state, rewrite holds, the deploy lock) that
// every node of a cluster must have before they return: a deploy, a rollback or a serve reading any node then
// sees them (docs/deploy.md, "Deploying to a cluster"). On one ClickHouse, plain writes.
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../engine/errors.js';
import type { Engine, Settings } from '../engine/types.js';
import { UserError } from '../util/fatal.js';

/** How long a quorum write waits for every node, in ms; then it fails. */
export const QUORUM_TIMEOUT_MS = 60_000;
const UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE = 286;

/**
 * `insert_quorum` = the number of nodes of the engine's cluster (every node holds a replica of the records,
 * engine/placement.ts); undefined on one ClickHouse.
 */
export function quorumOfEveryNode(engine: Engine): Settings | undefined {
  const { placement } = engine;
  if (!placement.cluster) return undefined;
  return { insert_quorum: placement.nodeCount, insert_quorum_timeout: QUORUM_TIMEOUT_MS };
}

/**
 * Runs `write` with the quorum settings. ClickHouse takes one quorum insert per table at a time (error 286
 * while another waits for its nodes; nothing was written): that is waited out, for as long as a quorum may take.
 */
export async function writeEverywhere(engine: Engine, what: string, write: (settings: Settings | undefined) => Promise<void>): Promise<void> {
  const settings = quorumOfEveryNode(engine);
  if (!settings) return write(undefined);
  const deadline = Date.now() + QUORUM_TIMEOUT_MS + 10_000;
  for (;;) {
    try {
      return await write(settings);
    } catch (e) {
      if (e instanceof EngineError && e.code === UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE && Date.now() < deadline) {
        await sleep(100 + Math.random() * 200);
        continue;
      }
      const msg = e instanceof Error ? e.message : String(e);
      throw new UserError(
        `could not write ${what} to every node of cluster ${engine.placement.cluster} (insert_quorum = ${settings.insert_quorum}): ${msg}\n` +
          'Records are written to every node so that any node reads them: start the node that is down, or wait for the write that holds the table, and run it again.',
      );
    }
  }
}
