// Provider webhook modules: each provider's sample payload mapped onto email_events' columns, and each
// signature check against real keys (a good signature passes, a tampered body or a wrong key is 401).
import { describe, expect, it } from 'vitest';
import { mapSendgrid, sendgridKey, verifySendgrid } from '../../cli/src/webhooks/sendgrid.js';
import { mapMailgun, verifyMailgun } from '../../cli/src/webhooks/mailgun.js';
import { mapPostmark, postmarkAuth, verifyPostmark } from '../../cli/src/webhooks/postmark.js';
import { mapResend, resendSecret, verifyResend } from '../../cli/src/webhooks/resend.js';
import { mapSes } from '../../cli/src/webhooks/ses.js';
import { certificateKey, parseSnsMessage, snsUrl, verifySnsMessage } from '../../cli/src/webhooks/sns.js';
import { RecentEventIds } from '../../cli/src/webhooks/dedup.js';
import { webhookProvider } from '../../cli/src/webhooks/index.js';
import { parseJson, utcTimestamp, WebhookError, type WebhookInput } from '../../cli/src/webhooks/types.js';
import { mailgunEvents, postmarkRecords, resendEvents, sendgridEvents, sesEvents } from '../helpers/webhook-samples.js';
import { mailgunSignature, sendgridKeys, signedSns, snsCertificate, svixHeaders, svixSecret } from '../helpers/webhook-signing.js';

const input = (body: string, headers: Record<string, string> = {}, now = Date.now()): WebhookInput => ({ body: Buffer.from(body), headers, now });

/** The status a call fails with (a WebhookError), or 'ok'. */
async function outcome(run: () => unknown): Promise<number | 'ok'> {
  try {
    await run();
    return 'ok';
  } catch (err) {
    if (err instanceof WebhookError) return err.status;
    throw err;
  }
}

describe('timestamps', () => {
  it('reads Unix seconds and ISO 8601 with any fraction and offset as UTC', () => {
    expect(utcTimestamp(1_700_000_000)).toBe('2023-11-14 22:13:20');
    expect(utcTimestamp(1_700_000_000.9)).toBe('2023-11-14 22:13:20');
    expect(utcTimestamp('2023-11-14T22:13:25.1234567Z')).toBe('2023-11-14 22:13:25');
    expect(utcTimestamp('2023-11-14T17:14:20-05:00')).toBe('2023-11-14 22:14:20');
    expect(utcTimestamp('2023-11-14 22:13:20.126+00')).toBe('2023-11-14 22:13:20');
    expect(utcTimestamp('yesterday')).toBeUndefined();
  });
});

describe('SendGrid', () => {
  const keys = sendgridKeys();
  const key = sendgridKey({ EMAILSTATS_WEBHOOK_SENDGRID_PUBLIC_KEY: keys.publicKeyBase64 })!;

  it('maps every event of the array with sg_event_id, the campaign_id custom arg and machine opens', () => {
    const rows = mapSendgrid(sendgridEvents('c1'));
    expect(rows.map((r) => [r.event_id, r.event_type, r.campaign_id])).toEqual([
      ['c1-sg-1', 'processed', 'c1'], ['c1-sg-2', 'delivered', 'c1'], ['c1-sg-3', 'open', 'c1'],
      ['c1-sg-4', 'click', 'c1'], ['c1-sg-5', 'bounce', 'c1'], ['c1-sg-6', 'spamreport', 'c1'],
    ]);
    expect(rows[2]).toMatchObject({ timestamp: '2023-11-14 22:14:20', email_id: 'sgmsg1.filter0001', recipient_id: 'ana@example.com', recipient_email: 'ana@example.com', user_agent: 'Mozilla/5.0' });
    expect(JSON.parse(rows[2].metadata)).toMatchObject({ provider: 'sendgrid', machine_open: true, ip: '17.0.0.1' });
    expect(rows[3]).toMatchObject({ link_url: 'https://example.com/a' });
    expect(JSON.parse(rows[3].metadata).machine_open).toBeUndefined();
    expect(JSON.parse(rows[4].metadata)).toMatchObject({ type: 'bounce', bounce_classification: 'Invalid Address' });
  });

  it('falls back to the first category for the campaign and to a stable hash for the id', () => {
    const [event] = sendgridEvents('x').slice(0, 1).map(({ campaign_id: _, sg_event_id: __, ...rest }) => rest);
    const [a] = mapSendgrid([event]);
    const [b] = mapSendgrid([{ ...event }]);
    expect(a.campaign_id).toBe('newsletter');
    expect(a.event_id).toMatch(/^sendgrid_[0-9a-f]{32}$/);
    expect(b.event_id).toBe(a.event_id);
  });

  it('accepts its own signature and refuses a tampered body, a wrong key or no signature', async () => {
    const body = JSON.stringify(sendgridEvents('c1'));
    const ts = '1700000000';
    const headers = { 'x-twilio-email-event-webhook-signature': keys.sign(ts, body), 'x-twilio-email-event-webhook-timestamp': ts };
    expect(await outcome(() => verifySendgrid(key, input(body, headers)))).toBe('ok');
    expect(await outcome(() => verifySendgrid(key, input(body.replace('c1', 'c2'), headers)))).toBe(401);
    const other = sendgridKey({ EMAILSTATS_WEBHOOK_SENDGRID_PUBLIC_KEY: sendgridKeys().publicKeyBase64 })!;
    expect(await outcome(() => verifySendgrid(other, input(body, headers)))).toBe(401);
    expect(await outcome(() => verifySendgrid(key, input(body)))).toBe(401);
  });
});

