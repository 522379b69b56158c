// The campaign dashboard (served at /dashboard by `emailstats dev` and `serve`). Plain JS, no dependencies, no
// network but this server's public endpoints, read with the token the user gives (never the admin token's
// privileges are needed). Everything that comes from data is put into the page as text nodes or attribute
// values, never parsed as markup. The token is never logged, and goes in the Authorization header only.
'use strict';
(() => {
  const METRICS = [
    { name: 'sends', label: 'Sends', color: '#4263eb' },
    { name: 'deliveries', label: 'Deliveries', color: '#1098ad' },
    { name: 'opens', label: 'Opens', color: '#37b24d' },
    { name: 'clicks', label: 'Clicks', color: '#f08c00' },
    { name: 'bounces', label: 'Bounces', color: '#e03131' },
  ];
  const ACTIVITY_COLUMNS = ['timestamp', 'event_kind', 'event_type', 'recipient_email', 'recipient_id', 'link_url', 'user_agent'];
  const ACTIVITY_LIMIT = 25;
  const GRANULARITIES = ['hour', 'day', 'week'];
  const TOKEN_KEY = 'emailstats.dashboard.token';
  const SVG = 'http://www.w3.org/2000/svg';

  const state = { token: '', campaigns: [], meta: [], campaign: '', granularity: 'day', generation: 0 };

  const $ = (id) => document.getElementById(id);
  const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
  const percent = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  /** An element with attributes and children; strings become text nodes (never markup). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.firstChild.remove();
  }

  function showError(id, message) {
    const node = $(id);
    node.textContent = message || '';
    node.hidden = !message;
  }

  // ---- values -----------------------------------------------------------------------------------------------

  const isNumericType = (type) => /^(Nullable\()?(U?Int\d+|Float\d+|Decimal)/.test(type || '');
  const isRate = (name) => /_rate$/.test(name);

  /** How a value is shown: rates in %, counts with thousands separators, null as an en dash. */
  function formatValue(name, type, value) {
    if (value === null || value === undefined) return '–';
    if (isRate(name) && typeof value === 'number') return `${percent.format(value)}%`;
    if (typeof value === 'number') return /Float|Decimal/.test(type || '') ? decimal.format(value) : integer.format(value);
    return String(value);
  }

  function label(name) {
    const text = name.replace(/_/g, ' ');
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function cell(tag, column, value) {
    const numeric = isNumericType(column.type);
    const node = el(tag, {
      'data-col': column.name,
      'data-value': value === null || value === undefined ? '' : String(value),
      'data-null': value === null ? 'true' : undefined,
      class: numeric ? 'num' : undefined,
    }, formatValue(column.name, column.type, value));
    return node;
  }

  // ---- API --------------------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(pipe, params) {
    const qs = new URLSearchParams(params);
    let res;
    try {
      res = await fetch(`/v0/pipes/${encodeURIComponent(pipe)}.json?${qs}`, { headers: { Authorization: `Bearer ${state.token}` }, cache: 'no-store' });
    } catch (err) {
      throw new ApiError(0, `the server did not answer (${err && err.message ? err.message : 'network error'})`);
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!res.ok) throw new ApiError(res.status, body && typeof body.error === 'string' ? body.error : `HTTP ${res.status}`);
    return { meta: Array.isArray(body && body.meta) ? body.meta : [], data: Array.isArray(body && body.data) ? body.data : [] };
  }

  const refused = (err) => err instanceof ApiError && (err.status === 401 || err.status === 403);

  // ---- token ------------------------------------------------------------------------------------------------

  /**
   * A token in the address (`?token=`, as links and `emailstats dev` give it) moves to this tab's storage and out of
   * the address, so that history, bookmarks and copied links do not keep it.
   */
  function initialToken() {
    const url = new URL(location.href);
    const fromUrl = (url.searchParams.get('token') || '').trim();
    if (fromUrl) {
      storeToken(fromUrl);
      url.searchParams.delete('token');
      history.replaceState(null, '', url.pathname + url.search + url.hash);
      return fromUrl;
    }
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch {
      return '';
    }
  }

  function storeToken(value) {
    try {
      sessionStorage.setItem(TOKEN_KEY, value);
    } catch {
      /* storage may be disabled: the token then lives in this page only */
    }
  }

  /** Forgets the token, so a reload asks again (initialToken took any ?token= out of the address). */
  function forgetToken() {
    state.token = '';
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      /* storage may be disabled */
    }
  }

  function showTokenForm(message) {
    $('token-panel').hidden = false;
    $('campaigns-panel').hidden = true;
    $('detail-panel').hidden = true;
    $('refresh').hidden = true;
    $('change-token').hidden = true;
    showError('token-error', message ? `The server refused the token: ${message}` : '');
    setStatus('');
    document.body.dataset.state = 'token';
    $('token-input').focus();
  }

  // ---- state in the address (#campaign=...&granularity=...) ---------------------------------------------------

  function readHash() {
    const h = new URLSearchParams(location.hash.slice(1));
    if (GRANULARITIES.includes(h.get('granularity'))) state.granularity = h.get('granularity');
    if (h.get('campaign')) state.campaign = h.get('campaign');
  }

  function writeHash() {
    const h = new URLSearchParams({ campaign: state.campaign, granularity: state.granularity });
    history.replaceState(null, '', `${location.pathname}${location.search}#${h}`);
  }

  function setStatus(text) {
    $('status').textContent = text;
  }

  // ---- campaigns ----------------------------------------------------------------------------------------------

  async function loadAll() {
    const generation = ++state.generation;
    document.body.dataset.state = 'loading';
    setStatus('Loading…');
    let stats;
    try {
      stats = await api('campaign_stats', {});
    } catch (err) {
      if (generation !== state.generation) return;
      if (refused(err)) return showTokenForm(err.message);
      $('campaigns-panel').hidden = false;
      showError('campaigns-error', `campaign_stats: ${err.message}`);
      setStatus('');
      document.body.dataset.state = 'error';
      return;
    }
    if (generation !== state.generation) return;
    $('token-panel').hidden = true;
    $('campaigns-panel').hidden = false;
    $('refresh').hidden = false;
    $('change-token').hidden = false;
    showError('campaigns-error', '');
    state.meta = stats.meta.length ? stats.meta : Object.keys(stats.data[0] || {}).map((name) => ({ name, type: '' }));
    state.campaigns = stats.data;
    const ids = state.campaigns.map((c) => String(c.campaign_id));
    if (!ids.includes(state.campaign)) state.campaign = ids[0] || '';
    renderCampaigns();
    renderSelect(ids);
    if (!state.campaign) {
      $('detail-panel').hidden = true;
      setStatus('No campaigns yet');
      document.body.dataset.state = 'ready';
      return;
    }
    await loadDetail(generation);
  }

  function renderCampaigns() {
    const table = $('campaigns');
    const head = table.tHead;
    const body = table.tBodies[0];
    clear(head);
    clear(body);
    const columns = state.meta;
    head.append(el('tr', {}, ...columns.map((c) => el('th', { 'data-col': c.name, title: c.name, class: isNumericType(c.type) ? 'num' : undefined }, label(c.name)))));
    for (const row of state.campaigns) {
      const id = String(row.campaign_id);
      const tr = el('tr', { 'data-campaign': id, class: id === state.campaign ? 'selected' : undefined });
      for (const c of columns) {
        if (c.name === 'campaign_id') {
          const button = el('button', { type: 'button', class: 'link' }, id);
          button.addEventListener('click', () => selectCampaign(id));
          const td = el('th', { scope: 'row', 'data-col': c.name, 'data-value': id }, button);
          tr.append(td);
        } else {
          tr.append(cell('td', c, row[c.name]));
        }
      }
      body.append(tr);
    }
    $('campaign-count').textContent = `${integer.format(state.campaigns.length)} campaign${state.campaigns.length === 1 ? '' : 's'}`;
  }

  function renderSelect(ids) {
    const select = $('campaign-select');
    clear(select);
    for (const id of ids) {
      const option = document.createElement('option');
      option.value = id;
      option.textContent = id;
      select.append(option);
    }
    select.value = state.campaign;
  }

  function selectCampaign(id) {
    if (id === state.campaign && document.body.dataset.state === 'ready') return;
    state.campaign = id;
    $('campaign-select').value = id;
    for (const tr of $('campaigns').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.campaign === id);
    void loadDetail(++state.generation);
  }

  // ---- one campaign -------------------------------------------------------------------------------------------

  async function loadDetail(generation) {
    writeHash();
    document.body.dataset.state = 'loading';
    setStatus('Loading…');
    const campaign = state.campaign;
    const granularity = state.granularity;
    $('detail-panel').hidden = false;
    $('detail-title').textContent = campaign;
    for (const b of $('granularity').querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.granularity === granularity));
    renderSummary();
    const activityParams = { campaign_id: campaign, limit: String(ACTIVITY_LIMIT) };
    const [timeline, activity] = await Promise.allSettled([
      api('campaign_timeline', { campaign_id: campaign, granularity }),
      api('recipient_activity', activityParams),
    ]);
    if (generation !== state.generation) return; // a newer choice is loading
    if (timeline.status === 'fulfilled') {
      showError('timeline-error', '');
      renderCharts(timeline.value, granularity);
    } else {
      clear($('charts'));
      showError('timeline-error', `campaign_timeline: ${timeline.reason.message}`);
    }
    if (activity.status === 'fulfilled') {
      showError('activity-error', '');
      renderActivity(activity.value);
    } else {
      clear($('activity').tHead);
      clear($('activity').tBodies[0]);
      showError('activity-error', `recipient_activity: ${activity.reason.message}`);
    }
    document.body.dataset.campaign = campaign;
    document.body.dataset.granularity = granularity;
    document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
    document.body.dataset.state = 'ready';
    setStatus(`Updated ${new Date().toISOString().slice(11, 19)} UTC`);
  }

  function renderSummary() {
    const dl = $('summary');
    clear(dl);
    const row = state.campaigns.find((c) => String(c.campaign_id) === state.campaign);
    if (!row) return;
    for (const c of state.meta) {
      if (c.name === 'campaign_id') continue;
      const item = el('div', { class: isRate(c.name) ? 'stat rate' : 'stat' });
      item.append(el('dt', { title: c.name }, label(c.name)), cell('dd', c, row[c.name]));
      dl.append(item);
    }
  }

  // ---- charts (inline SVG) ------------------------------------------------------------------------------------

  /** The smallest 1, 2 or 5 × 10^k at or above v (at least 1): the top of the y axis. */
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function bucketLabel(bucket, granularity) {
    const s = String(bucket);
    return granularity === 'hour' ? s.slice(0, 16) : s.slice(0, 10);
  }

  function renderCharts(timeline, granularity) {
    const charts = $('charts');
    clear(charts);
    const names = new Set(timeline.meta.map((m) => m.name));
    const rows = timeline.data;
    charts.dataset.points = String(rows.length);
    charts.dataset.granularity = granularity;
    const metrics = METRICS.filter((m) => names.size === 0 || names.has(m.name));
    if (!rows.length) {
      charts.append(el('p', { class: 'muted' }, 'No events in this campaign.'));
      return;
    }
    for (const metric of metrics) charts.append(barChart(metric, rows, granularity));
  }

  function barChart(metric, rows, granularity) {
    const W = 960, H = 150, left = 48, right = 8, top = 10, bottom = 22;
    const plotW = W - left - right, plotH = H - top - bottom;
    const values = rows.map((r) => Number(r[metric.name]) || 0);
    const total = values.reduce((a, b) => a + b, 0);
    const max = niceMax(Math.max(0, ...values));
    const figure = el('figure', { class: 'chart', 'data-metric': metric.name });
    const caption = el('figcaption', {}, el('span', { class: 'swatch', 'data-color': metric.name }), metric.label, ' ', el('span', { class: 'muted' }, `${integer.format(total)} in ${integer.format(rows.length)} ${granularity === 'hour' ? 'hours' : granularity === 'week' ? 'weeks' : 'days'}`));
    figure.append(caption);
    const chart = svg('svg', {
      viewBox: `0 0 ${W} ${H}`,
      role: 'img',
      'aria-label': `${metric.label} per ${granularity}`,
      'data-metric': metric.name,
      'data-points': rows.length,
      'data-total': total,
      'data-granularity': granularity,
    });
    for (const f of [0, 0.5, 1]) {
      const y = top + plotH - f * plotH;
      chart.append(svg('line', { x1: left, x2: W - right, y1: y, y2: y, class: 'grid' }));
      chart.append(svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, integer.format(max * f)));
    }
    const step = plotW / rows.length;
    const gap = step > 4 ? Math.min(2, step * 0.2) : 0;
    const bars = svg('g', { fill: metric.color, class: 'bars' });
    rows.forEach((row, i) => {
      const v = values[i];
      const h = (v / max) * plotH;
      const rect = svg('rect', {
        x: (left + i * step + gap / 2).toFixed(2),
        y: (top + plotH - h).toFixed(2),
        width: Math.max(0.5, step - gap).toFixed(2),
        height: h.toFixed(2),
        'data-bucket': String(row.bucket),
        'data-value': v,
      });
      rect.append(svg('title', {}, `${bucketLabel(row.bucket, granularity)}: ${integer.format(v)} ${metric.name}`));
      bars.append(rect);
    });
    chart.append(bars);
    // x labels under every `every`-th bucket, so they never overlap; the outer ones kept inside the chart.
    // `slot` is 1.5 labels wide, so a label pushed to an edge still clears its neighbour.
    const slot = granularity === 'hour' ? 150 : 110;
    const every = Math.max(1, Math.ceil(rows.length / Math.max(1, Math.floor(plotW / slot))));
    for (let i = 0; i < rows.length; i += every) {
      const centre = left + i * step + step / 2;
      const [x, anchor] = centre < left + slot / 3 ? [left, 'start'] : centre > W - right - slot / 3 ? [W - right, 'end'] : [centre, 'middle'];
      chart.append(svg('text', { x: x.toFixed(2), y: H - 6, 'text-anchor': anchor, class: 'axis' }, bucketLabel(rows[i].bucket, granularity)));
      chart.append(svg('line', { x1: centre.toFixed(2), x2: centre.toFixed(2), y1: top + plotH, y2: top + plotH + 3, class: 'tick' }));
    }
    figure.append(chart);
    return figure;
  }

  // ---- recipient activity -------------------------------------------------------------------------------------

  function renderActivity(activity) {
    const table = $('activity');
    const head = table.tHead;
    const body = table.tBodies[0];
    clear(head);
    clear(body);
    const types = new Map(activity.meta.map((m) => [m.name, m.type]));
    const columns = ACTIVITY_COLUMNS.filter((name) => types.size === 0 || types.has(name)).map((name) => ({ name, type: types.get(name) || '' }));
    head.append(el('tr', {}, ...columns.map((c) => el('th', { 'data-col': c.name }, label(c.name)))));
    for (const row of activity.data) {
      const tr = el('tr', { 'data-event-id': row.event_id === undefined ? undefined : String(row.event_id) });
      for (const c of columns) {
        const td = cell('td', c, row[c.name]);
        if (c.name === 'user_agent' || c.name === 'link_url') {
          td.classList.add('clip');
          td.setAttribute('title', String(row[c.name] ?? ''));
        }
        if (c.name === 'event_kind') td.classList.add(`kind-${String(row[c.name]).replace(/[^a-z]/g, '')}`);
        tr.append(td);
      }
      body.append(tr);
    }
    if (!activity.data.length) body.append(el('tr', {}, el('td', { colspan: columns.length || 1, class: 'muted' }, 'No events.')));
  }

  // ---- wiring -------------------------------------------------------------------------------------------------

  function start() {
    readHash();
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = $('token-input').value.trim();
      if (!value) return;
      state.token = value;
      storeToken(value);
      $('token-input').value = '';
      void loadAll();
    });
    $('change-token').addEventListener('click', () => {
      forgetToken();
      state.generation++;
      showTokenForm('');
    });
    $('refresh').addEventListener('click', () => void loadAll());
    $('campaign-select').addEventListener('change', (event) => selectCampaign(event.target.value));
    for (const button of $('granularity').querySelectorAll('button')) {
      button.addEventListener('click', () => {
        if (state.granularity === button.dataset.granularity) return;
        state.granularity = button.dataset.granularity;
        void loadDetail(++state.generation);
      });
    }
    state.token = initialToken();
    if (!state.token) showTokenForm('');
    else void loadAll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
