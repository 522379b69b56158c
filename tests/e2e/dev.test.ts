// The local loop: `emailstats dev` rebuilds on changes without a restart, keeps serving the last good
// version when a file breaks, refuses a second dev on the same project, and lets the other commands talk
// to it over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { copyProject, removeDir, runCli, startDev, ADMIN_TOKEN, type DevServer } from '../helpers/cli.js';

describe('emailstats dev', () => {
  let project: string;
  let dev: DevServer;

  const stats = async (q = '') => {
    const res = await fetch(`${dev.url}/v0/pipes/campaign_stats.json?campaign_id=camp_1${q}`, { headers: { authorization: `Bearer ${dev.token}` } });
    return { status: res.status, body: (await res.json()) as { data: Record<string, unknown>[]; meta: { name: string }[]; error?: string } };
  };

  beforeAll(async () => {
    project = copyProject();
    dev = await startDev(project);
  }, 160_000);

  afterAll(async () => {
    await dev?.stop();
    if (project) removeDir(project);
  });

  it('prints the endpoints and the admin token, and hands the token out at /tokens', async () => {
    expect(dev.output()).toContain('» endpoint campaign_stats:');
    expect(dev.output()).toContain(`» admin token: ${ADMIN_TOKEN}`);
    const tokens = (await (await fetch(`${dev.url}/tokens`)).json()) as { admin_token: string };
    expect(tokens.admin_token).toBe(ADMIN_TOKEN);
  });

  it('serves a changed pipe on the next request, without a restart', async () => {
    const file = path.join(project, 'pipes/campaign_stats.pipe');
    const original = readFileSync(file, 'utf8');
    expect((await stats()).body.meta.some((m) => m.name === 'reloaded')).toBe(false);
    const mark = dev.output().length;
    writeFileSync(file, original.replace('        campaign_id,\n        sumIf(n, event_kind', "        campaign_id,\n        'yes' AS reloaded,\n        sumIf(n, event_kind"));
    await dev.waitFor(/Rebuild completed in [\d.]+s/, 60_000, mark);
    const after = await stats();
    expect(after.status).toBe(200);
    expect(after.body.data[0].reloaded).toBe('yes');
    writeFileSync(file, original);
    // Done when the endpoint answers without the column again (the next test compares against this version).
    const deadline = Date.now() + 60_000;
    while ((await stats()).body.meta.some((m) => m.name === 'reloaded')) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('keeps serving the last good version when a pipe breaks', async () => {
    const file = path.join(project, 'pipes/campaign_stats.pipe');
    const original = readFileSync(file, 'utf8');
    const before = await stats();
    const mark = dev.output().length;
    writeFileSync(file, original.replace('TYPE endpoint', 'TYPE endpoint\nNOT_A_KEYWORD oops'));
    await dev.waitFor('still serving the last good version', 60_000, mark);
    expect(dev.output().slice(mark)).toMatch(/pipes\/campaign_stats\.pipe:\d+:\d+: NOT_A_KEYWORD is not a valid option/);
    const during = await stats();
    expect(during.status).toBe(200);
    expect(during.body.data).toEqual(before.body.data);
    const mark2 = dev.output().length;
    writeFileSync(file, original);
    await dev.waitFor(/Rebuild completed/, 60_000, mark2);
  });

  it('keeps the rows of a datasource when a column is added', async () => {
    const file = path.join(project, 'datasources/email_events.datasource');
    const original = readFileSync(file, 'utf8');
    const count = async () => {
      const res = await fetch(`${dev.url}/v0/sql?q=${encodeURIComponent('SELECT count() AS c FROM email_events')}&token=${dev.token}`);
      return ((await res.json()) as { data: { c: number }[] }).data[0].c;
    };
    const rows = await count();
    expect(rows).toBeGreaterThan(50_000);
    const mark = dev.output().length;
    writeFileSync(file, original.replace('ENGINE "MergeTree"', 'ENGINE "MergeTree"').replace("`json:$.user_agent`,", "`json:$.user_agent`,\n    `provider` String DEFAULT 'unknown' `json:$.provider`,"));
    await dev.waitFor(/email_events\.datasource changed \(altered in place, data kept: added column provider\)/, 60_000, mark);
    expect(await count()).toBe(rows);
    writeFileSync(file, original);
    await dev.waitFor(/dropped column provider/, 60_000, mark);
  });

  it('refuses a second dev on the same project and says where the first one runs', async () => {
    const second = await runCli(['dev', '--project', project, '--port', '0']);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`emailstats dev is already running for ${project} at ${dev.url}`);
  });

  it('lets sql, endpoint and append talk to the running server', async () => {
    const sql = await runCli(['sql', 'SELECT count() AS n FROM email_events WHERE campaign_id = \'camp_1\'', '--project', project, '--format', 'ndjson']);
    expect(sql.exitCode, sql.all).toBe(0);
    expect(Number(JSON.parse(sql.stdout).n)).toBeGreaterThan(0);
    const ls = await runCli(['endpoint', 'ls', '--project', project]);
    expect(ls.stdout).toContain(`campaign_stats\t${dev.url}/v0/pipes/campaign_stats.json`);
    const data = await runCli(['endpoint', 'data', 'campaign_stats', '--project', project, '--param', 'campaign_id=camp_1', '--format', 'ndjson']);
    expect(JSON.parse(data.stdout).campaign_id).toBe('camp_1');
    const url = await runCli(['endpoint', 'url', 'campaign_stats', '--project', project]);
    expect(url.stdout.trim()).toBe(`${dev.url}/v0/pipes/campaign_stats.json?token=${ADMIN_TOKEN}`);
    const file = path.join(project, 'extra.ndjson');
    writeFileSync(file, '{"event_id":"ev_cli_1","timestamp":"2025-02-01 10:00:00","event_type":"open","campaign_id":"camp_cli","recipient_id":"u1"}\n{"event_id":"ev_cli_2","timestamp":"not a date","event_type":"open","campaign_id":"camp_cli","recipient_id":"u2"}\n');
    const append = await runCli(['append', 'email_events', file, '--project', project], { env: { EMAILSTATS_ADMIN_TOKEN: ADMIN_TOKEN } });
    expect(append.exitCode, append.all).toBe(0);
    expect(append.stdout).toContain('1 rows appended to email_events, 1 quarantined');
    const check = await runCli(['sql', "SELECT count() AS n FROM email_events WHERE campaign_id = 'camp_cli'", '--project', project, '--format', 'ndjson']);
    expect(Number(JSON.parse(check.stdout).n)).toBe(1);
  });
});
