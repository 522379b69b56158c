// The Jobs API over copies (by hand and on schedule) on chDB, with the API server in-process as dev runs it: a
// copy's answer carries its job (job_url, tags.copy_target_datasource, as the Tinybird CLI's `copy run --wait`
// reads them), the job says what ran; a copy waiting for its turn (dev's rebuild queue, held here) is listed as
// waiting and may be cancelled, and then never runs; started or finished jobs are not cancellable; the listing's
// filters; who may see a job.
import { describe, expect, it } from 'vitest';
import { createApiServer, listen } from '../../cli/src/server/app.js';
import { CopyScheduler } from '../../cli/src/server/copy-schedules.js';
import { JobRegistry } from '../../cli/src/server/jobs.js';
import { useQueuedServer } from '../helpers/queued-server.js';

const ADMIN = 'jobs_admin_secret';
const READER = 'jobs_reader_secret';
const FILES: Record<string, string> = {
  'datasources/payments.datasource': `SCHEMA >
    \`id\` String \`json:$.id\`,
    \`amount\` Int32 \`json:$.amount\`

ENGINE "MergeTree"
ENGINE_SORTING_KEY "id"
`,
  'datasources/payment_totals.datasource': `SCHEMA >
    \`total\` Int64,
    \`at\` DateTime

ENGINE "MergeTree"
ENGINE_SORTING_KEY "at"
`,
  'fixtures/payments.ndjson': '{"id":"a","amount":5}\n{"id":"b","amount":50}\n',
  'pipes/totals_copy.pipe': `NODE totals
SQL >
    %
    SELECT toInt64(sum(amount)) AS total, {{DateTime(job_timestamp)}} AS at FROM payments

TYPE copy
TARGET_DATASOURCE payment_totals
COPY_SCHEDULE * * * * *
`,
  'pipes/total.pipe': `NODE total_node
SQL >
    SELECT sum(amount) AS total FROM payments

TYPE endpoint
`,
};

