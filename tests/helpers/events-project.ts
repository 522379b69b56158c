// A one-datasource project for Events API tests: small, so `dev` starts fast.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const EVENTS_DATASOURCE = `SCHEMA >
    \`event_id\` UInt64 \`json:$.event_id\`,
    \`kind\` String \`json:$.kind\`,
    \`at\` DateTime \`json:$.at\`,
    \`amount\` Float64 \`json:$.amount\`,
    \`n\` Int32 \`json:$.n\`,
    \`flag\` UInt8 \`json:$.flag\`,
    \`tags\` Array(String) \`json:$.tags\`,
    \`note\` Nullable(String) \`json:$.note\`

ENGINE "MergeTree"
ENGINE_SORTING_KEY "event_id"
`;

/** A temp project with `datasources/events.datasource` (plus `extra` files, relative path → text). */
export function eventsProject(extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-events-'));
  mkdirSync(path.join(dir, 'datasources'));
  writeFileSync(path.join(dir, 'datasources/events.datasource'), EVENTS_DATASOURCE);
  for (const [file, text] of Object.entries(extra)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

export function event(id: number): Record<string, unknown> {
  return { event_id: id, kind: id % 2 ? 'open' : 'click', at: 1714557600 + (id % 86400), amount: id / 100, n: id % 1000, flag: id % 2, tags: ['a'], note: null };
}

export async function sql<T = Record<string, unknown>>(url: string, token: string, q: string): Promise<T[]> {
  const res = await fetch(`${url}/v0/sql?q=${encodeURIComponent(q + ' FORMAT JSON')}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { data: T[]; error?: string };
  if (!res.ok) throw new Error(`/v0/sql ${res.status}: ${body.error}`);
  return body.data;
}
