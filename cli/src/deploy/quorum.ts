// Writes that every node of a cluster must have before they return (the deploy lock, deploy/lock.ts).
import type { Engine, Settings } from '../engine/types.js';

/** How long a quorum write waits for every node, in ms; then it fails. */
export const QUORUM_TIMEOUT_MS = 60_000;

/**
 * `insert_quorum` = the number of nodes of the engine's cluster (every node holds a replica of emailstats'
 * records, engine/placement.ts); undefined on one ClickHouse.
 */
export function quorumOfEveryNode(engine: Engine): Settings | undefined {
  const { placement } = engine;
  if (!placement.cluster) return undefined;
  return { insert_quorum: placement.nodeCount, insert_quorum_timeout: QUORUM_TIMEOUT_MS };
}
