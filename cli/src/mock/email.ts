// Domain-aware mock of an email event stream (the seed's email_events schema): campaigns spread over months with
// zipf-skewed sizes, per-recipient funnels in time order, each campaign's provider spelling of event types, Apple
// MPP machine opens, Gmail / Yahoo image-proxy prefetches, link-scanner opens and clicks right after delivery, and the edge cases the API must survive (campaigns with no sends / no opens).
import { EMAIL_EVENT_COLUMNS, type EmailEventRow } from '../email/event-row.js';
import { quoteString } from '../sql/quote.js';
import { Rng, mix32, zipfWeights } from './random.js';
import { LineSink } from '../util/line-sink.js';

export type CanonicalEventType = 'send' | 'delivered' | 'open' | 'click' | 'bounce' | 'complaint' | 'unsubscribe' | 'deferred' | 'dropped';

/** One generated row (the email application's event row). */
export type EmailEvent = EmailEventRow;
export { EMAIL_EVENT_COLUMNS };

/**
 * Every provider spelling of an event type (email-domain.md §4.1), lower-cased, to its canonical type. Deliberately
 * absent (they map to 'other'): `group_resubscribe` (the opposite of an unsubscribe), Customer.io `converted` and SES
 * `rendering failure` (not delivery events). Postmark `SubscriptionChange` can also be a re-activation
 * (SuppressSending=false); by name alone it is counted as an unsubscribe. Braze `…SoftBounce` counts as a bounce.
 */
export const EVENT_TYPE_ALIASES: Record<string, CanonicalEventType> = {
  // send / processed
  send: 'send', sent: 'send', processed: 'send', accepted: 'send', sending: 'send', 'users.messages.email.send': 'send',
  // delivered
  delivered: 'delivered', delivery: 'delivered', 'users.messages.email.delivery': 'delivered',
  // deferred / delayed (not a bounce: the provider keeps retrying)
  deferred: 'deferred', deferral: 'deferred', deliverydelay: 'deferred', delayed: 'deferred', 'users.messages.email.deferral': 'deferred',
  // bounces, hard and soft (Mailgun and Customer.io `failed`)
  bounce: 'bounce', bounced: 'bounce', failed: 'bounce', hardbounce: 'bounce', softbounce: 'bounce', hard_bounce: 'bounce', soft_bounce: 'bounce',
  'users.messages.email.bounce': 'bounce', 'users.messages.email.softbounce': 'bounce',
  // blocked / dropped before sending
  dropped: 'dropped', rejected: 'dropped', reject: 'dropped', blocked: 'dropped',
  // open / click
  open: 'open', opened: 'open', opens: 'open', 'users.messages.email.open': 'open',
  click: 'click', clicked: 'click', clicks: 'click', 'users.messages.email.click': 'click',
  // complaint
  complaint: 'complaint', complained: 'complaint', spamreport: 'complaint', spamcomplaint: 'complaint', spammed: 'complaint', spam: 'complaint',
  'users.messages.email.markasspam': 'complaint',
  // unsubscribe
  unsubscribe: 'unsubscribe', unsubscribed: 'unsubscribe', group_unsubscribe: 'unsubscribe', subscriptionchange: 'unsubscribe',
  subscription: 'unsubscribe', 'users.messages.email.unsubscribe': 'unsubscribe',
};

/** Arrays for ClickHouse `transform(lower(event_type), from, to, 'other')`. */
export function canonicalEventTypeSqlMap(): { from: string[]; to: string[] } {
  const keys = Object.keys(EVENT_TYPE_ALIASES).sort();
  return { from: keys, to: keys.map((k) => EVENT_TYPE_ALIASES[k]) };
}

/** The SQL expression canonicalising `expr` (default `event_type`): `transform(lower(trim(...)), [...], [...], 'other')`. */
export function canonicalEventTypeSql(expr = 'event_type'): string {
  const { from, to } = canonicalEventTypeSqlMap();
  const lit = (a: string[]): string => '[' + a.map((s) => quoteString(s)).join(', ') + ']';
  return `transform(lower(trim(BOTH ' ' FROM ${expr})), ${lit(from)}, ${lit(to)}, 'other')`;
}

export type Provider = 'sendgrid' | 'mailgun' | 'postmark' | 'ses' | 'customerio' | 'custom';

