// The email campaign API end to end, as a user runs it: `emailstats dev` on a copy of this repo's project,
// events posted to /v0/events, every endpoint's numbers checked against the same events counted in
// TypeScript. Runs on the embedded engine and on a private ClickHouse 18.16 server (`--clickhouse-url`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { copyProject, removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { byCampaign, dayOf, kindOf, metricsOf, readEvents, type RawEvent } from '../helpers/email-expectations.js';

/** Events for one test campaign, in every spelling, at times that straddle hour boundaries. */
function extraEvents(): RawEvent[] {
  const spellings = ['processed', 'Send', 'delivered', 'Delivery', 'opened', 'Open', 'click', 'clicked', 'bounced', 'bounce', 'failed', 'spamreport', 'unsubscribe', 'SubscriptionChange', 'deferred'];
  const out: RawEvent[] = [];
  for (let i = 0; i < 300; i++) {
    const minute = (i * 7) % 60;
    const hour = 8 + Math.floor(i / 40);
    const day = 10 + Math.floor(i / 150);
    out.push({
      event_id: `ev_e2e_${i}`,
      timestamp: `2025-06-${String(day).padStart(2, '0')} ${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`,
      event_type: spellings[i % spellings.length],
      campaign_id: 'camp_e2e',
      email_id: `email_e2e_${i % 50}`,
      recipient_id: `user_e2e_${i % 37}`,
      recipient_email: `user${i % 37}@example.com`,
      link_url: 'https://example.com/landing',
      metadata: i % 4 === 0 ? '{"machine_open":true}' : '{"source":"e2e"}',
      user_agent: 'Mozilla/5.0',
    });
  }
  return out;
}

// The seed's sample events: `bounced` must count as a bounce.
const SEED_SAMPLES: RawEvent[] = [
  { event_id: 'ev_45738', timestamp: '2025-05-08 13:13:29', event_type: 'bounced', campaign_id: 'camp_seed', email_id: 'email_738', recipient_id: 'user_38', recipient_email: 'user38@example.com', link_url: 'https://example.com/landing', metadata: '{"source":"promotion"}', user_agent: 'Mozilla/5.0 (Windows)' },
  { event_id: 'ev_68578', timestamp: '2025-05-08 00:12:49', event_type: 'bounced', campaign_id: 'camp_seed', email_id: 'email_578', recipient_id: 'user_78', recipient_email: 'user78@example.com', link_url: 'https://example.com/landing', metadata: '{"source":"announcement"}', user_agent: 'Mozilla/5.0 (Windows)' },
];

const METRIC_KEYS = ['sends', 'deliveries', 'opens', 'unique_opens', 'unique_human_opens', 'clicks', 'unique_clicks', 'bounces', 'complaints', 'unsubscribes'] as const;

function expectMetrics(row: Record<string, unknown>, expected: Record<string, number | null>, label: string): void {
  for (const k of METRIC_KEYS) expect(Number(row[k]), `${label} ${k}`).toBe(expected[k]);
  for (const k of ['delivery_rate', 'bounce_rate', 'open_rate', 'click_through_rate', 'click_to_open_rate']) {
    if (expected[k] === null) expect(row[k], `${label} ${k}`).toBeNull();
    else expect(Number(row[k]), `${label} ${k}`).toBeCloseTo(expected[k] as number, 1);
  }
}

