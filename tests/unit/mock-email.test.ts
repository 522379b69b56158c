// The email event generator: determinism, funnels in time order, realistic rates, every provider spelling, the
// special campaigns, the canonical alias table (also run as SQL in chDB), and the committed fixture.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import {
  EVENT_TYPE_ALIASES,
  PROVIDER_EVENT_NAMES,
  canonicalEventTypeSql,
  canonicalEventTypeSqlMap,
  blockEvents,
  blockNdjson,
  emailBlocks,
  generateEmailEvents,
  planEmailMock,
  type CanonicalEventType,
  type EmailEvent,
  type Provider,
} from '../../cli/src/mock/email.js';
import { isEmailEventStream } from '../../cli/src/mock/index.js';

const FIXTURE = path.resolve(__dirname, '../../fixtures/email_events.ndjson');
const events: EmailEvent[] = [...generateEmailEvents({ rows: 60000, seed: 1 })];
const canon = (t: string): CanonicalEventType | 'other' => EVENT_TYPE_ALIASES[t.toLowerCase()] ?? 'other';
const providerOf = (e: EmailEvent): Provider => (JSON.parse(e.metadata) as { provider: Provider }).provider;
const hashOf = (evs: Iterable<EmailEvent>): string => {
  const h = createHash('sha256');
  for (const e of evs) h.update(JSON.stringify(e) + '\n');
  return h.digest('hex');
};

type Stats = Record<CanonicalEventType, Set<string>>;
function campaignStats(): Map<string, Stats> {
  const m = new Map<string, Stats>();
  for (const e of events) {
    let s = m.get(e.campaign_id);
    if (!s) {
      s = {} as Stats;
      for (const k of ['send', 'delivered', 'open', 'click', 'bounce', 'complaint', 'unsubscribe', 'deferred', 'dropped'] as const) s[k] = new Set();
      m.set(e.campaign_id, s);
    }
    const c = canon(e.event_type);
    if (c !== 'other') s[c].add(e.recipient_id);
  }
  return m;
}

