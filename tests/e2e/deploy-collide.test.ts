// Deploys that overlap, against a private ClickHouse 18.16 with the real CLI: two deploys started together
// (one runs, the other is refused at once naming it; a rollback meanwhile too), a killed deploy's lock (ended
// at once when its pid is gone from this machine; one from another machine lasts its lease, or --break-lock), and a no-op deploy after a deploy killed mid-rewrite, which
// must end the event-flush hold that deploy left so that serve answers wait=true posts again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { BIN, copyProject, removeDir, REPO, runCli } from '../helpers/cli.js';
import { chQuery, currentDeployment, deployCli, eventually, PROD_TOKEN, startServe, targetEnv, type ServeProcess } from '../helpers/serve.js';

const EVENTS = readFileSync(path.join(REPO, 'fixtures/email_events.ndjson'), 'utf8').split('\n').filter(Boolean).slice(0, 2000);
/** serve polls and deploy waits with this interval (deploy waits 2 × it + 1 s for every serve to hold). */
const POLL_MS = 300;
/** The deploy lock's lease in these tests: long enough for a loaded machine, short enough to wait out. */
const LOCK_MS = 15_000;

interface Running {
  proc: ResultPromise;
  output: () => string;
  /** Milliseconds from launch to exit, once it exited. */
  ranMs?: number;
}

/** A deploy that pauses before its swap (holding the lock and the rewrite record) until it is killed. */
function pausingDeploy(project: string, url: string, db: string): Running {
  const env = { ...targetEnv(url, db), EMAILSTATS_DEPLOY_PAUSE_BEFORE_SWAP_MS: '600000', EMAILSTATS_POLL_INTERVAL_MS: String(POLL_MS), EMAILSTATS_DEPLOY_LOCK_MS: String(LOCK_MS), NO_COLOR: '1' };
  const proc = execa('node', [BIN, 'deploy', '--project', project, '--yes'], { env, reject: false, all: true, buffer: false });
  let out = '';
  proc.all!.on('data', (c: Buffer) => void (out += c.toString()));
  const started = Date.now();
  const running: Running = { proc, output: () => out };
  proc.on('exit', () => (running.ranMs = Date.now() - started));
  return running;
}

