// Mailgun webhooks: one JSON object per POST, `{ signature: {timestamp, token, signature}, "event-data": {...} }`;
// the signature is the hex HMAC-SHA256 of timestamp + token with the account's HTTP webhook signing key.
// https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
import { createHmac } from 'node:crypto';
import { badPayload, emailEventRow, isObject, metadataJson, parseJson, requiredTimestamp, safeEqual, str, unauthorized, WebhookError, type EmailEventRow, type WebhookInput } from './types.js';

export const MAILGUN_KEY_ENV = 'EMAILSTATS_WEBHOOK_MAILGUN_SIGNING_KEY';
export const MAILGUN_HOW_TO = `set ${MAILGUN_KEY_ENV} to the HTTP webhook signing key (Mailgun: Sending > Webhooks > HTTP webhook signing key)`;

/**
 * Mailgun signs the timestamp and a random token only, not the event: a signature block seen once would vouch for
 * any event-data forever. Two limits, as Mailgun's guide advises: the timestamp must be recent (Mailgun retries for
 * 8 hours, so a day back; a quarter of an hour ahead for clocks), and a token vouches for one event id only (the
 * same id again is a retry, which dedup answers; another id is a forgery). The tokens are kept in memory, the
 * newest MAILGUN_TOKENS_KEPT of them: after a restart, or past that many, only the time window applies.
 */
export const MAILGUN_MAX_AGE_SECONDS = 24 * 3600;
const MAILGUN_MAX_AHEAD_SECONDS = 15 * 60;
const MAILGUN_TOKENS_KEPT = 100_000;
const tokenEvents = new Map<string, string>();

function checkFreshness(timestamp: string, token: string, eventId: string, nowMs: number): void {
  const seconds = Number(timestamp);
  const age = nowMs / 1000 - seconds;
  if (!/^\d+$/.test(timestamp) || age > MAILGUN_MAX_AGE_SECONDS || age < -MAILGUN_MAX_AHEAD_SECONDS)
    throw unauthorized(`Mailgun signature timestamp ${timestamp} is more than a day old or ahead of this server's clock: a replayed signature, or a clock to fix`);
  const seen = tokenEvents.get(token);
  if (seen !== undefined && seen !== eventId) throw unauthorized('Mailgun signature token was already used for another event: a replayed signature');
  if (seen === undefined) {
    tokenEvents.set(token, eventId);
    if (tokenEvents.size > MAILGUN_TOKENS_KEPT) tokenEvents.delete(tokenEvents.keys().next().value!);
  }
}

export function mailgunKey(env: NodeJS.ProcessEnv): string | undefined {
  return env[MAILGUN_KEY_ENV]?.trim() || undefined;
}

/** Parses the body and checks its signature block; 401 when it is missing or does not match. */
export function verifyMailgun(signingKey: string, input: WebhookInput): Record<string, unknown> {
  const type = String(input.headers['content-type'] ?? '');
  if (!input.body.length && type.startsWith('application/x-www-form-urlencoded'))
    throw new WebhookError(415, 'Mailgun legacy form-encoded webhooks are not supported: use the JSON webhooks (Sending > Webhooks in the Mailgun app)');
  const payload = parseJson(input.body, 'Mailgun webhook');
  if (!isObject(payload)) throw badPayload('Mailgun webhook body must be a JSON object with "signature" and "event-data"');
  const sig = payload.signature;
  if (!isObject(sig) || !str(sig.timestamp) || !str(sig.token) || !str(sig.signature))
    throw unauthorized('Mailgun webhook has no "signature" {timestamp, token, signature}: only signed JSON webhooks are accepted');
  const expected = createHmac('sha256', signingKey).update(str(sig.timestamp) + str(sig.token)).digest('hex');
  if (!safeEqual(expected, str(sig.signature).toLowerCase()))
    throw unauthorized(`Mailgun signature does not match: check that ${MAILGUN_KEY_ENV} is the HTTP webhook signing key of this account`);
  const data = payload['event-data'];
  checkFreshness(str(sig.timestamp), str(sig.token), isObject(data) ? str(data.id) : '', input.now);
  return payload;
}

/** One row. Campaign: `user-variables.campaign_id`, else the first tag. */
export function mapMailgun(payload: Record<string, unknown>): EmailEventRow[] {
  const data = payload['event-data'];
  if (!isObject(data)) throw badPayload('Mailgun webhook has no "event-data" object');
  const type = str(data.event);
  if (!type) throw badPayload("Mailgun event-data has no 'event'");
  const id = str(data.id);
  if (!id) throw badPayload("Mailgun event-data has no 'id'");
  const vars = isObject(data['user-variables']) ? data['user-variables'] : {};
  const tags = Array.isArray(data.tags) ? data.tags.map(str).filter(Boolean) : [];
  const message = isObject(data.message) ? data.message : {};
  const headers = isObject(message.headers) ? message.headers : {};
  const client = isObject(data['client-info']) ? data['client-info'] : {};
  const status = isObject(data['delivery-status']) ? data['delivery-status'] : {};
  return [
    emailEventRow({
      event_id: id,
      timestamp: requiredTimestamp(data.timestamp, 'event-data.timestamp'),
      event_type: type,
      campaign_id: str(vars.campaign_id) || tags[0] || '',
      email_id: str(headers['message-id']),
      recipient_id: str(vars.recipient_id),
      recipient_email: str(data.recipient),
      link_url: str(data.url),
      metadata: metadataJson({
        provider: 'mailgun',
        tags,
        severity: data.severity,
        reason: data.reason,
        delivery_status: str(status.message) || str(status.description) || undefined,
        delivery_code: status.code,
        ip: data.ip,
        client_type: client['client-type'],
        device_type: client['device-type'],
      }),
      user_agent: str(client['user-agent']),
    }),
  ];
}
