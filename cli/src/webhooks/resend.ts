// Resend webhooks, signed by Svix: `svix-signature` holds `v1,<base64 HMAC-SHA256 of "<svix-id>.<svix-timestamp>.<body>">`
// (several, space-separated, while a secret rotates), keyed with the base64 part of the `whsec_` secret.
// https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests ; https://docs.svix.com/receiving/verifying-payloads/how-manual
import { createHmac } from 'node:crypto';
import { badPayload, emailEventRow, header, isObject, metadataJson, parseJson, requiredTimestamp, safeEqual, str, unauthorized, type EmailEventRow, type WebhookInput } from './types.js';

export const RESEND_SECRET_ENV = 'EMAILSTATS_WEBHOOK_RESEND_SECRET';
export const RESEND_HOW_TO = `set ${RESEND_SECRET_ENV} to the webhook's signing secret (Resend: Webhooks > your endpoint > Signing secret, 'whsec_...')`;
/** Svix's tolerance: older (or later) timestamps are replays or a wrong clock. */
export const RESEND_TOLERANCE_SECONDS = 5 * 60;

export function resendSecret(env: NodeJS.ProcessEnv): Buffer | undefined {
  const text = env[RESEND_SECRET_ENV]?.trim();
  if (!text) return undefined;
  const key = Buffer.from(text.replace(/^whsec_/, ''), 'base64');
  if (!key.length) throw new Error(`${RESEND_SECRET_ENV} is not a Svix secret: ${RESEND_HOW_TO}`);
  return key;
}

/** Checks the Svix headers; 401 when missing, outside the time window, or not matching. */
export function verifyResend(secret: Buffer, input: WebhookInput): { id: string } {
  const id = header(input.headers, 'svix-id');
  const timestamp = header(input.headers, 'svix-timestamp');
  const signatures = header(input.headers, 'svix-signature');
  if (!id || !timestamp || !signatures) throw unauthorized('Resend webhook without svix-id, svix-timestamp and svix-signature headers');
  const seconds = Number(timestamp);
  if (!/^\d+$/.test(timestamp) || Math.abs(input.now / 1000 - seconds) > RESEND_TOLERANCE_SECONDS)
    throw unauthorized(`Resend webhook timestamp ${timestamp} is more than ${RESEND_TOLERANCE_SECONDS} s away from this server's clock: a replayed request, or a clock to fix`);
  const expected = createHmac('sha256', secret).update(`${id}.${timestamp}.`).update(input.body).digest('base64');
  const matches = signatures.split(' ').some((entry) => {
    const [version, sig] = entry.split(',', 2);
    return version === 'v1' && sig !== undefined && safeEqual(sig, expected);
  });
  if (!matches) throw unauthorized(`Resend signature does not match: check that ${RESEND_SECRET_ENV} is this endpoint's signing secret`);
  return { id };
}

/** Resend's tags: `{name: value}` or `[{name, value}]`. */
function tagsOf(v: unknown): Record<string, string> {
  const tags: Record<string, string> = {};
  if (Array.isArray(v)) for (const t of v) if (isObject(t) && str(t.name)) tags[str(t.name)] = str(t.value);
  if (isObject(v)) for (const [k, val] of Object.entries(v)) tags[k] = str(val);
  return tags;
}

/**
 * One row; event_id is the Svix message id (the same on every retry). event_type is Resend's type without the
 * `email.` prefix (`email.opened` → `opened`), the spelling email_events' event_kind knows. Campaign: the
 * `campaign_id` tag.
 */
export function mapResend(payload: unknown, svixId: string): EmailEventRow[] {
  if (!isObject(payload)) throw badPayload('Resend webhook body must be a JSON object');
  const type = str(payload.type);
  if (!type) throw badPayload("Resend webhook has no 'type'");
  const data = isObject(payload.data) ? payload.data : {};
  const tags = tagsOf(data.tags);
  const to = Array.isArray(data.to) ? data.to.map(str) : [str(data.to)];
  const click = isObject(data.click) ? data.click : {};
  const open = isObject(data.open) ? data.open : {};
  const bounce = isObject(data.bounce) ? data.bounce : {};
  return [
    emailEventRow({
      event_id: svixId,
      timestamp: requiredTimestamp(click.timestamp ?? open.timestamp ?? payload.created_at ?? data.created_at, 'created_at'),
      event_type: type.replace(/^email\./, ''),
      campaign_id: tags.campaign_id ?? '',
      email_id: str(data.email_id),
      recipient_id: tags.recipient_id ?? '',
      recipient_email: to[0] ?? '',
      link_url: str(click.link),
      metadata: metadataJson({ provider: 'resend', type, tags, ip: click.ipAddress ?? open.ipAddress, bounce_type: bounce.type, bounce_message: bounce.message }),
      user_agent: str(click.userAgent) || str(open.userAgent),
    }),
  ];
}

export function parseResend(input: WebhookInput): unknown {
  return parseJson(input.body, 'Resend webhook');
}