type Spell = string | readonly string[] | null;
/** How each provider spells each canonical type in its webhooks (null: the provider sends no such event). */
export const PROVIDER_EVENT_NAMES: Record<Provider, Record<CanonicalEventType, Spell>> = {
  sendgrid: { send: 'processed', delivered: 'delivered', open: 'open', click: 'click', bounce: 'bounce', complaint: 'spamreport', unsubscribe: ['unsubscribe', 'group_unsubscribe'], deferred: 'deferred', dropped: 'dropped' },
  mailgun: { send: 'accepted', delivered: 'delivered', open: 'opened', click: 'clicked', bounce: 'failed', complaint: 'complained', unsubscribe: 'unsubscribed', deferred: null, dropped: 'rejected' },
  // Postmark has no send webhook (the send API answers synchronously) and reports blocks as a Bounce.
  postmark: { send: null, delivered: 'Delivery', open: 'Open', click: 'Click', bounce: 'Bounce', complaint: 'SpamComplaint', unsubscribe: 'SubscriptionChange', deferred: null, dropped: 'Bounce' },
  ses: { send: 'Send', delivered: 'Delivery', open: 'Open', click: 'Click', bounce: 'Bounce', complaint: 'Complaint', unsubscribe: 'Subscription', deferred: 'DeliveryDelay', dropped: 'Reject' },
  customerio: { send: 'sent', delivered: 'delivered', open: 'opened', click: 'clicked', bounce: 'bounced', complaint: 'spammed', unsubscribe: 'unsubscribed', deferred: null, dropped: 'dropped' },
  // An in-house sender: canonical names, but bounces half the time spelled `bounced` as in the seed sample.
  custom: { send: 'send', delivered: 'delivered', open: 'open', click: 'click', bounce: ['bounce', 'bounced'], complaint: 'complaint', unsubscribe: 'unsubscribe', deferred: null, dropped: 'dropped' },
};

const PROVIDERS: Provider[] = ['sendgrid', 'mailgun', 'postmark', 'ses', 'customerio', 'custom'];
const PROVIDER_WEIGHTS = [30, 16, 10, 16, 10, 18];
const SOURCES = ['promotion', 'newsletter', 'announcement', 'onboarding', 're-engagement', 'product-update'];
const DOMAINS = ['gmail.com', 'yahoo.com', 'outlook.com', 'hotmail.com', 'icloud.com', 'example.com', 'acme.io', 'globex.com', 'initech.com', 'umbrella.co'];
const DOMAIN_WEIGHTS = [34, 8, 10, 4, 12, 10, 7, 6, 5, 4];
const B2B_FROM = 6; // DOMAINS[6..] are company domains behind link scanners
const LINK_PATHS = ['landing', 'product', 'pricing', 'blog/launch', 'sale', 'webinar', 'docs/getting-started', 'account'];
const UA_HUMAN = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36',
  'Microsoft Outlook 16.0.17531; Windows NT 10.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
];
const UA_APPLE = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko)',
];
/** Apple's image proxy sends a bare UA for MPP prefetches. */
const UA_MPP = 'Mozilla/5.0';
const UA_SCANNER = ['Mozilla/5.0 (compatible; Microsoft Defender SafeLinks)', 'Mozilla/5.0 (compatible; Proofpoint URL Defense)', 'Barracuda Sentinel (EE)'];
/** Image proxies that fetch a message's images on delivery, before anyone reads it (by recipient domain). */
const UA_GMAIL_PROXY = 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)';
const UA_YAHOO_PROXY = 'YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html';
/** Share of deliveries the recipient's image proxy prefetches (DOMAINS index → rate). */
const PROXY_PREFETCH: Record<number, { ua: string; rate: number }> = { 0: { ua: UA_GMAIL_PROXY, rate: 0.2 }, 1: { ua: UA_YAHOO_PROXY, rate: 0.3 } };
/** Share of link scanners that present a plain browser user agent: only their timing gives them away. */
const SCANNER_BROWSER_UA = 0.3;