describe('generateEmailEvents', () => {
  it('is deterministic per seed, exact in row count, with unique event ids (ev_<message>_<k>)', () => {
    expect(events.length).toBe(60000);
    expect(hashOf(generateEmailEvents({ rows: 60000, seed: 1 }))).toBe(hashOf(events));
    expect(hashOf(generateEmailEvents({ rows: 60000, seed: '1' }))).toBe(hashOf(events));
    expect(hashOf(generateEmailEvents({ rows: 60000, seed: 2 }))).not.toBe(hashOf(events));
    const ids = new Set(events.map((e) => e.event_id));
    expect(ids.size).toBe(events.length);
    expect(events[0].event_id).toBe('ev_1_1');
    for (const e of events) expect(e.event_id.startsWith(`ev_${e.email_id.slice('email_'.length)}_`)).toBe(true);
    for (const e of events) expect(e.timestamp).toMatch(/^2025-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  it('keeps each recipient funnel in time order: send <= delivered <= open <= click', () => {
    const ORDER: CanonicalEventType[] = ['send', 'delivered', 'open', 'click'];
    const first = new Map<string, Partial<Record<CanonicalEventType, string>>>();
    const last = new Map<string, string>();
    for (const e of events) {
      const key = `${e.campaign_id}|${e.recipient_id}`;
      // Events of one message come out in non-decreasing time order.
      const prev = last.get(key);
      if (prev !== undefined) expect(e.timestamp >= prev).toBe(true);
      last.set(key, e.timestamp);
      const c = canon(e.event_type);
      let f = first.get(key);
      if (!f) first.set(key, (f = {}));
      if (c !== 'other' && f[c] === undefined) f[c] = e.timestamp;
    }
    let checked = 0;
    for (const f of first.values()) {
      const seen = ORDER.map((k) => f[k]).filter((t): t is string => t !== undefined);
      for (let i = 1; i < seen.length; i++) expect(seen[i] >= seen[i - 1]).toBe(true);
      if (f.click && f.open) {
        expect(f.click >= f.open).toBe(true);
        checked++;
      }
      // Nothing after a bounce or drop: no delivery, no engagement.
      if (f.bounce || f.dropped) expect(f.delivered ?? f.open ?? f.click).toBeUndefined();
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('produces rates in realistic ranges (campaigns with sends and opens)', () => {
    const t = { send: 0, delivered: 0, open: 0, click: 0, bounce: 0, unsubscribe: 0, complaint: 0 };
    for (const s of campaignStats().values()) {
      if (s.send.size === 0 || s.open.size === 0) continue;
      for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += s[k].size;
    }
    const rate = (a: number, b: number): number => a / b;
    expect(rate(t.delivered, t.send)).toBeGreaterThan(0.93);
    expect(rate(t.delivered, t.send)).toBeLessThan(0.98);
    expect(rate(t.bounce, t.send)).toBeGreaterThan(0.02);
    expect(rate(t.bounce, t.send)).toBeLessThan(0.04);
    expect(rate(t.open, t.delivered)).toBeGreaterThan(0.2);
    expect(rate(t.open, t.delivered)).toBeLessThan(0.45);
    expect(rate(t.click, t.open)).toBeGreaterThan(0.1);
    expect(rate(t.click, t.open)).toBeLessThan(0.25);
    expect(rate(t.unsubscribe, t.delivered)).toBeGreaterThan(0.002);
    expect(rate(t.unsubscribe, t.delivered)).toBeLessThan(0.01);
    expect(rate(t.complaint, t.delivered)).toBeGreaterThan(0.0005);
    expect(rate(t.complaint, t.delivered)).toBeLessThan(0.002);
    // Repeat opens and clicks exist: more events than unique recipients.
    const opens = events.filter((e) => canon(e.event_type) === 'open').length;
    let uniqueOpens = 0;
    for (const s of campaignStats().values()) uniqueOpens += s.open.size;
    expect(opens).toBeGreaterThan(uniqueOpens * 1.15);
  });

  it('uses every spelling of each campaign provider', () => {
    const seen = new Map<Provider, Set<string>>();
    for (const e of events) {
      const p = providerOf(e);
      if (!seen.has(p)) seen.set(p, new Set());
      seen.get(p)!.add(e.event_type);
    }
    for (const [p, names] of Object.entries(PROVIDER_EVENT_NAMES) as [Provider, Record<string, string | readonly string[] | null>][]) {
      for (const spelling of Object.values(names)) {
        if (spelling === null) continue;
        for (const s of typeof spelling === 'string' ? [spelling] : spelling) expect(seen.get(p)?.has(s), `${p}: ${s}`).toBe(true);
      }
    }
    // The seed sample's spellings are among them.
    const all = new Set(events.map((e) => e.event_type));
    for (const s of ['bounced', 'sent', 'opened', 'clicked', 'send', 'open', 'click', 'bounce', 'processed', 'spamreport', 'Delivery', 'SubscriptionChange']) expect(all.has(s), s).toBe(true);
    for (const t of all) expect(canon(t), t).not.toBe('other');
  });

  it('has >= 20 campaigns over several months, skewed sizes, and the special campaigns', () => {
    const stats = campaignStats();
    expect(stats.size).toBeGreaterThanOrEqual(20);
    const months = new Set(events.map((e) => e.timestamp.slice(0, 7)));
    expect(months.size).toBeGreaterThanOrEqual(4);
    const sizes = [...stats.values()].map((s) => Math.max(s.send.size, s.delivered.size, s.open.size)).sort((a, b) => b - a);
    expect(sizes[0]).toBeGreaterThan(sizes[sizes.length - 1] * 8);

    const noSends = [...stats].filter(([, s]) => s.send.size === 0 && s.delivered.size === 0 && s.open.size > 0);
    expect(noSends.length).toBeGreaterThanOrEqual(2);
    for (const [id] of noSends) {
      const types = new Set(events.filter((e) => e.campaign_id === id).map((e) => canon(e.event_type)));
      expect([...types].sort()).toEqual(['click', 'open']);
    }
    const noOpens = [...stats].filter(([, s]) => s.send.size > 0 && s.open.size === 0);
    expect(noOpens.length).toBeGreaterThanOrEqual(2);
    // One no-opens campaign still records clicks (clicks / opens divides by zero), one has neither.
    expect(noOpens.some(([, s]) => s.click.size > 0)).toBe(true);
    expect(noOpens.some(([, s]) => s.click.size === 0)).toBe(true);
  });

  it('flags Apple MPP machine opens in metadata (SendGrid as sg_machine_open)', () => {
    const opens = events.filter((e) => canon(e.event_type) === 'open');
    const meta = (e: EmailEvent) => JSON.parse(e.metadata) as { machine_open?: boolean; sg_machine_open?: boolean };
    const machine = opens.filter((e) => meta(e).machine_open === true || meta(e).sg_machine_open === true);
    expect(machine.length).toBeGreaterThan(opens.length * 0.2);
    expect(machine.length).toBeLessThan(opens.length * 0.8);
    for (const e of machine) expect(e.user_agent).toBe('Mozilla/5.0');
    // SendGrid's own key, on SendGrid campaigns only; the other providers' opens say machine_open.
    const sg = opens.filter((e) => meta(e).sg_machine_open !== undefined);
    expect(sg.filter((e) => meta(e).sg_machine_open).length).toBeGreaterThan(100);
    for (const e of sg) expect(providerOf(e)).toBe('sendgrid');
    for (const e of opens) expect(meta(e).sg_machine_open === undefined).toBe(providerOf(e) !== 'sendgrid');
  });

  it('has image-proxy prefetches and link scanners right after delivery, some with a browser user agent', () => {
    const delivered = new Map<string, number>();
    const t = (e: EmailEvent) => Date.parse(e.timestamp.replace(' ', 'T') + 'Z') / 1000;
    for (const e of events) if (canon(e.event_type) === 'delivered') delivered.set(e.email_id, t(e));
    const after = (e: EmailEvent) => t(e) - (delivered.get(e.email_id) ?? -1e12);
    const opens = events.filter((e) => canon(e.event_type) === 'open');
    const gmail = opens.filter((e) => e.user_agent.includes('GoogleImageProxy'));
    const yahoo = opens.filter((e) => e.user_agent.startsWith('YahooMailProxy'));
    expect(gmail.length).toBeGreaterThan(500);
    expect(yahoo.length).toBeGreaterThan(100);
    for (const e of gmail) expect(e.recipient_email.endsWith('@gmail.com')).toBe(true);
    for (const e of yahoo) expect(e.recipient_email.endsWith('@yahoo.com')).toBe(true);
    // Prefetched within a minute of delivery (no_sends campaigns report no delivery to measure from).
    for (const e of [...gmail, ...yahoo]) if (delivered.has(e.email_id)) expect(after(e)).toBeLessThanOrEqual(60);
    const clicks = events.filter((e) => canon(e.event_type) === 'click');
    const scanner = clicks.filter((e) => /SafeLinks|Proofpoint|Barracuda/.test(e.user_agent));
    expect(scanner.length).toBeGreaterThan(100);
    for (const e of scanner) if (delivered.has(e.email_id)) expect(after(e)).toBeLessThanOrEqual(15);
    // Scanners under a browser's user agent: clicks within seconds of delivery that only timing gives away.
    const fast = clicks.filter((e) => !scanner.includes(e) && delivered.has(e.email_id) && after(e) <= 15);
    expect(fast.length).toBeGreaterThan(30);
  });

  it('builds block NDJSON byte-identical to JSON.stringify of the same events', () => {
    const plan = planEmailMock({ rows: 60000, seed: 1 });
    let checked = 0;
    for (const b of emailBlocks(plan)) {
      const want = blockEvents(plan, b).map((e) => JSON.stringify(e) + '\n').join('');
      const got = blockNdjson(plan, b);
      expect(Buffer.from(got.bytes).toString('utf8')).toBe(want);
      expect(got.events).toBe(want.split('\n').length - 1);
      if ((checked += got.events) >= 60000) break;
    }
  });

  it('generates each block alike whatever was generated before (blocks are independent)', () => {
    const plan = planEmailMock({ rows: 60000, seed: 1 });
    const blocks: ReturnType<typeof emailBlocks> extends Iterable<infer B> ? B[] : never = [];
    for (const b of emailBlocks(plan)) if (blocks.push(b) >= 40) break;
    const text = (b: (typeof blocks)[number]) => Buffer.from(blockNdjson(plan, b).bytes).toString('utf8');
    const forward = blocks.map(text);
    const backward = [...blocks].reverse().map(text).reverse();
    expect(backward).toEqual(forward);
    // The planned pass covers every campaign, then the top-up goes round the normal ones.
    expect(new Set(blocks.map((b) => b.campaign)).size).toBe(plan.campaigns.length);
    for (let i = 1; i < blocks.length; i++) expect(blocks[i].message).toBe(blocks[i - 1].message + blocks[i - 1].count);
  });

  it('gives recipients repeated after the user pool wraps around events of their own', () => {
    // One campaign and rows beyond what the pool covers: the top-up wraps around the pool (pass 1).
    const byMessage = new Map<string, { recipient: string; events: string }>();
    for (const e of generateEmailEvents({ rows: 40_000, seed: 'wrap', campaigns: 1 })) {
      const m = byMessage.get(e.email_id) ?? { recipient: e.recipient_id, events: '' };
      m.events += `${e.timestamp} ${e.event_type};`;
      byMessage.set(e.email_id, m);
    }
    const byRecipient = new Map<string, string[]>();
    for (const m of byMessage.values()) byRecipient.set(m.recipient, [...(byRecipient.get(m.recipient) ?? []), m.events]);
    const repeated = [...byRecipient.values()].filter((l) => l.length > 1);
    expect(repeated.length).toBeGreaterThan(100);
    expect(repeated.filter((l) => l[0] === l[1]).length).toBeLessThan(repeated.length / 10);
  });

  it('reproduces the committed fixture byte for byte', () => {
    const text = readFileSync(FIXTURE, 'utf8');
    expect(createHash('sha256').update(text).digest('hex')).toBe(hashOf(events));
  });
});

describe('EVENT_TYPE_ALIASES', () => {
  // Every provider name of email-domain.md §4.1, as providers send them.
  const DOC_NAMES: [string, CanonicalEventType][] = [
    ['processed', 'send'], ['accepted', 'send'], ['Send', 'send'], ['sent', 'send'], ['users.messages.email.Send', 'send'],
    ['delivered', 'delivered'], ['Delivery', 'delivered'], ['users.messages.email.Delivery', 'delivered'],
    ['deferred', 'deferred'], ['DeliveryDelay', 'deferred'], ['users.messages.email.Deferral', 'deferred'],
    ['bounce', 'bounce'], ['failed', 'bounce'], ['Bounce', 'bounce'], ['bounced', 'bounce'], ['users.messages.email.Bounce', 'bounce'],
    ['users.messages.email.SoftBounce', 'bounce'],
    ['dropped', 'dropped'], ['rejected', 'dropped'], ['Reject', 'dropped'],
    ['open', 'open'], ['opened', 'open'], ['Open', 'open'], ['users.messages.email.Open', 'open'],
    ['click', 'click'], ['clicked', 'click'], ['Click', 'click'], ['users.messages.email.Click', 'click'],
    ['spamreport', 'complaint'], ['complained', 'complaint'], ['SpamComplaint', 'complaint'], ['Complaint', 'complaint'], ['spammed', 'complaint'],
    ['users.messages.email.MarkAsSpam', 'complaint'],
    ['unsubscribe', 'unsubscribe'], ['group_unsubscribe', 'unsubscribe'], ['unsubscribed', 'unsubscribe'], ['SubscriptionChange', 'unsubscribe'],
    ['Subscription', 'unsubscribe'], ['users.messages.email.Unsubscribe', 'unsubscribe'],
  ];

  it('maps every provider name in email-domain.md to its canonical type', () => {
    for (const [name, want] of DOC_NAMES) expect(EVENT_TYPE_ALIASES[name.toLowerCase()], name).toBe(want);
    for (const k of Object.keys(EVENT_TYPE_ALIASES)) expect(k).toBe(k.toLowerCase());
    // Deliberately not counted as any delivery metric.
    for (const name of ['group_resubscribe', 'converted', 'rendering failure']) expect(EVENT_TYPE_ALIASES[name]).toBeUndefined();
    const { from, to } = canonicalEventTypeSqlMap();
    expect(from.length).toBe(Object.keys(EVENT_TYPE_ALIASES).length);
    expect(to.length).toBe(from.length);
  });

  it('recognises email streams by tag or by columns', () => {
    const c = (name: string) => ({ name, type: 'String', nullable: false, pos: { line: 1, col: 1 } });
    expect(isEmailEventStream({ tags: [], columns: ['event_id', 'timestamp', 'event_type', 'campaign_id', 'recipient_id'].map(c) })).toBe(true);
    expect(isEmailEventStream({ tags: ['emailstats:email_events'], columns: [c('x')] })).toBe(true);
    expect(isEmailEventStream({ tags: [], columns: [c('event_id'), c('timestamp')] })).toBe(false);
  });
});

describe('canonical SQL in ClickHouse', () => {
  let dir: string;
  let client: ClickHouseClient;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mock-email-'));
    client = createClient({ connection: createChdbConnection({ path: dir }) } as Parameters<typeof createClient>[0]);
  });
  afterAll(async () => {
    await client?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('transform(lower(event_type), ...) agrees with the JS table on the generated events', async () => {
    await client.command({
      query: `CREATE TABLE email_events (event_id String, timestamp DateTime, event_type String, campaign_id String, email_id String,
        recipient_id String, recipient_email String, link_url String, metadata String, user_agent String) ENGINE = MergeTree ORDER BY tuple()`,
    });
    await client.insert({ table: 'email_events', values: events, format: 'JSONEachRow' });
    const res = await client.query({
      query: `SELECT ${canonicalEventTypeSql()} AS t, count() AS c FROM email_events GROUP BY t ORDER BY t`,
      format: 'JSONEachRow',
    });
    const rows = (await res.json()) as { t: string; c: string | number }[];
    const want = new Map<string, number>();
    for (const e of events) want.set(canon(e.event_type), (want.get(canon(e.event_type)) ?? 0) + 1);
    expect(Object.fromEntries(rows.map((r) => [r.t, Number(r.c)]))).toEqual(Object.fromEntries([...want].sort()));
    expect(want.has('other')).toBe(false);
  });
});
