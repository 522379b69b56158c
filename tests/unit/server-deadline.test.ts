// How long the server engine waits for ClickHouse's answer. A statement with a max_execution_time of its own (an
// endpoint's --query-timeout, a copy pipe's hour) waits that long plus 30 s, so that the server gives up first and
// says why; one without waits the engine's default (60 s; 1 s here), so that a lease renewal never hangs past its
// lease. Before, every statement gave up at the client's 60 s: a copy running longer on the server failed at 60 s
// while its INSERT went on, and an endpoint with --query-timeout 90 answered 503 "not reachable" at 60 s.
// Against a private 18.16.
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../cli/src/engine/errors.js';
import { ServerEngine } from '../../cli/src/engine/server.js';
import { useClickHouseServer } from '../helpers/clickhouse-server.js';

describe('the server engine waits for an answer as long as the statement may run', () => {
  const ch = useClickHouseServer();

  it('past its max_execution_time plus 30 s, not the engine default', async () => {
    const engine = await ServerEngine.open({ url: ch.server.url, requestTimeoutMs: 1000 });
    try {
      // sleep(2) takes 2 s: past the 1 s default, well inside 5 s + 30 s.
      expect(await engine.queryRows<{ s: number }>('SELECT sleep(2) AS s', { settings: { max_execution_time: 5 } })).toEqual([{ s: 0 }]);
      await engine.command('SELECT sleep(2)', { settings: { max_execution_time: 5 } });

      const err = await engine.queryRows('SELECT sleep(2) AS s').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).isTimeout).toBe(true);
      expect((err as EngineError).message).toBe(
        'no answer from ClickHouse within 1 s (a statement without a max_execution_time of its own); the statement may still be running there',
      );
      // The caller's own signal still cancels at once, and says so as before.
      const controller = new AbortController();
      const cancelled = engine.queryRows('SELECT sleep(2) AS s', { settings: { max_execution_time: 5 }, signal: controller.signal });
      controller.abort();
      await expect(cancelled).rejects.not.toThrow(/no answer from ClickHouse/);
    } finally {
      await engine.close();
    }
  }, 30_000);
});
