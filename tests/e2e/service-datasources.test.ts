// Tinybird's service data sources through the real CLI (issue 14): events ingested into a `dev` server show up in
// tinybird.datasources_ops_log, a pipe publishing it answers, /v0/sql keeps it admin-only, and `check` names the
// service data sources emailstats cannot provide.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeDir, runCli, startDev, type DevServer } from '../helpers/cli.js';

function writeProject(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-service-ds-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const EVENTS = 'TOKEN reader READ\n\nSCHEMA >\n    `id` String `json:$.id`,\n    `n` Int64 `json:$.n`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "id"\n';
const OPS_PIPE =
  'TOKEN ops_reader READ\n\nNODE ops\nSQL >\n    SELECT datasource_name, event_type, result, sum(written_rows) AS written_rows\n    FROM tinybird.datasources_ops_log\n    GROUP BY datasource_name, event_type, result\n    ORDER BY event_type\n\nTYPE endpoint\n';

describe('service data sources (e2e)', () => {
  let dev: DevServer | undefined;
  const dirs: string[] = [];
  afterAll(async () => {
    await dev?.stop();
    for (const d of dirs) removeDir(d);
  });

  it('Events API flushes and replaces land in tinybird.datasources_ops_log; a pipe publishes it; /v0/sql needs ADMIN', async () => {
    const dir = writeProject({ 'datasources/events.datasource': EVENTS, 'pipes/ingest_ops.pipe': OPS_PIPE });
    dirs.push(dir);
    dev = await startDev(dir, ['--no-watch']);
    const post = await fetch(`${dev.url}/v0/events?name=events&wait=true&token=${dev.token}`, { method: 'POST', body: '{"id":"a","n":1}\n{"id":"b","n":2}\n{"id":"c","n":3}\n' });
    expect(post.status).toBe(200);
    const form = new FormData();
    form.append('csv', new Blob(['x,9\n']), 'rows.csv');
    const replace = await fetch(`${dev.url}/v0/datasources?name=events&mode=replace&format=csv&token=${dev.token}`, { method: 'POST', body: form });
    expect(replace.status).toBe(200);

    // The ops log is written in batches about once a second: poll the endpoint until both operations are there.
    let data: { datasource_name: string; event_type: string; result: string; written_rows: number | string }[] = [];
    for (let i = 0; i < 100 && data.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const res = await fetch(`${dev.url}/v0/pipes/ingest_ops.json?token=${dev.token}`);
      expect(res.status).toBe(200);
      data = ((await res.json()) as { data: typeof data }).data;
    }
    expect(data.map((r) => [r.datasource_name, r.event_type, r.result, Number(r.written_rows)])).toEqual([
      ['events', 'append-hfi', 'ok', 3],
      ['events', 'replace', 'ok', 1],
    ]);

    const tokens = (await (await fetch(`${dev.url}/tokens`)).json()) as { tokens: Record<string, string> };
    // A token that may read the pipe reads what the pipe publishes...
    expect((await fetch(`${dev.url}/v0/pipes/ingest_ops.json?token=${tokens.tokens.ops_reader}`)).status).toBe(200);
    // ...but the service data source itself needs the ADMIN scope, by either name.
    const q = (sql: string, token: string) => fetch(`${dev!.url}/v0/sql?q=${encodeURIComponent(sql)}&token=${token}`);
    const denied = await q('SELECT count() FROM tinybird.datasources_ops_log', tokens.tokens.reader);
    expect(denied.status).toBe(403);
    expect(await denied.text()).toContain('ADMIN');
    expect((await q('SELECT count() FROM tinybird_datasources_ops_log', tokens.tokens.reader)).status).toBe(403);
    const admin = await q('SELECT count() AS c FROM tinybird.datasources_ops_log FORMAT JSON', dev.token);
    expect(admin.status).toBe(200);
    expect(Number(((await admin.json()) as { data: { c: number }[] }).data[0].c)).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('check names organization.* and shared data sources at file:line:col', async () => {
    const dir = writeProject({
      'datasources/events.datasource': EVENTS,
      'pipes/org.pipe': 'NODE a\nSQL >\n    SELECT count() FROM organization.pipe_stats\n',
      'pipes/shared.pipe': 'NODE a\nSQL >\n    SELECT * FROM other_ws.events\n',
    });
    dirs.push(dir);
    const r = await runCli(['check', dir]);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toContain('pipes/org.pipe:3:25: organization.* service data sources are not available in emailstats');
    expect(r.all).toContain('pipes/shared.pipe:3:19: shared data source other_ws.events');
  }, 60_000);
});