const BOUNCE_DETAIL: Record<Provider, { hard: string; soft: string; block: string }> = {
  sendgrid: { hard: '"type":"bounce"', soft: '"type":"bounce"', block: '"type":"blocked"' },
  mailgun: { hard: '"severity":"permanent"', soft: '"severity":"temporary"', block: '"severity":"permanent"' },
  postmark: { hard: '"bounce_type":"HardBounce"', soft: '"bounce_type":"SoftBounce"', block: '"bounce_type":"Blocked"' },
  ses: { hard: '"bounce_type":"Permanent"', soft: '"bounce_type":"Transient"', block: '"bounce_type":"Permanent"' },
  customerio: { hard: '"severity":"permanent"', soft: '"severity":"temporary"', block: '"severity":"permanent"' },
  custom: { hard: '"reason":"550 5.1.1 user unknown"', soft: '"reason":"452 4.2.2 mailbox full"', block: '"reason":"554 5.7.1 blocked"' },
};

type CampaignKind = 'normal' | 'no_sends' | 'no_opens' | 'no_opens_no_clicks';

export interface Campaign {
  id: string;
  provider: Provider;
  kind: CampaignKind;
  start: number; // epoch seconds
  sendWindow: number; // seconds over which the sends go out
  recipients: number; // planned audience
  humanOpenRate: number;
  clickRate: number; // of human openers
  links: string[];
  metaBase: string; // `{"provider":"…","source":"…"`
  permA: number; // affine permutation of the user pool: distinct users per campaign
  permB: number;
}

export interface EmailMockOptions {
  rows: number;
  seed: string | number;
  /** Number of campaigns (default: max(20, sqrt(rows)/10)). */
  campaigns?: number;
  /** First day campaigns may start, `YYYY-MM-DD` (default 2025-01-01). */
  start?: string;
  /** Months over which campaign start dates are spread (default 6). */
  months?: number;
}

// Average events per planned recipient, measured on the generator, so that sizes add up to ~the requested rows.
const EVENTS_PER_RECIPIENT: Record<CampaignKind, number> = { normal: 2.75, no_sends: 0.75, no_opens: 2.05, no_opens_no_clicks: 2.0 };

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;
const TWO = Array.from({ length: 60 }, (_, i) => pad2(i));

/** `YYYY-MM-DD hh:mm:ss` (UTC) with a one-day cache: the date part is formatted once per day. */
class TimeFormatter {
  private day = NaN;
  private prefix = '';
  format(t: number): string {
    const day = Math.floor(t / 86400);
    if (day !== this.day) {
      const d = new Date(day * 86400000);
      this.prefix = `${d.getUTCFullYear()}-${TWO[d.getUTCMonth() + 1]}-${TWO[d.getUTCDate()]} `;
      this.day = day;
    }
    const s = t - day * 86400;
    return this.prefix + TWO[(s / 3600) | 0] + ':' + TWO[((s / 60) | 0) % 60] + ':' + TWO[s % 60];
  }
}

