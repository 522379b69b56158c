// Acceptance 1 of the Events API: a load generator posts uniquely numbered events (single and batch requests,
// with and without wait=true) to a real `emailstats dev` while the test SIGKILLs it at random moments and
// restarts it. At the end every acknowledged (2xx) event is in ClickHouse exactly once.
import { afterAll, expect, it } from 'vitest';
import { removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { event, eventsProject, sql } from '../helpers/events-project.js';

const CYCLES = 6;
const WORKERS = 12;
const project = eventsProject();
let dev: DevServer | undefined;

afterAll(async () => {
  await dev?.stop();
  removeDir(project);
});

/** Deterministic pseudo-random numbers, so a failing run can be repeated. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

it('keeps every acknowledged event exactly once across SIGKILLs and restarts', async () => {
  const random = rng(Number(process.env.CRASH_SEED ?? 20250701));
  const acked = new Set<number>();
  let nextId = 1;
  let sent = 0, failed = 0, requests = 0, ackedRequests = 0;

  const worker = async (url: string, stopAt: { stop: boolean }): Promise<void> => {
    while (!stopAt.stop) {
      const batch = random() < 0.5 ? 1 : 1 + Math.floor(random() * 200);
      const wait = random() < 0.3;
      const ids = Array.from({ length: batch }, () => nextId++);
      const body = ids.map((id) => JSON.stringify(event(id))).join('\n');
      sent += batch;
      requests++;
      try {
        const res = await fetch(`${url}/v0/events?name=events${wait ? '&wait=true' : ''}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${dev!.token}` },
          body,
        });
        const r = (await res.json()) as { successful_rows?: number; quarantined_rows?: number };
        if (res.status === 200 || res.status === 202) {
          expect(r.successful_rows).toBe(batch);
          for (const id of ids) acked.add(id);
          ackedRequests++;
        } else failed++;
      } catch {
        failed++; // killed mid-request: not acknowledged, may or may not have landed
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };

  for (let cycle = 0; cycle < CYCLES; cycle++) {
    dev = await startDev(project, ['--no-watch', '--flush-interval-ms', '200']);
    const stopAt = { stop: false };
    const load = Array.from({ length: WORKERS }, () => worker(dev!.url, stopAt));
    await new Promise((r) => setTimeout(r, 300 + random() * 1500));
    dev.process.kill('SIGKILL');
    await dev.process;
    stopAt.stop = true;
    await Promise.all(load);
  }

  // A last clean start replays whatever the WAL still holds; a wait=true request then drains the queue
  // behind it (segments are inserted in order).
  dev = await startDev(project, ['--no-watch']);
  const marker = nextId++;
  const res = await fetch(`${dev.url}/v0/events?name=events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: JSON.stringify(event(marker)) });
  expect(res.status).toBe(200);
  acked.add(marker);

  const [totals] = await sql<{ rows: number; distinct: number }>(dev.url, dev.token, 'SELECT count() AS rows, uniqExact(event_id) AS distinct FROM events');
  const ids = await sql<{ event_id: number }>(dev.url, dev.token, 'SELECT event_id FROM events');
  const present = new Set(ids.map((r) => Number(r.event_id)));
  const missing = [...acked].filter((id) => !present.has(id));
  const unacked = [...present].filter((id) => !acked.has(id)).length;
  console.log(
    `crash test: ${CYCLES} SIGKILLs, ${requests} requests (${ackedRequests} acknowledged, ${failed} cut off), ${sent} events sent, ` +
      `${acked.size} acknowledged; in ClickHouse: ${totals.rows} rows, ${totals.distinct} distinct event_ids ` +
      `(${unacked} from requests cut off after their fsync), ${missing.length} acknowledged events missing`,
  );
  expect(missing).toEqual([]);
  expect(Number(totals.rows)).toBe(Number(totals.distinct)); // no event twice
  expect(Number(totals.distinct)).toBe(acked.size + unacked);
  expect(acked.size).toBeGreaterThan(1000);
}, 90_000);
