// A read on a ClickHouse server that fails after its first rows have been produced must fail, not return the rows
// sent so far with the exception appended (18.16 sends 200 and streams; the client's text() does not look for
// an exception in the body). ServerEngine asks the server to hold answers until the query ends.
import { expect, it } from 'vitest';
import { EngineError, ResultTooLargeError } from '../../cli/src/engine/errors.js';
import { useClickHouseServer } from '../helpers/clickhouse-server.js';

const ch = useClickHouseServer();
// 400,000 rows of JSON are ~10 MB: far past the server's send buffer when row 300,000 throws.
const FAILS_LATE = 'SELECT number, throwIf(number = 300000) AS x FROM system.numbers LIMIT 400000';

it('rejects a read whose query fails after ~10 MB of rows, for every output format', async () => {
  for (const format of ['JSON', 'JSONEachRow', 'CSVWithNames']) {
    const outcome = await ch.engine.queryText(FAILS_LATE, format).then(
      (text) => `returned ${text.length} characters ending ${JSON.stringify(text.slice(-120))}`,
      (err: unknown) => err,
    );
    expect(outcome, format).toBeInstanceOf(EngineError);
    expect((outcome as EngineError).message).toMatch(/throwIf|non zero/);
  }
});

it('keeps that promise for a capped read (maxBytes, as endpoints ask), and stops one past its cap', async () => {
  for (const format of ['JSON', 'CSVWithNames']) {
    const outcome = await ch.engine.queryText(FAILS_LATE, format, { maxBytes: 1024 ** 3 }).then((text) => `returned ${text.length} characters`, (err: unknown) => err);
    expect(outcome, format).toBeInstanceOf(EngineError);
    expect((outcome as EngineError).message).toMatch(/throwIf|non zero/);
  }
  // A JSON row repeats its column names: 1,000 rows of one byte each make ~2 MB here.
  const wide = `SELECT 0 AS ${'a'.repeat(2000)} FROM numbers(1000)`;
  const stopped = await ch.engine.queryText(wide, 'JSON', { maxBytes: 100_000 }).then(() => 'answered', (err: unknown) => err);
  expect(stopped).toBeInstanceOf(ResultTooLargeError);
  expect((stopped as Error).message).toBe('the answer is larger than 100000 bytes: ask for fewer rows or columns (a LIMIT, a narrower SELECT, or pages with LIMIT ... OFFSET)');
  expect(await ch.engine.queryText('SELECT number FROM numbers(3)', 'CSV', { maxBytes: 100 })).toBe(await ch.engine.queryText('SELECT number FROM numbers(3)', 'CSV'));
});

it('rejects a read cut off by the result limit mid-way, as endpoints set it', async () => {
  const outcome = await ch.engine.queryText('SELECT number FROM system.numbers LIMIT 2000000', 'JSON', { settings: { max_result_rows: 1_000_000, result_overflow_mode: 'throw' } }).then(
    (text) => `returned ${text.length} characters`,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(EngineError);
  expect((outcome as EngineError).message).toMatch(/Limit for result exceeded|TOO_MANY_ROWS/i);
});

it('answers a binary format over HTTP as its bytes, and rejects one that fails after ~10 MB', async () => {
  // 18.16 writes no Parquet: RowBinary takes the same path (Engine.queryBytes, the client's exec).
  const bytes = await ch.engine.queryBytes('SELECT toUInt32(number) AS n FROM numbers(3)', 'RowBinary');
  expect([...bytes]).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
  const late = 'SELECT number, throwIf(number = 1000000) AS x FROM system.numbers LIMIT 1200000';
  const outcome = await ch.engine.queryBytes(late, 'RowBinary').then((b) => `returned ${b.length} bytes`, (err: unknown) => err);
  expect(outcome).toBeInstanceOf(EngineError);
  expect((outcome as EngineError).message).toMatch(/throwIf|non zero/);
});

it('still answers reads that succeed, and queryRows with them', async () => {
  const rows = await ch.engine.queryRows<{ n: number | string }>('SELECT count() AS n FROM numbers(300000)');
  expect(rows.map((r) => Number(r.n))).toEqual([300000]);
  expect((await ch.engine.queryText('SELECT number FROM numbers(3)', 'CSVWithNames')).trim()).toBe('"number"\n0\n1\n2');
});
