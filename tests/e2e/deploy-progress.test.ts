// A deploy whose rewrite runs for a while says how far it has got, as a user watching it would want: a line per
// EMAILSTATS_PROGRESS_INTERVAL seconds with the table being filled, rows read of about how many, and the time.
// Against a private ClickHouse 18.16, with a FORWARD_QUERY slowed down by sleepEachRow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { chExec, chQuery, deployCli } from '../helpers/serve.js';
import { useProjectFiles } from '../helpers/project-files.js';

const DB = 'progress';
const datasource = (sortingKey: string, forward = '') => `SCHEMA >\n    \`k\` String,\n    \`v\` UInt64\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "${sortingKey}"\n${forward}`;
// Positional, as the INSERT of a rewrite is: the aliases only keep ClickHouse from seeing cyclic ones. Three rows in
// one block, 0.9 s each: the copy runs for about 2.7 s.
const SLOW_FORWARD = '\nFORWARD_QUERY >\n    SELECT concat(k, \'\') AS k_copy, v + sleepEachRow(0.9) AS v_copy\n';

describe('deploy progress', () => {
  const write = useProjectFiles('deploy-progress');
  let ch: ClickHouseServer;

  beforeAll(async () => {
    ch = await startClickHouseServer();
  }, 60_000);
  afterAll(async () => {
    await ch?.stop();
  });

  it('prints a line per interval while a rewrite fills its new table, and none once it is done', async () => {
    const first = await deployCli(write({ 'datasources/slow.datasource': datasource('k') }), ch.url, DB);
    expect(first.exitCode, first.all).toBe(0);
    await chExec(ch.url, `INSERT INTO ${DB}.slow VALUES ('a', 1), ('b', 2), ('c', 3)`);
    const r = await deployCli(write({ 'datasources/slow.datasource': datasource('v, k', SLOW_FORWARD) }), ch.url, DB, [], { EMAILSTATS_PROGRESS_INTERVAL: '1' });
    expect(r.exitCode, r.all).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('  … '));
    expect(lines.length, r.stdout).toBeGreaterThanOrEqual(1);
    // ~ because ClickHouse estimates from the granules it will read (8,192 rows each on 18.16 for these 3 rows).
    for (const line of lines) expect(line).toMatch(/^ {2}… filling slow__emailstats_new: \d+ of ~[\d,]+ rows read \(\d+%\), \d+ written, \d+ s$/);
    // The progress comes while the step runs: all of it before the step's outcome, none after.
    expect(r.stdout.lastIndexOf('  … ')).toBeLessThan(r.stdout.indexOf('✓ datasources/slow.datasource changed'));
    expect(await chQuery(ch.url, `SELECT k, v FROM ${DB}.slow ORDER BY v`)).toEqual([{ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'c', v: 3 }]);
  });

  it('refuses an interval that is not whole seconds before it changes anything', async () => {
    const r = await deployCli(write({ 'datasources/slow.datasource': datasource('k, v') }), ch.url, DB, [], { EMAILSTATS_PROGRESS_INTERVAL: 'often' });
    expect(r.exitCode).toBe(1);
    expect(r.all).toContain('EMAILSTATS_PROGRESS_INTERVAL=often is not a whole number of seconds from 0 (no progress lines) to 86400: set one, or unset it for 10 s');
    expect(r.all).not.toContain('» deployment #');
  });
});