describe('Mailgun', () => {
  it('maps event-data with its id, user-variables.campaign_id and client-info', () => {
    const rows = mailgunEvents('c2').flatMap((data) => mapMailgun({ 'event-data': data }));
    expect(rows.map((r) => [r.event_id, r.event_type, r.campaign_id])).toEqual([
      ['c2-mg-1', 'accepted', 'c2'], ['c2-mg-2', 'delivered', 'c2'], ['c2-mg-3', 'opened', 'c2'],
      ['c2-mg-4', 'clicked', 'c2'], ['c2-mg-5', 'failed', 'c2'], ['c2-mg-6', 'complained', 'c2'],
    ]);
    expect(rows[3]).toMatchObject({ timestamp: '2023-11-14 22:13:24', email_id: '20231114.mg1@mg.example.com', recipient_email: 'carl@example.com', link_url: 'https://example.com/mg', user_agent: 'Mozilla/5.0 (Mailgun)' });
    expect(JSON.parse(rows[4].metadata)).toMatchObject({ provider: 'mailgun', severity: 'permanent', delivery_code: 550 });
  });

  it('takes the first tag when there is no campaign_id user variable', () => {
    const [row] = mapMailgun({ 'event-data': { ...mailgunEvents('c2')[0], 'user-variables': {} } });
    expect(row.campaign_id).toBe('spring');
  });

  it('checks the HMAC of timestamp + token', async () => {
    const key = 'key-0123456789abcdef';
    const body = JSON.stringify({ signature: mailgunSignature(key), 'event-data': mailgunEvents('c2')[0] });
    expect(await outcome(() => verifyMailgun(key, input(body)))).toBe('ok');
    expect(await outcome(() => verifyMailgun('key-other', input(body)))).toBe(401);
    const forged = JSON.parse(body) as { signature: { token: string } };
    forged.signature.token = 'f'.repeat(50);
    expect(await outcome(() => verifyMailgun(key, input(JSON.stringify(forged))))).toBe(401);
    expect(await outcome(() => verifyMailgun(key, input(JSON.stringify({ 'event-data': {} }))))).toBe(401);
  });

  it('lets a signature vouch for one event, within a day: Mailgun does not sign the event itself (found by review)', async () => {
    const key = 'key-0123456789abcdef';
    const [first, second] = mailgunEvents('c2');
    const signature = mailgunSignature(key);
    const body = (data: unknown, sig = signature) => JSON.stringify({ signature: sig, 'event-data': data });
    expect(await outcome(() => verifyMailgun(key, input(body(first))))).toBe('ok');
    // The same event again (a retry) passes, for dedup to answer; the same signature on another event does not.
    expect(await outcome(() => verifyMailgun(key, input(body(first))))).toBe('ok');
    expect(await outcome(() => verifyMailgun(key, input(body({ ...second, id: 'FORGED-1' }))))).toBe(401);
    // A signature from two days ago, or from well ahead of this clock, is refused whatever it carries.
    const old = mailgunSignature(key, String(Math.floor(Date.now() / 1000) - 2 * 86400));
    expect(await outcome(() => verifyMailgun(key, input(body(second, old))))).toBe(401);
    const ahead = mailgunSignature(key, String(Math.floor(Date.now() / 1000) + 3600));
    expect(await outcome(() => verifyMailgun(key, input(body(second, ahead))))).toBe(401);
    // Mailgun retries for 8 hours: a signature from 9 hours ago still vouches for its event.
    const late = mailgunSignature(key, String(Math.floor(Date.now() / 1000) - 9 * 3600));
    expect(await outcome(() => verifyMailgun(key, input(body(second, late))))).toBe('ok');
  });
});

