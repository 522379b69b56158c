// Tinybird's TypeScript SDK (@tinybirdco/sdk 0.0.84) against a real `emailstats dev` and a real `serve` on
// ClickHouse 18.16: the routes, methods, bodies and headers the SDK itself sends (JWT and static token creation,
// pipe POST with a JSON body, appends from a URL and from Parquet, pull of datafiles, pipe details with node
// params, trailing-slash lists). Files for URL appends come from a local node:http server on 127.0.0.1; the
// Parquet fixture is written by chDB in the test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createTinybirdApi, TinybirdError } from '@tinybirdco/sdk';
import { query as chdbQuery } from 'chdb';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// Not in the package's exports map: these are the functions the SDK's `pull` command runs.
import { getPipe, getPipeFile, pullAllResourceFiles } from '../../node_modules/@tinybirdco/sdk/dist/api/resources.js';
import { copyProject, removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { chQuery, deployCli, eventually, startServe, PROD_TOKEN, type ServeProcess } from '../helpers/serve.js';

const EVENTS_DATASOURCE = `DESCRIPTION >
    Payments seen by the SDK tests

SCHEMA >
    \`id\` String \`json:$.id\`,
    \`amount\` Int64 \`json:$.amount\`,
    \`ts\` DateTime \`json:$.ts\`

ENGINE "MergeTree"
ENGINE_SORTING_KEY "id, ts"
`;

const FILES: Record<string, string> = {
  'datasources/sdk_events.datasource': EVENTS_DATASOURCE,
  'datasources/sdk_totals.datasource': `SCHEMA >
    \`id\` String,
    \`total\` Int64

ENGINE "MergeTree"
ENGINE_SORTING_KEY "id"
`,
  'pipes/sdk_totals_mv.pipe': `NODE totals
SQL >
    SELECT id, amount AS total FROM sdk_events

TYPE materialized
DATASOURCE sdk_totals
`,
  'pipes/sdk_totals_copy.pipe': `NODE snapshot
SQL >
    SELECT id, sum(amount) AS total FROM sdk_events GROUP BY id

TYPE copy
TARGET_DATASOURCE sdk_totals
COPY_MODE replace
COPY_SCHEDULE 0 0 1 1 *
`,
  'pipes/events_over.pipe': `DESCRIPTION >
    Payments at or above a threshold

NODE filtered
SQL >
    %
    SELECT id, amount FROM sdk_events
    WHERE amount >= {{Int64(min_amount, 0, description="Lower bound, inclusive")}}
    {% if defined(id_prefix) %} AND startsWith(id, {{String(id_prefix)}}) {% end %}

NODE events_over_node
SQL >
    SELECT id, amount FROM filtered ORDER BY id

TYPE endpoint
`,
  'fixtures/sdk_events.ndjson': [
    { id: 'a1', amount: 5, ts: '2025-01-01 10:00:00' },
    { id: 'a2', amount: 50, ts: '2025-01-02 10:00:00' },
    { id: 'b1', amount: 500, ts: '2025-01-03 10:00:00' },
  ].map((r) => JSON.stringify(r)).join('\n') + '\n',
};

/** A Parquet file written by chDB (3 rows whose ids start with `pq`). */
function writeParquet(file: string): void {
  const lit = file.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  chdbQuery(
    `SELECT concat('pq', toString(number)) AS id, toInt64(number + 1) * 1000000000000 AS amount, toDateTime('2025-02-01 00:00:00', 'UTC') + number AS ts ` +
      `FROM numbers(3) INTO OUTFILE '${lit}' TRUNCATE FORMAT Parquet`,
    'CSV',
  );
}

/** Serves the test's files on 127.0.0.1 (paths → bodies), and records which paths were requested. */
async function fileServer(files: Record<string, Buffer | (() => Buffer)>): Promise<{ url: string; requested: string[]; server: Server }> {
  const requested: string[] = [];
  const server = createServer((req, res) => {
    const p = (req.url ?? '/').split('?')[0];
    requested.push(p);
    const body = files[p];
    if (!body) return void res.writeHead(404).end('not here');
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(typeof body === 'function' ? body() : body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requested, server };
}

async function sdkError(p: Promise<unknown>): Promise<TinybirdError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the SDK call should have failed').toBeInstanceOf(TinybirdError);
  return err as TinybirdError;
}

describe('@tinybirdco/sdk against emailstats dev', () => {
  let project: string;
  let scratch: string;
  let dev: DevServer;
  let files: Awaited<ReturnType<typeof fileServer>>;
  let parquetFile: string;
  const client = () => createClient({ baseUrl: dev.url, token: dev.token });
  const api = () => createTinybirdApi({ baseUrl: dev.url, token: dev.token });
  const ids = async (): Promise<string[]> => {
    const r = await client().sql<{ id: string }>('SELECT id FROM sdk_events ORDER BY id FORMAT JSON');
    return r.data.map((row) => row.id);
  };

  beforeAll(async () => {
    project = mkdtempSync(path.join(os.tmpdir(), 'emailstats-sdk-'));
    for (const [rel, text] of Object.entries(FILES)) {
      mkdirSync(path.dirname(path.join(project, rel)), { recursive: true });
      writeFileSync(path.join(project, rel), text);
    }
    scratch = mkdtempSync(path.join(os.tmpdir(), 'emailstats-sdk-files-'));
    parquetFile = path.join(scratch, 'payments.parquet');
    writeParquet(parquetFile);
    const ndjson = Buffer.from(JSON.stringify({ id: 'u1', amount: 7, ts: '2025-03-01 00:00:00' }) + '\n' + JSON.stringify({ id: 'u2', amount: 'not a number', ts: '2025-03-01 00:00:00' }) + '\n');
    files = await fileServer({
      '/rows.ndjson': ndjson,
      '/rows.csv': Buffer.from('id,amount,ts\nc1,9,2025-03-02 00:00:00\n'),
      '/semicolons.csv': Buffer.from('id;amount;ts\r\n"s;1";11;2025-03-03 00:00:00\r\n"s\\"2";12;2025-03-03 00:00:00\r\n'),
      '/download': () => readFileSync(parquetFile), // Parquet without an extension: found by its first bytes
      '/huge.ndjson': () => Buffer.alloc(11 * 1024 * 1024, '{"id":"h","amount":1,"ts":"2025-01-01 00:00:00"}\n'),
    });
    dev = await startDev(project);
  });

  afterAll(async () => {
    await dev?.stop();
    await new Promise<void>((r) => (files ? files.server.close(() => r()) : r()));
    if (project) removeDir(project);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('tokens.createJWT: POST /v0/tokens/?expiration_time=… with name and scopes in the JSON body', async () => {
    const { token } = await client().tokens.createJWT({
      name: 'sdk_jwt',
      expiresAt: new Date(Date.now() + 3600_000),
      scopes: [{ type: 'PIPES:READ', resource: 'events_over', fixed_params: { min_amount: 100 } }],
    });
    expect(token.split('.')).toHaveLength(3);
    // The fixed parameter wins over what the caller asks for.
    const r = await createClient({ baseUrl: dev.url, token }).query<{ id: string }>('events_over', { min_amount: 0 });
    expect(r.data.map((row) => row.id)).toEqual(['b1']);
  });

  it('createToken (static): POST /v0/tokens/ with name and scopes in the JSON body', async () => {
    const created = await api().createToken({ name: 'sdk_static_reader', scope: 'PIPES:READ:events_over' });
    expect(created.token).toMatch(/^es_/);
    const reader = createClient({ baseUrl: dev.url, token: created.token });
    expect((await reader.query('events_over')).rows).toBeGreaterThanOrEqual(3);
    // Only the scope asked for: no SQL over datasources.
    expect((await sdkError(reader.sql('SELECT count() FROM sdk_events FORMAT JSON'))).statusCode).toBe(403);
    // A name the server refuses is a clear 400 through the SDK too.
    expect((await sdkError(client().tokens.createJWT({ name: '', expiresAt: new Date(Date.now() + 60_000), scopes: [{ type: 'PIPES:READ', resource: 'events_over' }] }))).statusCode).toBe(400);
  });

  it('pipe POST with a JSON body (as @tinybirdco/charts sends long requests): parameters apply', async () => {
    const all = await api().requestJson<{ data: { id: string }[] }>('/v0/pipes/events_over.json', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(all.data.length).toBeGreaterThanOrEqual(3);
    const some = await api().requestJson<{ data: { id: string }[] }>('/v0/pipes/events_over.json', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ min_amount: 10, id_prefix: 'a' }),
    });
    expect(some.data.map((r) => r.id)).toEqual(['a2']);
    const bad = await api().request('/v0/pipes/events_over.json', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '[1, 2]' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/object of parameters/);
  });

  it('datasources.append from a URL (NDJSON and CSV) with the Tinybird scope DATASOURCES:APPEND', async () => {
    const { token } = await api().createToken({ name: 'sdk_appender', scopes: [{ type: 'DATASOURCES:APPEND', resource: 'sdk_events' }] });
    const appender = createClient({ baseUrl: dev.url, token });
    const nd = await appender.datasources.append('sdk_events', { url: `${files.url}/rows.ndjson` });
    expect(nd).toMatchObject({ successful_rows: 1, quarantined_rows: 1 });
    const csv = await appender.datasources.append('sdk_events', { url: `${files.url}/rows.csv` });
    expect(csv).toMatchObject({ successful_rows: 1, quarantined_rows: 0 });
    expect(files.requested).toEqual(expect.arrayContaining(['/rows.ndjson', '/rows.csv']));
    expect(await ids()).toEqual(expect.arrayContaining(['u1', 'c1']));
  });

  it('datasources.append of a CSV with its csvDialect (delimiter, new line, escape character)', async () => {
    const r = await client().datasources.append('sdk_events', { url: `${files.url}/semicolons.csv`, csvDialect: { delimiter: ';', newLine: '\r\n', escapeChar: '\\' } });
    expect(r).toMatchObject({ successful_rows: 2, quarantined_rows: 0 });
    expect(await ids()).toEqual(expect.arrayContaining(['s;1', 's"2']));
    const bad = await sdkError(client().datasources.append('sdk_events', { url: `${files.url}/semicolons.csv`, csvDialect: { delimiter: ';;' } }));
    expect(bad.message).toMatch(/dialect_delimiter must be one character/);
  });

  it('datasources.append from a URL: bad URLs are clear 4xx errors and nothing is appended', async () => {
    const before = (await ids()).length;
    const missing = await sdkError(client().datasources.append('sdk_events', { url: `${files.url}/nope.ndjson` }));
    expect(missing.statusCode).toBe(400);
    expect(missing.message).toMatch(/HTTP 404/);
    // The import was a job: it ended in error, with the same message.
    const failed = await api().requestJson<{ jobs: { id: string }[] }>('/v0/jobs?kind=import&status=error');
    const job = await api().requestJson<Record<string, unknown>>(`/v0/jobs/${failed.jobs[0].id}`);
    expect(job).toMatchObject({ kind: 'import', status: 'error', url: `${files.url}/nope.ndjson` });
    expect(job.error).toMatch(/HTTP 404/);
    const scheme = await sdkError(client().datasources.append('sdk_events', { url: 'file:///etc/passwd' }));
    expect(scheme.statusCode).toBe(400);
    expect(scheme.message).toMatch(/http:\/\/ or https:\/\//);
    const huge = await sdkError(client().datasources.append('sdk_events', { url: `${files.url}/huge.ndjson` }));
    expect(huge.statusCode).toBe(413);
    expect(huge.message).toMatch(/larger than the 10485760-byte limit/);
    expect((await ids()).length).toBe(before);
  });

  it('datasources.append of Parquet: a file (format=parquet) and a URL recognised by its content', async () => {
    const fromFile = await client().datasources.append('sdk_events', { file: parquetFile });
    expect(fromFile).toMatchObject({ successful_rows: 3, quarantined_rows: 0 });
    const fromUrl = await client().datasources.append('sdk_events', { url: `${files.url}/download` });
    expect(fromUrl).toMatchObject({ successful_rows: 3, quarantined_rows: 0 });
    const rows = await client().sql<{ id: string; amount: string | number; ts: string }>("SELECT id, amount, ts FROM sdk_events WHERE id LIKE 'pq%' ORDER BY id, ts FORMAT JSON");
    expect(rows.data.map((r) => [r.id, String(r.amount), r.ts])).toEqual([
      ['pq0', '1000000000000', '2025-02-01 00:00:00'],
      ['pq0', '1000000000000', '2025-02-01 00:00:00'],
      ['pq1', '2000000000000', '2025-02-01 00:00:01'],
      ['pq1', '2000000000000', '2025-02-01 00:00:01'],
      ['pq2', '3000000000000', '2025-02-01 00:00:02'],
      ['pq2', '3000000000000', '2025-02-01 00:00:02'],
    ]);
    // A file that says it is Parquet but is not.
    const fake = path.join(scratch, 'fake.parquet');
    writeFileSync(fake, 'id,amount\nx,1\n');
    expect((await sdkError(client().datasources.append('sdk_events', { file: fake }))).message).toMatch(/not Parquet/);
  });

  it('pull: GET /v0/pipes/<p>.pipe and /v0/datasources/<d>.datasource give the datafile text (admin only)', async () => {
    const config = { baseUrl: dev.url, token: dev.token };
    expect(await getPipeFile(config, 'events_over')).toBe(FILES['pipes/events_over.pipe']);
    const pulled = await pullAllResourceFiles(config);
    expect(pulled.datasources.find((d) => d.name === 'sdk_events')?.content).toBe(EVENTS_DATASOURCE);
    expect(pulled.pipes.map((p) => p.name).sort()).toEqual(['events_over', 'sdk_totals_copy', 'sdk_totals_mv']);
    // ?format= forms, which the SDK tries when the extension form is missing.
    const viaParam = await api().request('/v0/datasources/sdk_events?format=datasource');
    expect(await viaParam.text()).toBe(EVENTS_DATASOURCE);
    const { token } = await api().createToken({ name: 'sdk_pipe_reader', scope: ['PIPES:READ:events_over'] });
    await expect(getPipeFile({ baseUrl: dev.url, token }, 'events_over')).rejects.toMatchObject({ status: 403 });
  });

  it('getPipe: node params, output columns, materialized_datasource and a copy pipe\'s target, schedule and mode in GET /v0/pipes/<p>', async () => {
    const config = { baseUrl: dev.url, token: dev.token };
    const endpoint = await getPipe(config, 'events_over');
    expect(endpoint.type).toBe('endpoint');
    expect(endpoint.params).toEqual(
      expect.arrayContaining([
        { name: 'min_amount', type: 'Int64', default: 0, required: false, description: 'Lower bound, inclusive' },
        expect.objectContaining({ name: 'id_prefix', type: 'String', required: false }),
      ]),
    );
    expect(endpoint.output_columns).toEqual([
      { name: 'id', type: 'String' },
      { name: 'amount', type: 'Int64' },
    ]);
    const mv = await getPipe(config, 'sdk_totals_mv');
    expect(mv.type).toBe('materialized');
    expect(mv.materialized).toEqual({ datasource: 'sdk_totals' });
    const copy = await getPipe(config, 'sdk_totals_copy');
    expect(copy.type).toBe('copy');
    expect(copy.copy).toEqual({ target_datasource: 'sdk_totals', copy_schedule: '0 0 1 1 *', copy_mode: 'replace' });
  });

  it('trailing-slash list routes: /v0/pipes/, /v0/datasources/, /v0/tokens/', async () => {
    const pipes = await api().requestJson<{ pipes: { name: string }[] }>('/v0/pipes/');
    expect(pipes.pipes.map((p) => p.name).sort()).toEqual(['events_over', 'sdk_totals_copy', 'sdk_totals_mv']);
    const ds = await api().requestJson<{ datasources: { name: string; statistics: { row_count: number; bytes: number } }[] }>('/v0/datasources/');
    expect(ds.datasources.map((d) => d.name).sort()).toEqual(['sdk_events', 'sdk_totals']);
    // Bytes on disk, as Tinybird's statistics give them: the list and the description agree, rows take bytes.
    const listed = ds.datasources.find((d) => d.name === 'sdk_events')!.statistics;
    const described = await api().requestJson<{ statistics: { row_count: number; bytes: number } }>('/v0/datasources/sdk_events');
    expect(listed.row_count).toBeGreaterThan(0);
    expect(listed.bytes).toBeGreaterThan(0);
    expect(described.statistics.bytes).toBe(listed.bytes);
    const tokens = await api().requestJson<{ tokens: { name: string }[] }>('/v0/tokens/');
    expect(tokens.tokens.map((t) => t.name)).toEqual(expect.arrayContaining(['admin token', 'sdk_static_reader']));
  });

  it('jobs: an append from a URL and a delete hand out a job_url to poll; GET /v0/jobs lists them', async () => {
    const { token } = await api().createToken({ name: 'sdk_job_appender', scopes: [{ type: 'DATASOURCES:APPEND', resource: 'sdk_events' }] });
    const appender = createTinybirdApi({ baseUrl: dev.url, token });
    const appended = (await appender.appendDatasource('sdk_events', { url: `${files.url}/rows.csv` })) as unknown as Record<string, unknown>;
    expect(appended).toMatchObject({ successful_rows: 1, status: 'done' });
    expect(appended.job_url).toBe(`${dev.url}/v0/jobs/${appended.job_id}`);
    // The token that started the import may poll it (as the Tinybird CLI does, with ?debug=...).
    const importJob = await appender.requestJson<Record<string, unknown>>(`/v0/jobs/${appended.job_id}?debug=blocks,block_log`);
    expect(importJob).toMatchObject({ kind: 'import', status: 'done', url: `${files.url}/rows.csv`, mode: 'append', statistics: { row_count: 1 }, datasource: { name: 'sdk_events' } });

    const deleted = await api().deleteDatasource('sdk_events', { deleteCondition: "id = 'c1'" });
    expect(deleted).toMatchObject({ status: 'done' });
    expect(deleted.job_url).toBe(`${dev.url}/v0/jobs/${deleted.job_id}`);
    const deleteJob = await api().requestJson<Record<string, unknown>>(new URL(deleted.job_url!).pathname);
    expect(deleteJob).toMatchObject({ kind: 'delete_data', status: 'done', delete_condition: "id = 'c1'", datasource: { id: 'sdk_events', name: 'sdk_events' } });
    expect(await ids()).not.toContain('c1');
    // Only the admin token sees another token's job, and lists jobs.
    expect((await appender.request(`/v0/jobs/${deleted.job_id}`)).status).toBe(404);
    expect((await appender.request('/v0/jobs')).status).toBe(403);

    const listed = await api().requestJson<{ jobs: { id: string; kind: string; status: string }[] }>('/v0/jobs');
    expect(listed.jobs.slice(0, 2).map((j) => [j.id, j.kind, j.status])).toEqual([
      [deleted.job_id, 'delete_data', 'done'],
      [appended.job_id, 'import', 'done'],
    ]);
    const deletes = await api().requestJson<{ jobs: { id: string }[] }>('/v0/jobs?kind=delete_data');
    expect(deletes.jobs.map((j) => j.id)).toEqual([deleted.job_id]);
  });
});

describe('@tinybirdco/sdk against emailstats serve on ClickHouse 18.16', () => {
  let ch: ClickHouseServer;
  let project: string;
  let serve: ServeProcess;
  let files: Awaited<ReturnType<typeof fileServer>>;
  let scratch: string;
  const APPEND_TOKEN = 'es_test_sdk_append_token';
  const EVENT = { event_id: 'sdk_url_1', timestamp: '2023-05-15 10:30:00', event_type: 'open', campaign_id: 'camp_sdk', email_id: 'e1', recipient_id: 'r1', recipient_email: 'r1@example.com' };

  beforeAll(async () => {
    ch = await startClickHouseServer();
    project = copyProject();
    const deployed = await deployCli(project, ch.url, 'sdk_routes', [], { EMAILSTATS_TOKEN_EMAIL_EVENTS_APPEND: APPEND_TOKEN });
    expect(deployed.exitCode, deployed.all).toBe(0);
    serve = await startServe(ch.url, 'sdk_routes', 300, { EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'emailstats-sdk-serve-'));
    writeParquet(path.join(scratch, 'events.parquet'));
    files = await fileServer({ '/event.ndjson': Buffer.from(JSON.stringify(EVENT) + '\n') });
  }, 180_000);

  afterAll(async () => {
    await serve?.stop();
    await ch?.stop();
    await new Promise<void>((r) => (files ? files.server.close(() => r()) : r()));
    if (project) removeDir(project);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('append from a URL needs an admin token on serve (the server makes the request), then works', async () => {
    const appender = createClient({ baseUrl: serve.url, token: APPEND_TOKEN });
    const denied = await sdkError(appender.datasources.append('email_events', { url: `${files.url}/event.ndjson` }));
    expect(denied.statusCode).toBe(403);
    expect(denied.message).toMatch(/ADMIN/);
    expect(files.requested).toEqual([]); // refused before any fetch
    const admin = createClient({ baseUrl: serve.url, token: PROD_TOKEN });
    expect(await admin.datasources.append('email_events', { url: `${files.url}/event.ndjson` })).toMatchObject({ successful_rows: 1, quarantined_rows: 0 });
    const r = await admin.query<{ campaign_id: string; opens: number | string }>('campaign_stats', { campaign_id: 'camp_sdk' });
    expect(r.data.map((row) => [row.campaign_id, Number(row.opens)])).toEqual([['camp_sdk', 1]]);
  });

  it('a delete on 18.16 (an asynchronous mutation there) is a job that says done once its rows are gone', async () => {
    const admin = createTinybirdApi({ baseUrl: serve.url, token: PROD_TOKEN });
    const deleted = await admin.deleteDatasource('email_events', { deleteCondition: "campaign_id = 'camp_sdk'" });
    expect(deleted.job_url).toBe(`${serve.url}/v0/jobs/${deleted.job_id}`);
    let job: Record<string, unknown> = {};
    for (let i = 0; i < 120 && job.status !== 'done'; i++) {
      job = await admin.requestJson<Record<string, unknown>>(new URL(deleted.job_url!).pathname);
      if (job.status !== 'done') await new Promise((r) => setTimeout(r, 500));
    }
    expect(job).toMatchObject({ kind: 'delete_data', status: 'done', delete_condition: "campaign_id = 'camp_sdk'" });
    const left = await createClient({ baseUrl: serve.url, token: PROD_TOKEN }).sql<{ c: string | number }>("SELECT count() AS c FROM email_events WHERE campaign_id = 'camp_sdk' FORMAT JSON");
    expect(Number(left.data[0].c)).toBe(0);
  });

  it("a datasource's statistics on 18.16: its bytes on disk are those of the server's active parts", async () => {
    const admin = createTinybirdApi({ baseUrl: serve.url, token: PROD_TOKEN });
    // Read together until they agree: a merge between the two reads changes the parts.
    await eventually(async () => {
      const ours = (await admin.requestJson<{ statistics: { bytes: number } }>('/v0/datasources/email_events')).statistics.bytes;
      const parts = await chQuery<{ b: string }>(ch.url, "SELECT sum(bytes_on_disk) AS b FROM system.parts WHERE active AND database = 'sdk_routes' AND table = 'email_events'");
      return ours > 0 && ours === Number(parts[0].b);
    }, 20_000, 'the bytes of email_events to match system.parts');
  });

  it('Parquet on ClickHouse 18.16: a clear 400 naming the feature and the version it needs', async () => {
    const admin = createClient({ baseUrl: serve.url, token: PROD_TOKEN });
    const err = await sdkError(admin.datasources.append('email_events', { file: path.join(scratch, 'events.parquet') }));
    expect(err.statusCode).toBe(400);
    expect(err.message).toMatch(/Parquet imports require ClickHouse 22\.3 or newer.*the server runs 18\.16/);
  });
});
