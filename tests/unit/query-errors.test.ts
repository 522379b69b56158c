// What a request's query failure answers over HTTP (queryHttpError): 408 when it ran out of time, 503 with
// Retry-After when the server could not take or finish it for a reason that passes, 400 when the query itself is
// wrong. The errors come from a private ClickHouse 18.16, except TOO_SLOW (160), which the servers we can start
// here do not raise: its text is ClickHouse's own.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { EngineError, toEngineError } from '../../cli/src/engine/errors.js';
import { HttpError } from '../../cli/src/server/http.js';
import { queryHttpError } from '../../cli/src/server/engine-http-error.js';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { freePort, useClickHouseServer } from '../helpers/clickhouse-server.js';
import { eventually } from '../helpers/serve.js';

describe('HTTP answers to failed request queries', () => {
  const ch = useClickHouseServer();
  const failure = async (run: () => Promise<unknown>): Promise<HttpError> => {
    const err = await run().then(
      () => undefined,
      (e: unknown) => toEngineError(e),
    );
    expect(err).toBeInstanceOf(EngineError);
    const answer = queryHttpError(err, 10);
    expect(answer).toBeInstanceOf(HttpError);
    return answer as HttpError;
  };

  it('too many simultaneous queries: 503, send it again', async () => {
    // A query that runs until it is killed (or for 60 s), so that the second one surely finds it running.
    const running = ch.engine.queryText('SELECT count() FROM numbers(100000000000)', 'JSON', { queryId: 'query-errors-long', settings: { max_execution_time: 60 } }).catch(() => undefined);
    await eventually(async () => (await ch.engine.queryRows("SELECT 1 FROM system.processes WHERE query_id = 'query-errors-long'")).length === 1, 10_000, 'the first query to run');
    const answer = await failure(() => ch.engine.queryText('SELECT 1', 'JSON', { settings: { max_concurrent_queries_for_user: 1 } }));
    await ch.engine.command("KILL QUERY WHERE query_id = 'query-errors-long' SYNC");
    await running;
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.message).toMatch(/^ClickHouse could not run the query now, send it again: Too many simultaneous queries/);
  });

  it('out of time: 408, and so is a query the server estimates too slow (160)', async () => {
    const timeout = await failure(() => ch.engine.queryText('SELECT count() FROM numbers(100000000000)', 'JSON', { settings: { max_execution_time: 1 } }));
    expect(timeout.status).toBe(408);
    expect(timeout.message).toMatch(/^the query took longer than the 10 s limit: Timeout exceeded/);
    const tooSlow = queryHttpError(new EngineError('Estimated query execution time (45.1 seconds) is too long. Maximum: 30', 160), 30) as HttpError;
    expect(tooSlow.status).toBe(408);
  });

  it('a server that does not answer: 503, try again in a few seconds', async () => {
    // A port nothing listens on, asked the way the server engine asks.
    const port = await freePort();
    const client = createClient({ url: `http://127.0.0.1:${port}`, log: { level: ClickHouseLogLevel.OFF } });
    const answer = await failure(() => client.query({ query: 'SELECT 1' }).finally(() => client.close()));
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('5');
    expect(answer.message).toMatch(/^ClickHouse is not reachable: .*ECONNREFUSED/);
  });

  it("a server that takes the connection and says nothing: 503, naming the client's wait", async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const client = createClient({ url: `http://127.0.0.1:${port}`, request_timeout: 300, log: { level: ClickHouseLogLevel.OFF } });
    try {
      const answer = await failure(() => client.query({ query: 'SELECT 1' }));
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toBe('5');
      expect(answer.message).toMatch(/^ClickHouse did not answer within the client's time limit \(down, unreachable or overloaded\): Timeout error/);
    } finally {
      await client.close();
      silent.close();
    }
  });

  it("drops the server's version from a message, 19.x-21.x's nested one included", () => {
    const legacy = toEngineError(new Error("Code: 60, e.displayText() = DB::Exception: Table default.x doesn't exist (version 20.3.5.21 (official build))"));
    expect(legacy.code).toBe(60);
    expect(legacy.message).toBe("Table default.x doesn't exist");
    expect(toEngineError(new Error('Table default.x does not exist. (UNKNOWN_TABLE) (version 24.8.4.13 (official build))')).message).toBe('Table default.x does not exist. (UNKNOWN_TABLE)');
  });

  it('a wrong query: 400 with the server\'s message', async () => {
    const answer = await failure(() => ch.engine.queryText('SELECT nosuchcolumn FROM system.one', 'JSON'));
    expect(answer.status).toBe(400);
    expect(answer.message).toMatch(/nosuchcolumn/);
  });
});