describe('Postmark', () => {
  it('maps each record type with its own time field, Metadata.campaign_id and stable ids', () => {
    const rows = postmarkRecords('c3').flatMap(mapPostmark);
    expect(rows.map((r) => [r.event_type, r.campaign_id, r.timestamp, r.recipient_email])).toEqual([
      ['Delivery', 'c3', '2023-11-14 22:13:25', 'dora@example.com'],
      ['Open', 'c3', '2023-11-14 22:14:20', 'dora@example.com'],
      ['Click', 'c3', '2023-11-14 22:14:50', 'dora@example.com'],
      ['Bounce', 'c3', '2023-11-14 22:13:30', 'eve@example.com'],
      ['SpamComplaint', 'c3', '2023-11-14 22:20:00', 'dora@example.com'],
    ]);
    expect(rows[3].event_id).toBe('postmark_Bounce_4323372036');
    expect(rows[0].event_id).toMatch(/^postmark_[0-9a-f]{32}$/);
    expect(mapPostmark(postmarkRecords('c3')[0])[0].event_id).toBe(rows[0].event_id);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(5);
    expect(rows[2]).toMatchObject({ link_url: 'https://example.com/pm', user_agent: 'Mozilla/5.0 (Postmark)', email_id: 'pm-0001' });
  });

  it('keeps a 64-bit bounce ID whole: two IDs a double rounds alike stay two events', () => {
    const bounce = postmarkRecords('c3')[3];
    const ids = ['4323372036854775807', '4323372036854775806'].map((id) => {
      const body = Buffer.from(JSON.stringify(bounce).replace('"ID":4323372036', `"ID":${id}`));
      return mapPostmark(parseJson(body, 'Postmark') as Record<string, unknown>)[0].event_id;
    });
    expect(ids).toEqual(['postmark_Bounce_4323372036854775807', 'postmark_Bounce_4323372036854775806']);
  });

  it('takes the Tag when Metadata has no campaign_id', () => {
    expect(mapPostmark({ ...postmarkRecords('c3')[0], Metadata: {} })[0].campaign_id).toBe('welcome');
  });

  it('accepts the configured Basic credentials or token header, nothing else', async () => {
    const auth = postmarkAuth({ EMAILSTATS_WEBHOOK_POSTMARK_BASIC_AUTH: 'pm:s3cret', EMAILSTATS_WEBHOOK_POSTMARK_TOKEN: 'tok-1' })!;
    const basic = (cred: string) => ({ authorization: `Basic ${Buffer.from(cred).toString('base64')}` });
    expect(await outcome(() => verifyPostmark(auth, input('{}', basic('pm:s3cret'))))).toBe('ok');
    expect(await outcome(() => verifyPostmark(auth, input('{}', { 'x-emailstats-webhook-token': 'tok-1' })))).toBe('ok');
    expect(await outcome(() => verifyPostmark(auth, input('{}', basic('pm:wrong'))))).toBe(401);
    expect(await outcome(() => verifyPostmark(auth, input('{}', { 'x-emailstats-webhook-token': 'tok-2' })))).toBe(401);
    expect(await outcome(() => verifyPostmark(auth, input('{}')))).toBe(401);
  });
});

