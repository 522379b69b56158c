// The campaign dashboard (/dashboard) in a real browser (Debian's chromium through playwright-core) against a
// real `emailstats dev` on a copy of this repo's project: the page reads only the public endpoints with a read
// token or a JWT, shows what they answer, redraws its SVG charts when the campaign or the granularity changes,
// and shows an event posted meanwhile after a refresh. Data is escaped, the CSP allows nothing but the page's
// own files, and the token never reaches the console.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ADMIN_TOKEN, copyProject, removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';

type Row = Record<string, unknown>;
interface Answer {
  meta: { name: string; type: string }[];
  data: Row[];
}

/** The page's formatting, restated: rates in % with two decimals, counts with separators, null as an en dash. */
function shown(name: string, type: string, v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (name.endsWith('_rate') && typeof v === 'number') return `${v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}%`;
  if (typeof v === 'number') return v.toLocaleString('en-US', { maximumFractionDigits: /Float|Decimal/.test(type) ? 2 : 0 });
  return String(v);
}

const LOAD_TIMEOUT = 60_000;

describe('campaign dashboard in a real browser', () => {
  let project: string;
  let dev: DevServer;
  let browser: TestBrowser;
  let readToken: string;
  /** Everything any tab printed to its console, and every uncaught error. */
  const consoleLines: string[] = [];
  const pageErrors: string[] = [];

  const api = async (pipe: string, params: Record<string, string>, token = readToken): Promise<Answer> => {
    const res = await fetch(`${dev.url}/v0/pipes/${pipe}.json?${new URLSearchParams(params)}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status, `${pipe} ${JSON.stringify(params)}`).toBe(200);
    return (await res.json()) as Answer;
  };

  const openPage = async (pathAndQuery: string): Promise<Page> => {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1360, height: 900 });
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${dev.url}${pathAndQuery}`);
    await page.waitForSelector('body[data-state="ready"], body[data-state="token"]', { timeout: LOAD_TIMEOUT });
    return page;
  };

  /** Runs `act` and waits until the page has finished the load it starts, for `campaign` at `granularity`. */
  const afterLoad = async (page: Page, act: () => Promise<unknown>, campaign: string, granularity: string): Promise<void> => {
    const before = Number((await page.getAttribute('body', 'data-loads')) ?? 0);
    await act();
    // A function, not a string: the page's CSP forbids evaluating strings.
    await page.waitForFunction(
      ([n, c, g]) => {
        const body = (globalThis as unknown as { document: { body: { dataset: Record<string, string | undefined> } } }).document.body.dataset;
        return Number(body.loads ?? 0) > n && body.state === 'ready' && body.campaign === c && body.granularity === g;
      },
      [before, campaign, granularity] as const,
      { timeout: LOAD_TIMEOUT },
    );
  };

  /** The chart of one metric as the page drew it. */
  const chart = (page: Page, metric: string) =>
    page.$eval(`#charts svg[data-metric="${metric}"]`, (svg) => ({
      points: Number(svg.getAttribute('data-points')),
      total: Number(svg.getAttribute('data-total')),
      granularity: svg.getAttribute('data-granularity'),
      bars: [...svg.querySelectorAll('rect')].map((r) => ({ bucket: r.getAttribute('data-bucket'), value: Number(r.getAttribute('data-value')) })),
    }));

  const expectChartMatches = async (page: Page, campaign: string, granularity: string): Promise<number> => {
    const timeline = await api('campaign_timeline', { campaign_id: campaign, granularity });
    expect(timeline.data.length).toBeGreaterThan(0);
    for (const metric of ['sends', 'deliveries', 'opens', 'clicks', 'bounces']) {
      const drawn = await chart(page, metric);
      expect(drawn.granularity).toBe(granularity);
      expect(drawn.points, `${campaign} ${granularity} ${metric}`).toBe(timeline.data.length);
      expect(drawn.bars).toEqual(timeline.data.map((r) => ({ bucket: r.bucket, value: r[metric] })));
      expect(drawn.total).toBe(timeline.data.reduce((s, r) => s + Number(r[metric]), 0));
    }
    return timeline.data.length;
  };

  /** Every cell of a campaign's table row, as data (data-value) and as text. */
  const tableRow = (page: Page, campaign: string) =>
    page.$$eval(`#campaigns tbody tr`, (rows, id) => {
      const row = rows.find((r) => r.getAttribute('data-campaign') === id);
      if (!row) return null;
      return Object.fromEntries([...row.querySelectorAll('[data-col]')].map((c) => [c.getAttribute('data-col'), { value: c.getAttribute('data-value'), text: (c.textContent ?? '').trim() }]));
    }, campaign);

  beforeAll(async () => {
    project = copyProject();
    [dev, browser] = await Promise.all([startDev(project), launchBrowser()]);
    const res = await fetch(`${dev.url}/tokens`);
    expect(res.status).toBe(200);
    readToken = ((await res.json()) as { tokens: Record<string, string> }).tokens.campaign_stats_read;
    expect(readToken).toMatch(/^es_/);
  });

  afterAll(async () => {
    await browser?.close();
    await dev?.stop();
    if (project) removeDir(project);
  });

  it('serves the page and its files as static text, to anyone, with a CSP that allows only its own files', async () => {
    const files = [
      ['/dashboard', 'text/html; charset=utf-8'],
      ['/dashboard/', 'text/html; charset=utf-8'],
      ['/dashboard/dashboard.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/dashboard.css', 'text/css; charset=utf-8'],
    ] as const;
    for (const [path, type] of files) {
      const res = await fetch(`${dev.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      const text = await res.text();
      expect(text).not.toContain(ADMIN_TOKEN);
      expect(text).not.toContain(readToken);
      if (type.startsWith('text/html')) {
        // Every script is a file of this origin: nothing inline, nothing from a CDN.
        const scripts = [...text.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]);
        expect(scripts).toEqual([' src="/dashboard/dashboard.js" defer']);
        expect(text).not.toMatch(/https?:\/\//);
      }
      if (path === '/dashboard/dashboard.js') expect(text).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|console\./);
    }
    expect((await fetch(`${dev.url}/dashboard/app.ts`)).status).toBe(404);
    expect((await fetch(`${dev.url}/dashboard/..%2Froutes%2Fdashboard.ts`)).status).toBe(404);
  });

  it('without a token explains which token to use; a refused token says why; a typed read token opens the dashboard', async () => {
    const page = await openPage('/dashboard');
    try {
      expect(await page.isVisible('#token-panel')).toBe(true);
      expect(await page.isHidden('#campaigns-panel')).toBe(true);
      const explanation = (await page.textContent('#token-panel')) ?? '';
      expect(explanation).toContain('campaign_stats_read');
      expect(explanation).toContain('JWT');
      expect(explanation).toContain('PIPES:READ');
      expect(explanation).toMatch(/admin token is not needed/);

      await page.fill('#token-input', 'es_not_a_token');
      await page.click('#token-form button[type=submit]');
      await page.waitForSelector('#token-error:not([hidden])', { timeout: LOAD_TIMEOUT });
      expect(await page.textContent('#token-error')).toMatch(/invalid token/);

      const stats = await api('campaign_stats', {});
      await page.fill('#token-input', readToken);
      await page.click('#token-form button[type=submit]');
      await page.waitForSelector('body[data-state="ready"]', { timeout: LOAD_TIMEOUT });
      expect(await page.isHidden('#token-panel')).toBe(true);
      expect(await page.$$eval('#campaigns tbody tr', (rows) => rows.length)).toBe(stats.data.length);
      // The typed token stays out of the address.
      expect(page.url()).not.toContain(readToken);
    } finally {
      await page.close();
    }
  });

  it("shows every campaign's numbers as campaign_stats answers them, rates in % and null rates as –", async () => {
    const stats = await api('campaign_stats', {});
    expect(stats.data.length).toBeGreaterThan(2);
    const page = await openPage(`/dashboard?token=${encodeURIComponent(readToken)}#campaign=camp_8`);
    try {
      expect(await page.getAttribute('body', 'data-campaign')).toBe('camp_8');
      // The table's columns are the response's columns, in order (so new columns show up by themselves).
      const headers = await page.$$eval('#campaigns thead th', (ths) => ths.map((th) => th.getAttribute('data-col')));
      expect(headers).toEqual(stats.meta.map((m) => m.name));
      for (const row of stats.data) {
        const cells = await tableRow(page, String(row.campaign_id));
        expect(cells, String(row.campaign_id)).not.toBeNull();
        for (const { name, type } of stats.meta) {
          const v = row[name];
          expect(cells![name], `${row.campaign_id} ${name}`).toEqual({ value: v === null ? '' : String(v), text: shown(name, type, v) });
        }
      }
      // camp_1 is a Postmark campaign: no sends, so its send-based rates are null.
      const camp1 = (await tableRow(page, 'camp_1')) as Record<string, { value: string; text: string }>;
      expect(camp1.delivery_rate.text).toBe('–');
      expect(camp1.bounce_rate.text).toBe('–');
      expect(Object.values(camp1).some((c) => /^\d+\.\d\d%$/.test(c.text))).toBe(true);

      // The selected campaign's summary agrees with the endpoint asked for that campaign alone.
      const one = (await api('campaign_stats', { campaign_id: 'camp_8' })).data[0];
      const summary = await page.$$eval('#summary dd', (dds) => Object.fromEntries(dds.map((dd) => [dd.getAttribute('data-col'), (dd.textContent ?? '').trim()])));
      for (const { name, type } of stats.meta.filter((m) => m.name !== 'campaign_id')) expect(summary[name], `summary ${name}`).toBe(shown(name, type, one[name]));
      expect(summary.opens).toMatch(/^\d{1,3}(,\d{3})*$/);
      expect(summary.open_rate).toMatch(/^\d+\.\d\d%$/);
    } finally {
      await page.close();
    }
  });

  it('redraws the SVG charts when the granularity or the campaign changes', async () => {
    const page = await openPage(`/dashboard?token=${encodeURIComponent(readToken)}#campaign=camp_8&granularity=day`);
    try {
      expect(await page.getAttribute('body', 'data-granularity')).toBe('day');
      const days = await expectChartMatches(page, 'camp_8', 'day');

      await afterLoad(page, () => page.click('#granularity button[data-granularity="week"]'), 'camp_8', 'week');
      const weeks = await expectChartMatches(page, 'camp_8', 'week');
      expect(weeks).toBeLessThan(days);
      expect(await page.getAttribute('#granularity button[data-granularity="week"]', 'aria-pressed')).toBe('true');

      await afterLoad(page, () => page.click('#granularity button[data-granularity="hour"]'), 'camp_8', 'hour');
      const hours = await expectChartMatches(page, 'camp_8', 'hour');
      expect(hours).toBeGreaterThan(days);
      expect(await page.$$eval('#charts svg[data-metric="opens"] rect', (r) => r.length)).toBe(hours);

      // Another campaign, at the granularity chosen; the selection is kept in the address's fragment.
      await afterLoad(page, () => page.selectOption('#campaign-select', 'camp_1'), 'camp_1', 'hour');
      await expectChartMatches(page, 'camp_1', 'hour');
      expect(await page.textContent('#detail-title')).toBe('camp_1');
      expect(new URL(page.url()).hash).toBe('#campaign=camp_1&granularity=hour');
      expect(await page.getAttribute('#campaigns tbody tr.selected', 'data-campaign')).toBe('camp_1');

      // Clicking a campaign in the table chooses it too.
      await afterLoad(page, () => page.click('#campaigns tbody tr[data-campaign="camp_8"] th button'), 'camp_8', 'hour');
      await expectChartMatches(page, 'camp_8', 'hour');
    } finally {
      await page.close();
    }
  });

  it('shows an event posted meanwhile after a refresh, with its data escaped', async () => {
    const page = await openPage(`/dashboard?token=${encodeURIComponent(readToken)}#campaign=camp_8&granularity=day`);
    try {
      const before = (await tableRow(page, 'camp_8'))!;
      const opensBefore = Number(before.opens.value);
      const chartBefore = await chart(page, 'opens');
      const stats = (await api('campaign_stats', { campaign_id: 'camp_8' })).data[0];
      // One second after the campaign's last activity: the newest event, in the last day bucket.
      const last = new Date(`${String(stats.last_activity).replace(' ', 'T')}Z`);
      const timestamp = new Date(last.getTime() + 1000).toISOString().slice(0, 19).replace('T', ' ');
      const email = '<img src=x id=injected>dash"board\'@example.com';
      const event = {
        event_id: 'ev_dashboard_e2e_1',
        timestamp,
        event_type: 'open',
        campaign_id: 'camp_8',
        email_id: 'email_dashboard_e2e',
        recipient_id: 'user_<b id="bold">dashboard</b>',
        recipient_email: email,
        link_url: 'javascript:alert(1)',
        metadata: '{"device":"mobile"}',
        user_agent: 'Mozilla/5.0 <script>alert(1)</script>',
      };
      const posted = await fetch(`${dev.url}/v0/events?name=email_events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify(event) });
      expect(posted.status).toBe(200);
      expect(await posted.json()).toMatchObject({ successful_rows: 1, quarantined_rows: 0 });

      // Nothing changes until the refresh.
      expect(Number((await tableRow(page, 'camp_8'))!.opens.value)).toBe(opensBefore);
      await afterLoad(page, () => page.click('#refresh'), 'camp_8', 'day');

      const after = await api('campaign_stats', {});
      const camp8 = after.data.find((r) => r.campaign_id === 'camp_8')!;
      expect(camp8.opens).toBe(opensBefore + 1);
      const cells = (await tableRow(page, 'camp_8'))!;
      expect(cells.opens).toEqual({ value: String(opensBefore + 1), text: shown('opens', 'UInt64', opensBefore + 1) });
      expect(cells.open_rate.value).toBe(camp8.open_rate === null ? '' : String(camp8.open_rate));
      expect(await page.textContent('#summary dd[data-col="opens"]')).toBe(shown('opens', 'UInt64', opensBefore + 1));
      const chartAfter = await chart(page, 'opens');
      expect(chartAfter.total).toBe(chartBefore.total + 1);
      await expectChartMatches(page, 'camp_8', 'day');

      // The recipient activity lists it first, every value as text.
      const first = await page.$eval('#activity tbody tr', (tr) => ({
        id: tr.getAttribute('data-event-id'),
        cells: Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.getAttribute('data-col'), td.textContent])),
      }));
      expect(first.id).toBe(event.event_id);
      expect(first.cells).toMatchObject({ timestamp, event_kind: 'open', recipient_email: email, recipient_id: event.recipient_id, link_url: event.link_url, user_agent: event.user_agent });
      const activity = await api('recipient_activity', { campaign_id: 'camp_8', limit: '25' });
      expect(await page.$$eval('#activity tbody tr', (rows) => rows.map((r) => r.getAttribute('data-event-id')))).toEqual(activity.data.map((r) => r.event_id));
      // None of it became markup, and the link is not a link.
      expect(await page.$$('#injected, #bold, #activity script, #activity a')).toEqual([]);

      // The token left the address for this tab's storage (history and copied links do not keep it); a reload of
      // the page shows the same.
      expect(page.url()).not.toContain('token=');
      expect(page.url()).toContain('#campaign=camp_8');
      await page.reload();
      await page.waitForSelector('body[data-state="ready"]', { timeout: LOAD_TIMEOUT });
      expect((await tableRow(page, 'camp_8'))!.opens.value).toBe(String(opensBefore + 1));
      expect(await page.getAttribute('#activity tbody tr', 'data-event-id')).toBe(event.event_id);

      await page.screenshot({ path: '/tmp/dashboard.png', fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('with a JWT fixed to one campaign, shows that campaign only', async () => {
    const scopes = ['campaign_stats', 'campaign_timeline', 'recipient_activity'].map((resource) => ({ type: 'PIPES:READ', resource, fixed_params: { campaign_id: 'camp_8' } }));
    const res = await fetch(`${dev.url}/v0/tokens?name=dashboard_e2e&expiration_time=${Math.floor(Date.now() / 1000) + 3600}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes }),
    });
    expect(res.status).toBe(200);
    const jwt = ((await res.json()) as { token: string }).token;
    const page = await openPage(`/dashboard?token=${encodeURIComponent(jwt)}#campaign=camp_1&granularity=week`);
    try {
      // camp_1 is not this JWT's: the page falls back to the one campaign it can see.
      expect(await page.$$eval('#campaigns tbody tr', (rows) => rows.map((r) => r.getAttribute('data-campaign')))).toEqual(['camp_8']);
      expect(await page.getAttribute('body', 'data-campaign')).toBe('camp_8');
      const timeline = await api('campaign_timeline', { campaign_id: 'camp_8', granularity: 'week' }, jwt);
      expect((await chart(page, 'sends')).points).toBe(timeline.data.length);
      const stats = (await api('campaign_stats', {}, jwt)).data[0];
      expect((await tableRow(page, 'camp_8'))!.opens.value).toBe(String(stats.opens));
    } finally {
      await page.close();
    }
  });

  it('never printed a token, hit a CSP violation or threw', () => {
    expect(pageErrors).toEqual([]);
    for (const line of consoleLines) {
      expect(line).not.toContain(readToken);
      expect(line).not.toContain(ADMIN_TOKEN);
      expect(line).not.toContain('eyJ');
      expect(line).not.toMatch(/Content Security Policy/i);
    }
    // The only console output is the browser's own note on the refused token's 403.
    for (const line of consoleLines) expect(line).toMatch(/Failed to load resource: the server responded with a status of 403/);
  });
});
