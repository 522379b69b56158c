// The embedded engine on chDB: a failed query's partial output never reaches the next query (chDB keeps it and
// would hand it to whoever queries next, across tokens and requests).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedEngine } from '../../cli/src/engine/embedded.js';

describe('EmbeddedEngine', () => {
  let dir: string;
  let engine: EmbeddedEngine;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-embedded-'));
    engine = await EmbeddedEngine.open(path.join(dir, 'data'));
  });
  afterAll(async () => {
    await engine?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the next query with its own rows only, after queries that failed part-way', async () => {
    const failures = [
      () => engine.queryText('SELECT number, toString(number) AS s FROM numbers(5000000)', 'JSON', { settings: { max_result_rows: 1_000_000, result_overflow_mode: 'throw' } }),
      () => engine.queryText('SELECT number, throwIf(number = 300000) AS t FROM numbers(1000000)', 'JSONEachRow'),
      () => engine.queryRows('SELECT number, throwIf(number = 200000) AS t FROM numbers(1000000)'),
    ];
    for (const [i, fail] of failures.entries()) {
      await expect(fail()).rejects.toThrow(/Limit for result exceeded|throwIf/);
      const answer = await engine.queryText(`SELECT ${i} AS answer`, 'JSONEachRow');
      expect(answer.length, 'bytes in the answer (rows of the failed query leaked into it)').toBeLessThan(100);
      expect(answer).toBe(`{"answer":${i}}\n`);
    }
  });

  it('keeps that promise when the failing query and the next one are sent together', async () => {
    const failing = engine.queryText('SELECT number, throwIf(number = 300000) AS t FROM numbers(1000000)', 'JSONEachRow');
    const next = engine.queryText('SELECT 7 AS answer', 'JSONEachRow');
    await expect(failing).rejects.toThrow(/throwIf/);
    const answer = await next;
    expect(answer.length, 'bytes in the answer (rows of the failed query leaked into it)').toBeLessThan(100);
    expect(answer).toBe('{"answer":7}\n');
  });
});
