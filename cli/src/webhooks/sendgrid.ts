// SendGrid Event Webhook: a JSON array of events, signed with ECDSA P-256 (SHA-256) over timestamp + body.
// https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { badPayload, derivedId, emailEventRow, header, isObject, metadataJson, parseJson, requiredTimestamp, str, unauthorized, type EmailEventRow, type WebhookInput } from './types.js';

export const SENDGRID_KEY_ENV = 'EMAILSTATS_WEBHOOK_SENDGRID_PUBLIC_KEY';
export const SENDGRID_HOW_TO =
  `set ${SENDGRID_KEY_ENV} to the verification key SendGrid shows under Settings > Mail Settings > Event Webhook > Signature Verification (the base64 text, or a PEM public key)`;
const SIGNATURE = 'x-twilio-email-event-webhook-signature';
const TIMESTAMP = 'x-twilio-email-event-webhook-timestamp';

/** The configured public key, undefined when the provider is not configured. */
export function sendgridKey(env: NodeJS.ProcessEnv): KeyObject | undefined {
  const text = env[SENDGRID_KEY_ENV]?.trim();
  if (!text) return undefined;
  try {
    return text.includes('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
  } catch (err) {
    throw new Error(`${SENDGRID_KEY_ENV} is not an ECDSA public key (${(err as Error).message}); ${SENDGRID_HOW_TO}`);
  }
}

/** Checks the signature; 401 when it is missing or does not match. */
export function verifySendgrid(key: KeyObject, input: WebhookInput): void {
  const signature = header(input.headers, SIGNATURE);
  const timestamp = header(input.headers, TIMESTAMP);
  if (!signature || !timestamp) throw unauthorized(`SendGrid signature headers missing (${SIGNATURE}, ${TIMESTAMP}): turn on Signature Verification for the Event Webhook`);
  const signed = Buffer.concat([Buffer.from(timestamp, 'utf8'), input.body]);
  let ok = false;
  try {
    ok = verify('sha256', signed, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw unauthorized(`SendGrid signature does not match: check that ${SENDGRID_KEY_ENV} is this webhook's verification key`);
}

/** Fields of a SendGrid event copied into metadata when present. */
const DETAILS = ['category', 'reason', 'type', 'bounce_classification', 'status', 'response', 'attempt', 'ip', 'tls', 'asm_group_id', 'sg_message_id', 'url_offset'];

/** One row per event of the array. Campaign: the `campaign_id` custom arg, else the first category. */
export function mapSendgrid(payload: unknown): EmailEventRow[] {
  if (!Array.isArray(payload)) throw badPayload('SendGrid Event Webhook body must be a JSON array of events');
  return payload.map((event, i) => {
    if (!isObject(event)) throw badPayload(`SendGrid event ${i} is not an object`);
    const type = str(event.event);
    if (!type) throw badPayload(`SendGrid event ${i} has no 'event'`);
    const categories = Array.isArray(event.category) ? event.category.map(str) : event.category !== undefined ? [str(event.category)] : [];
    const email = str(event.email);
    const details: Record<string, unknown> = { provider: 'sendgrid' };
    for (const k of DETAILS) details[k] = event[k];
    // Apple Mail Privacy Protection: the datasource's is_machine_open DEFAULT reads metadata.machine_open.
    if (event.sg_machine_open === true || event.sg_machine_open === 'true') details.machine_open = true;
    return emailEventRow({
      event_id: str(event.sg_event_id) || derivedId('sendgrid', [type, event.sg_message_id, email, event.timestamp, event.url]),
      timestamp: requiredTimestamp(event.timestamp, `event ${i} timestamp`),
      event_type: type,
      campaign_id: str(event.campaign_id) || categories[0] || '',
      email_id: str(event.sg_message_id),
      recipient_id: str(event.recipient_id),
      recipient_email: email,
      link_url: str(event.url),
      metadata: metadataJson(details),
      user_agent: str(event.useragent),
    });
  });
}

export function parseSendgrid(input: WebhookInput): unknown {
  return parseJson(input.body, 'SendGrid Event Webhook');
}
