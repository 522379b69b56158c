// Postmark webhooks: one JSON object per POST (RecordType Delivery, Bounce, SpamComplaint, Open, Click,
// SubscriptionChange). Postmark signs nothing; the webhook URL carries HTTP Basic auth credentials, or a custom
// header holds a token (both set on the webhook in Postmark).
// https://postmarkapp.com/developer/webhooks/webhooks-overview
import { badPayload, derivedId, emailEventRow, header, isObject, metadataJson, parseJson, requiredTimestamp, safeEqual, str, unauthorized, type EmailEventRow, type WebhookInput } from './types.js';

export const POSTMARK_TOKEN_ENV = 'EMAILSTATS_WEBHOOK_POSTMARK_TOKEN';
export const POSTMARK_BASIC_ENV = 'EMAILSTATS_WEBHOOK_POSTMARK_BASIC_AUTH';
export const POSTMARK_TOKEN_HEADER = 'x-emailstats-webhook-token';
export const POSTMARK_HOW_TO =
  `set ${POSTMARK_BASIC_ENV}=user:password and put those credentials in the webhook URL (https://user:password@host/v0/webhooks/postmark?name=email_events), ` +
  `or set ${POSTMARK_TOKEN_ENV} and add a custom header '${POSTMARK_TOKEN_HEADER}: <token>' to the webhook`;

export interface PostmarkAuth {
  basic?: string;
  token?: string;
}

export function postmarkAuth(env: NodeJS.ProcessEnv): PostmarkAuth | undefined {
  const basic = env[POSTMARK_BASIC_ENV] || undefined;
  const token = env[POSTMARK_TOKEN_ENV]?.trim() || undefined;
  if (basic !== undefined && !basic.includes(':')) throw new Error(`${POSTMARK_BASIC_ENV} must be 'user:password'`);
  return basic || token ? { basic, token } : undefined;
}

/** Accepts the request when any configured credential matches; 401 otherwise. */
export function verifyPostmark(auth: PostmarkAuth, input: WebhookInput): void {
  const authorization = header(input.headers, 'authorization') ?? '';
  if (auth.basic && /^basic\s+/i.test(authorization)) {
    const presented = Buffer.from(authorization.replace(/^basic\s+/i, ''), 'base64').toString('utf8');
    if (safeEqual(presented, auth.basic)) return;
  }
  const token = header(input.headers, POSTMARK_TOKEN_HEADER);
  if (auth.token && token !== undefined && safeEqual(token, auth.token)) return;
  const expected = [auth.basic && 'HTTP Basic credentials in the webhook URL', auth.token && `the '${POSTMARK_TOKEN_HEADER}' header`].filter(Boolean).join(' or ');
  throw unauthorized(`Postmark webhook not authenticated: expected ${expected} matching the configured value`);
}

/** The event's time, by record type. */
const TIME_FIELD: Record<string, string> = { Delivery: 'DeliveredAt', Bounce: 'BouncedAt', SpamComplaint: 'BouncedAt', Open: 'ReceivedAt', Click: 'ReceivedAt', SubscriptionChange: 'ChangedAt' };

/** One row. Campaign: `Metadata.campaign_id`, else `Tag`. */
export function mapPostmark(payload: unknown): EmailEventRow[] {
  if (!isObject(payload)) throw badPayload('Postmark webhook body must be a JSON object');
  const type = str(payload.RecordType);
  if (!type) throw badPayload("Postmark webhook has no 'RecordType'");
  const field = TIME_FIELD[type] ?? 'ReceivedAt';
  const metadata = isObject(payload.Metadata) ? payload.Metadata : {};
  const email = str(payload.Recipient) || str(payload.Email);
  const link = str(payload.OriginalLink);
  // Bounces and complaints have a numeric ID; the other records are identified by what they are about.
  const id = str(payload.ID) ? `postmark_${type}_${str(payload.ID)}` : derivedId('postmark', [type, payload.MessageID, email, payload[field], link]);
  return [
    emailEventRow({
      event_id: id,
      timestamp: requiredTimestamp(payload[field], field),
      event_type: type,
      campaign_id: str(metadata.campaign_id) || str(payload.Tag),
      email_id: str(payload.MessageID),
      recipient_id: str(metadata.recipient_id),
      recipient_email: email,
      link_url: link,
      metadata: metadataJson({
        provider: 'postmark',
        tag: payload.Tag,
        message_stream: payload.MessageStream,
        bounce_type: payload.Type,
        type_code: payload.TypeCode,
        description: payload.Description,
        suppress_sending: payload.SuppressSending,
        suppression_reason: payload.SuppressionReason,
        platform: payload.Platform,
        click_location: payload.ClickLocation,
      }),
      user_agent: str(payload.UserAgent),
    }),
  ];
}

export function parsePostmark(input: WebhookInput): unknown {
  return parseJson(input.body, 'Postmark webhook');
}