for (const engine of ['embedded', 'server'] as const) {
  describe(`email campaign API on the ${engine} engine`, () => {
    let project: string;
    let dev: DevServer;
    let server: ClickHouseServer | undefined;
    let all: RawEvent[];

    const get = async (pathAndQuery: string) => {
      const res = await fetch(`${dev.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${dev.token}` } });
      return { status: res.status, body: (await res.json()) as { data: Record<string, unknown>[]; error?: string; meta: { name: string; type: string }[] } };
    };

    beforeAll(async () => {
      project = copyProject();
      const args: string[] = [];
      if (engine === 'server') {
        server = await startClickHouseServer();
        args.push('--clickhouse-url', server.url, '--clickhouse-database', 'emailstats_e2e');
      }
      dev = await startDev(project, args);
      const extra = [...extraEvents(), ...SEED_SAMPLES];
      const res = await fetch(`${dev.url}/v0/events?name=email_events&wait=true`, {
        method: 'POST',
        headers: { authorization: `Bearer ${dev.token}` },
        body: extra.map((e) => JSON.stringify(e)).join('\n'),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(((await res.json()) as { successful_rows: number }).successful_rows).toBe(extra.length);
      all = [...readEvents(path.join(project, 'fixtures/email_events.ndjson')), ...extra];
    }, 180_000);

    afterAll(async () => {
      await dev?.stop();
      await server?.stop();
      if (project) removeDir(project);
    });

    it('campaign_stats matches the events for every campaign', async () => {
      const { status, body } = await get('/v0/pipes/campaign_stats.json');
      expect(status).toBe(200);
      const expected = byCampaign(all);
      expect(body.data.length).toBe(expected.size);
      for (const row of body.data) expectMetrics(row, metricsOf(expected.get(String(row.campaign_id))!), String(row.campaign_id));
      // The seed's 'bounced' samples are bounces; a campaign with no sends answers null rates, not NaN.
      const seed = body.data.find((r) => r.campaign_id === 'camp_seed')!;
      expect(seed.bounces).toBe(2);
      expect(seed.bounce_rate).toBeNull();
      expect(body.meta.map((m) => m.name).slice(0, 3)).toEqual(['campaign_id', 'sends', 'deliveries']);
    });

    it('campaign_stats filters by campaign and a time range that cuts through hours', async () => {
      const start = '2025-06-10 08:17:30';
      const end = '2025-06-11 09:41:05';
      const { status, body } = await get(`/v0/pipes/campaign_stats.json?campaign_id=camp_e2e&start_date=${encodeURIComponent(start)}&end_date=${encodeURIComponent(end)}`);
      expect(status).toBe(200);
      expect(body.data).toHaveLength(1);
      const inRange = all.filter((e) => e.campaign_id === 'camp_e2e' && e.timestamp >= start && e.timestamp <= end);
      expectMetrics(body.data[0], metricsOf(inRange), 'camp_e2e range');
    });

    it('campaign_timeline gives per-day metrics with empty days filled', async () => {
      const { status, body } = await get('/v0/pipes/campaign_timeline.json?campaign_id=camp_e2e&granularity=day&start_date=2025-06-09%2000:00:00&end_date=2025-06-12%2023:59:59');
      expect(status).toBe(200);
      const days = body.data.map((r) => r.bucket);
      expect(days).toEqual(['2025-06-09 00:00:00', '2025-06-10 00:00:00', '2025-06-11 00:00:00', '2025-06-12 00:00:00']);
      const events = all.filter((e) => e.campaign_id === 'camp_e2e');
      for (const row of body.data) {
        const dayEvents = events.filter((e) => dayOf(e.timestamp) === row.bucket);
        const m = metricsOf(dayEvents);
        for (const k of METRIC_KEYS) expect(Number(row[k]), `${row.bucket} ${k}`).toBe(m[k]);
      }
      expect(body.data[0].sends).toBe(0);
      expect(body.data[0].open_rate).toBeNull();
    });

    it('campaign_timeline validates its parameters', async () => {
      expect((await get('/v0/pipes/campaign_timeline.json')).status).toBe(400);
      const bad = await get('/v0/pipes/campaign_timeline.json?campaign_id=camp_e2e&granularity=month');
      expect(bad.status).toBe(400);
      expect(bad.body.error).toContain('granularity must be hour, day or week');
    });

    it('recipient_activity pages through one recipient, newest first', async () => {
      const mine = all.filter((e) => e.recipient_id === 'user_e2e_5').sort((a, b) => (a.timestamp === b.timestamp ? a.event_id.localeCompare(b.event_id) : b.timestamp.localeCompare(a.timestamp)));
      const { status, body } = await get('/v0/pipes/recipient_activity.json?recipient_id=user_e2e_5&limit=3&offset=2');
      expect(status).toBe(200);
      expect(body.data.map((r) => r.event_id)).toEqual(mine.slice(2, 5).map((e) => e.event_id));
      expect(body.data[0].event_kind).toBe(kindOf(mine[2]));
      // A canonical kind matches every spelling; a provider's spelling matches exactly that spelling.
      const byKind = await get('/v0/pipes/recipient_activity.json?campaign_id=camp_e2e&event_type=open&limit=1000');
      expect(byKind.body.data.length).toBe(all.filter((e) => e.campaign_id === 'camp_e2e' && kindOf(e) === 'open').length);
      const bySpelling = await get('/v0/pipes/recipient_activity.json?campaign_id=camp_e2e&event_type=opened&limit=1000');
      expect(bySpelling.body.data.length).toBe(all.filter((e) => e.campaign_id === 'camp_e2e' && e.event_type === 'opened').length);
      expect(bySpelling.body.data.length).toBeGreaterThan(0);
      expect((await get('/v0/pipes/recipient_activity.json')).status).toBe(400);
      expect((await get('/v0/pipes/recipient_activity.json?campaign_id=camp_e2e&limit=5000')).status).toBe(400);
      expect((await get('/v0/pipes/recipient_activity.json?campaign_id=camp_e2e&limit=abc')).status).toBe(400);
    });

    it('answers CSV and NDJSON, and q over the endpoint result', async () => {
      const csv = await fetch(`${dev.url}/v0/pipes/campaign_stats.csv?campaign_id=camp_seed&token=${dev.token}`);
      expect(csv.headers.get('content-type')).toContain('text/csv');
      const lines = (await csv.text()).trim().split('\n');
      expect(lines[0]).toContain('"campaign_id","sends"');
      expect(lines).toHaveLength(2);
      const nd = await fetch(`${dev.url}/v0/pipes/campaign_stats.ndjson?campaign_id=camp_seed&token=${dev.token}`);
      expect(JSON.parse((await nd.text()).trim()).bounces).toBe(2);
      const q = await get(`/v0/pipes/campaign_stats.json?q=${encodeURIComponent('SELECT count() AS campaigns FROM _')}`);
      expect(q.body.data[0].campaigns).toBe(byCampaign(all).size);
    });
  });
}
