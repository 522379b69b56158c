// The deploy lock on chDB (the same SQL as on 18.16, tests/e2e/deploy-collide.test.ts): of two contenders
// exactly one holds it and the other is refused naming the holder; the holder's heartbeat keeps it past its
// lease; a claim nobody renews lapses; a holder whose claim ended finds out before its next step.
import { describe, expect, it } from 'vitest';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireDeployLock, deployLockClaims, DeployLockedError, LOCK_ENV, LOCK_TABLE } from '../../cli/src/deploy/lock.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';

const chdb = useEmbeddedEngine('deploy-lock');
const opts = (what: string, leaseMs = 3000) => ({ what, who: 'tester@here', again: 'emailstats deploy', env: { [LOCK_ENV]: String(leaseMs) } });

describe('deploy lock', () => {
  it('lets exactly one of two simultaneous contenders hold it; the other is refused naming the holder', async () => {
    const outcomes = await Promise.allSettled([acquireDeployLock(chdb.engine, opts('deploy A', 60_000)), acquireDeployLock(chdb.engine, opts('deploy B', 60_000))]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0].reason).toBeInstanceOf(DeployLockedError);
    expect(String(lost[0].reason.message)).toMatch(new RegExp(`running on .*: deploy [AB], started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC by tester@here \\(pid ${process.pid} on ${os.hostname()}\\)`));
    // The loser withdrew its claim.
    expect(await deployLockClaims(chdb.engine)).toHaveLength(1);
    const lock = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireDeployLock>>>).value;
    await lock.describe('deploy of deployment #7');
    await expect(acquireDeployLock(chdb.engine, opts('deploy C'))).rejects.toThrow(/deploy of deployment #7, started/);
    await lock.release();
    expect(await deployLockClaims(chdb.engine)).toEqual([]);
    const next = await acquireDeployLock(chdb.engine, opts('deploy C'));
    await next.release();
  });

  it('keeps a held lock past its lease by renewing it', async () => {
    const lock = await acquireDeployLock(chdb.engine, opts('long deploy', 3000));
    await sleep(4500);
    await expect(lock.assertHeld('the swap')).resolves.toBeUndefined();
    await expect(acquireDeployLock(chdb.engine, opts('other'))).rejects.toThrow(/long deploy/);
    await lock.release();
  });

  it('lets a claim that is not renewed (a deploy killed elsewhere) lapse with its lease', async () => {
    // A claim as a process killed on another machine leaves it (its pid cannot be checked from here).
    await chdb.engine.command(
      `INSERT INTO ${LOCK_TABLE} (nonce, version, what, who, host, pid, machine, started, renewed, until, active) SELECT 'killed', 1, 'deploy of deployment #3', 'ci@box', 'box', 4242, 'elsewhere', now(), now(), now() + 3, 1`,
    );
    await expect(acquireDeployLock(chdb.engine, opts('next'))).rejects.toThrow(/deploy of deployment #3, started .* by ci@box \(pid 4242 on box\); its lock was renewed \d+ s ago and lapses in \d+ s unless renewed[\s\S]*--break-lock/);
    let lock;
    for (let i = 0; i < 20 && !lock; i++) {
      await sleep(500);
      lock = await acquireDeployLock(chdb.engine, opts('next')).catch(() => undefined);
    }
    expect(lock).toBeDefined();
    await lock!.release();
  });

  it("ends at once a claim whose process is gone from this machine's pid namespace", async () => {
    const [machine] = await chdb.engine.queryRows<{ m: string }>(`SELECT any(machine) AS m FROM ${LOCK_TABLE} WHERE machine != 'elsewhere'`);
    expect(machine.m).not.toBe('');
    // pid 2^22 + 1 is above Linux's pid_max: no process has it.
    await chdb.engine.command(
      `INSERT INTO ${LOCK_TABLE} (nonce, version, what, who, host, pid, machine, started, renewed, until, active) SELECT 'gone', 1, 'deploy of deployment #5', 'me@here', '${os.hostname()}', ${2 ** 22 + 1}, '${machine.m}', now(), now(), now() + 600, 1`,
    );
    const logs: string[] = [];
    const lock = await acquireDeployLock(chdb.engine, { ...opts('next'), log: (l) => logs.push(l) });
    expect(logs.join('\n')).toMatch(/ended the deploy lock of deploy of deployment #5, .*: pid 4194305 is not running any more/);
    await lock.release();
  });

  it('--break-lock ends a live claim at once, and the holder whose claim ended learns it before its next step', async () => {
    const holder = await acquireDeployLock(chdb.engine, opts('stuck deploy', 60_000));
    const logs: string[] = [];
    const breaker = await acquireDeployLock(chdb.engine, { ...opts('breaker', 60_000), breakLock: true, log: (l) => logs.push(l) });
    expect(logs.join('\n')).toMatch(/ended the deploy lock of stuck deploy, .*: --break-lock/);
    await expect(holder.assertHeld('the swap of deployment #4')).rejects.toThrow(/deploy lock was not renewed in time.*the swap of deployment #4 did not run/);
    await holder.release();
    expect((await deployLockClaims(chdb.engine)).map((c) => c.what)).toEqual(['breaker']);
    await breaker.release();
  });
});
