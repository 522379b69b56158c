// Sample webhook payloads, written after each provider's documented fields (../shared/docs/email-domain.md 4.2),
// one campaign per provider: a send (or acceptance), a delivery, an open, a click, a bounce, a complaint.
// Every sample carries the provider's own event id, fixed, so posting it again is a retry.

const T = 1_700_000_000; // 2023-11-14 22:13:20 UTC
export const SAMPLE_DAY = '2023-11-14';

export function sendgridEvents(campaign: string): Record<string, unknown>[] {
  const base = { email: 'ana@example.com', 'smtp-id': '<abc@sg>', sg_message_id: 'sgmsg1.filter0001', category: ['newsletter'], campaign_id: campaign };
  return [
    { ...base, event: 'processed', timestamp: T, sg_event_id: `${campaign}-sg-1` },
    { ...base, event: 'delivered', timestamp: T + 5, sg_event_id: `${campaign}-sg-2`, response: '250 OK', ip: '1.2.3.4' },
    { ...base, event: 'open', timestamp: T + 60, sg_event_id: `${campaign}-sg-3`, useragent: 'Mozilla/5.0', ip: '17.0.0.1', sg_machine_open: true },
    { ...base, event: 'click', timestamp: T + 90, sg_event_id: `${campaign}-sg-4`, useragent: 'Mozilla/5.0', url: 'https://example.com/a', url_offset: { index: 0, type: 'html' } },
    { ...base, email: 'bob@example.com', event: 'bounce', timestamp: T + 6, sg_event_id: `${campaign}-sg-5`, type: 'bounce', bounce_classification: 'Invalid Address', reason: '550 no such user' },
    { ...base, event: 'spamreport', timestamp: T + 120, sg_event_id: `${campaign}-sg-6` },
  ];
}

export function mailgunEventData(campaign: string, event: string, n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `${campaign}-mg-${n}`,
    event,
    timestamp: T + n + 0.125,
    recipient: 'carl@example.com',
    'recipient-domain': 'example.com',
    tags: ['spring', 'promo'],
    'user-variables': { campaign_id: campaign },
    message: { headers: { 'message-id': '20231114.mg1@mg.example.com', from: 'news@example.com', to: 'carl@example.com', subject: 'Hi' } },
    envelope: { sender: 'news@example.com', targets: 'carl@example.com', transport: 'smtp' },
    flags: { 'is-test-mode': false },
    'log-level': 'info',
    ...extra,
  };
}

export function mailgunEvents(campaign: string): Record<string, unknown>[] {
  return [
    mailgunEventData(campaign, 'accepted', 1),
    mailgunEventData(campaign, 'delivered', 2, { 'delivery-status': { code: 250, message: 'OK' } }),
    mailgunEventData(campaign, 'opened', 3, { 'client-info': { 'user-agent': 'Mozilla/5.0 (Mailgun)', 'client-type': 'browser' }, ip: '5.6.7.8' }),
    mailgunEventData(campaign, 'clicked', 4, { url: 'https://example.com/mg', 'client-info': { 'user-agent': 'Mozilla/5.0 (Mailgun)' } }),
    mailgunEventData(campaign, 'failed', 5, { severity: 'permanent', reason: 'bounce', 'delivery-status': { code: 550, message: 'mailbox unavailable' } }),
    mailgunEventData(campaign, 'complained', 6),
  ];
}