function planCampaigns(r: Rng, opts: EmailMockOptions, pool: number): Campaign[] {
  const n = Math.max(1, Math.floor(opts.campaigns ?? Math.max(20, Math.round(Math.sqrt(opts.rows) / 10))));
  const startDay = Date.parse(`${opts.start ?? '2025-01-01'}T00:00:00Z`);
  if (Number.isNaN(startDay)) throw new Error(`bad start date ${opts.start}`);
  const spanDays = Math.max(1, Math.round((opts.months ?? 6) * 30.4));

  // Zipf sizes by rank; the special campaigns take mid ranks so they are neither tiny nor dominant.
  const weights = zipfWeights(n, 1);
  const kindByRank: CampaignKind[] = new Array(n).fill('normal');
  if (n >= 8) {
    kindByRank[3] = 'no_sends';
    kindByRank[n >= 12 ? 9 : 6] = 'no_sends';
    kindByRank[5] = 'no_opens';
    kindByRank[n >= 12 ? 10 : 7] = 'no_opens_no_clicks';
  }
  // Every provider gets one of the largest normal campaigns, so all spellings (even rare events) show up.
  const providerByRank: (Provider | null)[] = new Array(n).fill(null);
  const order = r.shuffle([...PROVIDERS]);
  let rank = 0;
  for (const p of order) {
    while (rank < n && kindByRank[rank] !== 'normal') rank++;
    if (rank < n) providerByRank[rank++] = p;
  }

  const budget = 0.92 * opts.rows; // the rest is topped up, so the row count comes out exact
  const specs = weights.map((w, i) => {
    const kind = kindByRank[i];
    const provider: Provider = kind === 'no_sends' ? 'custom' : providerByRank[i] ?? r.weighted(PROVIDERS, PROVIDER_WEIGHTS);
    return { kind, provider, recipients: Math.max(20, Math.min(pool, Math.round((w * budget) / EVENTS_PER_RECIPIENT[kind]))) };
  });
  r.shuffle(specs);
  const starts = specs.map(() => startDay / 1000 + r.int(0, spanDays - 1) * 86400 + r.int(7 * 3600, 18 * 3600));
  const idx = starts.map((_, i) => i).sort((a, b) => starts[a] - starts[b] || a - b);

  return idx.map((i, k) => {
    const s = specs[i];
    const id = `camp_${k + 1}`;
    const source = r.pick(SOURCES);
    const nLinks = r.int(1, 4);
    const links: string[] = [];
    for (let j = 0; j < nLinks; j++) links.push(`https://example.com/${LINK_PATHS[(j + k) % LINK_PATHS.length]}?utm_campaign=${id}`);
    let a = r.int(1, pool - 1);
    while (gcd(a, pool) !== 1) a = (a % (pool - 1)) + 1;
    return {
      id,
      provider: s.provider,
      kind: s.kind,
      start: starts[i],
      sendWindow: r.int(600, 4 * 3600),
      recipients: s.recipients,
      humanOpenRate: r.float(0.1, 0.2),
      clickRate: r.float(0.22, 0.4),
      links,
      metaBase: `{"provider":"${s.provider}","source":"${source}"`,
      permA: a,
      permB: r.int(0, pool - 1),
    };
  });
}

/** Per-user traits derived by hashing the user number: nothing is stored per user. */
interface User {
  id: string;
  email: string;
  appleMail: boolean;
  mpp: boolean;
  b2b: boolean;
  ua: string;
  /** The image proxy that prefetches this user's mail, if any. */
  proxy: { ua: string; rate: number } | undefined;
}

function userOf(u: number, salt: number): User {
  const h1 = mix32(u, salt) / 4294967296;
  const h2 = mix32(u, salt ^ 0x9e3779b9) / 4294967296;
  const h3 = mix32(u, salt ^ 0x85ebca6b) / 4294967296;
  let acc = 0,
    di = 0;
  const tot = 100;
  for (; di < DOMAINS.length - 1; di++) {
    acc += DOMAIN_WEIGHTS[di] / tot;
    if (h1 < acc) break;
  }
  const appleMail = di === 4 ? h2 < 0.95 : h2 < 0.15;
  return {
    id: `user_${u}`,
    email: `user${u}@${DOMAINS[di]}`,
    appleMail,
    mpp: appleMail && h3 < 0.9,
    b2b: di >= B2B_FROM,
    proxy: PROXY_PREFETCH[di],
    ua: appleMail ? UA_APPLE[Math.floor(h3 * 1000) % UA_APPLE.length] : UA_HUMAN[Math.floor(h3 * 1000) % UA_HUMAN.length],
  };
}

interface Pending {
  t: number;
  type: string;
  link: string;
  meta: Meta;
  ua: string;
}

/** Everything the generator derives from the seed before the first event: campaigns, user pool, user salt. */
export interface EmailPlan {
  seed: string;
  total: number;
  pool: number;
  campaigns: readonly Campaign[];
  salt: number;
}

export function planEmailMock(opts: EmailMockOptions): EmailPlan {
  const total = Math.max(0, Math.floor(opts.rows));
  const r = new Rng(opts.seed);
  const pool = Math.max(2000, Math.ceil(total / 3));
  const campaigns = planCampaigns(r, opts, pool);
  return { seed: String(opts.seed), total, pool, campaigns, salt: r.u32() };
}

/**
 * A unit of generation: `count` recipients of one campaign starting at recipient index `from`. Its events depend
 * only on the plan and the block (its own random stream), so blocks can be generated in any order, on any thread,
 * and concatenated in block order to give the same bytes. `message` is the message number before the block's first.
 */
export interface EmailBlock {
  campaign: number;
  from: number;
  count: number;
  message: number;
  /** How many times the campaign's recipients wrapped around the user pool before this block (top-up only). */
  pass: number;
}

