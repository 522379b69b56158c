// A full disk under `emailstats dev`, as an operator meets it: the project's .emailstats/ (engine data and
// write-ahead log) on a 64 MB tmpfs, four clients posting 500-event bodies until it fills. With no reserve
// (--wal-min-free-bytes 0) the writes themselves hit ENOSPC. Every answer is 2xx or 507 with Retry-After, a 507
// stores nothing, and once space is back every acknowledged event arrives exactly once.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { event, eventsProject, sql } from '../helpers/events-project.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

const project = eventsProject();
let disk: Tmpfs | undefined;
let dev: DevServer | undefined;

afterAll(async () => {
  await dev?.stop();
  disk?.unmount();
  removeDir(project);
});

it('answers 507 on a full disk, stores nothing it refused, and delivers every acknowledged event once space is back', async () => {
  const stateDir = path.join(project, '.emailstats');
  mkdirSync(stateDir);
  disk = mountTmpfs(64 * 1024 * 1024, stateDir);
  const ballast = disk.ballast(36 * 1024 * 1024); // less room to fill; what "space is back" frees at the end
  // Segments are sealed by age only after 10 minutes: the log grows until the disk is full however fast or slow
  // the machine inserts, and the wait=true marker at the end seals and drains it.
  dev = await startDev(project, ['--no-watch', '--wal-min-free-bytes', '0', '--flush-interval-ms', '600000']);

  const acked = new Set<number>();
  const refusedIds: number[] = [];
  const statuses = new Map<number, number>();
  let nextId = 1;
  let refused = 0;
  let refusedByWrite = 0; // ENOSPC from the write itself, not the free-space check before it
  let retryAfterMissing = 0;
  let confirmTimeouts = 0;
  const deadline = Date.now() + 150_000;
  const client = async (n: number): Promise<void> => {
    while (refused < 40 && Date.now() < deadline) {
      const ids = Array.from({ length: 500 }, () => nextId++);
      const wait = n % 2 === 0 && ids[0] % 3 === 0; // plain and wait=true posts must agree on what was stored
      const res = await fetch(`${dev!.url}/v0/events?name=events${wait ? '&wait=true' : ''}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${dev!.token}` },
        body: ids.map((id) => JSON.stringify({ ...event(id), note: 'n'.repeat(200) })).join('\n'),
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const body = (await res.json()) as { successful_rows?: number; error?: string };
      if (res.status === 200 || res.status === 202) {
        expect(body.successful_rows).toBe(500);
        for (const id of ids) acked.add(id);
      } else if (res.status === 503 && /do not resend/.test(body.error ?? '')) {
        // wait=true timed out after the rows were in the log (a large segment on a loaded machine): they must arrive.
        for (const id of ids) acked.add(id);
        confirmTimeouts++;
      } else if (res.status === 503 && /nothing was written/.test(body.error ?? '')) {
        // wait=true while the engine itself cannot insert (its disk is full too): refused before writing.
        expect(res.headers.get('retry-after')).toBeTruthy();
        refusedIds.push(...ids);
        await new Promise((r) => setTimeout(r, 50));
      } else {
        expect(res.status, body.error).toBe(507);
        expect(body.error).toMatch(/no space left|bytes free/);
        if (!res.headers.get('retry-after')) retryAfterMissing++;
        if (/no space left/.test(body.error ?? '')) refusedByWrite++;
        refusedIds.push(...ids);
        refused++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  await Promise.all([0, 1, 2, 3].map(client));
  expect(refused).toBeGreaterThanOrEqual(40); // the disk really filled
  expect(retryAfterMissing).toBe(0);

  ballast.free();
  const marker = nextId++;
  // The marker seals what the log holds; segments are inserted in order, so once it is in, so is everything
  // acknowledged before it. As a client must, it retries a 503 that wrote nothing (the engine is still backing off
  // from its own full disk); a wait=true that timed out after writing (503, do not resend) is stored: then poll.
  const drained = Date.now() + 180_000;
  const markerBody = JSON.stringify(event(marker));
  for (;;) {
    const res = await fetch(`${dev.url}/v0/events?name=events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: markerBody });
    const text = await res.text();
    if (res.status === 200 || (res.status === 503 && /do not resend/.test(text))) break;
    expect(res.status, text).toBe(503);
    expect(text).toMatch(/nothing was written/);
    expect(Date.now(), `the marker to be accepted; dev's log ends with:\n${dev.output().slice(-2000)}`).toBeLessThan(drained);
    await new Promise((r) => setTimeout(r, 1000));
  }
  acked.add(marker);
  while (Number((await sql<{ n: number }>(dev.url, dev.token, `SELECT count() AS n FROM events WHERE event_id = ${marker}`))[0].n) < 1) {
    expect(Date.now(), `the marker to arrive; dev's log ends with:\n${dev.output().slice(-2000)}`).toBeLessThan(drained);
    await new Promise((r) => setTimeout(r, 500));
  }

  const [totals] = await sql<{ rows: number; distinct: number }>(dev.url, dev.token, 'SELECT count() AS rows, uniqExact(event_id) AS distinct FROM events');
  const present = new Set((await sql<{ event_id: number }>(dev.url, dev.token, 'SELECT event_id FROM events')).map((r) => Number(r.event_id)));
  const missing = [...acked].filter((id) => !present.has(id));
  const storedAfter507 = refusedIds.filter((id) => present.has(id));
  console.log(
    `disk-full test: answers ${JSON.stringify(Object.fromEntries(statuses))} (${refusedByWrite} 507s from ENOSPC on write, ${confirmTimeouts} wait=true stored but not confirmed in time); ${acked.size} events acknowledged, ` +
      `${Number(totals.rows)} rows present, ${Number(totals.distinct)} distinct, ${missing.length} missing, ${storedAfter507.length} of ${refusedIds.length} refused events stored`,
  );
  expect(missing).toEqual([]);
  expect(storedAfter507).toEqual([]);
  expect(Number(totals.rows)).toBe(Number(totals.distinct));
  expect(Number(totals.distinct)).toBe(acked.size);
}, 420_000);
