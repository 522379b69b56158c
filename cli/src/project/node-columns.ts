// The columns a rendered node returns, as the engine analyses them (`SELECT * FROM (<node>) LIMIT 0`): node
// validation at build and the columns of a Classic materialized node's inferred target ask the same question.
import type { Engine } from '../engine/types.js';

export interface ColumnMeta {
  name: string;
  type: string;
}

export async function nodeOutputColumns(engine: Engine, rendered: { sql: string; queryParams: Record<string, string> }): Promise<ColumnMeta[]> {
  const queryParams = Object.keys(rendered.queryParams).length ? rendered.queryParams : undefined;
  const text = await engine.queryText(`SELECT * FROM (\n${rendered.sql}\n) LIMIT 0`, 'JSON', { settings: { readonly: 2 }, queryParams });
  return (JSON.parse(text) as { meta: ColumnMeta[] }).meta;
}
