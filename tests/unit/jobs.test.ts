// The job registry behind /v0/jobs: Tinybird's status rules (only a waiting job is cancellable, a final status
// stays final, a cancelled job never begins), its time format, and what it keeps (unfinished jobs always;
// finished ones 48 hours, at most 1,000; newest first, also within one millisecond), checked against a model over random sequences of operations and clock moves.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isFinal, jobJson, JobNotCancellableError, JobRegistry, jobTime, listedJobJson, MAX_KEPT, type Job } from '../../cli/src/server/jobs.js';

const HOUR = 3600 * 1000;

describe('JobRegistry', () => {
  it('follows Tinybird statuses: waiting -> working -> done | error; only a waiting job cancels, and then never begins', () => {
    let now = Date.UTC(2026, 11, 7, 10, 0, 0, 5);
    const jobs = new JobRegistry(() => now);
    const queued = jobs.start('copy', { pipe: 'p', datasource: 't', waiting: true });
    expect([queued.status, queued.startedAt]).toEqual(['waiting', null]);
    now += 1000;
    expect(jobs.begin(queued)).toBe(true);
    expect(queued.status).toBe('working');
    expect(queued.startedAt?.getTime()).toBe(now);
    expect(() => jobs.cancel(queued)).toThrow(JobNotCancellableError);
    jobs.finish(queued, { processed_data: { written_rows: 3 } });
    jobs.fail(queued, 'too late'); // a final status stays final
    expect(queued.status).toBe('done');
    expect(queued.error).toBeUndefined();

    const other = jobs.start('copy', { waiting: true });
    jobs.cancel(other);
    expect(other.status).toBe('cancelled');
    expect(jobs.begin(other)).toBe(false);
    expect(other.status).toBe('cancelled');
    expect(() => jobs.cancel(other)).toThrow('Job is not in cancellable status');

    const failed = jobs.start('delete_data', { datasource: 'events', details: { delete_condition: 'x = 1' } });
    jobs.fail(failed, 'no such column x');
    expect(jobJson(failed, 'http://h')).toMatchObject({ kind: 'delete_data', id: failed.id, job_id: failed.id, job_url: `http://h/v0/jobs/${failed.id}`, status: 'error', error: 'no such column x', delete_condition: 'x = 1', datasource: { id: 'events', name: 'events' }, is_cancellable: false });
  });

  it('writes times as Python prints a naive UTC datetime', () => {
    expect(jobTime(new Date(Date.UTC(2024, 6, 22, 11, 47, 58, 207)))).toBe('2024-07-22 11:47:58.207000');
    expect(jobTime(new Date(Date.UTC(2024, 0, 1)))).toBe('2024-01-01 00:00:00.000000');
    expect(jobTime(null)).toBeNull();
  });

  it('lists the shorter form with the six fields the Tinybird CLI reads', () => {
    const jobs = new JobRegistry(() => 0);
    const job = jobs.start('copy', { pipe: 'p', datasource: 't', details: { query_sql: 'SELECT 1' } });
    const listed = listedJobJson(job, 'http://h');
    for (const key of ['id', 'kind', 'status', 'created_at', 'updated_at', 'job_url']) expect(listed).toHaveProperty(key);
    expect(listed).not.toHaveProperty('query_sql');
    // Created in the same millisecond: still newest first.
    const second = jobs.start('delete_data', {});
    expect(jobs.list().map((j) => j.id)).toEqual([second.id, job.id]);
  });

  it('tells a request waiting for a job that it was cancelled', async () => {
    const jobs = new JobRegistry();
    const job = jobs.start('copy', { waiting: true });
    const told = jobs.whenCancelled(job);
    jobs.cancel(job);
    await expect(told).resolves.toBeUndefined();
    expect(jobs.begin(job)).toBe(false);
  });

  it('matches a model over random operations and clock moves: unfinished kept, finished ones 48 hours and at most 1,000 (the longest finished go), newest first, final stays final', () => {
    type Op = { kind: 'start'; waiting: boolean } | { kind: 'begin' | 'finish' | 'fail' | 'cancel'; pick: number } | { kind: 'tick'; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('start' as const), waiting: fc.boolean() }),
      fc.record({ kind: fc.constantFrom('begin' as const, 'finish' as const, 'fail' as const, 'cancel' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 30 * HOUR })) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.integer({ min: 1, max: 1200 }), (ops, bulk) => {
        let now = Date.UTC(2026, 0, 1);
        const jobs = new JobRegistry(() => now);
        const all: Job[] = [];
        const finalSeen = new Map<string, string>();
        let everOver = false;
        // A burst of finished jobs at once (scheduled copies, say): past 1,000 the oldest finished ones go.
        for (let i = 0; i < bulk; i++) {
          const job = jobs.start('import', {});
          jobs.finish(job);
          all.push(job);
        }
        for (const o of ops) {
          if (o.kind === 'tick') now += o.ms;
          else if (o.kind === 'start') all.push(jobs.start('copy', { waiting: o.waiting }));
          else {
            const job = all[o.pick % all.length];
            if (o.kind === 'begin') expect(jobs.begin(job)).toBe(job.status !== 'cancelled');
            else if (o.kind === 'finish') jobs.finish(job);
            else if (o.kind === 'fail') jobs.fail(job, 'x');
            else if (job.status === 'waiting') jobs.cancel(job);
            else expect(() => jobs.cancel(job)).toThrow(JobNotCancellableError);
          }
          for (const job of all) {
            if (finalSeen.has(job.id)) expect(job.status).toBe(finalSeen.get(job.id));
            else if (isFinal(job)) finalSeen.set(job.id, job.status);
          }
          const youngFinished = all.filter((j) => isFinal(j) && now - j.updatedAt.getTime() <= 48 * HOUR);
          everOver ||= youngFinished.length > MAX_KEPT;
          const listed = jobs.list();
          for (let i = 1; i < listed.length; i++) expect(listed[i - 1].createdAt.getTime()).toBeGreaterThanOrEqual(listed[i].createdAt.getTime());
          const listedIds = new Set(listed.map((j) => j.id));
          // An unfinished job is never dropped, whatever its age.
          for (const job of all) if (!isFinal(job)) expect(listedIds.has(job.id)).toBe(true);
          const listedFinished = listed.filter(isFinal);
          expect(listedFinished.length).toBeLessThanOrEqual(MAX_KEPT);
          for (const job of listedFinished) expect(now - job.updatedAt.getTime()).toBeLessThanOrEqual(48 * HOUR);
          // Until more than 1,000 finished jobs were young at once, every young finished job is kept; past it, as
          // many as fit, and those dropped had finished before every one kept.
          if (!everOver) expect(listedFinished.length).toBe(youngFinished.length);
          else {
            expect(listedFinished.length).toBe(Math.min(youngFinished.length, MAX_KEPT));
            const dropped = youngFinished.filter((j) => !listedIds.has(j.id));
            const firstKept = Math.min(...listedFinished.map((j) => j.updatedAt.getTime()));
            for (const job of dropped) expect(job.updatedAt.getTime()).toBeLessThanOrEqual(firstKept);
          }
        }
      }),
      { numRuns: 40 },
    );
  });
});
