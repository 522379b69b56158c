// mode=replace through one of two `serve` processes on a ClickHouse 18.16 server: the replacing process puts a
// rewrite record, so the other process holds its event flushes too; every event acknowledged by either process
// once both hold is in the new table exactly once, and the rollups are recomputed. A second rewrite at the
// same time is refused with 409 (tests/unit/rewrite-hold.test.ts has the tie-break), two replaces sent at once
// leave one file's rows with matching rollups, and a deploy waits for a replace in progress.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateEmailEvents } from '../../cli/src/mock/email.js';
import { startProducer } from '../helpers/event-producer.js';
import { chQuery, currentDeployment, deployCli, eventually, startServe, useDeployedProject, PROD_TOKEN } from '../helpers/serve.js';

const DB = 'replace';

describe('datasource replace through serve', () => {
  const env = useDeployedProject(DB);

  const exec = async (sql: string) => {
    const res = await fetch(env.ch().url, { method: 'POST', body: sql });
    if (!res.ok) throw new Error(`${sql}: ${await res.text()}`);
  };
  /** Both rollups hold exactly the raw table's counts per campaign and event kind. */
  const expectRollupsMatchRaw = async () => {
    const perKind = (from: string, n: string) =>
      chQuery<{ k: string }>(env.ch().url, `SELECT concat(campaign_id, ' ', event_kind, ' ', toString(${n})) AS k FROM ${DB}.${from} GROUP BY campaign_id, event_kind ORDER BY k`);
    const raw = await perKind('email_events', 'count()');
    expect(await perKind('email_activity_hourly', 'countMerge(events)')).toEqual(raw);
    expect(await perKind('email_campaign_totals', 'countMerge(events)')).toEqual(raw);
  };
  const replace = (base: string, text: string) => {
    const form = new FormData();
    form.append('ndjson', new Blob([text]), 'events.ndjson');
    return fetch(`${base}/v0/datasources?name=email_events&mode=replace`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` }, body: form });
  };

  it('holds the other serve process too: nothing it acknowledges during the replace is lost', async () => {
    const a = await startServe(env.ch().url, DB, 300);
    const b = await startServe(env.ch().url, DB, 300);
    env.serves.push(a, b);
    for (const s of [a, b]) await eventually(async () => currentDeployment(s.output()) === 1, 10_000, 'serve to load deployment #1');

    const rows = 100_000;
    const text = [...generateEmailEvents({ rows, seed: 'serve-replace', campaigns: 8 })].map((e) => JSON.stringify(e)).join('\n') + '\n';
    const pending = replace(a.url, text);
    // Events acknowledged once both processes hold must all survive (earlier ones may already be in the old table).
    for (const s of [a, b]) await s.waitFor('a datasource replace is rewriting email_events: holding event flushes', 20_000);
    const pa = startProducer(a.url, PROD_TOKEN, 'ra');
    const pb = startProducer(b.url, PROD_TOKEN, 'rb');
    const res = await pending;
    const body = (await res.json()) as { successful_rows: number; downstream: { recomputed: string[] }; error?: string };
    await new Promise((r) => setTimeout(r, 800));
    await Promise.all([pa.stop(), pb.stop()]);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.successful_rows).toBe(rows);
    expect(body.downstream.recomputed.sort()).toEqual(['email_activity_hourly', 'email_campaign_counts', 'email_campaign_totals']);
    for (const s of [a, b]) await s.waitFor('email_events is no longer being rewritten', 10_000);


    const acked = pa.acked() + pb.acked();
    expect(acked).toBeGreaterThan(50);
    const q = `SELECT count() AS c, uniqExact(event_id) AS d FROM ${DB}.email_events WHERE campaign_id IN ('camp_ra', 'camp_rb')`;
    await eventually(async () => Number((await chQuery<{ c: number }>(env.ch().url, q))[0].c) >= acked, 20_000, 'the held events to be flushed');
    await new Promise((r) => setTimeout(r, 1000));
    const [{ c, d }] = await chQuery<{ c: number; d: number }>(env.ch().url, q);
    console.log(`serve replace: ${rows} rows replaced; ${acked} events acknowledged by two serve processes during it, ${c} in the table`);
    expect({ count: Number(c), distinct: Number(d) }).toEqual({ count: acked, distinct: acked });
    const [{ n }] = await chQuery<{ n: number }>(env.ch().url, `SELECT count() AS n FROM ${DB}.email_events WHERE campaign_id NOT IN ('camp_ra', 'camp_rb')`);
    expect(Number(n)).toBe(rows);

    // The rollups describe the new rows (plus the events), not the fixture's.
    await expectRollupsMatchRaw();
  }, 120_000);

  /** Writes a rewrite record for `owner` as the store does (versions are microseconds). */
  const record = (owner: number, active: 0 | 1, tables: string[], leaseSeconds: number) =>
    exec(
      `INSERT INTO ${DB}._emailstats_rewriting (version, deployment_id, tables, since, until, active) ` +
        `SELECT toUInt64(toUnixTimestamp(now()) + ${active ? 0 : 1}) * 1000000 + 999999, ${owner}, '${JSON.stringify(tables)}', now(), now() + ${leaseSeconds}, ${active}`,
    );
  const serve = async () => env.serves[0] ?? (env.serves.push(await startServe(env.ch().url, DB, 300)), env.serves[0]);

  it('keeps the data consistent when two replaces of the same datasource are sent at once', async () => {
    const [a, b] = [await serve(), env.serves[1] ?? (env.serves.push(await startServe(env.ch().url, DB, 300)), env.serves[1])];
    const text = (seed: string) => [...generateEmailEvents({ rows: 30_000, seed, campaigns: 3 })].map((e) => JSON.stringify({ ...e, event_id: `${seed}_${e.event_id}` })).join('\n') + '\n';
    const results = await Promise.all([replace(a.url, text('one')), replace(b.url, text('two'))]);
    // Either they overlapped and the later record withdrew (409), or the second ran after the first ended.
    const statuses = results.map((r) => r.status).sort();
    expect([[200, 200], [200, 409]]).toContainEqual(statuses);
    for (const r of results.filter((x) => x.status === 409)) {
      expect(((await r.json()) as { error: string }).error).toMatch(/cannot replace email_events now: a datasource replace is rewriting [a-z_, ]*email_events[a-z_, ]* right now/);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // One file's rows, whole, and rollups that describe exactly them.
    const files = await chQuery<{ f: string; n: number }>(env.ch().url, `SELECT splitByChar('_', event_id)[1] AS f, count() AS n FROM ${DB}.email_events GROUP BY f`);
    expect(files.length).toBe(1);
    expect(Number(files[0].n)).toBe(30_000);
    await expectRollupsMatchRaw();
  }, 60_000);

  it('replaces only the rows of a replace_condition on 18.16, and recomputes the rollups downstream', async () => {
    const s = await serve();
    const before = await chQuery<{ c: string; f: string; n: number }>(env.ch().url, `SELECT campaign_id AS c, splitByChar('_', event_id)[1] AS f, count() AS n FROM ${DB}.email_events GROUP BY c, f ORDER BY c`);
    const target = before[0].c;
    const text = [...generateEmailEvents({ rows: 6_000, seed: 'part', campaigns: 3 })].map((e) => JSON.stringify({ ...e, event_id: `part_${e.event_id}` })).join('\n') + '\n';
    const form = new FormData();
    form.append('ndjson', new Blob([text]), 'events.ndjson');
    const res = await fetch(`${s.url}/v0/datasources?name=email_events&mode=replace&replace_condition=${encodeURIComponent(`campaign_id = '${target}'`)}`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` }, body: form });
    const body = (await res.json()) as { successful_rows: number; rows_outside_condition: number; error?: string };
    expect(res.status, body.error).toBe(200);
    const fromFile = text.split('\n').filter((l) => l.includes(`"campaign_id":"${target}"`)).length;
    expect(body).toMatchObject({ successful_rows: fromFile, rows_outside_condition: 6_000 - fromFile });
    const after = await chQuery<{ c: string; f: string; n: number }>(env.ch().url, `SELECT campaign_id AS c, splitByChar('_', event_id)[1] AS f, count() AS n FROM ${DB}.email_events GROUP BY c, f ORDER BY c`);
    // The target campaign's rows are the file's; every other campaign's are as they were.
    expect(after.filter((r) => r.c === target).map((r) => [r.f, Number(r.n)])).toEqual([['part', fromFile]]);
    expect(after.filter((r) => r.c !== target)).toEqual(before.filter((r) => r.c !== target));
    await expectRollupsMatchRaw();
  }, 60_000);

  it('refuses a replace while a deploy holds the tables, naming it', async () => {
    await record(7, 1, ['email_events'], 60);
    const res = await replace((await serve()).url, '{"event_id":"x"}\n');
    const body = (await res.json()) as { error: string };
    expect(res.status).toBe(409);
    expect(body.error).toMatch(/cannot replace email_events now: deployment #7 is rewriting email_events right now/);
    await record(7, 0, [], 0);
  }, 30_000);

  it('makes a deploy that rewrites a table wait for a replace in progress, recording nothing', async () => {
    const owner = 2 ** 40 + 5; // a replace's owner id
    await record(owner, 1, ['email_events'], 60);
    const file = path.join(env.project(), 'datasources/email_events.datasource');
    writeFileSync(file, readFileSync(file, 'utf8').replace('ENGINE_SORTING_KEY "campaign_id, event_type, timestamp"', 'ENGINE_SORTING_KEY "campaign_id, timestamp, event_id"\n\nFORWARD_QUERY >\n    SELECT *'));
    const r = await deployCli(env.project(), env.ch().url, DB);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toMatch(/a datasource replace is rewriting email_events right now .*run deploy again when it is done/);
    // Refused before anything was recorded: no deployment #2, no record of its own, the replace's record intact.
    expect(await chQuery(env.ch().url, `SELECT id FROM ${DB}._emailstats_deployments WHERE id = 2`)).toEqual([]);
    const owners = await chQuery<{ id: number; active: number }>(env.ch().url, `SELECT deployment_id AS id, argMax(active, version) AS active FROM ${DB}._emailstats_rewriting GROUP BY deployment_id ORDER BY id`);
    expect(owners.filter((o) => o.active === 1).map((o) => o.id)).toEqual([owner]);
    await record(owner, 0, [], 0);
  }, 60_000);
});