describe('overlapping deploys on ClickHouse 18.16', () => {
  let ch: ClickHouseServer;
  let original: string;
  let changed: string;
  const running: Running[] = [];
  const serves: ServeProcess[] = [];

  beforeAll(async () => {
    ch = await startClickHouseServer();
    original = copyProject();
    changed = copyProject();
    // A sorting key change: a rewrite through FORWARD_QUERY (a staging table, a hold, a swap).
    const file = path.join(changed, 'datasources/email_events.datasource');
    writeFileSync(file, readFileSync(file, 'utf8').replace('ENGINE_SORTING_KEY "campaign_id, event_type, timestamp"', 'ENGINE_SORTING_KEY "campaign_id, timestamp, event_id"\n\nFORWARD_QUERY >\n    SELECT *'));
    for (const db of ['race', 'noop']) {
      const r = await deployCli(original, ch.url, db);
      expect(r.exitCode, r.all).toBe(0);
    }
  }, 90_000);

  afterAll(async () => {
    for (const r of running) if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
    for (const s of serves) await s.stop();
    await ch?.stop();
    for (const p of [original, changed]) if (p) removeDir(p);
  });

  it('refuses the second of two concurrent deploys at once, naming the running one; the lock of a killed deploy ends with its process, or its lease, or --break-lock', async () => {
    const env = { EMAILSTATS_DEPLOY_LOCK_MS: String(LOCK_MS), EMAILSTATS_POLL_INTERVAL_MS: String(POLL_MS) };
    const [a, b] = [pausingDeploy(changed, ch.url, 'race'), pausingDeploy(changed, ch.url, 'race')];
    running.push(a, b);
    // One pauses before its swap, the other exits; neither waits for the other.
    await eventually(async () => [a, b].some((d) => d.output().includes('paused before swap')) && [a, b].some((d) => d.proc.exitCode !== null), 90_000, 'one deploy to pause and the other to exit');
    const [winner, loser] = a.output().includes('paused before swap') ? [a, b] : [b, a];
    expect(winner.proc.exitCode, winner.output()).toBeNull();
    expect(loser.proc.exitCode, loser.output()).toBe(1);
    const refusal = loser.output();
    expect(refusal).toMatch(
      new RegExp(`another deploy or rollback is running on .*race\\): (a deploy \\(planning, no deployment id yet\\)|deploy of deployment #2), started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC by .* \\(pid ${winner.proc.pid} on ${os.hostname()}\\)`),
    );
    expect(refusal).toContain('Nothing was changed');
    expect(refusal).not.toContain('__emailstats_new');
    expect(refusal).not.toMatch(/deployment #\d+: applying/);
    console.log(`the refused deploy exited ${loser.ranMs} ms after its launch (the winner holds for 600 s)`);

    // While it runs, another deploy and a rollback are refused too, now naming its deployment id.
    const named = new RegExp(`deploy of deployment #2, started .* UTC by .* \\(pid ${winner.proc.pid} on ${os.hostname()}\\); its lock was renewed \\d+ s ago`);
    const third = await deployCli(changed, ch.url, 'race', [], env);
    expect(third.exitCode, third.all).toBe(1);
    expect(third.stderr).toMatch(named);
    const rollback = await runCli(['deployment', 'rollback', '--yes'], { env: { ...targetEnv(ch.url, 'race'), ...env } });
    expect(rollback.exitCode, rollback.all).toBe(1);
    expect(rollback.stderr).toMatch(named);
    expect(rollback.stderr).toContain('Run emailstats deployment rollback again when it is done');

    // Killed on this machine: the next deploy sees that its pid is gone, ends its lock and its hold, and resumes.
    winner.proc.kill('SIGKILL');
    await winner.proc;
    const resumed = await deployCli(changed, ch.url, 'race', [], env);
    expect(resumed.exitCode, resumed.all).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`ended the deploy lock of deploy of deployment #2, started .* \\(pid ${winner.proc.pid} on ${os.hostname()}\\): pid ${winner.proc.pid} is not running any more`));
    expect(resumed.stdout).toContain('deployment #2 was stopped while rewriting email_events: ended its event-flush hold');
    expect(resumed.stdout).toMatch(/Deployment #3 is live/);
    const staging = await chQuery(ch.url, "SELECT name FROM system.tables WHERE database = 'race' AND name LIKE '%\\_\\_emailstats\\_new'");
    expect(staging).toEqual([]);
    const create = await (await fetch(`${ch.url}/?query=${encodeURIComponent('SHOW CREATE TABLE race.email_events')}`)).text();
    expect(create.replace(/\\n/g, ' ')).toMatch(/ORDER BY \(campaign_id, timestamp, event_id\)/);

    // Killed on another machine (its claim as it left it): its pid cannot be checked, so the lease counts,
    // unless --break-lock is given.
    const claim = "INSERT INTO race._emailstats_deploy_lock (nonce, version, what, who, host, pid, machine, started, renewed, until, active) SELECT 'elsewhere', 1, 'deploy of deployment #9', 'ci@runner-7', 'runner-7', 4242, 'another-boot/pid:[1]', now(), now(), now() + 600, 1";
    const inserted = await fetch(ch.url, { method: 'POST', body: claim });
    expect(inserted.status, await inserted.text()).toBe(200);
    const waits = await runCli(['deployment', 'rollback', '--yes'], { env: { ...targetEnv(ch.url, 'race'), ...env } });
    expect(waits.exitCode, waits.all).toBe(1);
    expect(waits.stderr).toMatch(/deploy of deployment #9, started .* UTC by ci@runner-7 \(pid 4242 on runner-7\); its lock was renewed \d+ s ago and lapses in \d+ s unless renewed[\s\S]*emailstats deployment rollback --break-lock/);
    const broken = await runCli(['deployment', 'rollback', '--yes', '--break-lock'], { env: { ...targetEnv(ch.url, 'race'), ...env } });
    expect(broken.exitCode, broken.all).toBe(0);
    expect(broken.stdout).toMatch(/ended the deploy lock of deploy of deployment #9, .*: --break-lock/);
    expect(broken.stdout).toContain('Deployment #1 is live again (was #3)');
  }, 240_000);

  it('a no-op deploy after a deploy killed mid-rewrite ends its hold: serve answers a wait=true post promptly', async () => {
    const serve = await startServe(ch.url, 'noop', POLL_MS);
    serves.push(serve);
    await eventually(async () => currentDeployment(serve.output()) === 1, 20_000, 'serve to load deployment #1');

    const killed = pausingDeploy(changed, ch.url, 'noop');
    running.push(killed);
    await eventually(async () => killed.output().includes('paused before swap') || killed.proc.exitCode !== null, 90_000, 'the deploy to pause');
    expect(killed.output()).toContain('paused before swap');
    await serve.waitFor('is rewriting email_events: holding event flushes');
    killed.proc.kill('SIGKILL');
    await killed.proc;

    // The same content as the live deployment: nothing to change (the killed deploy's lock ended with its process).
    const noop = await deployCli(original, ch.url, 'noop');
    expect(noop.exitCode, noop.all).toBe(0);
    expect(noop.stdout).toContain('No changes: deployment #1 is live with this content');

    const started = Date.now();
    const res = await fetch(`${serve.url}/v0/events?name=email_events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` }, body: EVENTS.join('\n') });
    const tookMs = Date.now() - started;
    expect(res.status, await res.text()).toBe(200);
    console.log(`wait=true post after the no-op deploy answered ${res.status} in ${tookMs} ms`);
    expect(tookMs).toBeLessThan(25_000); // a held flush answers 503 after 30 s
    const [row] = await chQuery<{ c: number }>(ch.url, 'SELECT count() AS c FROM noop.email_events');
    expect(Number(row.c)).toBe(EVENTS.length);
    await serve.waitFor('email_events is no longer being rewritten: resuming event flushes');
    expect(noop.stdout).toContain('deployment #2 was stopped while rewriting email_events: ended its event-flush hold');
  }, 240_000);
});
