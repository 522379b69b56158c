// Acceptance 3 of the Events API: `dev --clickhouse-url` against a private ClickHouse server (18.16) that
// goes away mid-test. Requests keep getting 202 until the WAL cap, then 429 with Retry-After; once the server
// is back, everything acknowledged arrives exactly once.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { event, eventsProject, sql } from '../helpers/events-project.js';

const WAL_CAP = 200_000;
let server: ClickHouseServer;
let dev: DevServer;
let project: string;

beforeAll(async () => {
  server = await startClickHouseServer();
  project = eventsProject();
  dev = await startDev(project, ['--no-watch', '--clickhouse-url', server.url, '--flush-interval-ms', '200'], { EMAILSTATS_WAL_MAX_BYTES: String(WAL_CAP) });
}, 90_000);
afterAll(async () => {
  await dev?.stop();
  await server?.stop();
  if (project) removeDir(project);
});

async function post(ids: number[], wait = false): Promise<Response> {
  return fetch(`${dev.url}/v0/events?name=events${wait ? '&wait=true' : ''}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${dev.token}` },
    body: ids.map((id) => JSON.stringify(event(id))).join('\n'),
  });
}

it('answers 202 while ClickHouse is down until the WAL cap, then 429, and delivers everything once it is back', async () => {
  const acked: number[] = [];
  let next = 1;
  const batch = (n: number) => Array.from({ length: n }, () => next++);

  const first = batch(10);
  expect((await post(first, true)).status).toBe(200);
  acked.push(...first);

  await server.pause();
  let accepted = 0;
  let refused: Response | undefined;
  for (let i = 0; i < 1000 && !refused; i++) {
    const ids = batch(50);
    const res = await post(ids);
    if (res.status === 202) {
      acked.push(...ids);
      accepted++;
      await res.arrayBuffer();
    } else refused = res;
  }
  expect(accepted).toBeGreaterThan(5);
  expect(refused?.status).toBe(429);
  expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(((await refused!.json()) as { error: string }).error).toMatch(/backlog .* retry later/);
  // The cap holds: more requests are refused, nothing grows.
  for (let i = 0; i < 5; i++) expect((await post(batch(50))).status).toBe(429);
  // Once the flusher has seen inserts fail, wait=true cannot be honoured: 503 before anything is written
  // (a small body still fits under the cap, so this is not a 429).
  await new Promise((r) => setTimeout(r, 1500));
  const waitDuringOutage = await post(batch(1), true);
  expect(waitDuringOutage.status).toBe(503);
  expect(((await waitDuringOutage.json()) as { error: string }).error).toMatch(/nothing was written/);

  await server.start();
  const restarted = Date.now();
  const deadline = Date.now() + 45_000;
  let totals = { rows: 0, distinct: 0 };
  while (Date.now() < deadline) {
    try {
      [totals] = await sql<{ rows: number; distinct: number }>(dev.url, dev.token, 'SELECT count() AS rows, uniqExact(event_id) AS distinct FROM events');
      if (Number(totals.rows) >= acked.length) break;
    } catch {
      /* the server is still starting */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const [missing] = await sql<{ c: number }>(dev.url, dev.token, `SELECT ${acked.length} - countIf(event_id IN (${acked.join(',')})) AS c FROM events`);
  console.log(
    `outage test: ${accepted} requests (${acked.length} events in all) acknowledged with 202 during the outage, then 429 at the ${WAL_CAP}-byte cap; ` +
      `${((Date.now() - restarted) / 1000).toFixed(1)}s after the server came back: ${totals.rows} rows, ${totals.distinct} distinct`,
  );
  expect(Number(missing.c)).toBe(0);
  expect(Number(totals.rows)).toBe(acked.length);
  expect(Number(totals.distinct)).toBe(acked.length);
  expect((await post(batch(5))).status).toBe(202);
}, 90_000);
