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

function machineOpen(e: RawEvent): boolean {
  try {
    return (JSON.parse(e.metadata) as { machine_open?: boolean }).machine_open === true;
  } catch {
    return false;
  }
}

export interface Metrics {
  sends: number;
  deliveries: number;
  opens: number;
  unique_opens: number;
  unique_human_opens: number;
  clicks: number;
  unique_clicks: number;
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
    unique_human_opens: uniq('open', (e) => !machineOpen(e)),
    clicks: count('click'),
    unique_clicks: uniq('click'),
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