describe('Resend', () => {
  const secret = svixSecret();
  const key = resendSecret({ EMAILSTATS_WEBHOOK_RESEND_SECRET: secret })!;

  it('maps the Svix message id, the campaign_id tag and the type without its email. prefix', () => {
    const rows = resendEvents('c5').flatMap((e, i) => mapResend(e, `msg_${i}`));
    expect(rows.map((r) => [r.event_id, r.event_type, r.campaign_id])).toEqual([
      ['msg_0', 'sent', 'c5'], ['msg_1', 'delivered', 'c5'], ['msg_2', 'opened', 'c5'],
      ['msg_3', 'clicked', 'c5'], ['msg_4', 'bounced', 'c5'], ['msg_5', 'complained', 'c5'],
    ]);
    expect(rows[3]).toMatchObject({ timestamp: '2023-11-14 22:16:01', link_url: 'https://example.com/re', user_agent: 'Mozilla/5.0 (Resend)', recipient_email: 'hugo@example.com', email_id: 're-0001' });
    expect(mapResend({ ...resendEvents('c5')[0], data: { ...resendEvents('c5')[0].data as object, tags: [{ name: 'campaign_id', value: 'c6' }] } }, 'm')[0].campaign_id).toBe('c6');
  });

  it('checks the signature of id.timestamp.body and refuses old timestamps', async () => {
    const body = JSON.stringify(resendEvents('c5')[0]);
    const now = Date.now();
    expect(await outcome(() => verifyResend(key, input(body, svixHeaders(secret, 'msg_1', body), now)))).toBe('ok');
    expect(await outcome(() => verifyResend(key, input(body + ' ', svixHeaders(secret, 'msg_1', body), now)))).toBe(401);
    expect(await outcome(() => verifyResend(key, input(body, svixHeaders(svixSecret(), 'msg_1', body), now)))).toBe(401);
    const old = svixHeaders(secret, 'msg_1', body, Math.floor(now / 1000) - 600);
    expect(await outcome(() => verifyResend(key, input(body, old, now)))).toBe(401);
    expect(await outcome(() => verifyResend(key, input(body, {}, now)))).toBe(401);
  });
});

describe('Amazon SES through SNS', () => {
  it('maps one row per recipient concerned, with the SNS MessageId and mail.tags.campaign_id', () => {
    const rows = sesEvents('c4').flatMap((e, i) => mapSes(e, `sns-${i}`));
    expect(rows.map((r) => [r.event_id, r.event_type, r.recipient_email])).toEqual([
      ['sns-0', 'Send', 'fred@example.com'], ['sns-0:1', 'Send', 'gina@example.com'],
      ['sns-1', 'Delivery', 'fred@example.com'], ['sns-1:1', 'Delivery', 'gina@example.com'],
      ['sns-2', 'Open', 'fred@example.com'], ['sns-3', 'Click', 'fred@example.com'],
      ['sns-4', 'Bounce', 'gina@example.com'], ['sns-5', 'Complaint', 'fred@example.com'],
    ]);
    expect(rows.every((r) => r.campaign_id === 'c4' && r.email_id === '0100018bd0000000-ses-0001')).toBe(true);
    expect(rows[5]).toMatchObject({ timestamp: '2023-11-14 22:16:00', link_url: 'https://example.com/ses', user_agent: 'Mozilla/5.0 (SES)' });
    expect(JSON.parse(rows[6].metadata)).toMatchObject({ provider: 'ses', bounce_type: 'Permanent' });
  });

  it('verifies SNS signatures (versions 1 and 2) with the certificate and refuses a changed message', async () => {
    const { certPem, keyPem } = snsCertificate();
    const cert = certificateKey(certPem);
    const base = { Type: 'Notification', MessageId: 'm-1', TopicArn: 'arn:aws:sns:us-east-1:1:t', Message: JSON.stringify(sesEvents('c4')[0]), Timestamp: '2023-11-14T22:13:20.000Z', Subject: 'Amazon SES Email Event Notification' };
    for (const version of ['1', '2'] as const) {
      const m = parseSnsMessage(signedSns(keyPem, base, version));
      expect(await outcome(() => verifySnsMessage(m, cert))).toBe('ok');
      expect(await outcome(() => verifySnsMessage({ ...m, Message: m.Message.replace('c4', 'c9') }, cert))).toBe(401);
    }
    const other = certificateKey(snsCertificate().certPem);
    expect(await outcome(() => verifySnsMessage(parseSnsMessage(signedSns(keyPem, base)), other))).toBe(401);
  }, 30_000);

  it('fetches certificates and confirms subscriptions only on https://sns.<region>.amazonaws.com', async () => {
    expect(snsUrl('https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem', 'SigningCertURL').hostname).toBe('sns.eu-west-1.amazonaws.com');
    expect(snsUrl('https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem', 'SigningCertURL').hostname).toBe('sns.cn-north-1.amazonaws.com.cn');
    expect(snsUrl('https://sns.us-gov-west-1.amazonaws.com/?Action=ConfirmSubscription', 'SubscribeURL').hostname).toBe('sns.us-gov-west-1.amazonaws.com');
    // Found by review: `sns.s3…` hosts are S3 buckets anyone may name; a certificate must be SNS's own file.
    for (const bad of ['http://sns.eu-west-1.amazonaws.com/x.pem', 'https://sns.eu-west-1.amazonaws.com.evil.com/x.pem', 'https://evil.com/sns.eu-west-1.amazonaws.com', 'https://x@sns.us-east-1.amazonaws.com/', 'https://127.0.0.1/',
      'https://sns.s3.amazonaws.com/SimpleNotificationService-a.pem', 'https://sns.s3-us-west-2.amazonaws.com/SimpleNotificationService-a.pem', 'https://sns.eu-west-1.amazonaws.com/x.pem'])
      expect(await outcome(() => snsUrl(bad, 'SigningCertURL'))).toBe(400);
  });
});

