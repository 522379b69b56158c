// Amazon SES events through SNS: configuration, and the SES event JSON (the SNS Notification's Message) mapped
// onto email_events. https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { badPayload, emailEventRow, isObject, metadataJson, requiredTimestamp, str, type EmailEventRow } from './types.js';
import { certificateKey } from './sns.js';

export const SES_TOPICS_ENV = 'EMAILSTATS_WEBHOOK_SES_TOPIC_ARNS';
export const SES_CERT_ENV = 'EMAILSTATS_WEBHOOK_SES_CERT';
export const SES_AUTO_CONFIRM_ENV = 'EMAILSTATS_WEBHOOK_SES_AUTO_CONFIRM';
export const SES_HOW_TO =
  `set ${SES_TOPICS_ENV} to the ARNs of the SNS topics your SES configuration set publishes to (comma-separated); ` +
  `optionally ${SES_CERT_ENV} to the SNS signing certificate (PEM text or a file path) when this server cannot fetch it from sns.<region>.amazonaws.com`;

export interface SesConfig {
  topics: Set<string>;
  /** Configured signing certificate's key; undefined = fetch SigningCertURL from SNS. */
  certificate?: KeyObject;
  /** GET SubscribeURL on a SubscriptionConfirmation (default); false = only log it. */
  autoConfirm: boolean;
}

export function sesConfig(env: NodeJS.ProcessEnv): SesConfig | undefined {
  const topics = (env[SES_TOPICS_ENV] ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  if (!topics.length) return undefined;
  let certificate: KeyObject | undefined;
  const cert = env[SES_CERT_ENV]?.trim();
  if (cert) {
    try {
      certificate = certificateKey(cert.includes('-----BEGIN') ? cert : readFileSync(cert, 'utf8'));
    } catch (err) {
      throw new Error(`${SES_CERT_ENV} is not a PEM certificate or the path of one (${(err as Error).message})`);
    }
  }
  return { topics: new Set(topics), certificate, autoConfirm: !/^(0|false|no)$/i.test(env[SES_AUTO_CONFIRM_ENV] ?? '') };
}

function addresses(list: unknown): string[] {
  return Array.isArray(list) ? list.map((r) => (isObject(r) ? str(r.emailAddress) : str(r))).filter(Boolean) : [];
}

/** Where each event type keeps its details, its time and (when it is per recipient) its recipients. */
function detailsOf(event: Record<string, unknown>, type: string): { detail: Record<string, unknown>; recipients?: string[] } {
  const key = type === 'Rendering Failure' ? 'failure' : type === 'DeliveryDelay' ? 'deliveryDelay' : type.toLowerCase();
  const detail = isObject(event[key]) ? event[key] : {};
  if (type === 'Bounce') return { detail, recipients: addresses(detail.bouncedRecipients) };
  if (type === 'Complaint') return { detail, recipients: addresses(detail.complainedRecipients) };
  if (type === 'Delivery') return { detail, recipients: addresses(detail.recipients) };
  if (type === 'DeliveryDelay') return { detail, recipients: addresses(detail.delayedRecipients) };
  return { detail };
}

/** Opens, clicks and subscription changes are one recipient's act; sends and rejects concern every destination. */
const ONE_RECIPIENT = new Set(['Open', 'Click', 'Subscription']);

/**
 * Rows of one SES event: one per recipient it concerns. event_id is the SNS MessageId (the same on every SNS
 * retry), with `:<n>` after it for the second recipient on. Campaign: the `campaign_id` message tag.
 */
export function mapSes(message: unknown, snsMessageId: string): EmailEventRow[] {
  if (!isObject(message)) throw badPayload('SES event (the SNS Message) must be a JSON object');
  const type = str(message.eventType) || str(message.notificationType);
  if (!type) throw badPayload("SES event has no 'eventType' (or 'notificationType')");
  const mail = isObject(message.mail) ? message.mail : {};
  const tags = isObject(mail.tags) ? mail.tags : {};
  const tag = (name: string): string => (Array.isArray(tags[name]) ? str((tags[name] as unknown[])[0]) : str(tags[name]));
  const { detail, recipients } = detailsOf(message, type);
  const destination = addresses(mail.destination);
  const who = recipients?.length ? recipients : ONE_RECIPIENT.has(type) ? destination.slice(0, 1) : destination;
  const timestamp = requiredTimestamp(detail.timestamp ?? mail.timestamp, `${type} timestamp`);
  const metadata = metadataJson({
    provider: 'ses',
    bounce_type: detail.bounceType,
    bounce_subtype: detail.bounceSubType,
    complaint_type: detail.complaintFeedbackType,
    smtp_response: detail.smtpResponse,
    reason: detail.reason ?? detail.errorMessage ?? detail.delayType,
    ip: detail.ipAddress,
    link_tags: detail.linkTags,
    source: mail.source,
  });
  return (who.length ? who : ['']).map((email, i) =>
    emailEventRow({
      event_id: i === 0 ? snsMessageId : `${snsMessageId}:${i}`,
      timestamp,
      event_type: type,
      campaign_id: tag('campaign_id'),
      email_id: str(mail.messageId),
      recipient_id: tag('recipient_id'),
      recipient_email: email,
      link_url: str(detail.link),
      metadata,
      user_agent: str(detail.userAgent),
    }),
  );
}
