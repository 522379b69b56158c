// mode=replace on a datasource that feeds materialized views (the email project: email_events → hourly and
// all-time rollups): the rollups are recomputed from the new rows, and events posted while the replace runs
// are neither lost nor left out of the rollups.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEmailEvents } from '../../cli/src/mock/email.js';
import { copyProject, removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { sql } from '../helpers/events-project.js';

let project: string;
let dev: DevServer;

beforeAll(async () => {
  project = copyProject();
  // A short flush interval: without holds, events posted during the replace would be inserted into the table
  // being swapped out (and lost) well before the replace ends.
  dev = await startDev(project, ['--flush-interval-ms', '20']);
}, 60_000);
afterAll(async () => {
  await dev?.stop();
  if (project) removeDir(project);
});

const auth = () => ({ authorization: `Bearer ${dev.token}` });

/** Events per campaign and kind, as the raw table and as each rollup sees them. */
async function perKind(from: 'email_events' | 'email_activity_hourly' | 'email_campaign_totals'): Promise<string[]> {
  const n = from === 'email_events' ? 'count()' : 'countMerge(events)';
  const rows = await sql<{ campaign_id: string; event_kind: string; n: number }>(
    dev.url,
    dev.token,
    `SELECT campaign_id, event_kind, ${n} AS n FROM ${from} GROUP BY campaign_id, event_kind ORDER BY campaign_id, event_kind`,
  );
  return rows.map((r) => `${r.campaign_id} ${r.event_kind} ${r.n}`);
}

describe('mode=replace on a datasource with materialized views', () => {
  it('recomputes the rollups from the new rows and keeps events posted meanwhile', async () => {
    const before = await perKind('email_events');
    expect(before.length).toBeGreaterThan(100); // the 60k-event fixture
    expect(await perKind('email_activity_hourly')).toEqual(before);

    const replacement = [...generateEmailEvents({ rows: 20_000, seed: 'replace', campaigns: 5 })].map((e) => JSON.stringify(e)).join('\n') + '\n';
    const form = new FormData();
    form.append('ndjson', new Blob([replacement]), 'events.ndjson');
    const upload = fetch(`${dev.url}/v0/datasources?name=email_events&mode=replace`, { method: 'POST', headers: auth(), body: form });
    let done = false;
    void upload.finally(() => (done = true));

    // Single events while the replace runs (and a few after): every acknowledged one must end up in the table.
    const posted: string[] = [];
    let afterDone = 0;
    while (!done || afterDone < 5) {
      if (done) afterDone++;
      const id = `during_${posted.length}`;
      const res = await fetch(`${dev.url}/v0/events?name=email_events`, {
        method: 'POST',
        headers: auth(),
        body: JSON.stringify({ event_id: id, timestamp: '2025-03-03 10:00:00', event_type: 'open', campaign_id: 'camp_during', email_id: id, recipient_id: id, recipient_email: `${id}@example.com`, link_url: '', metadata: '{}', user_agent: '' }),
      });
      expect(res.status).toBe(202);
      posted.push(id);
    }
    const res = await upload;
    const body = (await res.json()) as { successful_rows: number; mode: string; downstream: { recomputed: string[]; left_as_is: unknown[] } };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ mode: 'replace', successful_rows: 20_000 });
    expect(body.downstream.recomputed.sort()).toEqual(['email_activity_hourly', 'email_campaign_counts', 'email_campaign_totals']);
    expect(body.downstream.left_as_is).toEqual([]);
    expect(posted.length).toBeGreaterThan(5);

    // Let the held events flush: the WAL is inserted once the replace releases the tables.
    const deadline = Date.now() + 30_000;
    let arrived = 0;
    while (Date.now() < deadline) {
      arrived = Number((await sql<{ c: number }>(dev.url, dev.token, "SELECT count() AS c FROM email_events WHERE campaign_id = 'camp_during'"))[0].c);
      if (arrived >= posted.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`replace: 20,000 rows in, ${posted.length} events posted during it, ${arrived} arrived`);
    expect(arrived).toBe(posted.length);
    const total = Number((await sql<{ c: number }>(dev.url, dev.token, 'SELECT count() AS c FROM email_events'))[0].c);
    expect(total).toBe(20_000 + posted.length);

    const after = await perKind('email_events');
    expect(after).not.toEqual(before);
    expect(await perKind('email_activity_hourly')).toEqual(after);
    expect(await perKind('email_campaign_totals')).toEqual(after);

    // The endpoint reads the rollups: its numbers now describe the new rows.
    const stats = (await (await fetch(`${dev.url}/v0/pipes/campaign_stats.json`, { headers: auth() })).json()) as { data: { campaign_id: string }[] };
    expect(stats.data.map((r) => r.campaign_id).sort()).toEqual([...new Set(after.map((l) => l.split(' ')[0]))].sort());
  }, 120_000);
});
