// Pausing and resuming a copy pipe's schedule on chDB, with the API server in-process as dev runs it: the pipe's
// JSON shows the schedule and its status as Tinybird does; a paused schedule's minutes run nothing (said once),
// copies by hand still run, resume brings the minutes back; cancel pauses and cancels the copies waiting for
// their turn (dev's rebuild queue, held here); pipes without a schedule and other pipes are refused with why;
// only the admin token changes a schedule; the status is in the database, so a new server on it sees it.
import { beforeAll, describe, expect, it } from 'vitest';
import { createApiServer, listen, type RunningServer } from '../../cli/src/server/app.js';
import { CopyScheduler, scheduleJson } from '../../cli/src/server/copy-schedules.js';
import { COPY_SCHEDULE_STATUS_TABLE, pausedCopies, setCopyScheduleStatus } from '../../cli/src/server/copy-schedule-status.js';
import { JobRegistry } from '../../cli/src/server/jobs.js';
import { useQueuedServer } from '../helpers/queued-server.js';

const ADMIN = 'pause_admin_secret';
const READER = 'pause_reader_secret';
const FILES: Record<string, string> = {
  'datasources/payments.datasource': 'SCHEMA >\n    `amount` Int32 `json:$.amount`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "amount"\n',
  'datasources/payment_totals.datasource': 'SCHEMA >\n    `total` Int64,\n    `at` DateTime\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "at"\n',
  'fixtures/payments.ndjson': '{"amount":5}\n{"amount":50}\n',
  'pipes/totals_copy.pipe':
    'NODE totals\nSQL >\n    %\n    SELECT toInt64(sum(amount)) AS total, {{DateTime(job_timestamp)}} AS at FROM payments\n\nTYPE copy\nTARGET_DATASOURCE payment_totals\nCOPY_SCHEDULE */5 * * * *\n',
  'pipes/totals_on_demand.pipe':
    'NODE totals\nSQL >\n    SELECT toInt64(sum(amount)) AS total, now() AS at FROM payments\n\nTYPE copy\nTARGET_DATASOURCE payment_totals\nCOPY_MODE replace\n',
  'pipes/total.pipe': 'NODE total_node\nSQL >\n    SELECT sum(amount) AS total FROM payments\n\nTYPE endpoint\n',
};

