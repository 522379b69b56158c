// Provider webhooks against a real `emailstats dev`: each provider's sample events, signed with real keys made
// here, are stored in email_events and counted by campaign_stats under the right kind; a retry of the same
// payload is not counted again; a bad signature is 401 and stores nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyProject, removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { mailgunEvents, postmarkRecords, resendEvents, sendgridEvents, sesEvents } from '../helpers/webhook-samples.js';
import { mailgunSignature, sendgridKeys, signedSns, snsCertificate, svixHeaders, svixSecret, type UnsignedSns } from '../helpers/webhook-signing.js';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:emailstats-ses';
const MAILGUN_KEY = 'key-3f6a1c9e0b7d4e2f8a5c';
const POSTMARK_BASIC = 'postmark:hook-pass-7731';
const RESEND_SECRET = svixSecret();
const sendgrid = sendgridKeys();
const sns = snsCertificate();

/** Every provider configured with the keys made above. */
const devEnv = (): Record<string, string> => ({
  EMAILSTATS_WEBHOOK_SENDGRID_PUBLIC_KEY: sendgrid.publicKeyBase64,
  EMAILSTATS_WEBHOOK_MAILGUN_SIGNING_KEY: MAILGUN_KEY,
  EMAILSTATS_WEBHOOK_POSTMARK_BASIC_AUTH: POSTMARK_BASIC,
  EMAILSTATS_WEBHOOK_RESEND_SECRET: RESEND_SECRET,
  EMAILSTATS_WEBHOOK_SES_TOPIC_ARNS: TOPIC,
  EMAILSTATS_WEBHOOK_SES_CERT: sns.certPem,
  EMAILSTATS_WEBHOOK_SES_AUTO_CONFIRM: 'false',
});

interface Stats {
  sends: number;
  deliveries: number;
  opens: number;
  clicks: number;
  bounces: number;
  complaints: number;
}