export function postmarkRecords(campaign: string): Record<string, unknown>[] {
  const common = { MessageID: 'pm-0001', ServerID: 23, MessageStream: 'outbound', Tag: 'welcome', Metadata: { campaign_id: campaign } };
  return [
    { ...common, RecordType: 'Delivery', Recipient: 'dora@example.com', DeliveredAt: '2023-11-14T22:13:25.1234567Z', Details: 'Test delivery' },
    { ...common, RecordType: 'Open', Recipient: 'dora@example.com', ReceivedAt: '2023-11-14T17:14:20-05:00', FirstOpen: true, Platform: 'Desktop', UserAgent: 'Mozilla/5.0 (Postmark)', ReadSeconds: 5, Client: { Name: 'Chrome' }, OS: { Name: 'Linux' }, Geo: { CountryISOCode: 'DE' } },
    { ...common, RecordType: 'Click', Recipient: 'dora@example.com', ReceivedAt: '2023-11-14T22:14:50Z', OriginalLink: 'https://example.com/pm', ClickLocation: 'HTML', UserAgent: 'Mozilla/5.0 (Postmark)' },
    { ...common, RecordType: 'Bounce', ID: 4323372036, Type: 'HardBounce', TypeCode: 1, Name: 'Hard bounce', Description: 'The server was unable to deliver your message', Details: 'smtp;550 5.1.1', Email: 'eve@example.com', From: 'news@example.com', BouncedAt: '2023-11-14T22:13:30Z', Inactive: true, CanActivate: true, Subject: 'Hi' },
    { ...common, RecordType: 'SpamComplaint', ID: 42, Type: 'SpamComplaint', TypeCode: 512, Email: 'dora@example.com', BouncedAt: '2023-11-14T22:20:00Z' },
  ];
}

/** SES event publishing JSON (the SNS Message). */
export function sesEvents(campaign: string): Record<string, unknown>[] {
  const mail = {
    timestamp: '2023-11-14T22:13:20.000Z',
    messageId: '0100018bd0000000-ses-0001',
    source: 'news@example.com',
    sendingAccountId: '123456789012',
    destination: ['fred@example.com', 'gina@example.com'],
    headersTruncated: false,
    tags: { 'ses:configuration-set': ['emailstats'], campaign_id: [campaign] },
  };
  return [
    { eventType: 'Send', mail, send: {} },
    { eventType: 'Delivery', mail, delivery: { timestamp: '2023-11-14T22:13:21.500Z', recipients: ['fred@example.com', 'gina@example.com'], processingTimeMillis: 900, smtpResponse: '250 2.6.0 Message received' } },
    { eventType: 'Open', mail, open: { timestamp: '2023-11-14T22:15:00.000Z', userAgent: 'Mozilla/5.0 (SES)', ipAddress: '9.9.9.9' } },
    { eventType: 'Click', mail, click: { timestamp: '2023-11-14T22:16:00.000Z', link: 'https://example.com/ses', linkTags: { place: ['top'] }, userAgent: 'Mozilla/5.0 (SES)', ipAddress: '9.9.9.9' } },
    { eventType: 'Bounce', mail, bounce: { bounceType: 'Permanent', bounceSubType: 'General', bouncedRecipients: [{ emailAddress: 'gina@example.com', action: 'failed', status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }], timestamp: '2023-11-14T22:13:22.000Z', feedbackId: 'fb-1' } },
    { eventType: 'Complaint', mail, complaint: { complainedRecipients: [{ emailAddress: 'fred@example.com' }], complaintFeedbackType: 'abuse', timestamp: '2023-11-14T22:30:00.000Z', feedbackId: 'fb-2' } },
  ];
}

/** Resend webhook bodies (type + created_at + data). */
export function resendEvents(campaign: string): Record<string, unknown>[] {
  const data = { email_id: 're-0001', from: 'news@example.com', to: ['hugo@example.com'], subject: 'Hi', created_at: '2023-11-14T22:13:20.000Z', tags: { campaign_id: campaign } };
  return [
    { type: 'email.sent', created_at: '2023-11-14T22:13:20.100Z', data },
    { type: 'email.delivered', created_at: '2023-11-14T22:13:22.000Z', data },
    { type: 'email.opened', created_at: '2023-11-14T22:15:00.000Z', data },
    { type: 'email.clicked', created_at: '2023-11-14T22:16:00.000Z', data: { ...data, click: { ipAddress: '8.8.8.8', link: 'https://example.com/re', timestamp: '2023-11-14T22:16:01.000Z', userAgent: 'Mozilla/5.0 (Resend)' } } },
    { type: 'email.bounced', created_at: '2023-11-14T22:13:23.000Z', data: { ...data, bounce: { message: 'mailbox full', type: 'Permanent', subType: 'General' } } },
    { type: 'email.complained', created_at: '2023-11-14T22:40:00.000Z', data },
  ];
}
