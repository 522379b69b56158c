// The email application's event row: the columns of the seed's `email_events` that emailstats writes itself,
// from the mock generator (mock/email.ts) and from provider webhooks (webhooks/). Flags the datasource computes
// (event_kind, is_machine_open, is_bot_click) are left to its DEFAULTs.

/** One email_events row. event_kind is left to the datasource (computed from event_type on insert). */
export interface EmailEventRow {
  /** Unique per event; from a webhook, the provider's own event id, so a retry carries the same id. */
  event_id: string;
  /** UTC, `YYYY-MM-DD hh:mm:ss`. */
  timestamp: string;
  /** The provider's own event name (`processed`, `opened`, `Bounce`, ...). */
  event_type: string;
  campaign_id: string;
  email_id: string;
  recipient_id: string;
  recipient_email: string;
  link_url: string;
  /** JSON text: `provider` and the provider's details worth keeping (reason, tags, ip, machine_open...). */
  metadata: string;
  user_agent: string;
}

/** The seed's email_events columns, in schema order. */
export const EMAIL_EVENT_COLUMNS = [
  'event_id', 'timestamp', 'event_type', 'campaign_id', 'email_id', 'recipient_id', 'recipient_email', 'link_url', 'metadata', 'user_agent',
] as const;