describe('provider webhooks on emailstats dev', () => {
  let project: string;
  let dev: DevServer;

  beforeAll(async () => {
    project = copyProject();
    dev = await startDev(project, ['--flush-interval-ms', '50'], devEnv());
  }, 180_000);

  afterAll(async () => {
    await dev?.stop();
    if (project) removeDir(project);
  });

  const post = async (provider: string, body: string, headers: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${dev.url}/v0/webhooks/${provider}?name=email_events&wait=true`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  const stats = async (campaign: string): Promise<Stats | undefined> => {
    const res = await fetch(`${dev.url}/v0/pipes/campaign_stats.json?token=${dev.token}&campaign_id=${campaign}`);
    expect(res.status).toBe(200);
    const [row] = ((await res.json()) as { data: Record<string, unknown>[] }).data;
    if (!row) return undefined;
    const n = (k: string): number => Number(row[k]);
    return { sends: n('sends'), deliveries: n('deliveries'), opens: n('opens'), clicks: n('clicks'), bounces: n('bounces'), complaints: n('complaints') };
  };

  const storedRows = async (campaign: string): Promise<number> => {
    const q = `SELECT count() AS c FROM email_events WHERE campaign_id = '${campaign}'`;
    const res = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent(q)}&token=${dev.token}`);
    return Number(((await res.json()) as { data: { c: number | string }[] }).data[0].c);
  };

  // Each provider: how to send its samples for a campaign, signed well or badly.
  const senders: Record<string, (campaign: string, good: boolean) => Promise<{ status: number; json: Record<string, unknown> }[]>> = {
    sendgrid: async (campaign, good) => {
      const body = JSON.stringify(sendgridEvents(campaign));
      const ts = String(Math.floor(Date.now() / 1000));
      const signature = good ? sendgrid.sign(ts, body) : sendgridKeys().sign(ts, body);
      return [await post('sendgrid', body, { 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': ts })];
    },
    mailgun: (campaign, good) =>
      sequential(mailgunEvents(campaign), (data) => post('mailgun', JSON.stringify({ signature: mailgunSignature(good ? MAILGUN_KEY : 'key-wrong'), 'event-data': data }), {})),
    postmark: (campaign, good) =>
      sequential(postmarkRecords(campaign), (record) =>
        post('postmark', JSON.stringify(record), { authorization: `Basic ${Buffer.from(good ? POSTMARK_BASIC : 'postmark:guess').toString('base64')}` }),
      ),
    ses: (campaign, good) =>
      sequential(sesEvents(campaign), (event, i) => {
        const message: UnsignedSns = { Type: 'Notification', MessageId: `${campaign}-sns-${i}`, TopicArn: TOPIC, Message: JSON.stringify(event), Timestamp: '2023-11-14T22:13:20.000Z', Subject: 'Amazon SES Email Event Notification' };
        const signed = signedSns(sns.keyPem, message);
        if (!good) signed.Message = signed.Message.replace(`"${campaign}"`, '"wh_other"'); // changed after signing
        return post('ses', JSON.stringify(signed), { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' });
      }),
    resend: (campaign, good) =>
      sequential(resendEvents(campaign), (event, i) => {
        const body = JSON.stringify(event);
        return post('resend', body, svixHeaders(good ? RESEND_SECRET : svixSecret(), `msg_${campaign}_${i}`, body));
      }),
  };

  const expected: Record<string, Stats> = {
    sendgrid: { sends: 1, deliveries: 1, opens: 1, clicks: 1, bounces: 1, complaints: 1 },
    mailgun: { sends: 1, deliveries: 1, opens: 1, clicks: 1, bounces: 1, complaints: 1 },
    postmark: { sends: 0, deliveries: 1, opens: 1, clicks: 1, bounces: 1, complaints: 1 },
    ses: { sends: 2, deliveries: 2, opens: 1, clicks: 1, bounces: 1, complaints: 1 },
    resend: { sends: 1, deliveries: 1, opens: 1, clicks: 1, bounces: 1, complaints: 1 },
  };

  for (const provider of Object.keys(senders)) {
    it(`${provider}: signed events are stored with the right kinds, a retry is not counted twice, a bad signature is 401`, async () => {
      const campaign = `wh_${provider}`;
      const first = await senders[provider](campaign, true);
      for (const r of first) expect(r).toMatchObject({ status: 200, json: { duplicates: 0 } });
      const rows = first.reduce((n, r) => n + Number(r.json.successful_rows), 0);
      expect(await stats(campaign)).toEqual(expected[provider]);

      // The provider retries: the same payloads twice more, at the same time.
      const retries = (await Promise.all([senders[provider](campaign, true), senders[provider](campaign, true)])).flat();
      for (const r of retries) expect(r.status).toBe(200);
      expect(retries.reduce((n, r) => n + Number(r.json.successful_rows), 0)).toBe(0);
      expect(retries.reduce((n, r) => n + Number(r.json.duplicates), 0)).toBe(2 * rows);
      expect(await stats(campaign)).toEqual(expected[provider]);
      expect(await storedRows(campaign)).toBe(rows);

      const bad = await senders[provider](`wh_bad_${provider}`, false);
      for (const r of bad) {
        expect(r.status).toBe(401);
        expect(String(r.json.error)).toMatch(/signature|authenticated/i);
      }
      await new Promise((r) => setTimeout(r, 300)); // a flush interval and more: nothing is on its way either
      expect(await storedRows(`wh_bad_${provider}`)).toBe(0);
    }, 60_000);
  }

  it("sendgrid's sg_machine_open reaches is_machine_open through metadata", async () => {
    const q = "SELECT event_id, is_machine_open FROM email_events WHERE campaign_id = 'wh_sendgrid' AND event_type = 'open'";
    const res = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent(q)}&token=${dev.token}`);
    const rows = ((await res.json()) as { data: { event_id: string; is_machine_open: number | string }[] }).data;
    expect(rows.map((r) => [r.event_id, Number(r.is_machine_open)])).toEqual([['wh_sendgrid-sg-3', 1]]);
  });

  it('a retry while the first delivery is still in the write-ahead log is not stored again', async () => {
    const campaign = 'wh_wal';
    const body = JSON.stringify(sendgridEvents(campaign));
    const ts = String(Math.floor(Date.now() / 1000));
    const headers = { 'content-type': 'application/json', 'x-twilio-email-event-webhook-signature': sendgrid.sign(ts, body), 'x-twilio-email-event-webhook-timestamp': ts };
    const send = async () => (await fetch(`${dev.url}/v0/webhooks/sendgrid?name=email_events`, { method: 'POST', body, headers })).json() as Promise<Record<string, number>>;
    const first = await send();
    const retry = await send(); // no wait=true: the first may well not be in ClickHouse yet
    expect(first).toMatchObject({ successful_rows: 6, duplicates: 0 });
    expect(retry).toMatchObject({ successful_rows: 0, duplicates: 6 });
    const deadline = Date.now() + 20_000;
    while ((await storedRows(campaign)) < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    expect(await storedRows(campaign)).toBe(6);
    expect(await stats(campaign)).toEqual(expected.sendgrid);
  });

  it('ses: logs a SubscriptionConfirmation URL and never fetches one outside sns.<region>.amazonaws.com', async () => {
    const confirmation = (subscribeUrl: string, topic = TOPIC): string =>
      JSON.stringify(signedSns(sns.keyPem, { Type: 'SubscriptionConfirmation', MessageId: 'sub-1', Token: 'tok-123', TopicArn: topic, Message: 'You have chosen to subscribe…', SubscribeURL: subscribeUrl, Timestamp: '2023-11-14T22:13:20.000Z' }));
    const awsUrl = `https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${TOPIC}&Token=tok-123`;
    const mark = dev.output().length;
    const ok = await post('ses', confirmation(awsUrl), { 'content-type': 'text/plain; charset=UTF-8' });
    expect(ok).toMatchObject({ status: 200, json: { subscription: 'pending', subscribe_url: awsUrl } });
    await dev.waitFor(`open this URL to confirm it: ${awsUrl}`, 10_000, mark);

    let hits = 0;
    const trap: Server = createServer((_req, res) => (hits++, res.end('ok')));
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', () => r()));
    try {
      const local = `http://127.0.0.1:${(trap.address() as AddressInfo).port}/confirm`;
      const refused = await post('ses', confirmation(local), { 'content-type': 'text/plain; charset=UTF-8' });
      expect(refused.status).toBe(400);
      expect(String(refused.json.error)).toMatch(/sns\.<region>\.amazonaws\.com/);
      const otherTopic = await post('ses', confirmation(awsUrl, 'arn:aws:sns:us-east-1:999:not-ours'), { 'content-type': 'text/plain; charset=UTF-8' });
      expect(otherTopic.status).toBe(401);
      expect(hits).toBe(0);
    } finally {
      await new Promise((r) => trap.close(r));
    }
  });

  it('after a restart (nothing remembered in memory), a retry is found in the table and not stored again', async () => {
    await dev.stop();
    dev = await startDev(project, ['--flush-interval-ms', '50'], devEnv());
    const again = await senders.sendgrid('wh_sendgrid', true);
    expect(again[0]).toMatchObject({ status: 200, json: { received: 6, duplicates: 6, successful_rows: 0 } });
    const mailgun = await senders.mailgun('wh_mailgun', true);
    for (const r of mailgun) expect(r).toMatchObject({ status: 200, json: { duplicates: 1, successful_rows: 0 } });
    expect(await stats('wh_sendgrid')).toEqual(expected.sendgrid);
    expect(await stats('wh_mailgun')).toEqual(expected.mailgun);
  }, 180_000);

  it('answers 404 for an unknown provider, naming the known ones', async () => {
    const res = await post('sparkpost', '[]', {});
    expect(res.status).toBe(404);
    expect(String(res.json.error)).toContain('sendgrid, mailgun, postmark, resend, ses');
  });
});

/** Runs the posts one after another, in the order a provider would send them. */
async function sequential<T, R>(items: T[], run: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const [i, item] of items.entries()) out.push(await run(item, i));
  return out;
}
