// `CACHE <seconds>` and `{{ cache_ttl('5s') }}` through `dev` (chDB): an endpoint that asks for caching answers
// from memory within its TTL (X-Cache HIT, Age), even after new events; other parameters, a JWT's fixed
// parameters and `q` run their own query; an endpoint without CACHE is always fresh, also when it reads a pipe
// that caches; the TTL ends; a delete, a truncate and a rebuild start over; /metrics counts hits and misses.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { event, eventsProject } from '../helpers/events-project.js';
import { signJwt } from '../../cli/src/server/jwt.js';

const countPipe = (extra: string): string =>
  `NODE main\nSQL >\n    %\n    SELECT count() AS c FROM events\n    {% if defined(kind) %} WHERE kind = {{ String(kind) }} {% end %}\n\nTYPE endpoint\n${extra}`;

let project: string;
let dev: DevServer;

beforeAll(async () => {
  project = eventsProject({
    'pipes/cached_count.pipe': countPipe('CACHE 60\n'),
    'pipes/short_cache.pipe': countPipe('CACHE 0.5\n'),
    'pipes/ttl_count.pipe': `NODE main\nSQL >\n    %\n    {{ cache_ttl('1m') }}\n    SELECT count() AS c FROM events\n\nTYPE endpoint\n`,
    'pipes/live_count.pipe': countPipe(''),
    // Reads the cached pipe: ttl_count's cache_ttl() is its own, not its readers'.
    'pipes/reads_ttl.pipe': `NODE main\nSQL >\n    SELECT c * 10 AS c FROM ttl_count\n\nTYPE endpoint\n`,
  });
  dev = await startDev(project);
}, 90_000);
afterAll(async () => {
  await dev?.stop();
  if (project) removeDir(project);
});