/** Recipients per block in a campaign's planned pass: ~2,800 events, ~0.9 MB of NDJSON. */
const BLOCK_RECIPIENTS = 1024;

/**
 * The block sequence: every campaign's planned recipients in start order, then a top-up round-robin over the
 * normal campaigns (1/50 of a campaign's size at a time) for as long as the caller asks. The caller stops once
 * it has the rows it needs; the sequence itself never ends.
 */
export function* emailBlocks(plan: EmailPlan): Generator<EmailBlock> {
  const { campaigns, pool } = plan;
  let message = 0;
  const generated = campaigns.map(() => 0);
  const passes = campaigns.map(() => 0);
  const take = (ci: number, n: number): EmailBlock => {
    const b = { campaign: ci, from: generated[ci], count: n, message, pass: passes[ci] };
    generated[ci] += n;
    message += n;
    return b;
  };
  for (let ci = 0; ci < campaigns.length; ci++) {
    while (generated[ci] < campaigns[ci].recipients) yield take(ci, Math.min(BLOCK_RECIPIENTS, campaigns[ci].recipients - generated[ci]));
  }
  const normal = campaigns.flatMap((c, i) => (c.kind === 'normal' ? [i] : []));
  const targets = normal.length > 0 ? normal : campaigns.map((_, i) => i);
  let k = 0;
  let stalled = 0;
  for (;;) {
    const ci = targets[k++ % targets.length];
    if (generated[ci] >= pool) {
      // Every campaign has reached the whole pool: recipients repeat (only with absurd --campaigns settings).
      if (++stalled > targets.length) {
        generated[ci] = 0;
        passes[ci]++;
      }
      continue;
    }
    stalled = 0;
    yield take(ci, Math.min(Math.max(1, Math.ceil(campaigns[ci].recipients / 50)), pool - generated[ci]));
  }
}

/** A campaign's metadata for one kind of extra field set, as text and as a JSON string literal (cached per campaign). */
interface Meta {
  text: string;
  json: string;
}
const metaCaches = new WeakMap<Campaign, Map<string, Meta>>();
function metaOf(c: Campaign, extra: string): Meta {
  let cache = metaCaches.get(c);
  if (!cache) metaCaches.set(c, (cache = new Map()));
  let m = cache.get(extra);
  if (!m) {
    const text = extra ? `${c.metaBase},${extra}}` : c.metaBase + '}';
    cache.set(extra, (m = { text, json: JSON.stringify(text) }));
  }
  return m;
}

// Metadata extras are module constants, so the per-campaign cache is keyed by the same few strings.
const BOUNCE_EXTRA = Object.fromEntries(
  Object.entries(BOUNCE_DETAIL).map(([p, d]) => [
    p,
    { block: `"bounce_class":"block",${d.block}`, hard: `"bounce_class":"hard",${d.hard}`, soft: `"bounce_class":"soft",${d.soft}` },
  ]),
) as Record<Provider, { block: string; hard: string; soft: string }>;
// SendGrid flags Apple MPP opens with its own key (sg_machine_open); the others here with machine_open.
const MACHINE_OPEN = '"machine_open":true';
const HUMAN_OPEN = '"machine_open":false';
const SG_MACHINE_OPEN = '"sg_machine_open":true';
const SG_HUMAN_OPEN = '"sg_machine_open":false';

/** Builds one recipient's funnel into `buf`, drawing from the block's stream `r`. */
class Funnel {
  readonly buf: Pending[] = [];
  private c!: Campaign;
  constructor(private readonly r: Rng) {}

  private push(type: CanonicalEventType, t: number, extra = '', link = '', ua = ''): void {
    const s = PROVIDER_EVENT_NAMES[this.c.provider][type];
    if (s === null) return;
    // First spelling ~80% of the time (SendGrid group_unsubscribe, custom `bounced`: ~50%).
    const name = typeof s === 'string' ? s : this.r.chance(this.c.provider === 'custom' ? 0.5 : 0.8) ? s[0] : s[1];
    this.buf.push({ t: Math.floor(t), type: name, link, meta: metaOf(this.c, extra), ua });
  }

