// A statement (DDL, INSERT ... SELECT, a file's insert) on a server is given its own time limit, not the reads'
// 60 s of silence: the server sends nothing while one runs, and a client that gave up early left the server
// finishing what the caller believed failed. Past the limit it is cancelled on the server. Against a private 18.16.
import { afterEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../cli/src/engine/errors.js';
import { ServerEngine, STATEMENT_TIMEOUT_ENV } from '../../cli/src/engine/server.js';
import { useClickHouseServer } from '../helpers/clickhouse-server.js';

// One row per block and a second per row: an INSERT ... SELECT that runs `rows` seconds and sends nothing meanwhile.
const slowInsert = (table: string, rows: number) => `INSERT INTO ${table} SELECT number FROM numbers(${rows}) WHERE sleepEachRow(1) = 0`;
const ONE_ROW_BLOCKS = { max_block_size: 1 };

describe('the time limit of a statement on a server', () => {
  const ch = useClickHouseServer();
  const opened: ServerEngine[] = [];
  const open = async (opts: { requestTimeoutMs?: number; statementTimeoutMs?: number }) => {
    const engine = await ServerEngine.open({ url: ch.server.url, database: 'statement_limits', ...opts });
    opened.push(engine);
    return engine;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((e) => e.close()));
  });

  it('lets a statement run past the time limit of reads', async () => {
    const engine = await open({ requestTimeoutMs: 1000, statementTimeoutMs: 30_000 });
    await engine.command('CREATE TABLE IF NOT EXISTS finishes (n UInt64) ENGINE = MergeTree ORDER BY n');
    await engine.command(slowInsert('finishes', 3), { settings: ONE_ROW_BLOCKS });
    expect(await engine.queryRows('SELECT count() AS n FROM finishes')).toEqual([{ n: 3 }]);
  });

  it('cancels a statement past its own limit on the server and says how to raise it', async () => {
    const engine = await open({ statementTimeoutMs: 1500 });
    await engine.command('CREATE TABLE IF NOT EXISTS cancelled (n UInt64) ENGINE = MergeTree ORDER BY n');
    const started = Date.now();
    const err = await engine.command(slowInsert('cancelled', 6), { settings: ONE_ROW_BLOCKS, queryId: 'overdue-insert' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).isTimeout).toBe(true);
    expect((err as EngineError).message).toBe(
      `ClickHouse did not finish a statement within 1.5 s; emailstats cancelled it on the server (KILL QUERY, query_id overdue-insert). ` +
        `To let longer statements finish, raise ${STATEMENT_TIMEOUT_ENV} (whole seconds, 0 for no limit)`,
    );
    expect(await engine.queryRows("SELECT count() AS n FROM system.processes WHERE query_id = 'overdue-insert'")).toEqual([{ n: 0 }]);
    // Past the time the whole insert would have taken, none of its rows arrived.
    await new Promise((r) => setTimeout(r, Math.max(0, started + 7000 - Date.now())));
    expect(await engine.queryRows('SELECT count() AS n FROM cancelled')).toEqual([{ n: 0 }]);
  });

  it('says what became of a statement whose connection broke (here the server died, so the cancel cannot reach it)', async () => {
    const engine = await open({});
    await engine.command('CREATE TABLE IF NOT EXISTS broken (n UInt64) ENGINE = MergeTree ORDER BY n');
    const pending = engine.command(slowInsert('broken', 6), { settings: ONE_ROW_BLOCKS, queryId: 'broken-insert' }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 1500));
    await ch.server.pause();
    try {
      const err = await pending;
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).isConnection).toBe(true);
      expect((err as EngineError).message).toMatch(
        // The cancel meets a server that is gone (refused) or still closing its connections (hang up, reset).
        /^(socket hang up|.*ECONNRESET.*), during a statement; emailstats could not cancel it \(.*(ECONNREFUSED|ECONNRESET|socket hang up).*\): it may still be running on the server \(system\.processes, query_id broken-insert\)$/,
      );
    } finally {
      await ch.server.start();
    }
  });

  it('names the queue of a statement ON CLUSTER it stopped waiting for', async () => {
    // This server has no cluster: a statement whose text says ON CLUSTER (in a comment) stands in for one.
    const engine = await open({ statementTimeoutMs: 1000 });
    await engine.command('CREATE TABLE IF NOT EXISTS queued (n UInt64) ENGINE = MergeTree ORDER BY n');
    const err = await engine.command(`${slowInsert('queued', 3)} /* ON CLUSTER */`, { settings: ONE_ROW_BLOCKS, queryId: 'on-cluster-like' }).catch((e: unknown) => e);
    expect((err as EngineError).message).toMatch(/; emailstats cancelled it on the server \(KILL QUERY, query_id on-cluster-like\); a statement ON CLUSTER stays queued for the nodes that have not run it yet, and they run it all the same\. To let/);
  });

  it('refuses a limit that is not whole seconds, naming the variable', async () => {
    const before = process.env[STATEMENT_TIMEOUT_ENV];
    process.env[STATEMENT_TIMEOUT_ENV] = '1.5';
    try {
      await expect(ServerEngine.open({ url: ch.server.url })).rejects.toThrow(
        `${STATEMENT_TIMEOUT_ENV}=1.5 is not a whole number of seconds from 0 (no limit) to 86400: set one, or unset it for 3600 s`,
      );
    } finally {
      if (before === undefined) delete process.env[STATEMENT_TIMEOUT_ENV];
      else process.env[STATEMENT_TIMEOUT_ENV] = before;
    }
  });
});
