// Events keep arriving at `serve` while `deploy` rewrites their datasource (sorting-key change through
// FORWARD_QUERY): serve holds its flushes to the table from the deploy's rewrite record until the swap, so
// every acknowledged event ends up in the new table exactly once.
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN } from '../helpers/cli.js';
import { startProducer } from '../helpers/event-producer.js';
import { chQuery, currentDeployment, eventually, startServe, targetEnv, useDeployedProject, PROD_TOKEN } from '../helpers/serve.js';

const DB = 'ingest';

describe('deploy while serve ingests', () => {
  const env = useDeployedProject(DB);

  it('every event acknowledged by two serve processes during a rewrite is in the new table exactly once', async () => {
    const a = await startServe(env.ch().url, DB, 300);
    const b = await startServe(env.ch().url, DB, 300);
    env.serves.push(a, b);
    for (const s of [a, b]) await eventually(async () => currentDeployment(s.output()) === 1, 10_000, 'serve to load deployment #1');
    const pa = startProducer(a.url, PROD_TOKEN, 'pa');
    const pb = startProducer(b.url, PROD_TOKEN, 'pb');
    await new Promise((r) => setTimeout(r, 1500));

    const file = path.join(env.project(), 'datasources/email_events.datasource');
    writeFileSync(file, readFileSync(file, 'utf8').replace('ENGINE_SORTING_KEY "campaign_id, event_type, timestamp"', 'ENGINE_SORTING_KEY "campaign_id, timestamp, event_id"\n\nFORWARD_QUERY >\n    SELECT *'));
    const ackedBefore = pa.acked() + pb.acked();
    // The pause keeps the rewrite open for 3 s after the copy, with events arriving all along.
    const deploy = await execa('node', [BIN, 'deploy', '--project', env.project(), '--yes'], {
      env: { ...targetEnv(env.ch().url, DB), EMAILSTATS_DEPLOY_PAUSE_BEFORE_SWAP_MS: '3000', EMAILSTATS_POLL_INTERVAL_MS: '300', NO_COLOR: '1' },
      reject: false,
      all: true,
    });
    const ackedDuring = pa.acked() + pb.acked() - ackedBefore;
    await new Promise((r) => setTimeout(r, 1000));
    await Promise.all([pa.stop(), pb.stop()]);
    expect(deploy.exitCode, deploy.all).toBe(0);
    expect(deploy.all).toMatch(/holding event flushes to email_events/);
    expect(deploy.all).toMatch(/email_events\.datasource changed \(rewritten into a new table/);
    expect(ackedDuring).toBeGreaterThan(100);
    for (const s of [a, b]) {
      expect(s.output()).toContain('is rewriting email_events: holding event flushes');
      expect(s.output()).toContain('email_events is no longer being rewritten');
    }

    const acked = pa.acked() + pb.acked();
    const q = `SELECT count() AS c, uniqExact(event_id) AS d FROM ${DB}.email_events WHERE campaign_id IN ('camp_pa', 'camp_pb')`;
    await eventually(async () => Number((await chQuery<{ c: number }>(env.ch().url, q))[0].c) >= acked, 20_000, 'the held events to be flushed');
    await new Promise((r) => setTimeout(r, 1500)); // anything extra (a duplicate) would show up by now
    const [{ c, d }] = await chQuery<{ c: number; d: number }>(env.ch().url, q);
    expect({ count: Number(c), distinct: Number(d) }).toEqual({ count: acked, distinct: acked });
    // The new table is the one with the new sorting key, and no leftover of the rewrite remains.
    const [{ k }] = await chQuery<{ k: string }>(env.ch().url, `SELECT engine_full AS k FROM system.tables WHERE database = '${DB}' AND name = 'email_events'`);
    expect(k).toContain('campaign_id, timestamp, event_id');
    expect(await chQuery(env.ch().url, `SELECT name FROM system.tables WHERE database = '${DB}' AND (name LIKE '%emailstats_new%' OR name LIKE '%emailstats_old%')`)).toEqual([]);
  }, 120_000);
});
