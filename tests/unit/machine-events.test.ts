// The machine-open and bot-click rules of datasources/email_events.datasource (is_machine_open, is_bot_click:
// DEFAULT expressions computed on insert), run as the project's own DDL on chDB and on a ClickHouse 18.16 server,
// against a table of cases with the answer written out, and against the independent TypeScript rules the e2e
// tests compare the endpoints with (tests/helpers/email-expectations.ts).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDatasource } from '../../cli/src/datafile/index.js';
import type { DatasourceFile } from '../../cli/src/datafile/types.js';
import { createTableSql } from '../../cli/src/project/ddl.js';
import type { Engine } from '../../cli/src/engine/types.js';
import { quoteString } from '../../cli/src/sql/quote.js';
import { useClickHouseServer } from '../helpers/clickhouse-server.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';
import { isBotClick, isMachineOpen, type RawEvent } from '../helpers/email-expectations.js';

const DATASOURCE = path.resolve(import.meta.dirname, '../../datasources/email_events.datasource');

function datasource(): DatasourceFile {
  const r = parseDatasource(readFileSync(DATASOURCE, 'utf8'), 'datasources/email_events.datasource', { env: {} });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.file!;
}

const MPP = 'Mozilla/5.0';
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
const GMAIL = 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)';
const YAHOO = 'YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html';
const SAFELINKS = 'Mozilla/5.0 (compatible; Microsoft Defender SafeLinks)';

