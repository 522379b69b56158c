// Acceptance 1 of the Events API: a load generator posts uniquely numbered events (single and batch requests,
// with and without wait=true) to a real `emailstats dev` while the test SIGKILLs it at random moments and
// restarts it. At the end every acknowledged (2xx) event is in ClickHouse exactly once.
import { afterAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { crashLoad, rng } from '../helpers/crash-load.js';
import { event, eventsProject, sql } from '../helpers/events-project.js';

const CYCLES = 6;
const WORKERS = 12;
const project = eventsProject();
let dev: DevServer | undefined;

afterAll(async () => {
  await dev?.stop();
  removeDir(project);
});

it('keeps every acknowledged event exactly once across SIGKILLs and restarts', async () => {
  const random = rng(Number(process.env.CRASH_SEED ?? 20250701));
  const load = crashLoad({ random, token: ADMIN_TOKEN, datasource: 'events', event });
  const { acked, stats } = load;

  for (let cycle = 0; cycle < CYCLES; cycle++) {
    dev = await startDev(project, ['--no-watch', '--flush-interval-ms', '200']);
    const running = load.run(dev.url, WORKERS);
    await new Promise((r) => setTimeout(r, 300 + random() * 1500));
    dev.process.kill('SIGKILL');
    await dev.process;
    await running.stop();
  }

  // A last clean start replays whatever the WAL still holds; a wait=true request then drains the queue
  // behind it (segments are inserted in order).
  dev = await startDev(project, ['--no-watch']);
  const marker = load.nextId();
  const res = await fetch(`${dev.url}/v0/events?name=events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: JSON.stringify(event(marker)) });
  expect(res.status).toBe(200);
  acked.add(marker);

  const [totals] = await sql<{ rows: number; distinct: number }>(dev.url, dev.token, 'SELECT count() AS rows, uniqExact(event_id) AS distinct FROM events');
  const ids = await sql<{ event_id: number }>(dev.url, dev.token, 'SELECT event_id FROM events');
  const present = new Set(ids.map((r) => Number(r.event_id)));
  const missing = [...acked].filter((id) => !present.has(id));
  const unacked = [...present].filter((id) => !acked.has(id)).length;
  console.log(
    `crash test: ${CYCLES} SIGKILLs, ${stats.requests} requests (${stats.ackedRequests} acknowledged, ${stats.failed} cut off), ${stats.sent} events sent, ` +
      `${acked.size} acknowledged; in ClickHouse: ${totals.rows} rows, ${totals.distinct} distinct event_ids ` +
      `(${unacked} from requests cut off after their fsync), ${missing.length} acknowledged events missing`,
  );
  expect(missing).toEqual([]);
  expect(Number(totals.rows)).toBe(Number(totals.distinct)); // no event twice
  expect(Number(totals.distinct)).toBe(acked.size + unacked);
  expect(acked.size).toBeGreaterThan(1000);
}, 180_000);
