// `POST /v0/webhooks/<provider>?name=<ds>[&wait=true]`: email provider webhooks (SendGrid, Mailgun, Postmark, Amazon
// SES through SNS, Resend). The provider's signature (or credentials) authenticates the request instead of a
// token; verified events are mapped onto email_events' columns (cli/src/webhooks/) and go through the same
// Ingestor as the Events API: the answer comes once they are in the write-ahead log.
import type { ServerResponse } from 'node:http';
import { RecentEventIds, storedEventIds } from '../../webhooks/dedup.js';
import { webhookProvider, WebhookError, WEBHOOK_PROVIDERS, type EmailEventRow } from '../../webhooks/index.js';
import { IngestError, type Ingestor, type IngestResult } from '../../ingest/index.js';
import { HttpError, param, sendJson, type Request } from '../http.js';
import type { Workspace } from '../workspace.js';
import { ingestHttpError, ingestorOf, ingestTarget } from './events.js';

/** Columns a datasource needs for webhook rows. */
const REQUIRED_COLUMNS = ['event_id', 'timestamp', 'event_type', 'campaign_id'];

/** Recently accepted ids per Ingestor (one per process and WAL). */
const recentIds = new WeakMap<Ingestor, RecentEventIds>();

/**
 * Each provider is set up once per process from its environment (keys and certificates parsed once, not on every
 * delivery; the messages tell users to restart after changing a setting). Unknown names are not remembered.
 */
const providers = new Map<string, NonNullable<ReturnType<typeof webhookProvider>> | Error>();

function providerFor(name: string): ReturnType<typeof webhookProvider> | Error {
  let found = providers.get(name);
  if (!found) {
    try {
      const made = webhookProvider(name, process.env);
      if (!made) return undefined;
      found = made;
    } catch (err) {
      found = err as Error;
    }
    providers.set(name, found);
  }
  return found;
}

export async function postWebhook(ws: Workspace, req: Request, res: ServerResponse, provider: string, log: (line: string) => void = () => {}): Promise<void> {
  const found = providerFor(provider);
  // A setting that is present but unusable (not a key, not a certificate): the message names the variable, never its value.
  if (found instanceof Error) throw new HttpError(501, `the ${provider} webhook is misconfigured: ${found.message}; fix it, then restart emailstats`);
  if (!found) throw new HttpError(404, `no webhook for provider '${provider}'; providers: ${WEBHOOK_PROVIDERS.join(', ')}`);
  if (!found.configured) throw new HttpError(501, `the ${provider} webhook is not configured: ${found.howTo}, then restart emailstats`);
  const name = param(req, 'name') ?? 'email_events';
  const ds = ws.project.datasources.get(name);
  if (!ds) throw new HttpError(404, `datasource '${name}' not found: point the webhook at ?name=email_events (or a datasource with its columns)`);
  const missing = REQUIRED_COLUMNS.filter((c) => !ds.columns.some((col) => col.name === c));
  if (missing.length) throw new HttpError(400, `datasource '${name}' lacks the column(s) ${missing.join(', ')} webhook events are stored in: point the webhook at ?name=email_events, or add them to ${name}.datasource (as email_events.datasource has them) and rebuild or deploy`);
  const ingestor = ingestorOf(ws);

  let outcome;
  try {
    outcome = await found.handle({ headers: req.headers, body: req.body ?? Buffer.alloc(0), now: Date.now() }, log);
  } catch (err) {
    if (err instanceof WebhookError) throw new HttpError(err.status, err.message);
    throw err;
  }
  const { rows, note } = outcome;

  // Duplicates: ids this process is handling or handled lately, then ids already in the table.
  const recent = recentIds.get(ingestor) ?? new RecentEventIds();
  recentIds.set(ingestor, recent);
  const keyOf = (row: EmailEventRow): string => `${name}\0${row.event_id}`;
  const claimed = recent.claim(rows.map(keyOf));
  // A retry that arrives while the first request is still storing the same event must not be told "duplicate":
  // if that first request then fails, the provider would have its acknowledgement and the event would be lost.
  const inFlight = rows.find((r) => !claimed.has(keyOf(r)) && recent.isPending(keyOf(r)));
  if (inFlight) {
    recent.settle(claimed, false);
    throw new HttpError(503, `event ${inFlight.event_id} is being stored by another request right now; nothing of this request was stored, retry in a few seconds`, {}, { 'retry-after': '5' });
  }
  let fresh: EmailEventRow[];
  try {
    const candidates = uniqueBy(rows.filter((r) => claimed.has(keyOf(r))), keyOf);
    const stored = candidates.length ? await storedEventIds(ws.engine, ds.name, candidates) : new Set<string>();
    fresh = candidates.filter((r) => !stored.has(r.event_id));
  } catch (err) {
    recent.settle(claimed, false);
    throw new HttpError(503, `cannot check ${name} for already stored events (${(err as Error).message}); nothing was stored, the provider's retry will succeed once ClickHouse answers`, {}, { 'retry-after': '30' });
  }

  const wait = /^(1|true|yes)$/i.test(param(req, 'wait') ?? '');
  let result: IngestResult = { successful_rows: 0, quarantined_rows: 0 };
  try {
    if (fresh.length) {
      const body = Buffer.from(fresh.map((r) => JSON.stringify(r)).join('\n') + '\n', 'utf8');
      result = await ingestor.ingest(ingestTarget(ds), body, { wait });
    }
  } catch (err) {
    // wait=true timing out after the write leaves the rows in the WAL ("do not resend"): they stay claimed, so the
    // provider's retry is a duplicate; any other failure stored nothing, and the retry must go through.
    recent.settle(claimed, err instanceof IngestError && /do not resend/.test(err.message));
    throw ingestHttpError(err);
  }
  recent.settle(claimed, true);
  sendJson(res, 200, { provider, datasource: name, received: rows.length, duplicates: rows.length - fresh.length, ...result, ...note }, { 'x-request-id': req.requestId });
}

function uniqueBy<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => !seen.has(key(item)) && (seen.add(key(item)), true));
}
