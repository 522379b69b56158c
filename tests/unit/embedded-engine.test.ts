// The embedded engine on chDB: a failed query's partial output never reaches the next query (chDB keeps it and
// would hand it to whoever queries next, across tokens and requests).
import { describe, expect, it } from 'vitest';
import { useEmbeddedEngine } from '../helpers/embedded.js';

describe('EmbeddedEngine', () => {
  const chdb = useEmbeddedEngine('embedded');

  it('answers the next query with its own rows only, after queries that failed part-way', async () => {
    const failures = [
      () => chdb.engine.queryText('SELECT number, toString(number) AS s FROM numbers(5000000)', 'JSON', { settings: { max_result_rows: 1_000_000, result_overflow_mode: 'throw' } }),
      () => chdb.engine.queryText('SELECT number, throwIf(number = 300000) AS t FROM numbers(1000000)', 'JSONEachRow'),
      () => chdb.engine.queryRows('SELECT number, throwIf(number = 200000) AS t FROM numbers(1000000)'),
    ];
    for (const [i, fail] of failures.entries()) {
      await expect(fail()).rejects.toThrow(/Limit for result exceeded|throwIf/);
      const answer = await chdb.engine.queryText(`SELECT ${i} AS answer`, 'JSONEachRow');
      expect(answer.length, 'bytes in the answer (rows of the failed query leaked into it)').toBeLessThan(100);
      expect(answer).toBe(`{"answer":${i}}\n`);
    }
  });

  it('keeps that promise when the failing query and the next one are sent together', async () => {
    const failing = chdb.engine.queryText('SELECT number, throwIf(number = 300000) AS t FROM numbers(1000000)', 'JSONEachRow');
    const next = chdb.engine.queryText('SELECT 7 AS answer', 'JSONEachRow');
    await expect(failing).rejects.toThrow(/throwIf/);
    const answer = await next;
    expect(answer.length, 'bytes in the answer (rows of the failed query leaked into it)').toBeLessThan(100);
    expect(answer).toBe('{"answer":7}\n');
  });

  it('keeps that promise across tokens whose reads run at the same time on several connections', async () => {
    // Read lanes are separate chDB connections running at once; a failed query's leftover stays on its own lane.
    const tokens = ['a', 'b', 'c', 'd'];
    const answers = await Promise.all(
      tokens.flatMap((token, t) =>
        Array.from({ length: 6 }, async (_, i) => {
          const opts = { fairShareKey: token };
          if (i % 2 === 0) {
            await expect(chdb.engine.queryText(`SELECT number, throwIf(number = ${200000 + t * 1000 + i}) AS t FROM numbers(1000000)`, 'JSONEachRow', opts)).rejects.toThrow(/throwIf/);
          }
          return [`{"answer":"${token}${i}"}\n`, await chdb.engine.queryText(`SELECT '${token}${i}' AS answer`, 'JSONEachRow', opts)];
        }),
      ),
    );
    for (const [expected, got] of answers) {
      expect(got.length, 'bytes in the answer (rows of a failed query leaked into it)').toBeLessThan(100);
      expect(got).toBe(expected);
    }
  });
});
