// The provider webhooks: which providers exist, whether each is configured (from the environment), and how a
// request to one becomes email_events rows (verify first, then map).
import { badPayload, parseJson, unauthorized, type EmailEventRow, type WebhookInput } from './types.js';
import { mapSendgrid, parseSendgrid, SENDGRID_HOW_TO, sendgridKey, verifySendgrid } from './sendgrid.js';
import { mailgunKey, MAILGUN_HOW_TO, mapMailgun, verifyMailgun } from './mailgun.js';
import { mapPostmark, parsePostmark, postmarkAuth, POSTMARK_HOW_TO, verifyPostmark } from './postmark.js';
import { mapResend, parseResend, RESEND_HOW_TO, resendSecret, verifyResend } from './resend.js';
import { mapSes, sesConfig, SES_HOW_TO, SES_TOPICS_ENV, type SesConfig } from './ses.js';
import { confirmSubscription, parseSnsMessage, snsUrl, verifySnsMessage } from './sns.js';

export { WebhookError, type EmailEventRow, type WebhookInput } from './types.js';

export interface WebhookOutcome {
  /** Verified events as email_events rows (none for SNS subscription messages). */
  rows: EmailEventRow[];
  /** Extra fields for the answer (SNS subscription state). */
  note?: Record<string, unknown>;
}

export type WebhookHandler = (input: WebhookInput, log: (line: string) => void) => Promise<WebhookOutcome>;

interface Provider {
  /** What to set for the provider to be accepted. */
  howTo: string;
  /** The handler, or undefined when the environment does not configure the provider. Throws on a malformed setting. */
  handler(env: NodeJS.ProcessEnv): WebhookHandler | undefined;
}

const PROVIDERS: Record<string, Provider> = {
  sendgrid: {
    howTo: SENDGRID_HOW_TO,
    handler: (env) => {
      const key = sendgridKey(env);
      return key && (async (input) => (verifySendgrid(key, input), { rows: mapSendgrid(parseSendgrid(input)) }));
    },
  },
  mailgun: {
    howTo: MAILGUN_HOW_TO,
    handler: (env) => {
      const key = mailgunKey(env);
      return key === undefined ? undefined : async (input) => ({ rows: mapMailgun(verifyMailgun(key, input)) });
    },
  },
  postmark: {
    howTo: POSTMARK_HOW_TO,
    handler: (env) => {
      const auth = postmarkAuth(env);
      return auth && (async (input) => (verifyPostmark(auth, input), { rows: mapPostmark(parsePostmark(input)) }));
    },
  },
  resend: {
    howTo: RESEND_HOW_TO,
    handler: (env) => {
      const secret = resendSecret(env);
      return secret && (async (input) => ({ rows: mapResend(parseResend(input), verifyResend(secret, input).id) }));
    },
  },
  ses: {
    howTo: SES_HOW_TO,
    handler: (env) => {
      const config = sesConfig(env);
      return config && ((input, log) => handleSns(config, input, log));
    },
  },
};

export const WEBHOOK_PROVIDERS = Object.keys(PROVIDERS);

/** The provider's handler; `configured: false` with how to configure it; undefined for an unknown provider. */
export function webhookProvider(name: string, env: NodeJS.ProcessEnv): { configured: true; handle: WebhookHandler } | { configured: false; howTo: string } | undefined {
  const provider = Object.hasOwn(PROVIDERS, name) ? PROVIDERS[name] : undefined;
  if (!provider) return undefined;
  const handle = provider.handler(env);
  return handle ? { configured: true, handle } : { configured: false, howTo: provider.howTo };
}

async function handleSns(config: SesConfig, input: WebhookInput, log: (line: string) => void): Promise<WebhookOutcome> {
  const m = parseSnsMessage(parseJson(input.body, 'SNS message'));
  // Checked before the signature: a topic we do not serve costs no certificate fetch.
  if (!config.topics.has(m.TopicArn)) throw unauthorized(`SNS topic ${m.TopicArn} is not one of ${SES_TOPICS_ENV}: add it there to accept its messages`);
  await verifySnsMessage(m, config.certificate);
  if (m.Type === 'Notification') return { rows: mapSes(parseJson(Buffer.from(m.Message, 'utf8'), 'SES event (SNS Message)'), m.MessageId) };
  if (m.Type === 'UnsubscribeConfirmation') {
    log(`△ webhooks/ses: SNS unsubscribed this endpoint from ${m.TopicArn}; no more SES events arrive from it`);
    return { rows: [], note: { subscription: 'unsubscribed' } };
  }
  if (m.Type !== 'SubscriptionConfirmation') throw badPayload(`SNS message Type '${m.Type}' is not Notification, SubscriptionConfirmation or UnsubscribeConfirmation`);
  const url = snsUrl(m.SubscribeURL ?? '', 'SubscribeURL').href;
  if (!config.autoConfirm) {
    log(`» webhooks/ses: SNS subscription to ${m.TopicArn} waits for confirmation; open this URL to confirm it: ${url}`);
    return { rows: [], note: { subscription: 'pending', subscribe_url: url } };
  }
  try {
    await confirmSubscription(m);
    log(`✓ webhooks/ses: confirmed the SNS subscription to ${m.TopicArn}`);
    return { rows: [], note: { subscription: 'confirmed' } };
  } catch (err) {
    log(`△ webhooks/ses: could not confirm the SNS subscription to ${m.TopicArn} (${(err as Error).message}); open this URL to confirm it: ${url}`);
    return { rows: [], note: { subscription: 'pending', subscribe_url: url, error: (err as Error).message } };
  }
}
