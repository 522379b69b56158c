// The columns a rendered node returns, as the engine analyses them (`SELECT * FROM (<node>) LIMIT 0`): node
// validation at build and the columns of a Classic materialized node's inferred target ask the same question.
import type { Engine } from '../engine/types.js';
import { envSeconds } from '../util/env-seconds.js';

export interface ColumnMeta {
  name: string;
  type: string;
}

export const NODE_CHECK_TIMEOUT_ENV = 'EMAILSTATS_NODE_CHECK_TIMEOUT';
const NODE_CHECK_TIMEOUT_DEFAULT_S = 30;

/**
 * The time limit of one node's check on the embedded engine, in whole seconds (0: none). A check runs the node's
 * scalar subqueries on the data, and on a large database one of them can run for minutes: past the limit the node
 * is reported unchecked (EngineError.isTransient) and dev goes on. Read only for the embedded engine: a server keeps
 * its own limits (a constraint on max_execution_time there would turn our setting into an error of every node).
 */
export function nodeCheckTimeoutS(env: NodeJS.ProcessEnv = process.env): number {
  return envSeconds(NODE_CHECK_TIMEOUT_ENV, NODE_CHECK_TIMEOUT_DEFAULT_S, env);
}

/** `timeoutS`: a time limit in seconds (0: none); validateNodes passes nodeCheckTimeoutS() on the embedded engine. */
export async function nodeOutputColumns(engine: Engine, rendered: { sql: string; queryParams: Record<string, string> }, timeoutS = 0): Promise<ColumnMeta[]> {
  const queryParams = Object.keys(rendered.queryParams).length ? rendered.queryParams : undefined;
  const settings: Record<string, string | number> = { readonly: 2 };
  if (timeoutS > 0) settings.max_execution_time = timeoutS;
  const text = await engine.queryText(`SELECT * FROM (\n${rendered.sql}\n) LIMIT 0`, 'JSON', { settings, queryParams });
  return (JSON.parse(text) as { meta: ColumnMeta[] }).meta;
}