/** [event_type, user_agent, metadata, is_machine_open, is_bot_click, why] */
const CASES: [string, string, string, 0 | 1, 0 | 1, string][] = [
  ['open', IPHONE, '{"machine_open":false}', 0, 0, 'a person on an iPhone'],
  ['open', IPHONE, '{"machine_open":true}', 1, 0, 'provider flag'],
  ['Open', IPHONE, '{"provider":"sendgrid","sg_machine_open":true}', 1, 0, "SendGrid's flag"],
  ['opened', CHROME, '{"machine_open":"true"}', 1, 0, 'flag as the string "true"'],
  ['open', CHROME, '{"event":{"machine_open":1}}', 1, 0, 'flag as 1, nested'],
  ['open', CHROME, '{"sg_machine_open":false}', 0, 0, 'flag false'],
  ['open', MPP, '{}', 1, 0, "Apple MPP proxy's bare user agent"],
  ['open', 'mozilla/5.0', '', 1, 0, 'bare user agent, any case'],
  ['open', 'Mozilla/5.0 (Windows)', '{"source":"promotion"}', 0, 0, "the seed sample's agent is not bare"],
  ['open', GMAIL, '{"machine_open":false}', 1, 0, 'Gmail image proxy, unflagged by the provider'],
  ['open', YAHOO, '', 1, 0, 'Yahoo image proxy'],
  ['open', SAFELINKS, '{"machine_open":false}', 1, 0, 'a link scanner fetching the pixel'],
  ['open', 'Googlebot/2.1 (+http://www.google.com/bot.html)', '', 1, 0, 'a crawler'],
  ['click', SAFELINKS, '', 0, 1, 'Safe Links'],
  ['Click', 'Mozilla/5.0 (compatible; Proofpoint URL Defense)', '', 0, 1, 'Proofpoint'],
  ['clicked', 'Barracuda Sentinel (EE)', '', 0, 1, 'Barracuda'],
  ['click', 'python-requests/2.31.0', '', 0, 1, 'a script'],
  ['click', 'curl/8.5.0', '', 0, 1, 'curl'],
  ['click', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0 Safari/537.36', '', 0, 1, 'headless browser'],
  ['click', 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)', '', 0, 1, 'bingbot/'],
  ['click', 'Mozilla/5.0 (compatible; Some Bot)', '', 0, 1, "the word 'bot'"],
  ['click', 'Mozilla/5.0 (Linux; Android 13; Cubot X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36', '', 0, 0, "a Cubot phone is not a bot"],
  ['click', CHROME, '{"is_suspected_bot_click":true}', 0, 1, 'provider flag (Braze-style)'],
  ['click', CHROME, '{"bot_click":"true"}', 0, 1, 'bot_click as a string'],
  ['click', CHROME, '{"bot_click":false}', 0, 0, 'a person in Chrome'],
  ['click', MPP, '{"machine_open":true}', 0, 0, 'machine-open rules are for opens only'],
  ['clicks', GMAIL, '', 0, 0, 'an image proxy does not click'],
  ['delivered', SAFELINKS, '{"machine_open":true,"bot_click":true}', 0, 0, 'flags only apply to opens and clicks'],
  ['bounce', MPP, '{"machine_open":true}', 0, 0, 'nor to bounces'],
];

function events(): RawEvent[] {
  return CASES.map(([type, ua, meta], i) => ({
    event_id: `ev_rule_${i}`,
    timestamp: '2025-06-01 10:00:00',
    event_type: type,
    campaign_id: 'camp_rules',
    email_id: `email_${i}`,
    recipient_id: `user_${i}`,
    recipient_email: `u${i}@example.com`,
    link_url: '',
    metadata: meta,
    user_agent: ua,
  }));
}

const INPUT = ['event_id', 'timestamp', 'event_type', 'campaign_id', 'email_id', 'recipient_id', 'recipient_email', 'link_url', 'metadata', 'user_agent'] as const;

/** Creates the table from the datasource's DDL, inserts the cases with only the input columns, reads the flags. */
async function flagsOn(engine: Engine, table: string): Promise<Map<string, { is_machine_open: number; is_bot_click: number; event_kind: string }>> {
  await engine.command(`DROP TABLE IF EXISTS ${table}`);
  await engine.command(createTableSql(datasource(), engine.caps, table, engine.version));
  const values = events().map((e) => `(${INPUT.map((c) => quoteString(String(e[c]))).join(', ')})`);
  await engine.command(`INSERT INTO ${table} (${INPUT.join(', ')}) VALUES ${values.join(', ')}`);
  const rows = await engine.queryRows<{ event_id: string; is_machine_open: number | string; is_bot_click: number | string; event_kind: string }>(
    `SELECT event_id, event_kind, is_machine_open, is_bot_click FROM ${table} ORDER BY event_id`,
  );
  return new Map(rows.map((r) => [r.event_id, { is_machine_open: Number(r.is_machine_open), is_bot_click: Number(r.is_bot_click), event_kind: r.event_kind }]));
}

function expectRules(got: Map<string, { is_machine_open: number; is_bot_click: number }>): void {
  expect(got.size).toBe(CASES.length);
  events().forEach((e, i) => {
    const [, , , machine, bot, why] = CASES[i];
    const row = got.get(e.event_id)!;
    expect(row.is_machine_open, `${why}: is_machine_open`).toBe(machine);
    expect(row.is_bot_click, `${why}: is_bot_click`).toBe(bot);
  });
}

describe('machine-open and bot-click rules', () => {
  it('the TypeScript rules of the e2e expectations agree with the written-out answers', () => {
    events().forEach((e, i) => {
      const [, , , machine, bot, why] = CASES[i];
      expect(isMachineOpen(e) ? 1 : 0, `${why}: isMachineOpen`).toBe(machine);
      expect(isBotClick(e) ? 1 : 0, `${why}: isBotClick`).toBe(bot);
    });
  });

  describe('on chDB', () => {
    const ctx = useEmbeddedEngine('machine-events');
    it('computes the flags on insert', async () => {
      expectRules(await flagsOn(ctx.engine, 'email_events_rules'));
    });
  });

  describe('on ClickHouse 18.16', () => {
    const ch = useClickHouseServer();

    it('runs the same DDL and computes the same flags', async () => {
      expect(ch.engine.version.major).toBe(18);
      const got = await flagsOn(ch.engine, 'email_events_rules');
      expectRules(got);
      expect(got.get('ev_rule_2')!.event_kind).toBe('open');
    });
  });
});
