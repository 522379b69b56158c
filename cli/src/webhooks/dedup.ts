// Webhook retries must not count twice, and email_events is a plain MergeTree (its rollups count every row
// inserted): events whose event_id is already stored, or was accepted by this process moments ago (still in the
// write-ahead log), are dropped before they reach the Ingestor.
import type { Engine } from '../engine/types.js';
import { quoteIdent, quoteString } from '../sql/quote.js';
import type { EmailEventRow } from './types.js';

/** Ids this process accepted (or is accepting) lately, oldest first; bounded. */
export class RecentEventIds {
  private readonly ids = new Map<string, 'pending' | 'stored'>();
  constructor(private readonly max = 200_000) {}

  /** Marks the ids nobody holds yet as pending and returns those; the others are duplicates. Synchronous, so two concurrent retries cannot both claim an id. */
  claim(keys: string[]): Set<string> {
    const claimed = new Set<string>();
    for (const key of keys) {
      if (this.ids.has(key) || claimed.has(key)) continue;
      claimed.add(key);
      this.ids.set(key, 'pending');
    }
    return claimed;
  }

  /** Whether another request holds the id right now: its outcome is not known yet, so this one is no duplicate yet. */
  isPending(key: string): boolean {
    return this.ids.get(key) === 'pending';
  }

  /** Stored: kept (newest); not stored: forgotten, so the provider's retry goes through. */
  settle(keys: Iterable<string>, stored: boolean): void {
    for (const key of keys) {
      this.ids.delete(key);
      if (stored) this.ids.set(key, 'stored');
    }
    while (this.ids.size > this.max) this.ids.delete(this.ids.keys().next().value!);
  }
}

/** Ids per query: keeps the SQL well under ClickHouse's max_query_size (256 KiB). */
const IDS_PER_QUERY = 1000;

/** Which of the rows' event_ids the table already holds (filtered on campaign_id too, the sorting key's head). */
export async function storedEventIds(engine: Engine, table: string, rows: EmailEventRow[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < rows.length; i += IDS_PER_QUERY) {
    const chunk = rows.slice(i, i + IDS_PER_QUERY);
    const campaigns = [...new Set(chunk.map((r) => r.campaign_id))].map(quoteString).join(', ');
    const ids = [...new Set(chunk.map((r) => r.event_id))].map(quoteString).join(', ');
    const sql = `SELECT DISTINCT event_id FROM ${quoteIdent(table)} WHERE campaign_id IN (${campaigns}) AND event_id IN (${ids})`;
    for (const row of await engine.queryRows<{ event_id: string }>(sql)) found.add(row.event_id);
  }
  return found;
}
