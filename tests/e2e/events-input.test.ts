// Acceptance 2 of the Events API: a corpus of bad input over HTTP against a real `emailstats dev`. For each
// case: the documented status, good rows kept, bad rows quarantined with a reason, the server still healthy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { event, eventsProject, sql } from '../helpers/events-project.js';

let project: string;
let dev: DevServer;

beforeAll(async () => {
  project = eventsProject();
  dev = await startDev(project, ['--no-watch']);
}, 60_000);
afterAll(async () => {
  await dev?.stop();
  if (project) removeDir(project);
});

interface Answer {
  status: number;
  body: { successful_rows?: number; quarantined_rows?: number; quarantine?: { line: number; error: string }[]; error?: string };
  headers: Headers;
}

async function post(body: string | Buffer, opts: { headers?: Record<string, string>; name?: string; token?: string } = {}): Promise<Answer> {
  const res = await fetch(`${dev.url}/v0/events?name=${opts.name ?? 'events'}&wait=true`, {
    method: 'POST',
    headers: { authorization: `Bearer ${opts.token ?? dev.token}`, ...opts.headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as Answer['body'], headers: res.headers };
}

const line = (o: Record<string, unknown>) => JSON.stringify(o);
const countIn = async (table: string, where: string) => Number((await sql<{ c: number }>(dev.url, dev.token, `SELECT count() AS c FROM ${table} WHERE ${where}`))[0].c);
const idsBetween = (lo: number, hi: number) => `event_id BETWEEN ${lo} AND ${hi}`;

async function expectHealthy(): Promise<void> {
  const res = await fetch(`${dev.url}/health`);
  expect(res.status).toBe(200);
}

describe('POST /v0/events with bad input', () => {
  it('keeps the good lines of a body with malformed JSON lines and quarantines each bad line with its reason', async () => {
    const body = [line(event(100)), '{"event_id": 101, "kind": ', line(event(102)), 'not json at all', '[1,2]', line(event(103))].join('\n');
    const r = await post(body);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ successful_rows: 3, quarantined_rows: 3 });
    expect(r.body.quarantine!.map((q) => q.line)).toEqual([2, 4, 5]);
    expect(r.body.quarantine![0].error).toMatch(/invalid JSON/);
    expect(r.body.quarantine![2].error).toMatch(/not a JSON object/);
    expect(await countIn('events', idsBetween(100, 103))).toBe(3);
    expect(await countIn('events_quarantine', "c__line = 'not json at all'")).toBe(1);
    await expectHealthy();
  });

  it('quarantines wrong types per column type, naming the column, and keeps the rows around them', async () => {
    const bad: [string, unknown][] = [
      ['event_id', 'abc'], ['event_id', -5], ['at', 'not a date'], ['at', '2025-13-45 10:00:00'], ['amount', 'twelve'],
      ['n', 2 ** 40], ['flag', 300], ['tags', 'not an array'], ['tags', ['a', null]],
    ];
    const lines = bad.map(([col, v], i) => line({ ...event(200 + i), [col]: v }));
    lines.splice(3, 0, line(event(250)));
    const r = await post(lines.join('\n'));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ successful_rows: 1, quarantined_rows: bad.length });
    for (const [i, [col]] of bad.entries()) expect(r.body.quarantine![i].error).toContain(`column ${col}:`);
    expect(await countIn('events', 'event_id = 250')).toBe(1);
    const rows = await sql<{ c__error_column: string[]; c__error: string[]; at: string | null }>(dev.url, dev.token, "SELECT c__error_column, c__error, at FROM events_quarantine WHERE has(c__error_column, 'at') ORDER BY insertion_date");
    expect(rows.map((x) => x.at)).toEqual(expect.arrayContaining(['not a date', '2025-13-45 10:00:00']));
    expect(rows[0].c__error[0]).toMatch(/^column at: value/);
    await expectHealthy();
  });

  it('takes rows with missing fields (type defaults) and ignores extra fields', async () => {
    const r = await post([line({ event_id: 300 }), line({ ...event(301), surprise: 'x', nested: { a: [1] } })].join('\n'));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ successful_rows: 2, quarantined_rows: 0 });
    const [row] = await sql<{ kind: string; amount: number; tags: string[]; note: string | null }>(dev.url, dev.token, 'SELECT kind, amount, tags, note FROM events WHERE event_id = 300');
    expect(row).toEqual({ kind: '', amount: 0, tags: [], note: null });
    expect(await countIn('events', 'event_id = 301')).toBe(1);
  });

  it('stores 64-bit ids sent as JSON numbers with every digit (JSON.parse alone rounds them past 2^53)', async () => {
    const body = '{"event_id":18446744073709551615,"kind":"big-id"}\n{"event_id":9007199254740993,"kind":"big-id","tags":["a"]}';
    const r = await post(body);
    expect(r.body).toEqual({ successful_rows: 2, quarantined_rows: 0 });
    const rows = await sql<{ id: string }>(dev.url, dev.token, "SELECT toString(event_id) AS id FROM events WHERE kind = 'big-id' ORDER BY event_id");
    expect(rows).toEqual([{ id: '9007199254740993' }, { id: '18446744073709551615' }]);
  });

  it('stores huge strings whole', async () => {
    const huge = 'x'.repeat(3 * 1024 * 1024);
    const r = await post(line({ ...event(400), kind: huge }));
    expect(r.status).toBe(200);
    expect(await countIn('events', `event_id = 400 AND length(kind) = ${huge.length}`)).toBe(1);
  });

  it('takes a body that starts with a UTF-8 byte order mark (a file saved by a Windows editor) as if it had none', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const ndjson = await post(Buffer.concat([bom, Buffer.from([line(event(520)), line(event(521))].join('\n'))]));
    expect(ndjson.status).toBe(200);
    expect(ndjson.body).toMatchObject({ successful_rows: 2, quarantined_rows: 0 });
    const single = await post(Buffer.concat([bom, Buffer.from(line(event(522)))]));
    expect(single.status).toBe(200);
    expect(single.body).toMatchObject({ successful_rows: 1, quarantined_rows: 0 });
    const array = await post(Buffer.concat([bom, Buffer.from(JSON.stringify([event(523)]))]));
    expect(array.body).toMatchObject({ successful_rows: 1, quarantined_rows: 0 });
    expect(await countIn('events', idsBetween(520, 523))).toBe(4);
  });

  it('answers 400 to a JSON array that does not parse, saying where, instead of keeping the elements alone on a line', async () => {
    const body = ['[', `  ${line(event(530))},`, `  ${line(event(531))}`, `  ${line(event(532))}`, ']'].join('\n'); // a comma missing after 531
    const r = await post(body);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/^request body is a JSON array that does not parse: .*\(line 4, column 3\); nothing was written$/);
    expect(await countIn('events', idsBetween(530, 532))).toBe(0);
  });

  it('quarantines a line of invalid UTF-8 and keeps the others', async () => {
    const body = Buffer.concat([Buffer.from(line(event(500)) + '\n'), Buffer.from('{"event_id": 501, "kind": "'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}\n'), Buffer.from(line(event(502)))]);
    const r = await post(body);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ successful_rows: 2, quarantined_rows: 1, quarantine: [{ line: 2, error: 'invalid UTF-8' }] });
    expect(await countIn('events', idsBetween(500, 502))).toBe(2);
    expect(await countIn('events_quarantine', "has(c__error, 'invalid UTF-8') AND c__line LIKE '%\"event_id\": 501%'")).toBe(1);
  });

  it('rejects a plain body labelled gzip (400, nothing written) and accepts a real gzip body', async () => {
    const plain = await post(line(event(600)), { headers: { 'content-encoding': 'gzip' } });
    expect(plain.status).toBe(400);
    expect(plain.body.error).toMatch(/not gzip data/);
    const real = await post(gzipSync(Buffer.from([601, 602, 603].map((i) => line(event(i))).join('\n'))), { headers: { 'content-encoding': 'gzip' } });
    expect(real.status).toBe(200);
    expect(real.body).toEqual({ successful_rows: 3, quarantined_rows: 0 });
    expect(await countIn('events', idsBetween(600, 603))).toBe(3);
  });

  it('answers 400 to an empty body and to a body with no JSON object at all, writing nothing', async () => {
    const before = await countIn('events_quarantine', '1');
    expect((await post('')).status).toBe(400);
    expect((await post('  \n\n ')).body.error).toMatch(/empty request body/);
    const notJson = await post('hello\nworld');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toMatch(/not JSON/);
    expect(await countIn('events_quarantine', '1')).toBe(before);
  });

  it('reads the body as events whatever the content type says (curl -d sends a form type)', async () => {
    for (const [i, type] of ['application/x-www-form-urlencoded', 'text/plain', 'application/json', 'text/csv'].entries()) {
      const r = await post(line(event(700 + i)), { headers: { 'content-type': type } });
      expect(r.status, type).toBe(200);
    }
    expect(await countIn('events', idsBetween(700, 703))).toBe(4);
  });

  it('answers 404 for an unknown datasource, 403 for a bad token, 400 without a name', async () => {
    const unknown = await post(line(event(800)), { name: 'nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/datasource 'nope' not found; datasources: events/);
    const badToken = await post(line(event(801)), { token: 'wrong' });
    expect(badToken.status).toBe(403);
    const noName = await fetch(`${dev.url}/v0/events`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: line(event(802)) });
    expect(noName.status).toBe(400);
    expect(await countIn('events', idsBetween(800, 802))).toBe(0);
  });

  it('answers 413 to a body over 10 MB, plain or as a gzip bomb, and writes nothing', async () => {
    const big = Array.from({ length: 40_000 }, (_, i) => line({ ...event(900_000 + i), kind: 'y'.repeat(300) })).join('\n');
    expect(big.length).toBeGreaterThan(10 * 1024 * 1024);
    const plain = await post(big);
    expect(plain.status).toBe(413);
    const bomb = await post(gzipSync(Buffer.from(big)), { headers: { 'content-encoding': 'gzip' } });
    expect(bomb.status).toBe(413);
    expect(bomb.body.error).toMatch(/decompressed request body exceeds the limit/);
    expect(await countIn('events', idsBetween(900_000, 939_999))).toBe(0);
    await expectHealthy();
    const after = await post(line(event(999)));
    expect(after.status).toBe(200);
  });

  it('reports quarantine totals through /v0/datasources/<ds>', async () => {
    const res = await fetch(`${dev.url}/v0/datasources/events`, { headers: { authorization: `Bearer ${dev.token}` } });
    const body = (await res.json()) as { statistics: { quarantine_rows: number } };
    expect(body.statistics.quarantine_rows).toBeGreaterThanOrEqual(13);
  });
});
