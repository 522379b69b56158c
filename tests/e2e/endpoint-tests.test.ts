// `emailstats test run | update | create` through the real CLI on a temporary copy of the email project and
// its tests/*.yaml: the suite passes as shipped, and a broken pipe, a changed expectation, a blown budget and
// a test file without a pipe each fail with a message that names the file and the case.
import { afterEach, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { copyProject, removeDir, runCli, REPO } from '../helpers/cli.js';

const TEST_FILES = readdirSync(path.join(REPO, 'tests')).filter((f) => /\.ya?ml$/.test(f));

/** The project with only the endpoint test files of tests/ (not the vitest suites). */
function projectWithTests(): string {
  const dir = copyProject();
  mkdirSync(path.join(dir, 'tests'));
  for (const f of TEST_FILES) copyFileSync(path.join(REPO, 'tests', f), path.join(dir, 'tests', f));
  return dir;
}

function edit(file: string, from: string, to: string): void {
  const text = readFileSync(file, 'utf8');
  expect(text, `${file} should contain ${from}`).toContain(from);
  writeFileSync(file, text.replace(from, to));
}

describe('emailstats test', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('ships test files for the four email endpoints', () => {
    expect(TEST_FILES.sort()).toEqual(['campaign_stats.yaml', 'campaign_timeline.yaml', 'email_metrics.yaml', 'recipient_activity.yaml']);
  });

  it('run passes on the repo project', async () => {
    const dir = projectWithTests();
    dirs.push(dir);
    const r = await runCli(['test', 'run', '--project', dir]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain('✓ tests/campaign_stats.yaml one_campaign_bounced_spelling');
    expect(r.stdout).toContain('✓ tests/campaign_timeline.yaml granularity_month_refused');
    expect(r.stdout).toContain('✓ tests/recipient_activity.yaml limit_not_a_number');
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
    expect(r.stdout).not.toContain('✗');
  });

  it('fails with a diff naming the case when a pipe breaks, an expectation changes, or a pipe is missing', async () => {
    const dir = projectWithTests();
    dirs.push(dir);
    // The pipe: recipient events oldest first instead of newest first.
    edit(path.join(dir, 'pipes/recipient_activity.pipe'), 'ORDER BY timestamp DESC, event_id', 'ORDER BY timestamp ASC, event_id');
    // The expectation: one number in camp_3's first day.
    edit(path.join(dir, 'tests/campaign_timeline.yaml'), '{"bucket":"2025-01-08 00:00:00","granularity":"day","sends":', '{"bucket":"2025-01-08 00:00:00","granularity":"day","sends":1');
    writeFileSync(path.join(dir, 'tests/no_such_pipe.yaml'), '- name: x\n  parameters: ""\n  expected_result: ""\n');
    const r = await runCli(['test', 'run', '--project', dir]);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.stdout).toContain('✗ tests/recipient_activity.yaml one_recipient_newest_first');
    expect(r.stdout).toContain('--- expected_result (tests/recipient_activity.yaml, case one_recipient_newest_first)');
    expect(r.stdout).toMatch(/^ {4}\+\+\+ actual \(HTTP 200\)$/m);
    expect(r.stdout).toContain('✗ tests/campaign_timeline.yaml daily_default_granularity');
    expect(r.stdout).toMatch(/ {4} {2}sends: expected 1\d+, got \d+/);
    expect(r.stdout).toContain('✗ tests/no_such_pipe.yaml All tests skipped (no_such_pipe.pipe not found)');
    // A file stops at its first failure; other files still run.
    expect(r.stdout).not.toContain('tests/recipient_activity.yaml recipient_by_email_in_one_campaign\n');
    expect(r.stdout).toContain('✓ tests/campaign_stats.yaml all_campaigns');
    expect(r.stdout).toMatch(/^\d+ passed, 3 failed$/m);
  });

  it('fails a case whose max_rows_read is below what the pipe reads, giving both numbers', async () => {
    const dir = projectWithTests();
    dirs.push(dir);
    edit(path.join(dir, 'tests/campaign_stats.yaml'), 'max_rows_read: 40000', 'max_rows_read: 1'); // the pipe reads one campaign's ~10 rollup rows
    const r = await runCli(['test', 'run', 'campaign_stats', '--project', dir]);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.stdout).toContain('✗ tests/campaign_stats.yaml one_campaign_bounced_spelling');
    expect(r.stdout).toMatch(/read \d+ rows, budget max_rows_read 1\n/);
    expect(r.stdout).toMatch(/^1 passed, 1 failed$/m);
  });

  it('update rewrites the expectations from current answers', async () => {
    const dir = projectWithTests();
    dirs.push(dir);
    const file = path.join(dir, 'tests/campaign_timeline.yaml');
    edit(file, '"granularity":"hour"', '"granularity":"minute"');
    edit(file, 'granularity must be hour, day or week', 'some other error');
    const u = await runCli(['test', 'update', 'campaign_timeline', '--project', dir]);
    expect(u.exitCode, u.all).toBe(0);
    expect(u.stdout).toContain('2 case(s) changed (hourly_range_cutting_hours, granularity_month_refused)');
    expect(readFileSync(file, 'utf8')).toBe(readFileSync(path.join(REPO, 'tests/campaign_timeline.yaml'), 'utf8'));
  });

  it('create writes a starting file that then passes, and refuses to overwrite it', async () => {
    const dir = copyProject();
    dirs.push(dir);
    const c = await runCli(['test', 'create', 'recipient_activity', '--project', dir]);
    expect(c.exitCode, c.all).toBe(0);
    const text = readFileSync(path.join(dir, 'tests/recipient_activity.yaml'), 'utf8');
    expect(text).toContain('- name: recipient_activity_default\n');
    expect(text).toContain('- name: recipient_activity_limit_invalid\n');
    expect(text).toMatch(/name: recipient_activity_limit_invalid\n(.*\n){3}  expected_http_status: 400\n/);
    const r = await runCli(['test', 'run', 'recipient_activity', '--project', dir]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
    const again = await runCli(['test', 'create', 'recipient_activity', '--project', dir]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain('tests/recipient_activity.yaml already exists; pass --force to overwrite it');
  });
});
