// The columns a rendered node returns, as the engine analyses them (`SELECT * FROM (<node>) LIMIT 0`): node
// validation at build and the columns of a Classic materialized node's inferred target ask the same question.
import type { Engine } from '../engine/types.js';
import { UserError } from '../util/fatal.js';

export interface ColumnMeta {
  name: string;
  type: string;
}

export const NODE_CHECK_TIMEOUT_ENV = 'EMAILSTATS_NODE_CHECK_TIMEOUT';
const NODE_CHECK_TIMEOUT_DEFAULT_S = 30;

/**
 * The time limit of one node's check on the embedded engine, in seconds (0: none). A check runs the node's scalar
 * subqueries on the data, and on a large database one of them can run for minutes: past the limit the node is
 * reported unchecked (EngineError.isTransient) and dev goes on. A server keeps its own limits: a constraint on
 * max_execution_time there would turn our setting into an error of every node.
 */
export function nodeCheckTimeoutS(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[NODE_CHECK_TIMEOUT_ENV];
  if (raw === undefined || raw.trim() === '') return NODE_CHECK_TIMEOUT_DEFAULT_S;
  const s = Number(raw);
  if (!Number.isFinite(s) || s < 0) throw new UserError(`${NODE_CHECK_TIMEOUT_ENV}=${raw} is not a number of seconds: set it to 0 (no limit) or more, or unset it for ${NODE_CHECK_TIMEOUT_DEFAULT_S} s`);
  return s;
}

/** `timeoutS`: nodeCheckTimeoutS(), read once by the caller before its first check (a bad value stops it there). */
export async function nodeOutputColumns(engine: Engine, rendered: { sql: string; queryParams: Record<string, string> }, timeoutS: number): Promise<ColumnMeta[]> {
  const queryParams = Object.keys(rendered.queryParams).length ? rendered.queryParams : undefined;
  const settings: Record<string, string | number> = { readonly: 2 };
  if (engine.kind === 'embedded') settings.max_execution_time = timeoutS;
  const text = await engine.queryText(`SELECT * FROM (\n${rendered.sql}\n) LIMIT 0`, 'JSON', { settings, queryParams });
  return (JSON.parse(text) as { meta: ColumnMeta[] }).meta;
}
