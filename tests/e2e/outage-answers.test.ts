// What the HTTP API answers while its ClickHouse server is down: 503 with Retry-After on every route that needs
// it (an endpoint, a copy, a delete, a truncate), not a 400 that blames the request nor a 500 that blames us;
// and the same requests pass once the server is back. `dev --clickhouse-url` against a private 18.16.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { event, eventsProject } from '../helpers/events-project.js';

const FILES = {
  'datasources/events_totals.datasource': 'SCHEMA >\n    `kind` String,\n    `n` UInt64\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "kind"\n',
  'pipes/events_totals_copy.pipe': 'NODE totals\nSQL >\n    SELECT kind, count() AS n FROM events GROUP BY kind\n\nTYPE copy\nTARGET_DATASOURCE events_totals\nCOPY_SCHEDULE @on-demand\n',
  'pipes/events_count.pipe': 'NODE counted\nSQL >\n    SELECT count() AS n FROM events\n\nTYPE endpoint\n',
};

let server: ClickHouseServer;
let dev: DevServer;
let project: string;

beforeAll(async () => {
  server = await startClickHouseServer();
  project = eventsProject(FILES);
  dev = await startDev(project, ['--no-watch', '--no-copy-schedules', '--clickhouse-url', server.url]);
  const res = await fetch(`${dev.url}/v0/events?name=events&wait=true`, {
    method: 'POST',
    headers: { authorization: `Bearer ${dev.token}` },
    body: [1, 2, 3].map((id) => JSON.stringify(event(id))).join('\n'),
  });
  expect(res.status).toBe(200);
}, 90_000);
afterAll(async () => {
  await dev?.stop();
  await server?.stop();
  if (project) removeDir(project);
});

const REQUESTS: Record<string, { method: string; path: string }> = {
  endpoint: { method: 'GET', path: '/v0/pipes/events_count.json' },
  copy: { method: 'POST', path: '/v0/pipes/events_totals_copy/copy' },
  delete: { method: 'POST', path: `/v0/datasources/events/delete?delete_condition=${encodeURIComponent('event_id = 0')}` },
  truncate: { method: 'POST', path: '/v0/datasources/events_totals/truncate' },
};

async function send(name: string): Promise<{ status: number; retryAfter: string | null; error?: string }> {
  const { method, path } = REQUESTS[name];
  const res = await fetch(`${dev.url}${path}`, { method, headers: { authorization: `Bearer ${dev.token}` } });
  const body = (await res.json()) as { error?: string };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), error: body.error };
}

describe('with ClickHouse down', () => {
  it('answers 503 with Retry-After on every route, and the same requests pass once it is back', async () => {
    for (const name of Object.keys(REQUESTS)) expect({ name, ...(await send(name)) }).toMatchObject({ name, status: name === 'delete' ? 201 : 200 });

    await server.pause();
    const down: Record<string, Awaited<ReturnType<typeof send>>> = {};
    for (const name of Object.keys(REQUESTS)) down[name] = await send(name);
    for (const [name, answer] of Object.entries(down)) expect({ name, status: answer.status, retryAfter: answer.retryAfter }).toEqual({ name, status: 503, retryAfter: '5' });
    expect(down.endpoint.error).toMatch(/^ClickHouse is not reachable: /);
    // The copy's answer names the copy, and the status says it was the server, not the request.
    expect(down.copy.error).toMatch(/^copy events_totals_copy -> events_totals (failed|did not run)/);
    expect(down.delete.error).toMatch(/^ClickHouse is not reachable: /);
    expect(down.truncate.error).toMatch(/^ClickHouse is not reachable: /);

    await server.start();
    for (const name of Object.keys(REQUESTS)) expect({ name, ...(await send(name)) }).toMatchObject({ name, status: name === 'delete' ? 201 : 200 });
  }, 120_000);
});
