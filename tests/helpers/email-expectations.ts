// Independent computation of the email endpoints' numbers from raw events, in plain TypeScript, so tests can
// compare what the SQL answers with what the events say.
import { readFileSync } from 'node:fs';
import { EVENT_TYPE_ALIASES } from '../../cli/src/mock/email.js';

export interface RawEvent {
  event_id: string;
  timestamp: string;
  event_type: string;
  campaign_id: string;
  recipient_id: string;
  recipient_email: string;
  metadata: string;
  [k: string]: unknown;
}

export function readEvents(file: string): RawEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as RawEvent);
}

export function kindOf(e: RawEvent): string {
  return EVENT_TYPE_ALIASES[e.event_type.trim().toLowerCase()] ?? 'other';
}

/** A metadata flag set to true, "true" or 1 at any depth (ClickHouse's visitParam reads the first `"key":`). */
function flag(e: RawEvent, key: string): boolean {
  let found: unknown;
  const walk = (v: unknown): void => {
    if (found !== undefined || v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (found !== undefined) return;
      if (k === key) found = x;
      else walk(x);
    }
  };
  try {
    walk(JSON.parse(e.metadata));
  } catch {
    return false;
  }
  return found === true || found === 'true' || found === 1;
}

// The rules of datasources/email_events.datasource, written out again from its DESCRIPTION (not read from it).
const UA_OF = (e: RawEvent): string => String(e.user_agent ?? '');
const BOT_UA = [
  /safe ?links/i, /proofpoint/i, /urldefense/i, /barracuda/i, /mimecast/i, /messagelabs/i, /symantec/i, /trend ?micro/i, /ironport/i,
  /fireeye/i, /forcepoint/i, /sophos/i, /headlesschrome/i, /phantomjs/i, /python-requests/i, /python-urllib/i, /go-http-client/i,
  /curl\//i, /wget\//i, /libwww-perl/i, /java\//i, /\bbot\b/i, /bot[/;)]/i, /crawler/i, /spider/i, /scanner/i,
];
const PROXY_UA = [/^mozilla\/5\.0$/i, /googleimageproxy/i, /ggpht\.com/i, /yahoomailproxy/i];
const botAgent = (ua: string): boolean => BOT_UA.some((re) => re.test(ua));

/** An open made by a machine: provider flag, Apple MPP's bare UA, an image proxy's UA, or a scanner / bot UA. */
export function isMachineOpen(e: RawEvent): boolean {
  if (kindOf(e) !== 'open') return false;
  const ua = UA_OF(e);
  return flag(e, 'machine_open') || flag(e, 'sg_machine_open') || PROXY_UA.some((re) => re.test(ua)) || botAgent(ua);
}

/** A click made by a bot: provider flag, or a link scanner's / automated client's UA. */
export function isBotClick(e: RawEvent): boolean {
  if (kindOf(e) !== 'click') return false;
  return flag(e, 'bot_click') || flag(e, 'is_suspected_bot_click') || botAgent(UA_OF(e));
}

/** Seconds of the timing rule: a click this soon after its message's first delivery is a scanner's. */
export const EARLY_CLICK_SECONDS = 30;

const epoch = (ts: string): number => Date.parse(ts.replace(' ', 'T') + 'Z') / 1000;

/**
 * Clicks not flagged as bot clicks that came at most EARLY_CLICK_SECONDS after the first delivery of the same
 * message (email_id). `deliveriesFrom` are the events to look deliveries up in (the whole campaign); the clicks
 * counted are those of `events`.
 */
export function earlyClicks(events: RawEvent[], deliveriesFrom: RawEvent[]): RawEvent[] {
  const delivered = new Map<string, number>();
  for (const e of deliveriesFrom) {
    if (kindOf(e) !== 'delivered') continue;
    const t = epoch(e.timestamp);
    const id = String(e.email_id);
    if (!delivered.has(id) || t < delivered.get(id)!) delivered.set(id, t);
  }
  return events.filter((e) => {
    if (kindOf(e) !== 'click' || isBotClick(e)) return false;
    const d = delivered.get(String(e.email_id));
    if (d === undefined) return false;
    const dt = epoch(e.timestamp) - d;
    return dt >= 0 && dt <= EARLY_CLICK_SECONDS;
  });
}

export interface Metrics {
  sends: number;
  deliveries: number;
  opens: number;
  unique_opens: number;
  unique_human_opens: number;
  clicks: number;
  unique_clicks: number;
  unique_human_clicks: number;
  bounces: number;
  complaints: number;
  unsubscribes: number;
}

const rate = (num: number, den: number): number | null => (den === 0 ? null : Math.round((num / den) * 100 * 100) / 100);

export function metricsOf(events: RawEvent[]): Metrics & Record<string, number | null> {
  const count = (k: string) => events.filter((e) => kindOf(e) === k).length;
  const uniq = (k: string, filter: (e: RawEvent) => boolean = () => true) => new Set(events.filter((e) => kindOf(e) === k && filter(e)).map((e) => e.recipient_id)).size;
  const m = {
    sends: count('send'),
    deliveries: count('delivered'),
    opens: count('open'),
    unique_opens: uniq('open'),
    unique_human_opens: uniq('open', (e) => !isMachineOpen(e)),
    clicks: count('click'),
    unique_clicks: uniq('click'),
    unique_human_clicks: uniq('click', (e) => !isBotClick(e)),
    bounces: count('bounce'),
    complaints: count('complaint'),
    unsubscribes: count('unsubscribe'),
  };
  return {
    ...m,
    delivery_rate: rate(m.deliveries, m.sends),
    bounce_rate: rate(m.bounces, m.sends),
    open_rate: rate(m.unique_opens, m.deliveries),
    click_through_rate: rate(m.unique_clicks, m.deliveries),
    click_to_open_rate: rate(m.unique_clicks, m.unique_opens),
    human_open_rate: rate(m.unique_human_opens, m.deliveries),
    human_click_through_rate: rate(m.unique_human_clicks, m.deliveries),
    human_click_to_open_rate: rate(m.unique_human_clicks, m.unique_human_opens),
  };
}

export function byCampaign(events: RawEvent[]): Map<string, RawEvent[]> {
  const out = new Map<string, RawEvent[]>();
  for (const e of events) out.set(e.campaign_id, [...(out.get(e.campaign_id) ?? []), e]);
  return out;
}

/** Start of the day (UTC) of a 'YYYY-MM-DD hh:mm:ss' timestamp, same format. */
export function dayOf(ts: string): string {
  return `${ts.slice(0, 10)} 00:00:00`;
}

/** Monday 00:00 (UTC) of the week of a 'YYYY-MM-DD hh:mm:ss' timestamp, same format. */
export function weekOf(ts: string): string {
  const d = new Date(`${ts.slice(0, 10)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return `${d.toISOString().slice(0, 10)} 00:00:00`;
}
