// ClickHouse 18.16 has no TTL, so the copy schedules lease's table would keep every renewal its holder writes
// (8,640 rows a day) and every claim would read them all: there the holder deletes the rows of claims a day
// past their lease, at its first renewal and then once a day. Against a private 18.16 server.
import { describe, expect, it } from 'vitest';
import { CopySchedulesLease, COPY_SCHEDULES_LEASE, COPY_SCHEDULES_LEASE_ENV } from '../../cli/src/server/copy-schedules-lease.js';
import { useClickHouseServer } from '../helpers/clickhouse-server.js';
import { eventually } from '../helpers/serve.js';

describe('lease rows on a server without TTL (18.16)', () => {
  const ch = useClickHouseServer();

  it('the holder deletes the rows of claims that ended over a day ago, and keeps the rest', async () => {
    const { engine } = ch;
    expect(engine.caps.ttl).toBe(false);
    const lines: string[] = [];
    const env = { [COPY_SCHEDULES_LEASE_ENV]: '3000' };
    const t = COPY_SCHEDULES_LEASE.table;
    // A first serve takes the lease and stops at once (before its first renewal): the table exists, nothing pruned.
    const first = new CopySchedulesLease(engine, (l) => lines.push(l), env);
    expect(await first.mine()).toBe(true);
    await first.release();
    const row = (nonce: string, untilAgoS: number) =>
      `('${nonce}', 1, 'the copy schedules runner', 'serve on a', 'a', 1, '', now() - ${untilAgoS + 60}, now() - ${untilAgoS + 60}, now() - ${untilAgoS}, 0)`;
    // Rows of two claims that ended long ago, and of one that ended an hour ago.
    await engine.command(`INSERT INTO ${t} (nonce, version, what, who, host, pid, machine, started, renewed, until, active) VALUES ${row('old-1', 2 * 86_400)}, ${row('old-2', 86_400 + 60)}, ${row('recent', 3600)}`);
    const nonces = async () => (await engine.queryRows<{ nonce: string }>(`SELECT DISTINCT nonce FROM ${t} ORDER BY nonce`)).map((r) => r.nonce);
    expect(await nonces()).toEqual(expect.arrayContaining(['old-1', 'old-2', 'recent']));
    const lease = new CopySchedulesLease(engine, (l) => lines.push(l), env);
    expect(await lease.mine()).toBe(true);
    // The holder renews every sixth of its lease (0.5 s here); the first renewal starts the deletion (a mutation,
    // which the server applies in the background).
    await eventually(async () => !(await nonces()).some((n) => n.startsWith('old-')), 20_000, 'the ended claims to be deleted');
    const left = await nonces();
    expect(left).toContain('recent');
    expect(left.filter((n) => n !== 'recent')).toHaveLength(2); // the two serves' own claims, ended seconds ago
    expect(await lease.mine()).toBe(true);
    expect(lines.filter((l) => l.includes('could not be deleted'))).toEqual([]);
    await lease.release();
  }, 60_000);
});