describe('copy schedules paused and resumed, on chDB', () => {
  const jobs = new JobRegistry();
  const queued = useQueuedServer({
    name: 'copy-pause',
    files: FILES,
    admin: ADMIN,
    jobs,
    tokens: (t) => t.add(READER, { name: 'reader', scopes: [{ type: 'PIPES:READ', resource: 'totals_copy' }] }),
  });
  const logged: string[] = [];
  let scheduler: CopyScheduler;

  const call = (method: string, pathAndQuery: string, token?: string, on?: RunningServer) => queued.call(method, pathAndQuery, token, on);
  const rows = async () => Number((await queued.engine.queryRows<{ c: string }>('SELECT count() AS c FROM payment_totals'))[0].c);
  /** A minute the schedule names (every fifth). */
  const fifthMinute = (n: number) => new Date(Math.floor(Date.now() / 300_000) * 300_000 + n * 300_000);

  beforeAll(() => {
    // Scheduled runs take their turn in the same queue, as dev passes its rebuild queue.
    scheduler = new CopyScheduler(() => queued.ws, (line) => logged.push(line), (task) => queued.inTurn(task), Date.now, undefined, jobs);
  });

  it('orders a pause and a resume by the newest row, not only by the clock of the process that writes', async () => {
    // A pause written by a process whose clock runs 1,000 s ahead of this one.
    await setCopyScheduleStatus(queued.engine, 'totals_copy', 'running', 'test');
    await queued.engine.command(`INSERT INTO ${COPY_SCHEDULE_STATUS_TABLE} (pipe, version, status, changed_at, who) SELECT 'totals_copy', ${Date.now() * 1000 + 1e9}, 'paused', now(), 'ahead'`);
    expect((await pausedCopies(queued.engine)).has('totals_copy')).toBe(true);
    // A resume made here afterwards still wins.
    expect((await call('POST', '/v0/pipes/totals_copy/copy/resume')).body.schedule.status).toBe('running');
    expect((await pausedCopies(queued.engine)).has('totals_copy')).toBe(false);
  });

  it("shows a copy pipe's schedule, mode and node as Tinybird does; a copy on demand has an empty schedule; other pipes none", async () => {
    const scheduled = await call('GET', '/v0/pipes/totals_copy');
    expect(scheduled.body).toMatchObject({ type: 'copy', copy_node: 'totals', copy_mode: 'append', copy_target_datasource: 'payment_totals', schedule: { timezone: 'Etc/UTC', cron: '*/5 * * * *', status: 'running' } });
    const onDemand = (await call('GET', '/v0/pipes/totals_on_demand')).body;
    expect(onDemand).toMatchObject({ copy_mode: 'replace', copy_schedule: '@on-demand' });
    expect(onDemand.schedule).toEqual({});
    expect(scheduled.body.copy_schedule).toBe('*/5 * * * *');
    // A status that cannot be read (ClickHouse down) does not fail a listing: it is said unknown.
    expect(scheduleJson(queued.ws.project.pipes.get('totals_copy')!, undefined)).toEqual({ timezone: 'Etc/UTC', cron: '*/5 * * * *', status: 'unknown' });
    const endpoint = (await call('GET', '/v0/pipes/total')).body;
    expect(endpoint.type).toBe('endpoint');
    expect(endpoint).not.toHaveProperty('schedule');
  });

  it('a paused schedule runs nothing at its minutes (said once), a copy by hand still runs, and resume brings the minutes back', async () => {
    const paused = await call('POST', '/v0/pipes/totals_copy/copy/pause');
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ name: 'totals_copy', schedule: { cron: '*/5 * * * *', status: 'paused' } });
    // Pausing a paused schedule is not an error (Tinybird answers the same).
    expect((await call('POST', '/v0/pipes/totals_copy/copy/pause')).body.schedule.status).toBe('paused');
    expect((await call('GET', '/v0/pipes')).body.pipes.find((p: { name: string }) => p.name === 'totals_copy').schedule.status).toBe('paused');

    const before = await rows();
    const jobsBefore = jobs.list().length;
    await Promise.all(scheduler.tick(fifthMinute(1)));
    await Promise.all(scheduler.tick(fifthMinute(2)));
    expect(await rows()).toBe(before);
    expect(jobs.list()).toHaveLength(jobsBefore); // a skipped minute is no job
    expect(logged.filter((l) => l.includes('its schedule is paused'))).toEqual([
      '» copy totals_copy: its schedule is paused, so its runs are skipped until it is resumed (emailstats copy resume totals_copy, or POST /v0/pipes/totals_copy/copy/resume)',
    ]);

    expect((await call('POST', '/v0/pipes/totals_copy/copy')).body).toMatchObject({ status: 'done', rows_written: 1 });

    const resumed = await call('POST', '/v0/pipes/totals_copy/copy/resume');
    expect(resumed.body.schedule.status).toBe('running');
    await Promise.all(scheduler.tick(fifthMinute(3)));
    expect(await rows()).toBe(before + 2);
    expect(jobs.list()[0]).toMatchObject({ kind: 'copy', status: 'done', details: { execution_type: 'scheduled' } });
  });

  it('a pause made while a run waits for its turn holds for that run', async () => {
    const release = queued.hold();
    const before = await rows();
    const run = scheduler.tick(fifthMinute(4));
    expect((await call('POST', '/v0/pipes/totals_copy/copy/pause')).status).toBe(200);
    release();
    await Promise.all(run);
    expect(await rows()).toBe(before);
    expect((await call('POST', '/v0/pipes/totals_copy/copy/resume')).status).toBe(200);
  });

  it("cancel pauses the schedule and cancels the pipe's waiting copies; resume restarts it", async () => {
    const release = queued.hold();
    const before = await rows();
    const pending = call('POST', '/v0/pipes/totals_copy/copy');
    for (let i = 0; i < 100 && !jobs.list().some((j) => j.status === 'waiting'); i++) await new Promise((r) => setTimeout(r, 20));
    const cancelled = await call('POST', '/v0/pipes/totals_copy/copy/cancel');
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.schedule.status).toBe('paused');
    expect(cancelled.body.cancelled_jobs).toHaveLength(1);
    expect(cancelled.body.cancelled_jobs[0]).toMatchObject({ kind: 'copy', status: 'cancelled', pipe_name: 'totals_copy' });
    expect(cancelled.body.not_cancelled_jobs).toEqual([]);
    expect((await pending).body).toMatchObject({ status: 'cancelled', rows_written: 0 });
    release();
    await queued.ws.serialized!(async () => undefined); // the cancelled copy's turn has come and gone
    expect(await rows()).toBe(before);
    expect((await call('POST', '/v0/pipes/totals_copy/copy/resume')).body.schedule.status).toBe('running');
  });

  it('refuses pipes without a schedule and other pipes, saying why; only the admin token changes a schedule', async () => {
    const onDemand = await call('POST', '/v0/pipes/totals_on_demand/copy/pause');
    expect(onDemand.status).toBe(422);
    expect(onDemand.body.error).toMatch(/^The copy Pipe is not scheduled: 'totals_on_demand' runs on demand only \(no COPY_SCHEDULE, or @on-demand\), so it has no schedule to pause/);
    const cancelOnDemand = await call('POST', '/v0/pipes/totals_on_demand/copy/cancel');
    expect(cancelOnDemand.status).toBe(422);
    expect(cancelOnDemand.body.error).toMatch(/^The copy Pipe is not scheduled, use the jobs API to cancel a queued copy job \(POST \/v0\/jobs\/<job_id>\/cancel\)/);
    const endpoint = await call('POST', '/v0/pipes/total/copy/resume');
    expect(endpoint.status).toBe(400);
    expect(endpoint.body.error).toBe("pipe 'total' is not a copy pipe (it has no TYPE copy node); only a copy pipe's schedule can be resumed");
    expect((await call('POST', '/v0/pipes/nope/copy/pause')).status).toBe(404);
    for (const action of ['pause', 'resume', 'cancel']) expect((await call('POST', `/v0/pipes/totals_copy/copy/${action}`, READER)).status).toBe(403);
    expect((await call('GET', '/v0/pipes/totals_copy')).body.schedule.status).toBe('running');
  });

  it('keeps the status in the database, where another server of it reads it (other processes: tests/e2e/copy-schedule*.test.ts)', async () => {
    expect((await call('POST', '/v0/pipes/totals_copy/copy/pause')).status).toBe(200);
    const other = await listen(createApiServer({ workspace: () => queued.ws, jobs: new JobRegistry(), requestLog: false }), 0);
    try {
      expect((await call('GET', '/v0/pipes/totals_copy', ADMIN, other)).body.schedule.status).toBe('paused');
      expect((await call('POST', '/v0/pipes/totals_copy/copy/resume', ADMIN, other)).status).toBe(200);
      expect((await call('GET', '/v0/pipes/totals_copy')).body.schedule.status).toBe('running');
    } finally {
      await other.close();
    }
  });
});