describe('recently accepted ids', () => {
  it('lets one of two concurrent claims through, and a failed one again', () => {
    const recent = new RecentEventIds(3);
    expect([...recent.claim(['a', 'b', 'a'])]).toEqual(['a', 'b']);
    expect([...recent.claim(['a', 'c'])]).toEqual(['c']);
    recent.settle(['a', 'b'], true);
    recent.settle(['c'], false);
    expect([...recent.claim(['c', 'b'])]).toEqual(['c']);
    recent.settle(['c'], true);
    recent.settle(['d', 'e'], true); // over the bound: the oldest ('a') is forgotten
    expect([...recent.claim(['a', 'e'])]).toEqual(['a']);
  });

  it('tells an id another request is still storing from one already stored (a retry then gets 503, not "duplicate")', () => {
    const recent = new RecentEventIds();
    recent.claim(['x']);
    expect(recent.isPending('x')).toBe(true);
    expect([...recent.claim(['x'])]).toEqual([]);
    recent.settle(['x'], true);
    expect(recent.isPending('x')).toBe(false);
    expect(recent.isPending('never-seen')).toBe(false);
  });
});

describe('configuration', () => {
  it('reports an unconfigured provider with the variable to set, and an unknown one as undefined', () => {
    for (const [name, variable] of [['sendgrid', 'EMAILSTATS_WEBHOOK_SENDGRID_PUBLIC_KEY'], ['mailgun', 'EMAILSTATS_WEBHOOK_MAILGUN_SIGNING_KEY'], ['postmark', 'EMAILSTATS_WEBHOOK_POSTMARK_TOKEN'], ['resend', 'EMAILSTATS_WEBHOOK_RESEND_SECRET'], ['ses', 'EMAILSTATS_WEBHOOK_SES_TOPIC_ARNS']]) {
      const found = webhookProvider(name, {});
      expect(found?.configured).toBe(false);
      expect(found && !found.configured && found.howTo).toContain(variable);
    }
    expect(webhookProvider('toString', {})).toBeUndefined();
    expect(webhookProvider('mailgun', { EMAILSTATS_WEBHOOK_MAILGUN_SIGNING_KEY: 'k' })?.configured).toBe(true);
  });

  it('refuses a setting that is not a key, without repeating it', () => {
    expect(() => webhookProvider('sendgrid', { EMAILSTATS_WEBHOOK_SENDGRID_PUBLIC_KEY: 'bm90LWEta2V5' })).toThrow(/EMAILSTATS_WEBHOOK_SENDGRID_PUBLIC_KEY is not an ECDSA public key/);
    expect(() => webhookProvider('sendgrid', { EMAILSTATS_WEBHOOK_SENDGRID_PUBLIC_KEY: 'bm90LWEta2V5' })).not.toThrow(/bm90LWEta2V5/);
    expect(() => webhookProvider('postmark', { EMAILSTATS_WEBHOOK_POSTMARK_BASIC_AUTH: 'nocolon' })).toThrow(/user:password/);
  });
});
