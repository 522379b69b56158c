// The canonical event kind is computed in SQL (datasources/email_events.datasource, a DEFAULT multiIf) and
// known to the generators and tests in TypeScript (EVENT_TYPE_ALIASES). This keeps the two lists identical.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EVENT_TYPE_ALIASES } from '../../cli/src/mock/email.js';
import { isBotClick, isMachineOpen } from '../helpers/email-expectations.js';

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

// is_machine_open / is_bot_click: the user-agent patterns of the datasource's DEFAULTs, each one documented and
// known to the TypeScript rules the e2e tests compute with (machine-events.test.ts runs the SQL itself).
describe('machine-open and bot-click user agents', () => {
  const text = readFileSync(DATASOURCE, 'utf8');
  const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
  const patterns = (column: string): string[][] => {
    const line = text.split('\n').findIndex((l) => l.includes(`\`${column}\` UInt8 DEFAULT`));
    const def = text.split('\n').slice(line).join('\n').split(`\`json:$.${column}\``)[0];
    return [...def.matchAll(/match\(user_agent, '\(\?i\)([^']*)'\)/g)].map((m) => m[1].split('|'));
  };
  /** A user agent an alternative matches: regex syntax of the alternatives taken out. */
  const sample = (alt: string): string => alt.replace(/\\\\b/g, ' ').replace(/\\\\\./g, '.').replace(' ?', ' ').replace('[/;)]', '/').replace(/^\^|\$$/g, '');
  const plain = (s: string): string => s.toLowerCase().replace(/[^a-z0-9.]/g, '');

  it('every pattern is one the TypeScript rules know, and README documents it', () => {
    const [botAgents] = patterns('is_bot_click');
    const [proxies, botToo] = patterns('is_machine_open');
    expect(botAgents.length).toBeGreaterThan(20);
    expect(botToo).toEqual(botAgents);
    const ev = (type: string, ua: string) => ({ event_id: 'e', timestamp: '2025-01-01 00:00:00', event_type: type, campaign_id: 'c', recipient_id: 'r', recipient_email: 'r@x', metadata: '{}', user_agent: ua });
    for (const alt of botAgents) {
      expect(isBotClick(ev('click', `X ${sample(alt)} Y`)), alt).toBe(true);
      expect(plain(readme), alt).toContain(plain(sample(alt)));
    }
    for (const alt of proxies) {
      expect(isMachineOpen(ev('open', alt.startsWith('^') ? sample(alt) : `X ${sample(alt)} Y`)), alt).toBe(true);
      expect(plain(readme), alt).toContain(plain(sample(alt)));
    }
  });
});