  build(c: Campaign, user: User): void {
    const r = this.r;
    this.c = c;
    this.buf.length = 0;
    const visible = c.kind !== 'no_sends'; // no_sends: the delivery pipeline is not reported, engagement is
    const tracksOpens = c.kind === 'normal' || c.kind === 'no_sends';
    const tracksClicks = c.kind !== 'no_opens_no_clicks';
    const t0 = c.start + r.int(0, c.sendWindow);
    if (visible) this.push('send', t0);
    const x = r.next();
    if (x < 0.004) {
      if (visible) this.push('dropped', t0 + r.int(0, 2), BOUNCE_EXTRA[c.provider].block);
      return;
    }
    if (x < 0.02) {
      if (visible) this.push('bounce', t0 + r.int(1, 120), BOUNCE_EXTRA[c.provider].hard);
      return;
    }
    if (x < 0.032) {
      let tb = t0 + r.int(60, 3600);
      if (visible && r.chance(0.5)) {
        this.push('deferred', tb);
        tb += r.int(3600, 72 * 3600);
      }
      if (visible) this.push('bounce', tb, BOUNCE_EXTRA[c.provider].soft);
      return;
    }
    let td = t0 + (r.chance(0.9) ? r.int(1, 30) : r.int(30, 1800));
    if (visible && r.chance(0.02)) {
      this.push('deferred', t0 + r.int(30, 600));
      td += r.int(600, 6 * 3600);
    }
    if (visible) this.push('delivered', td);

    let firstHuman = -1;
    let lastOpen = td;
    const sendgrid = c.provider === 'sendgrid';
    const machineOpen = sendgrid ? SG_MACHINE_OPEN : MACHINE_OPEN;
    const humanOpen = sendgrid ? SG_HUMAN_OPEN : HUMAN_OPEN;
    if (tracksOpens) {
      if (user.mpp && r.chance(0.97)) {
        const tm = td + r.int(5, 900);
        this.push('open', tm, machineOpen, '', UA_MPP);
        if (r.chance(0.15)) this.push('open', tm + r.int(3600, 3 * 86400), machineOpen, '', UA_MPP);
      }
      // Gmail / Yahoo image proxies: a prefetch within a minute of delivery; the provider does not flag it, the
      // user agent tells.
      if (user.proxy && r.chance(user.proxy.rate)) this.push('open', td + r.int(1, 60), humanOpen, '', user.proxy.ua);
      if (r.chance(c.humanOpenRate)) {
        let to = td + Math.min(7 * 86400, Math.round(r.logNormal(2 * 3600, 1.3)));
        firstHuman = to;
        this.push('open', to, humanOpen, '', user.ua);
        const extra = r.geometric(0.55, 8);
        for (let i = 0; i < extra; i++) {
          to += Math.round(r.exp(86400)) + 1;
          this.push('open', to, humanOpen, '', user.ua);
        }
        lastOpen = to;
      }
    } else if (tracksClicks && r.chance(c.humanOpenRate)) {
      // Open tracking off: clicks still arrive, at the time the reader would have opened.
      firstHuman = td + Math.min(7 * 86400, Math.round(r.logNormal(2 * 3600, 1.3)));
    }

    if (tracksClicks) {
      if (firstHuman >= 0 && r.chance(c.clickRate)) {
        let tc = firstHuman + r.int(3, 900);
        const nClicks = 1 + r.geometric(0.6, 6);
        for (let i = 0; i < nClicks; i++) {
          this.push('click', tc, '', c.links[r.zipf(c.links.length, 1)], user.ua);
          tc += r.int(5, 3600);
        }
      } else if (user.b2b && firstHuman < 0 && r.chance(0.04)) {
        // Link scanner (Safe Links & co.): fetches the pixel and every link within seconds of delivery, under its
        // own user agent or (SCANNER_BROWSER_UA of them) a plain browser's.
        const ua = r.chance(SCANNER_BROWSER_UA) ? UA_HUMAN[0] : r.pick(UA_SCANNER);
        let ts = td + r.int(1, 5);
        if (tracksOpens) this.push('open', ts, humanOpen, '', ua);
        for (const link of c.links) this.push('click', (ts += r.int(0, 2)), '', link, ua);
      }
    }

    if (!visible) return; // no_sends campaigns: only opens and clicks arrive
    if (firstHuman >= 0 ? r.chance(0.022) : r.chance(0.0012)) {
      // Unsubscribes mostly follow a read; a few come from the one-click List-Unsubscribe header.
      this.push('unsubscribe', (firstHuman >= 0 ? lastOpen : td) + r.int(5, 900), '', '', firstHuman >= 0 ? user.ua : '');
    }
    if (r.chance(0.0015)) this.push('complaint', td + r.int(600, 3 * 86400));
  }
}