describe('Jobs API on chDB', () => {
  const jobs = new JobRegistry();
  /** Dev's rebuild queue, held by the test: a copy posted while held waits for its turn. */
  const queued = useQueuedServer({
    name: 'jobs',
    files: FILES,
    admin: ADMIN,
    jobs,
    tokens: (t) => t.add(READER, { name: 'reader', scopes: [{ type: 'PIPES:READ', resource: 'total' }] }),
  });

  const call = (method: string, pathAndQuery: string, token?: string) => queued.call(method, pathAndQuery, token);
  const totals = async () => (await queued.engine.queryRows<{ c: string }>('SELECT count() AS c FROM payment_totals'))[0].c;

  it('a copy run by hand answers with its job, which says what ran; the CLI finds the target by the tag', async () => {
    const copied = await call('POST', '/v0/pipes/totals_copy/copy');
    expect(copied.status).toBe(200);
    expect(copied.body).toMatchObject({ pipe: 'totals_copy', target: 'payment_totals', status: 'done', rows_written: 1, tags: { copy_target_datasource: 'payment_totals' } });
    const job = copied.body.job;
    expect(job).toMatchObject({ kind: 'copy', status: 'done', is_cancellable: false, pipe_name: 'totals_copy', datasource: { id: 'payment_totals', name: 'payment_totals' }, mode: 'append', execution_type: 'manual' });
    expect(job.job_id).toBe(job.id);
    expect(job.job_url).toBe(`${queued.server.url}/v0/jobs/${job.id}`);
    expect(job.created_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
    const polled = await call('GET', new URL(job.job_url).pathname + '?debug=blocks,block_log');
    expect(polled.status).toBe(200);
    expect(polled.body).toMatchObject({ id: job.id, status: 'done', processed_data: { written_rows: 1 } });
    expect(polled.body.query_sql).toMatch(/^SELECT toInt64\(sum\(amount\)\) AS total/);
    expect(polled.body.query_id).toEqual(expect.any(String));
    // What `tb pipe copy run` asks next: the target by the id in the tag.
    const target = await call('GET', `/v0/datasources/${copied.body.tags.copy_target_datasource}`);
    expect(target.body.name).toBe('payment_totals');
  });

  it('a pipe that is not a copy pipe is a 400, and no job', async () => {
    const wrong = await call('POST', '/v0/pipes/total/copy');
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatch(/pipe 'total' is not a copy pipe/);
    expect((await call('GET', '/v0/jobs?pipe_name=total')).body.jobs).toEqual([]);
  });

  it('a failed copy is a job in error with its message', async () => {
    const bad = await call('POST', '/v0/pipes/totals_copy/copy?_mode=upsert');
    expect(bad.status).toBe(400);
    const listed = await call('GET', '/v0/jobs?status=error');
    expect(listed.body.jobs).toHaveLength(1);
    const failed = await call('GET', `/v0/jobs/${listed.body.jobs[0].id}`);
    expect(failed.body).toMatchObject({ kind: 'copy', status: 'error', pipe_name: 'totals_copy' });
    expect(failed.body.error).toMatch(/_mode must be append or replace, got 'upsert'/);
  });

  it('a copy waiting for its turn is listed as waiting, may be cancelled, and then never runs', async () => {
    const release = queued.hold();
    const before = await totals();
    const pending = call('POST', '/v0/pipes/totals_copy/copy');
    let waiting: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !waiting; i++) {
      waiting = (await call('GET', '/v0/jobs?status=waiting')).body.jobs[0];
      if (!waiting) await new Promise((r) => setTimeout(r, 20));
    }
    expect(waiting).toMatchObject({ kind: 'copy', status: 'waiting', is_cancellable: true, pipe_name: 'totals_copy' });
    const cancelled = await call('POST', `/v0/jobs/${waiting!.id}/cancel`);
    expect(cancelled).toMatchObject({ status: 200, body: { status: 'cancelled', is_cancellable: false, started_at: null } });
    // Answered at once, while the queue is still held.
    const answered = await pending;
    expect(answered.status).toBe(200);
    expect(answered.body).toMatchObject({ status: 'cancelled', mode: 'append', rows_written: 0, job: { status: 'cancelled' } });
    release();
    // Its turn comes and runs nothing: a copy queued behind it runs, and writes the only new row.
    expect((await call('POST', '/v0/pipes/totals_copy/copy')).body.rows_written).toBe(1);
    expect(Number(await totals())).toBe(Number(before) + 1);
    // Final: a second cancel, and a cancel of a finished job, are refused with the reason.
    const again = await call('POST', `/v0/jobs/${waiting!.id}/cancel`);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('Job is not in cancellable status: its status is cancelled');
    const done = (await call('GET', '/v0/jobs?status=done')).body.jobs[0];
    expect((await call('POST', `/v0/jobs/${done.id}/cancel`)).body.error).toBe('Job is not in cancellable status: its status is done');
  });

  it('a scheduled run is a job too', async () => {
    const scheduler = new CopyScheduler(() => queued.ws, () => {}, undefined, Date.now, undefined, jobs);
    await Promise.all(scheduler.tick(new Date(Math.floor(Date.now() / 60_000) * 60_000)));
    const listed = (await call('GET', '/v0/jobs?pipe_name=totals_copy')).body.jobs;
    expect(listed[0]).toMatchObject({ kind: 'copy', status: 'done', pipe_id: 'totals_copy' });
    expect((await call('GET', `/v0/jobs/${listed[0].id}`)).body).toMatchObject({ execution_type: 'scheduled', processed_data: { written_rows: 1 } });
  });

  it('lists the newest first, filtered by kind, status, pipe and creation time; refuses bad filters', async () => {
    const all = (await call('GET', '/v0/jobs')).body.jobs as { id: string; created_at: string }[];
    expect(all).toHaveLength(5);
    expect(all.map((j) => j.created_at)).toEqual([...all.map((j) => j.created_at)].sort().reverse());
    expect(Object.keys(all[0]).sort()).toEqual(['created_at', 'datasource', 'id', 'is_cancellable', 'job_url', 'kind', 'pipe_id', 'pipe_name', 'status', 'updated_at']);
    expect((await call('GET', '/v0/jobs?kind=copy&status=done')).body.jobs).toHaveLength(3);
    expect((await call('GET', '/v0/jobs?kind=delete_data')).body.jobs).toEqual([]);
    expect((await call('GET', '/v0/jobs?pipe_name=other')).body.jobs).toEqual([]);
    expect((await call('GET', '/v0/jobs?created_after=2099-01-01')).body.jobs).toEqual([]);
    expect((await call('GET', `/v0/jobs?created_before=${encodeURIComponent('2099-01-01 00:00:00')}`)).body.jobs).toHaveLength(5);
    const badKind = await call('GET', '/v0/jobs?kind=delete');
    expect(badKind.status).toBe(400);
    expect(badKind.body.error).toMatch(/kind must be one of copy, delete_data, import, create_environment, got 'delete'/);
    const badDate = await call('GET', '/v0/jobs?created_after=yesterday');
    expect(badDate.status).toBe(400);
    expect(badDate.body.error).toMatch(/created_after must be an ISO date/);
    const badStatus = await call('GET', '/v0/jobs?status=finished');
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.error).toMatch(/status must be one of waiting, working, cancelling, done, error, cancelled/);
  });

  it('hands out links at --public-url when the server is reached through a proxy', async () => {
    const proxied = await listen(createApiServer({ workspace: () => queued.ws, requestLog: false, publicUrl: 'https://api.example.com/analytics' }), 0);
    try {
      const res = await fetch(`${proxied.url}/v0/pipes/totals_copy/copy`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      const body = (await res.json()) as { job: { id: string; job_url: string } };
      expect(body.job.job_url).toBe(`https://api.example.com/analytics/v0/jobs/${body.job.id}`);
      const openapi = (await (await fetch(`${proxied.url}/v0/pipes/openapi.json`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { servers: { url: string }[] };
      expect(openapi.servers[0].url).toBe('https://api.example.com/analytics');
    } finally {
      await proxied.close();
    }
  });

  it('only the admin token lists and cancels jobs; another token is told a job does not exist', async () => {
    expect((await call('GET', '/v0/jobs', READER)).status).toBe(403);
    const id = (await call('GET', '/v0/jobs')).body.jobs[0].id;
    const hidden = await call('GET', `/v0/jobs/${id}`, READER);
    expect(hidden.status).toBe(404);
    expect(hidden.body.error).toMatch(new RegExp(`Job with id "${id}" not found: jobs are kept in the memory of the server process that ran them`));
    expect((await call('POST', `/v0/jobs/${id}/cancel`, READER)).status).toBe(403);
    expect((await call('GET', '/v0/jobs/no-such-job')).status).toBe(404);
    expect((await call('POST', '/v0/jobs/no-such-job/cancel')).status).toBe(404);
  });
});
