// `emailstats mock`: the documented fixture command reproduces fixtures/email_events.ndjson, errors are clear, CSV works.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/emailstats.mjs');
const SEED_DS = `SCHEMA >
    \`event_id\` String \`json:$.event_id\`,
    \`timestamp\` DateTime \`json:$.timestamp\`,
    \`event_type\` String \`json:$.event_type\`,
    \`campaign_id\` String \`json:$.campaign_id\`,
    \`email_id\` String \`json:$.email_id\`,
    \`recipient_id\` String \`json:$.recipient_id\`,
    \`recipient_email\` String \`json:$.recipient_email\`,
    \`link_url\` String \`json:$.link_url\`,
    \`metadata\` String \`json:$.metadata\`,
    \`user_agent\` String \`json:$.user_agent\`

ENGINE "MergeTree"
ENGINE_SORTING_KEY "campaign_id, event_type, timestamp"
`;
const OTHER_DS = `SCHEMA >
    \`id\` UInt64 \`json:$.id\`,
    \`user_city\` LowCardinality(String) \`json:$.user.city\`,
    \`tags\` Array(String) \`json:$.tags[:]\`,
    \`score\` Nullable(Decimal(10, 2)) \`json:$.score\`

ENGINE "MergeTree"
ENGINE_SORTING_KEY "id"
`;

const project = mkdtempSync(path.join(tmpdir(), 'mock-cmd-'));
mkdirSync(path.join(project, 'datasources'));
// Use the repo's datasource when it exists (the documented command), else the seed schema.
const repoDs = path.join(ROOT, 'datasources/email_events.datasource');
if (existsSync(repoDs)) cpSync(repoDs, path.join(project, 'datasources/email_events.datasource'));
else writeFileSync(path.join(project, 'datasources/email_events.datasource'), SEED_DS);
writeFileSync(path.join(project, 'datasources/things.datasource'), OTHER_DS);
afterAll(() => rmSync(project, { recursive: true, force: true }));

const run = (args: string[]) => execa('node', [BIN, 'mock', ...args, '--project', project], { reject: false, cwd: ROOT });

describe('emailstats mock', () => {
  it('reproduces fixtures/email_events.ndjson byte for byte', async () => {
    const out = path.join(project, 'out.ndjson');
    const r = await run(['email_events', '--rows', '60000', '--seed', '1', '--out', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(path.join(ROOT, 'fixtures/email_events.ndjson')))).toBe(true);
  }, 60_000);

  it('writes generic rows shaped by jsonpath to stdout, and CSV', async () => {
    const r = await run(['things', '--rows', '5', '--seed', 'a']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(5);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(['id', 'score', 'tags', 'user']);
      expect(typeof (row.user as { city: unknown }).city).toBe('string');
    }
    const csv = await run(['things', '--rows', '5', '--seed', 'a', '--format', 'csv']);
    expect(csv.exitCode, csv.stderr).toBe(0);
    expect(csv.stdout.trim().split('\n')).toHaveLength(5);
    expect(r.stderr).toBe(''); // no progress when stderr is not a TTY
  }, 60_000);

  it('the CLI stops quietly when the reader closes the pipe early (| head), keeping its exit status', async () => {
    // mock streams until the reader goes; params writes after it went (its reader closed before any output).
    const mock = execa('node', [BIN, 'mock', 'email_events', '--rows', '200000', '--project', project], { reject: false, buffer: { stdout: false } });
    const first = await new Promise<string>((resolve) => mock.stdout!.once('data', (c: Buffer) => resolve(c.toString())));
    mock.stdout!.destroy();
    const m = await mock;
    expect(first).toMatch(/^\{"event_id":/);
    expect([m.exitCode, m.stderr]).toEqual([0, '']);
    const params = execa('node', [BIN, 'params', 'campaign_timeline', '--project', ROOT], { reject: false, buffer: { stdout: false } });
    params.stdout!.destroy();
    const p = await params;
    expect([p.exitCode, p.stderr]).toEqual([0, '']);
    // A command that fails still says so in its exit status when nobody reads its output.
    const broken = mkdtempSync(path.join(tmpdir(), 'mock-cmd-broken-'));
    mkdirSync(path.join(broken, 'datasources'));
    writeFileSync(path.join(broken, 'datasources/bad.datasource'), 'SCHEMA >\n    a Int32\nFOO bar\n');
    const check = execa('node', [BIN, 'check', broken], { reject: false, stdout: 'pipe', stderr: 'pipe', buffer: false });
    check.stdout!.destroy();
    check.stderr!.destroy();
    expect((await check).exitCode).toBe(1);
    rmSync(broken, { recursive: true, force: true });
  }, 60_000);

  it('lists the available datasources for an unknown one, and rejects bad options', async () => {
    const r = await run(['nope']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("datasource 'nope' not found");
    expect(r.stderr).toContain('available: email_events, things');
    const b = await run(['things', '--rows', 'many']);
    expect(b.exitCode).toBe(1);
    expect(b.stderr).toContain('--rows must be a whole number');
  }, 60_000);
});