/**
 * Calls `emit` for every recipient of a block with its events in time order (stable sort, so same-second events
 * keep funnel order) and its message number.
 */
function forEachRecipient(plan: EmailPlan, b: EmailBlock, emit: (c: Campaign, user: User, message: number, events: readonly Pending[]) => void): void {
  const c = plan.campaigns[b.campaign];
  // One stream per block, named by seed, campaign and first recipient: independent of every other block.
  // A wrapped pass gets its own label, so repeated recipients do not repeat their events too.
  const funnel = new Funnel(new Rng(`${plan.seed}:${b.campaign}:${b.from}${b.pass ? `:${b.pass}` : ''}`));
  for (let j = 0; j < b.count; j++) {
    const i = b.from + j;
    const user = userOf(((c.permA * (i % plan.pool) + c.permB) % plan.pool) + 1, plan.salt);
    funnel.build(c, user);
    if (funnel.buf.length > 1) funnel.buf.sort((x, y) => x.t - y.t);
    emit(c, user, b.message + j + 1, funnel.buf);
  }
}

/** A block's events as objects. `event_id` is `ev_<message>_<k>`: the k-th event of message n. */
export function blockEvents(plan: EmailPlan, b: EmailBlock): EmailEvent[] {
  const out: EmailEvent[] = [];
  const fmt = new TimeFormatter();
  forEachRecipient(plan, b, (c, user, message, events) => {
    for (let k = 0; k < events.length; k++) {
      const p = events[k];
      out.push({
        event_id: `ev_${message}_${k + 1}`,
        timestamp: fmt.format(p.t),
        event_type: p.type,
        campaign_id: c.id,
        email_id: `email_${message}`,
        recipient_id: user.id,
        recipient_email: user.email,
        link_url: p.link,
        metadata: p.meta.text,
        user_agent: p.ua,
      });
    }
  });
  return out;
}

/**
 * A block's events as NDJSON text (byte-identical to `JSON.stringify` of `blockEvents`, keys in schema order), and
 * how many lines it holds. Built from pieces without objects: every generated value but the metadata is plain
 * ASCII without quotes or backslashes, so only the metadata needs escaping (cached per campaign). Checked against
 * JSON.stringify by tests/unit/mock-email.test.ts.
 */
export function blockNdjson(plan: EmailPlan, b: EmailBlock): { bytes: Uint8Array<ArrayBuffer>; events: number } {
  // About 3 events of ~330 bytes per recipient; the sink grows if a block needs more.
  const out = new LineSink(b.count * 3 * 340);
  let n = 0;
  const fmt = new TimeFormatter();
  forEachRecipient(plan, b, (c, user, message, events) => {
    const head = `{"event_id":"ev_${message}_`;
    const mid = `","campaign_id":"${c.id}","email_id":"email_${message}","recipient_id":"${user.id}","recipient_email":"${user.email}","link_url":"`;
    for (let k = 0; k < events.length; k++) {
      const p = events[k];
      out.write(head + (k + 1) + '","timestamp":"' + fmt.format(p.t) + '","event_type":"' + p.type + mid + p.link + '","metadata":' + p.meta.json + ',"user_agent":"' + p.ua + '"}\n');
    }
    n += events.length;
  });
  return { bytes: out.bytes(), events: n };
}

/**
 * Streams `opts.rows` email events (exactly), deterministic for a seed: the blocks of `emailBlocks` in order, the
 * last one cut where the row count is reached. Memory stays flat at any row count.
 */
export function* generateEmailEvents(opts: EmailMockOptions): Generator<EmailEvent> {
  const plan = planEmailMock(opts);
  let left = plan.total;
  if (left === 0) return;
  for (const b of emailBlocks(plan)) {
    for (const e of blockEvents(plan, b)) {
      yield e;
      if (--left === 0) return;
    }
  }
}
