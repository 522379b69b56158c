// `emailstats dev` rewrites a datasource on a change (sorting key, through FORWARD_QUERY) while events keep
// arriving: its Ingestor holds flushes to the table during the rewrite, so every acknowledged event ends up
// in the new table exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { copyProject, removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { startProducer } from '../helpers/event-producer.js';

describe('dev rebuild while ingesting', () => {
  let project: string;
  let dev: DevServer;

  const sql = async (q: string): Promise<Record<string, unknown>[]> => {
    const res = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent(q)}&token=${dev.token}`);
    return ((await res.json()) as { data: Record<string, unknown>[] }).data;
  };

  beforeAll(async () => {
    project = copyProject();
    dev = await startDev(project, ['--flush-interval-ms', '50'], { EMAILSTATS_DEV_PAUSE_BEFORE_SWAP_MS: '2000' });
  }, 160_000);

  afterAll(async () => {
    await dev?.stop();
    if (project) removeDir(project);
  });

  it('loses no acknowledged event when a rebuild rewrites the datasource', async () => {
    const p = startProducer(dev.url, dev.token, 'dv');
    await new Promise((r) => setTimeout(r, 1000));
    const mark = dev.output().length;
    const file = path.join(project, 'datasources/email_events.datasource');
    writeFileSync(file, readFileSync(file, 'utf8').replace('ENGINE_SORTING_KEY "campaign_id, event_type, timestamp"', 'ENGINE_SORTING_KEY "campaign_id, timestamp, event_id"\n\nFORWARD_QUERY >\n    SELECT *'));
    const ackedBefore = p.acked();
    await dev.waitFor(/email_events\.datasource changed \(rewritten into a new table/, 90_000, mark);
    await dev.waitFor(/Rebuild completed/, 60_000, mark);
    const ackedDuring = p.acked() - ackedBefore;
    await new Promise((r) => setTimeout(r, 500));
    await p.stop();
    expect(ackedDuring).toBeGreaterThan(100);

    const acked = p.acked();
    const q = "SELECT count() AS c, uniqExact(event_id) AS d FROM email_events WHERE campaign_id = 'camp_dv'";
    const deadline = Date.now() + 20_000;
    while (Number((await sql(q))[0].c) < acked && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    const [{ c, d }] = await sql(q);
    expect({ count: Number(c), distinct: Number(d) }).toEqual({ count: acked, distinct: acked });
  }, 150_000);
});
