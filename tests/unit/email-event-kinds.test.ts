// The canonical event kind is computed in SQL (datasources/email_events.datasource, a DEFAULT multiIf) and
// known to the generators and tests in TypeScript (EVENT_TYPE_ALIASES). This keeps the two lists identical.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EVENT_TYPE_ALIASES } from '../../cli/src/mock/email.js';

const DATASOURCE = path.resolve(import.meta.dirname, '../../datasources/email_events.datasource');

function sqlMapping(): Record<string, string> {
  const text = readFileSync(DATASOURCE, 'utf8');
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/lower\(event_type\) IN \(([^)]*)\), '([a-z_]+)'/g)) {
    for (const spelling of m[1].matchAll(/'([^']*)'/g)) out[spelling[1]] = m[2];
  }
  return out;
}

describe('event kinds', () => {
  it('the datasource maps exactly the spellings the alias table knows, to the same kinds', () => {
    const sql = sqlMapping();
    expect(Object.keys(sql).length).toBeGreaterThan(40);
    expect(sql).toEqual(EVENT_TYPE_ALIASES);
  });
});
