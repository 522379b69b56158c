// Batch writes over HTTP: multipart append (NDJSON, CSV) and replace, truncate, delete by condition, and
// `emailstats quarantine replay` after the datafile is fixed; the append progress bar's rendering.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatProgress } from '../../cli/src/commands/progress.js';
import { removeDir, runCli, startDev, type DevServer } from '../helpers/cli.js';
import { event, eventsProject, sql } from '../helpers/events-project.js';

let project: string;
let dev: DevServer;

beforeAll(async () => {
  project = eventsProject({
    // A SCHEMA whose jsonpaths are not the column names: CSV fields still map to columns by name.
    'datasources/places.datasource': 'SCHEMA >\n    `id` UInt64 `json:$.id`,\n    `city` String `json:$.geo.city`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "id"\n',
  });
  dev = await startDev(project);
}, 60_000);
afterAll(async () => {
  await dev?.stop();
  if (project) removeDir(project);
});

async function upload(query: string, part: string, text: string, filename = `data.${part}`, route = '/v0/datasources') {
  const form = new FormData();
  form.append(part, new Blob([text]), filename);
  const res = await fetch(`${dev.url}${route}?${query}`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: form });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { successful_rows: number; quarantined_rows: number; quarantine?: { line: number; error: string }[]; error?: string } };
}
async function post(pathAndQuery: string, form?: Record<string, string>) {
  const res = await fetch(`${dev.url}${pathAndQuery}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${dev.token}`, ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const count = async (where = '1') => Number((await sql<{ c: number }>(dev.url, dev.token, `SELECT count() AS c FROM events WHERE ${where}`))[0].c);
const ndjson = (ids: number[]) => ids.map((i) => JSON.stringify(event(i))).join('\n') + '\n';
const range = (lo: number, n: number) => Array.from({ length: n }, (_, i) => lo + i);

describe('Data Sources API writes', () => {
  it('appends a multipart NDJSON file synchronously, quarantining bad lines with their file line numbers', async () => {
    const text = ndjson(range(1, 5_000)) + '{"event_id": "x1"}\n' + ndjson([5_001]);
    const r = await upload('name=events&mode=append', 'ndjson', text);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ successful_rows: 5_001, quarantined_rows: 1, datasource: { name: 'events' }, error: false });
    expect(r.body.quarantine).toEqual([{ line: 5_001, error: expect.stringContaining('column event_id') }]);
    expect(await count()).toBe(5_001);
    const [q] = await sql<{ c__import_id: string }>(dev.url, dev.token, "SELECT c__import_id FROM events_quarantine WHERE c__line LIKE '%x1%'");
    expect(q.c__import_id).toBe(r.body.import_id);
  });

  it('streams a multipart upload larger than the in-memory body limit, also sent to /v0/datasources/ (trailing slash)', async () => {
    const ids = range(100_001, 110_000);
    const text = ndjson(ids); // ~12 MB: over the 10 MB limit of bodies read into memory
    expect(text.length).toBeGreaterThan(10 * 1024 * 1024);
    const r = await upload('name=events&mode=append', 'ndjson', text, 'big.ndjson', '/v0/datasources/');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ successful_rows: 110_000, quarantined_rows: 0 });
    expect(await count('event_id BETWEEN 100001 AND 210000')).toBe(110_000);
  });

  it('refuses a line longer than 10 MB with 413 before holding it whole, saying which lines went in', async () => {
    // Found by review: lines were read with readline, which keeps a line of any length in memory.
    const before = await count();
    const good = ndjson(range(300_001, 40_000)); // ~4.5 MB: more than one ~4 MB chunk, so the first one is sent
    const text = good + '{"event_id": 1, "kind": "' + 'x'.repeat(11 * 1024 * 1024) + '"}\n' + ndjson([340_001]);
    const r = await upload('name=events&mode=append', 'ndjson', text, 'long-line.ndjson');
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(413);
    const appended = (await count()) - before;
    expect(appended).toBeGreaterThan(0);
    expect(appended).toBeLessThan(40_000);
    expect(r.body.error).toContain('file line 40001 is longer than 10 MiB');
    expect(r.body.error).toContain(`(${appended} rows, 0 quarantined)`);
    expect(r.body.error).toMatch(/resume from line \d+/);
    // The server goes on taking uploads.
    const next = await upload('name=events&mode=append', 'ndjson', ndjson([340_002]));
    expect(next.status, JSON.stringify(next.body)).toBe(200);
  });

  it('appends CSV without a header (fields in schema order) from the CLI, as emailstats mock --format csv writes it', async () => {
    const file = path.join(project, 'mock.csv');
    const mock = await runCli(['mock', 'events', '--rows', '50', '--seed', '3', '--format', 'csv', '--out', file, '--project', project]);
    expect(mock.exitCode, mock.all).toBe(0);
    const first = readFileSync(file, 'utf8').split('\n')[0];
    const before = await count();
    const append = await runCli(['append', 'events', file, '--project', project]);
    expect(append.exitCode, append.all).toBe(0);
    expect(append.stdout).toContain('50 rows appended to events, 0 quarantined');
    expect(await count()).toBe(before + 50);
    // The first line is a row, not a header: its event_id is in the table with its other fields.
    const [id, kind] = first.split(',');
    const [row] = await sql<{ kind: string }>(dev.url, dev.token, `SELECT kind FROM events WHERE event_id = ${Number(id)}`);
    expect(row.kind).toBe(kind.replace(/^"|"$/g, ''));
  });

  it('refuses a CSV header that names a column the datasource lacks, writing nothing', async () => {
    const r = await upload('name=events&mode=append', 'csv', 'event_id,kindd,at\n9201,open,2025-01-02 03:04:05\n');
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/the CSV header names 'kindd', which datasource 'events' has no column for .*put a header line naming the columns/);
    expect(await count('event_id = 9201')).toBe(0);
    // Refused at its first line while the client still sends the rest: the answer arrives, not a broken pipe.
    const big = 'event_id,kindd,at\n' + '9202,open,2025-01-02 03:04:05\n'.repeat(400_000); // ~12 MB
    const late = await upload('name=events&mode=append', 'csv', big);
    expect(late.status).toBe(400);
    expect(late.body.error).toMatch(/the CSV header names 'kindd'/);
    expect(await count('event_id = 9202')).toBe(0);
  });

  it('maps CSV fields to columns by name, whatever the JSON paths of the SCHEMA', async () => {
    const r = await upload('name=places&mode=append', 'csv', 'city,id\nParis,1\nLyon,not-a-number\n');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ successful_rows: 1, quarantined_rows: 1 });
    expect(await sql(dev.url, dev.token, 'SELECT id, city FROM places')).toEqual([{ id: 1, city: 'Paris' }]);
    // The quarantined row is Events API input for this SCHEMA (city under $.geo.city), so a replay maps it again.
    const [q] = await sql<{ c__line: string }>(dev.url, dev.token, 'SELECT c__line FROM places_quarantine');
    expect(JSON.parse(q.c__line)).toEqual({ id: 'not-a-number', geo: { city: 'Lyon' } });
  });

  it('appends CSV with a header row; empty fields take the column default', async () => {
    const csv = 'event_id,kind,at,amount,n,flag\n9001,open,2025-01-02 03:04:05,1.5,7,1\n9002,,2025-01-02T03:04:05Z,,,0\n9003,click,yesterday,1,1,1\n';
    const r = await upload('name=events&format=csv', 'file', csv, 'upload.txt');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ successful_rows: 2, quarantined_rows: 1, quarantine: [{ line: 4 }] });
    const rows = await sql<{ event_id: number; kind: string; amount: number }>(dev.url, dev.token, 'SELECT event_id, kind, amount FROM events WHERE event_id IN (9001, 9002) ORDER BY event_id');
    expect(rows).toEqual([{ event_id: 9001, kind: 'open', amount: 1.5 }, { event_id: 9002, kind: '', amount: 0 }]);
  });

  it('explains what is wrong with a request that is not a multipart upload, or names no datasource', async () => {
    const notMultipart = await post('/v0/datasources?name=events&mode=append');
    expect(notMultipart.status).toBe(400);
    expect(String(notMultipart.body.error)).toMatch(/multipart\/form-data with a part named csv or ndjson/);
    expect((await upload('name=nope', 'ndjson', ndjson([1]))).status).toBe(404);
    expect((await upload('name=events&mode=create', 'ndjson', ndjson([1]))).status).toBe(400);
  });

  it('replaces all rows with mode=replace in one step', async () => {
    const before = await count();
    expect(before).toBeGreaterThan(5_000);
    const r = await upload('name=events&mode=replace', 'ndjson', ndjson(range(20_000, 300)));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ mode: 'replace', successful_rows: 300 });
    expect(await count()).toBe(300);
    expect(await count('event_id < 20000')).toBe(0);
    // Events keep flowing into the replaced table.
    const ev = await fetch(`${dev.url}/v0/events?name=events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: JSON.stringify(event(30_000)) });
    expect(ev.status).toBe(200);
    expect(await count()).toBe(301);
  });

  it('deletes rows by condition, with a dry run first', async () => {
    const dry = await post('/v0/datasources/events/delete', { delete_condition: 'event_id < 20100', dry_run: 'true' });
    expect(dry).toEqual({ status: 200, body: { rows_to_be_deleted: 100 } });
    expect(await count()).toBe(301);
    const del = await post('/v0/datasources/events/delete', { delete_condition: 'event_id < 20100' });
    expect(del.status).toBe(201); // a job was created, as in Tinybird
    expect(del.body).toMatchObject({ status: 'done', rows_to_be_deleted: 100, job: { kind: 'delete_data', status: 'done', rows_affected: 100, delete_condition: 'event_id < 20100' } });
    expect(del.body.job_url).toBe(`${dev.url}/v0/jobs/${del.body.id}`);
    expect(await count()).toBe(201);
    const bad = await post('/v0/datasources/events/delete', { delete_condition: 'no_such_column = 1' });
    expect(bad.status).toBe(400);
    expect(String(bad.body.error)).toMatch(/invalid delete_condition/);
    const sneaky = await post('/v0/datasources/events/delete', { delete_condition: '1 = 1; DROP TABLE events' });
    expect(sneaky.status).toBe(400);
  });

  it('replaces only the rows a replace_condition matches, with the rows of the file it matches', async () => {
    // Now: 20100..20299 and 30000. The file holds 20250..20349, marked; the condition covers 20200..20299.
    expect(await count()).toBe(201);
    const file = range(20_250, 100).map((i) => JSON.stringify({ ...event(i), kind: 'replaced' })).join('\n') + '\n';
    const condition = encodeURIComponent('event_id >= 20200 AND event_id < 20300');
    const r = await upload(`name=events&mode=replace&replace_condition=${condition}`, 'ndjson', file);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ mode: 'replace', successful_rows: 50, rows_outside_condition: 50, replace_condition: 'event_id >= 20200 AND event_id < 20300' });
    // Kept: 20100..20199 and 30000; replaced: 20200..20299 by the file's 20250..20299; the file's 20300.. left out.
    expect(await count()).toBe(151);
    expect(await count("kind = 'replaced'")).toBe(50);
    expect(await count('event_id BETWEEN 20100 AND 20199')).toBe(100);
    expect(await count('event_id BETWEEN 20200 AND 20249 OR event_id >= 20300 AND event_id < 30000')).toBe(0);
    // A bad condition, a statement in it, or a condition on an append: 400 before the file is read, nothing changed.
    for (const [query, message] of [
      [`name=events&mode=replace&replace_condition=${encodeURIComponent('no_such_column = 1')}`, /invalid replace_condition/],
      [`name=events&mode=replace&replace_condition=${encodeURIComponent('1 = 1; DROP TABLE events')}`, /replace_condition|statement|;/],
      [`name=events&mode=append&replace_condition=${condition}`, /applies to mode=replace only/],
      ['name=events&mode=replace&replace_condition=%20', /replace_condition is empty/],
    ] as const) {
      const bad = await upload(query, 'ndjson', ndjson([99_999]));
      expect(bad.status, query).toBe(400);
      expect(String(bad.body.error)).toMatch(message);
    }
    expect(await count()).toBe(151);
    // A row the condition is NULL for (note is NULL in every row) is not matched: kept, as a delete would keep it.
    // A trailing comment in the condition is harmless.
    const notes = range(50_000, 5).map((i) => JSON.stringify({ ...event(i), note: 'x' })).join('\n') + '\n';
    const byNote = await upload(`name=events&mode=replace&replace_condition=${encodeURIComponent("note = 'x' -- the new notes")}`, 'ndjson', notes);
    expect(byNote.status, JSON.stringify(byNote.body)).toBe(200);
    expect(await count()).toBe(156);
    // As a form field: before the file part it counts; after it, too late to apply, so nothing is replaced.
    const formUpload = async (fields: [string, string | Blob][]) => {
      const form = new FormData();
      for (const [k, v] of fields) form.append(k, v, ...(v instanceof Blob ? ['data.ndjson'] : []));
      const res = await fetch(`${dev.url}/v0/datasources?name=events&mode=replace`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: form });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const yNotes = new Blob([range(50_000, 5).map((i) => JSON.stringify({ ...event(i), note: 'y' })).join('\n') + '\n']);
    const before = await formUpload([['replace_condition', "note = 'x'"], ['ndjson', yNotes]]);
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    expect(before.body).toMatchObject({ successful_rows: 0, rows_outside_condition: 5 });
    expect(await count()).toBe(151);
    const after = await formUpload([['ndjson', yNotes], ['replace_condition', 'event_id < 0']]);
    expect(after.status).toBe(400);
    expect(String(after.body.error)).toMatch(/replace_condition came after the file part and was not applied.*Nothing was replaced/);
    expect(await count()).toBe(151);
  });

  it('refuses a CSV dialect it cannot read', async () => {
    for (const [query, message] of [
      ['dialect_escapechar=,', /must differ from the delimiter/],
      [`dialect_delimiter=${encodeURIComponent('😀')}`, /one character/],
      ['dialect_delimiter=;;', /one character/],
      [`dialect_new_line=${encodeURIComponent('\r')}`, /dialect_new_line must be/],
    ] as const) {
      const r = await upload(`name=events&mode=append&${query}`, 'csv', '1,open\n');
      expect(r.status, query).toBe(400);
      expect(String(r.body.error)).toMatch(message);
    }
  });

  it('truncates a datasource', async () => {
    expect(await post('/v0/datasources/events/truncate')).toEqual({ status: 200, body: {} });
    expect(await count()).toBe(0);
  });

  it('replays the quarantine after the datafile is fixed, and removes the replayed rows', async () => {
    const bad = [1, 2, 3].map((i) => JSON.stringify({ ...event(40_000 + i), n: `${i}-abc` })).join('\n');
    const r = await fetch(`${dev.url}/v0/events?name=events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${dev.token}` }, body: bad });
    expect(((await r.json()) as { quarantined_rows: number }).quarantined_rows).toBe(3);
    const qCount = async () => Number((await sql<{ c: number }>(dev.url, dev.token, 'SELECT count() AS c FROM events_quarantine WHERE c__line LIKE \'%-abc%\''))[0].c);
    expect(await qCount()).toBe(3);

    const file = path.join(project, 'datasources/events.datasource');
    const mark = dev.output().length;
    writeFileSync(file, readFileSync(file, 'utf8').replace('`n` Int32', '`n` String'));
    await dev.waitFor(/Rebuild completed/, 30_000, mark);

    const replay = await runCli(['quarantine', 'replay', 'events', '--project', project]);
    expect(replay.exitCode, replay.all).toBe(0);
    expect(replay.stdout).toMatch(/replayed \d+ quarantined rows of events: \d+ ingested/);
    expect(await count("n LIKE '%-abc'")).toBe(3);
    expect(await qCount()).toBe(0);
    const again = await runCli(['quarantine', 'replay', 'events', '--project', project]);
    expect(again.stdout).toMatch(/reingested|ingested, \d+ quarantined again|nothing to replay/);
    expect(await count("n LIKE '%-abc'")).toBe(3);
  }, 60_000);
});

describe('append progress bar', () => {
  it('draws the share of the file read and the counts', () => {
    const line = formatProgress({ readBytes: 5 * 1024 * 1024, totalBytes: 10 * 1024 * 1024, rows: 12_000, quarantined: 3, elapsedSeconds: 2 });
    expect(line).toBe('[############------------]  50% 5.0 MB / 10.0 MB, 12,000 rows, 3 quarantined, 6,000 rows/s');
    expect(formatProgress({ readBytes: 1024 * 1024, rows: 10, quarantined: 0, elapsedSeconds: 1 })).toBe('» 1.0 MB read, 10 rows, 0 quarantined, 10 rows/s');
  });
});
