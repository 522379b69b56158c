// The embedded engine on chDB: a failed query's partial output never reaches the next query (chDB keeps it and
// would hand it to whoever queries next, across tokens and requests), and one statement's settings never reach the next.
import { describe, expect, it } from 'vitest';
import { useEmbeddedEngine } from '../helpers/embedded.js';

describe('EmbeddedEngine', () => {
  const chdb = useEmbeddedEngine('embedded');

  it("quotes the user's SQL in an error without the settings clause it appended, fractional and string values included", async () => {
    const settings = { max_execution_time: 2.5, result_overflow_mode: 'throw', readonly: 2, max_memory_usage: 2 * 1024 ** 3 };
    await expect(chdb.engine.queryText('SELECT nosuchfn(1)', 'JSON', { settings })).rejects.toThrow(/^Function with name `nosuchfn` does not exist\. In scope SELECT nosuchfn\(1\)\.$/);
    await expect(chdb.engine.queryText("SELECT x FROM system.one WHERE 'a.b' = 'a.b'", 'JSON', { settings: { ...settings, log_comment: "it's 1.5" } })).rejects.toThrow(
      /^Unknown expression identifier `x` in scope SELECT x FROM system\.one WHERE 'a\.b' = 'a\.b'\.$/,
    );
  });

  it('answers a binary format as the bytes it wrote, and quotes SQL in its errors as queryText does', async () => {
    const bytes = await chdb.engine.queryBytes('SELECT toUInt32(number) AS n FROM numbers(3)', 'RowBinary', { settings: { readonly: 2 } });
    expect([...bytes]).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
    const parquet = await chdb.engine.queryBytes("SELECT 'é\\x00' AS s, 255 AS b", 'Parquet');
    expect([parquet.subarray(0, 4).toString(), parquet.subarray(-4).toString()]).toEqual(['PAR1', 'PAR1']);
    // Read back by the engine from the bytes: nothing was decoded as text on the way (é and a NUL byte survive).
    const back = await chdb.engine.queryRows(`SELECT hex(s) AS s, b FROM format(Parquet, '${[...parquet].map((x) => '\\x' + x.toString(16).padStart(2, '0')).join('')}')`);
    expect(back).toEqual([{ s: 'C3A900', b: 255 }]);
    await expect(chdb.engine.queryBytes('SELECT nosuchfn(1)', 'Parquet', { settings: { readonly: 2, max_execution_time: 2.5 } })).rejects.toThrow(/^Function with name `nosuchfn` does not exist\. In scope SELECT nosuchfn\(1\)\.$/);
    await expect(chdb.engine.queryBytes('SELECT 1', 'Parquet; DROP TABLE x')).rejects.toThrow('invalid output format name');
  });

  it('stops reading an answer past maxBytes, which rows alone do not bound (JSON repeats the column names)', async () => {
    const wide = `SELECT 0 AS ${'a'.repeat(2000)} FROM numbers(1000)`;
    await expect(chdb.engine.queryText(wide, 'JSON', { maxBytes: 100_000 })).rejects.toThrow(/^the answer is larger than 100000 bytes: ask for fewer rows or columns/);
    await expect(chdb.engine.queryBytes(wide, 'JSONEachRow', { maxBytes: 100_000 })).rejects.toThrow(/^the answer is larger than 100000 bytes/);
    const exact = await chdb.engine.queryText('SELECT number, toString(number) AS s FROM numbers(5)', 'JSONEachRow', { maxBytes: 10_000 });
    expect(exact).toBe(await chdb.engine.queryText('SELECT number, toString(number) AS s FROM numbers(5)', 'JSONEachRow'));
  });

  it('inserts JSONEachRow lines with every digit of their numbers', async () => {
    await chdb.engine.command('CREATE TABLE digits (id UInt64, d Decimal(38, 10)) ENGINE = MergeTree ORDER BY id');
    await chdb.engine.insertNdjsonLines('digits', ['{"id":18446744073709551615,"d":12345678901234567890.1234567891}', '{"id":1,"d":0.0000000001}']);
    expect(await chdb.engine.queryRows('SELECT toString(id) AS id, toString(d) AS d FROM digits ORDER BY id')).toEqual([
      { id: '1', d: '0.0000000001' },
      { id: '18446744073709551615', d: '12345678901234567890.1234567891' },
    ]);
  });

  it('answers the next query with its own rows only, after queries that failed part-way', async () => {
    const failures = [
      () => chdb.engine.queryText('SELECT number, toString(number) AS s FROM numbers(5000000)', 'JSON', { settings: { max_result_rows: 1_000_000, result_overflow_mode: 'throw' } }),
      () => chdb.engine.queryText('SELECT number, throwIf(number = 300000) AS t FROM numbers(1000000)', 'JSONEachRow'),
      () => chdb.engine.queryRows('SELECT number, throwIf(number = 200000) AS t FROM numbers(1000000)'),
      () => chdb.engine.queryBytes('SELECT number, throwIf(number = 300000) AS t FROM numbers(1000000)', 'Parquet'),
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

  it("keeps an insert's dedup token to that insert: later inserts on the same connection are not dropped as repeats", async () => {
    const e = chdb.engine;
    await e.command('CREATE TABLE dedup_src (id UInt64) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100');
    await e.command('CREATE TABLE dedup_copy (id UInt64) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100');
    // As the WAL's split path inserts a sub-range, then as later statements on the internal connection run.
    await e.insertRows('dedup_src', [{ id: 1 }], { settings: { insert_deduplication_token: 'segment:0-1' } });
    await e.insertRows('dedup_src', [{ id: 2 }]);
    await e.insertRows('dedup_src', [{ id: 3 }]);
    // A copy pipe run twice: two INSERT ... SELECT of different rows.
    await e.command('INSERT INTO dedup_copy SELECT id FROM dedup_src WHERE id = 1');
    await e.command('INSERT INTO dedup_copy SELECT id FROM dedup_src WHERE id = 2');
    expect(await e.queryRows('SELECT id FROM dedup_src ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(await e.queryRows('SELECT id FROM dedup_copy ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }]);
    // The token still works for the insert that carries it: a repeat of that insert is dropped.
    await e.insertRows('dedup_src', [{ id: 1 }], { settings: { insert_deduplication_token: 'segment:0-1' } });
    expect(await e.queryRows('SELECT count() AS c FROM dedup_src')).toEqual([{ c: 3 }]);
  });
});
