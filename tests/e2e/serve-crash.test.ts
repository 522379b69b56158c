// Exactly-once across crashes of `serve` on ClickHouse 18.16, which has no insert deduplication tokens: a load
// posts uniquely numbered events while the test SIGKILLs serve at random moments and restarts it on the same
// write-ahead log. Replayed segments are checked against system.query_log before they are inserted again, so
// at the end every acknowledged event is in the server once.
import { mkdtempSync, readlinkSync, renameSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { crashLoad, rng } from '../helpers/crash-load.js';
import { runCli } from '../helpers/cli.js';
import { chQuery, PROD_TOKEN, startServe, targetEnv, useDeployedProject } from '../helpers/serve.js';

const DB = 'crash';
const CYCLES = 6;
const WORKERS = 8;

const emailEvent = (id: number): Record<string, unknown> => ({
  event_id: `sc_${id}`,
  timestamp: '2025-03-01 10:00:00',
  event_type: id % 3 ? 'open' : 'click',
  campaign_id: 'camp_crash',
  email_id: `e${id % 50}`,
  recipient_id: `u${id}`,
  recipient_email: `u${id}@example.com`,
  link_url: '',
  metadata: '{}',
  user_agent: '',
});

describe('serve on ClickHouse 18.16 under kill -9', () => {
  const env = useDeployedProject(DB);

  it('keeps every acknowledged event exactly once across SIGKILLs of serve and restarts on the same WAL', async () => {
    const random = rng(Number(process.env.CRASH_SEED ?? 20261204));
    const load = crashLoad({ random, token: PROD_TOKEN, datasource: 'email_events', event: emailEvent });
    const walDir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-serve-crash-wal-'));
    let replayChecks = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const serve = await startServe(env.ch().url, DB, 300, {}, walDir);
      const running = load.run(serve.url, WORKERS);
      await new Promise((r) => setTimeout(r, 700 + random() * 2000));
      serve.process.kill('SIGKILL');
      await serve.process;
      await running.stop();
      expect(serve.output()).not.toMatch(/cannot read system\.query_log/);
      replayChecks += (serve.output().match(/already inserted \(query_log\)/g) ?? []).length;
    }

    // A clean start replays what the WAL still holds; a wait=true event then drains the queue behind it.
    const serve = await startServe(env.ch().url, DB, 300, {}, walDir);
    env.serves.push(serve);
    const marker = load.nextId();
    const res = await fetch(`${serve.url}/v0/events?name=email_events&wait=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PROD_TOKEN}` },
      body: JSON.stringify(emailEvent(marker)),
    });
    expect(res.status).toBe(200);
    load.acked.add(marker);
    expect(serve.output()).not.toMatch(/cannot read system\.query_log/);
    replayChecks += (serve.output().match(/already inserted \(query_log\)/g) ?? []).length;

    const rows = await chQuery<{ event_id: string }>(env.ch().url, `SELECT event_id FROM ${DB}.email_events WHERE campaign_id = 'camp_crash'`);
    const ids = rows.map((r) => Number(r.event_id.slice(3)));
    const present = new Set(ids);
    const missing = [...load.acked].filter((id) => !present.has(id));
    const unacked = [...present].filter((id) => !load.acked.has(id)).length;
    const { stats } = load;
    console.log(
      `serve crash test (ClickHouse 18.16): ${CYCLES} SIGKILLs, ${stats.requests} requests (${stats.ackedRequests} acknowledged, ${stats.failed} cut off), ` +
        `${load.acked.size} events acknowledged; in ClickHouse: ${ids.length} rows, ${present.size} distinct ` +
        `(${unacked} from requests cut off after their fsync), ${missing.length} missing, ${ids.length - present.size} duplicates; ` +
        `${replayChecks} replayed segments found already inserted`,
    );
    expect(missing).toEqual([]);
    expect(ids.length).toBe(present.size); // no event twice
    expect(load.acked.size).toBeGreaterThan(200); // the kills hit real load (a few thousand on an idle machine)
  }, 180_000);

  it('refuses a second serve on the same write-ahead log, naming the first; once the first is killed a new serve takes the folder at once', async () => {
    const walDir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-serve-shared-wal-'));
    const first = await startServe(env.ch().url, DB, 300, {}, walDir);
    env.serves.push(first);
    const post = (url: string, id: number, wait = false) =>
      fetch(`${url}/v0/events?name=email_events${wait ? '&wait=true' : ''}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PROD_TOKEN}` },
        body: JSON.stringify({ ...emailEvent(id), campaign_id: 'camp_shared_wal' }),
      });
    for (let id = 900_000; id < 900_010; id++) expect((await post(first.url, id)).status).toBe(202);

    const second = await runCli(['serve', '--port', '0', '--host', '127.0.0.1', '--wal-dir', walDir], { env: targetEnv(env.ch().url, DB) });
    expect(second.exitCode, second.all).toBe(1);
    expect(second.all).toContain(`the write-ahead log folder ${walDir} is in use by pid ${first.process.pid} on `);
    expect(second.all).toContain('(emailstats serve, since ');
    expect(second.all).toContain('give this serve another folder (--wal-dir or EMAILSTATS_WAL_DIR)');
    expect(second.all).not.toContain('listening on');
    // The first serve was not disturbed.
    expect((await post(first.url, 900_010)).status).toBe(202);

    first.process.kill('SIGKILL');
    await first.process;
    const third = await startServe(env.ch().url, DB, 300, {}, walDir);
    env.serves.push(third);
    expect(third.output()).toMatch(new RegExp(`took over the write-ahead log .* from pid ${first.process.pid} .*which is no longer running`));
    expect(third.output()).not.toContain('waiting up to');
    expect((await post(third.url, 900_011, true)).status).toBe(200);
    const rows = await chQuery<{ event_id: string }>(env.ch().url, `SELECT event_id FROM ${DB}.email_events WHERE campaign_id = 'camp_shared_wal' ORDER BY event_id`);
    expect(rows.map((r) => r.event_id)).toEqual(Array.from({ length: 12 }, (_, i) => `sc_${900_000 + i}`));

    // Its folder taken over (as by a process elsewhere while this one was frozen): serve says so and exits 1.
    const lock = path.join(walDir, '.lock');
    symlinkSync('99887766aabbccdd.4242.-.ffffffffffff', `${lock}.other`);
    renameSync(`${lock}.other`, lock); // in one step, as a takeover leaves it
    const ended = await third.process;
    expect(ended.exitCode).toBe(1);
    expect(third.output()).toContain(`the write-ahead log folder ${walDir} was taken over by pid 4242 on another machine or container`);
    expect(third.output()).toContain('write-ahead log taken over: stopping (no new connections, finishing requests)');
    expect(readlinkSync(lock)).toBe('99887766aabbccdd.4242.-.ffffffffffff');
  }, 120_000);
});
