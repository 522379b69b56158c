// The rewrite record on chDB: holders are per owner, two replaces that check at the same moment both write
// and the later one withdraws after the wait, a deploy's record blocks a replace, ending one hold leaves the
// others, and stillHeld() follows the owner's own record.
import { beforeAll, describe, expect, it } from 'vitest';
import { holdServes, RewriteBusyError } from '../../cli/src/deploy/rewrite-hold.js';
import { DeploymentStore } from '../../cli/src/deploy/store.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';

const chdb = useEmbeddedEngine('rewrite-hold');
let store: DeploymentStore;
beforeAll(async () => {
  store = new DeploymentStore(chdb.engine);
  await store.ensureTables();
});

const opts = { pollMs: 50, leaseMs: 60_000 };

describe('holdServes', () => {
  it('lets exactly one of two simultaneous holds on the same table through', async () => {
    const outcomes = await Promise.allSettled([holdServes(store, ['t1'], opts), holdServes(store, ['t1', 'rollup'], opts)]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0].reason).toBeInstanceOf(RewriteBusyError);
    expect(String(lost[0].reason.message)).toMatch(/a datasource replace is rewriting .*t1/);
    // The loser withdrew its record; the winner's is the only active one.
    expect((await store.rewriting()).map((r) => r.tables)).toHaveLength(1);
    const hold = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof holdServes>>>).value;
    expect(await hold.stillHeld()).toBe(true);
    await hold.end();
    expect(await hold.stillHeld()).toBe(false);
    expect(await store.rewriting()).toEqual([]);
  });

  it('holds different tables side by side, and ending one leaves the other', async () => {
    const [a, b] = await Promise.all([holdServes(store, ['a'], opts), holdServes(store, ['b'], opts)]);
    expect((await store.rewriting()).flatMap((r) => r.tables).sort()).toEqual(['a', 'b']);
    await a.end();
    expect((await store.rewriting()).flatMap((r) => r.tables)).toEqual(['b']);
    expect(await b.stillHeld()).toBe(true);
    await b.end();
  });

  it('refuses while a deploy rewrites the table, naming the deployment', async () => {
    await store.startRewrite(9, ['t2'], 60_000);
    await expect(holdServes(store, ['t2'], opts)).rejects.toThrow(/deployment #9 is rewriting t2 right now/);
    await store.endRewrite(9);
    const hold = await holdServes(store, ['t2'], opts);
    await hold.end();
  });

  it('reports a hold whose lease is nearly over as no longer held', async () => {
    const hold = await holdServes(store, ['t3'], { pollMs: 10, leaseMs: 20_000 }); // under the 30 s swap margin
    expect(await hold.stillHeld()).toBe(false);
    await hold.end();
  });
});
