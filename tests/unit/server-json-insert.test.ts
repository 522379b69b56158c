// Rows written for ClickHouse leave out the fields they do not have (ingest/plan.ts), so that the server computes
// those columns' DEFAULT expressions, and the rows of one write-ahead-log segment or fixture need not leave out the
// same ones. The server engine used to name the first row's fields as the INSERT's columns: a later row's other
// field then failed the insert on 18.16, and a current server (26.x: input_format_skip_unknown_fields is 1 by
// default) would drop it without a word. Against a private 18.16, which calls the DEFAULTs setting
// insert_sample_with_metadata.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useClickHouseServer } from '../helpers/clickhouse-server.js';

describe('JSONEachRow inserts into a ClickHouse server', () => {
  const ch = useClickHouseServer();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-json-insert-'));
  const rows = async (table: string) => ch.engine.queryRows<{ id: number; kind: string; note: string; label: string }>(`SELECT id, kind, note, label FROM ${table} ORDER BY id`);
  const create = (table: string) =>
    ch.engine.command(`CREATE TABLE ${table} (id UInt32, kind String, note String, label String DEFAULT concat('kind-', kind)) ENGINE = MergeTree ORDER BY id`);

  it('a file whose rows carry different fields: every given value is stored, every left-out one gets its DEFAULT', async () => {
    await create('from_file');
    const file = path.join(dir, 'mixed.ndjson');
    writeFileSync(file, ['{"id":1,"kind":"open"}', '{"id":2,"kind":"click","note":"n2","label":"given"}', '{"id":3,"kind":"bounce","note":"n3"}', ''].join('\n'));
    await ch.engine.insertNdjsonFile('from_file', file);
    expect(await rows('from_file')).toEqual([
      { id: 1, kind: 'open', note: '', label: 'kind-open' },
      { id: 2, kind: 'click', note: 'n2', label: 'given' },
      { id: 3, kind: 'bounce', note: 'n3', label: 'kind-bounce' },
    ]);
  });

  it('rows inserted one range at a time (a rejected segment split to find its bad rows) get their DEFAULTs too', async () => {
    await create('from_rows');
    await ch.engine.insertRows('from_rows', [{ id: 1, kind: 'open' }, { id: 2, kind: 'click', label: 'given' }]);
    expect(await rows('from_rows')).toEqual([
      { id: 1, kind: 'open', note: '', label: 'kind-open' },
      { id: 2, kind: 'click', note: '', label: 'given' },
    ]);
    await create('from_lines');
    await ch.engine.insertNdjsonLines('from_lines', ['{"id":1,"kind":"open"}', '{"id":2,"kind":"click","note":"n2","label":"given"}']);
    expect(await rows('from_lines')).toEqual([
      { id: 1, kind: 'open', note: '', label: 'kind-open' },
      { id: 2, kind: 'click', note: 'n2', label: 'given' },
    ]);
  });

  it('lines keep every digit of their numbers: a Decimal(38, 10) and an integer past 2^53', async () => {
    await ch.engine.command('CREATE TABLE digits (id UInt64, d Decimal(38, 10)) ENGINE = MergeTree ORDER BY id');
    await ch.engine.insertNdjsonLines('digits', ['{"id":"18446744073709551615","d":12345678901234567890.1234567891}']);
    expect(await ch.engine.queryRows('SELECT toString(id) AS id, toString(d) AS d FROM digits')).toEqual([{ id: '18446744073709551615', d: '12345678901234567890.1234567891' }]);
  });
});
