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
  const ballast = disk.ballast(12 * 1024 * 1024); // what "space is back" frees at the end
  dev = await startDev(project, ['--no-watch', '--wal-min-free-bytes', '0', '--flush-interval-ms', '200']);

  const acked = new Set<number>();
  const refusedIds: number[] = [];
  const statuses = new Map<number, number>();
  let nextId = 1;
  let refused = 0;
  let refusedByWrite = 0; // ENOSPC from the write itself, not the free-space check before it
  let retryAfterMissing = 0;
  const deadline = Date.now() + 60_000;
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
  // Segments are inserted in order: once the marker is in, everything acknowledged before it is too.
  const res = await fetch(`${dev.url}/v0/events?name=events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: JSON.stringify(event(marker)) });
  expect(res.status).toBe(200);
  acked.add(marker);

  const [totals] = await sql<{ rows: number; distinct: number }>(dev.url, dev.token, 'SELECT count() AS rows, uniqExact(event_id) AS distinct FROM events');
  const present = new Set((await sql<{ event_id: number }>(dev.url, dev.token, 'SELECT event_id FROM events')).map((r) => Number(r.event_id)));
  const missing = [...acked].filter((id) => !present.has(id));
  const storedAfter507 = refusedIds.filter((id) => present.has(id));
  console.log(
    `disk-full test: answers ${JSON.stringify(Object.fromEntries(statuses))} (${refusedByWrite} 507s from ENOSPC on write); ${acked.size} events acknowledged, ` +
      `${Number(totals.rows)} rows present, ${Number(totals.distinct)} distinct, ${missing.length} missing, ${storedAfter507.length} of ${refusedIds.length} refused events stored`,
  );
  expect(missing).toEqual([]);
  expect(storedAfter507).toEqual([]);
  expect(Number(totals.rows)).toBe(Number(totals.distinct));
  expect(Number(totals.distinct)).toBe(acked.size);
}, 150_000);