async function get(pathAndQuery: string, token = dev.token): Promise<{ status: number; c?: number; cache: string | null; age: string | null; error?: string }> {
  const res = await fetch(`${dev.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { data?: { c: number }[]; error?: string };
  return { status: res.status, c: body.data?.[0]?.c, cache: res.headers.get('x-cache'), age: res.headers.get('age'), error: body.error };
}

async function send(ids: number[]): Promise<void> {
  const res = await fetch(`${dev.url}/v0/events?name=events&wait=true`, {
    method: 'POST',
    headers: { authorization: `Bearer ${dev.token}` },
    body: ids.map((id) => JSON.stringify(event(id))).join('\n'),
  });
  expect(res.status, await res.text()).toBe(200);
}

it('answers from the cache within the TTL, even after new events, and only for the same query', async () => {
  expect(await get('/v0/pipes/cached_count.json')).toMatchObject({ status: 200, c: 0, cache: 'MISS', age: null });
  await send([1, 2, 3]);
  const hit = await get('/v0/pipes/cached_count.json');
  expect(hit).toMatchObject({ status: 200, c: 0, cache: 'HIT' });
  expect(Number(hit.age)).toBeGreaterThanOrEqual(0);
  // Another parameter is another query: it sees the events (ids 1 and 3 are opens).
  expect(await get('/v0/pipes/cached_count.json?kind=open')).toMatchObject({ c: 2, cache: 'MISS' });
  expect(await get('/v0/pipes/cached_count.json?kind=open')).toMatchObject({ c: 2, cache: 'HIT' });
  // A query over the endpoint's result runs its own SQL.
  const q = encodeURIComponent('SELECT c + 100 AS c FROM _');
  expect(await get(`/v0/pipes/cached_count.json?q=${q}`)).toMatchObject({ c: 103, cache: 'MISS' });
  // Without CACHE nothing is kept and no cache header is sent.
  expect(await get('/v0/pipes/live_count.json')).toMatchObject({ c: 3, cache: null });
  // CSV of the same endpoint is a different answer.
  const csv = await fetch(`${dev.url}/v0/pipes/cached_count.csv`, { headers: { authorization: `Bearer ${dev.token}` } });
  expect(csv.headers.get('x-cache')).toBe('MISS');
  expect(await csv.text()).toBe('"c"\n3\n');
  // So is Parquet, kept as the bytes it was.
  const parquet = async () => {
    const res = await fetch(`${dev.url}/v0/pipes/cached_count.parquet`, { headers: { authorization: `Bearer ${dev.token}` } });
    expect(res.status).toBe(200);
    return { cache: res.headers.get('x-cache'), bytes: Buffer.from(await res.arrayBuffer()) };
  };
  const first = await parquet();
  const second = await parquet();
  expect([first.cache, second.cache]).toEqual(['MISS', 'HIT']);
  expect(first.bytes.subarray(0, 4).toString()).toBe('PAR1');
  expect(second.bytes.equals(first.bytes)).toBe(true);
});

it("does not give a JWT the answer cached for other parameters: its fixed parameters are part of the query", async () => {
  const jwt = signJwt({ name: 'tenant', exp: Math.floor(Date.now() / 1000) + 600, scopes: [{ type: 'PIPES:READ', resource: 'cached_count', fixed_params: { kind: 'click' } }] }, dev.token);
  expect(await get('/v0/pipes/cached_count.json', jwt)).toMatchObject({ status: 200, c: 1, cache: 'MISS' });
  // The tenant asking for another kind still gets its own.
  expect(await get('/v0/pipes/cached_count.json?kind=open', jwt)).toMatchObject({ status: 200, c: 1, cache: 'HIT' });
});

it("caches for the template's cache_ttl()", async () => {
  const first = await get('/v0/pipes/ttl_count.json');
  expect(first).toMatchObject({ status: 200, cache: 'MISS' });
  await send([4]);
  expect(await get('/v0/pipes/ttl_count.json')).toMatchObject({ c: first.c, cache: 'HIT' });
});

it("does not cache a pipe that reads a pipe with cache_ttl()", async () => {
  const first = await get('/v0/pipes/reads_ttl.json');
  expect(first).toMatchObject({ status: 200, cache: null });
  await send([40]);
  expect(await get('/v0/pipes/reads_ttl.json')).toMatchObject({ c: first.c! + 10, cache: null });
});

it('runs the query again once the TTL has passed', async () => {
  const first = await get('/v0/pipes/short_cache.json');
  expect(first).toMatchObject({ status: 200, cache: 'MISS' });
  await send([5]);
  await new Promise((r) => setTimeout(r, 700));
  expect(await get('/v0/pipes/short_cache.json')).toMatchObject({ c: first.c! + 1, cache: 'MISS' });
});

it('counts hits and misses per pipe in /metrics', async () => {
  const text = await (await fetch(`${dev.url}/metrics`, { headers: { authorization: `Bearer ${dev.token}` } })).text();
  expect(text).toMatch(/emailstats_endpoint_cache_requests_total\{pipe="cached_count",result="hit"\} [1-9]/);
  expect(text).toMatch(/emailstats_endpoint_cache_requests_total\{pipe="cached_count",result="miss"\} [1-9]/);
  expect(text).not.toMatch(/emailstats_endpoint_cache_requests_total\{pipe="live_count"/);
});

it('forgets its answers when rows are deleted or the datasource is truncated', async () => {
  await get('/v0/pipes/cached_count.json?kind=click');
  expect(await get('/v0/pipes/cached_count.json?kind=click')).toMatchObject({ cache: 'HIT' });
  const del = await fetch(`${dev.url}/v0/datasources/events/delete`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: new URLSearchParams({ delete_condition: 'event_id = 2' }) });
  expect(del.status, await del.text()).toBe(201); // a delete job was created
  // The uncached pipe says what is there now.
  const clicks = (await get('/v0/pipes/live_count.json?kind=click')).c;
  expect(await get('/v0/pipes/cached_count.json?kind=click')).toMatchObject({ c: clicks, cache: 'MISS' });
  expect(await get('/v0/pipes/cached_count.json')).toMatchObject({ cache: 'MISS' });
  const truncated = await fetch(`${dev.url}/v0/datasources/events/truncate`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` } });
  expect(truncated.status).toBe(200);
  expect(await get('/v0/pipes/cached_count.json')).toMatchObject({ c: 0, cache: 'MISS' });
});

it('starts with an empty cache after a rebuild', async () => {
  await send([7]);
  expect(await get('/v0/pipes/cached_count.json')).toMatchObject({ c: 0, cache: 'HIT' });
  const mark = dev.output().length;
  writeFileSync(path.join(project, 'pipes/cached_count.pipe'), `DESCRIPTION >\n    Events counted, cached for a minute\n\n${countPipe('CACHE 60\n')}`);
  await dev.waitFor(/Rebuild completed/, 60_000, mark);
  expect(await get('/v0/pipes/cached_count.json')).toMatchObject({ c: 1, cache: 'MISS' });
});
