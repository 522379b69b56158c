// Output formats on the real engines: which servers may be asked for Parquet, the Parquet settings pinned where a
// server has them (chDB has all; ClickHouse 18.16 none, so a request naming one is refused there), and the file
// name a binary answer is saved under.
import { describe, expect, it } from 'vitest';
import { attachmentHeaders, checkOutputFormat, formatSettings } from '../../cli/src/server/output-formats.js';
import { HttpError } from '../../cli/src/server/http.js';
import { useClickHouseServer } from '../helpers/clickhouse-server.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';

describe('on chDB', () => {
  const chdb = useEmbeddedEngine('output-formats');

  it('writes Parquet, with every pinned setting, and lets a request choose how strings are written', async () => {
    expect(() => checkOutputFormat(chdb.engine, 'Parquet')).not.toThrow();
    expect(await formatSettings(chdb.engine, 'Parquet', {})).toEqual({
      output_format_parquet_string_as_string: 1,
      output_format_parquet_compression_method: 'zstd',
      output_format_parquet_datetime_as_uint32: 0,
      output_format_parquet_date_as_uint16: 0,
    });
    await expect(formatSettings(chdb.engine, 'Parquet', { output_format_parquet_string_as_string: 0 })).resolves.toHaveProperty('output_format_parquet_compression_method', 'zstd');
    expect(await formatSettings(chdb.engine, 'JSON', { output_format_json_quote_64bit_integers: 1 })).toEqual({});
  });
});

describe('on ClickHouse 18.16', () => {
  const ch = useClickHouseServer();

  it('refuses Parquet, and a Parquet setting the server does not have, saying what to do', async () => {
    expect(() => checkOutputFormat(ch.engine, 'Parquet')).toThrow(/^Parquet output requires ClickHouse 19\.4 or newer; the server runs 18\.16/);
    expect(() => checkOutputFormat(ch.engine, 'CSVWithNames')).not.toThrow();
    // Past the version check (as on a 19.4-22.x server, which lacks these settings too): nothing pinned.
    expect(await formatSettings(ch.engine, 'Parquet', { max_threads: 1 })).toEqual({});
    const refused = await formatSettings(ch.engine, 'Parquet', { output_format_parquet_string_as_string: 0 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HttpError);
    expect((refused as HttpError).status).toBe(400);
    expect((refused as HttpError).message).toBe(
      'output_format_parquet_string_as_string is not a setting of this server (ClickHouse 18.16.1), which writes its own default: leave the parameter out',
    );
  });
});

it('names a binary answer after its pipe, with nothing a header could be broken by', () => {
  expect(attachmentHeaders('Parquet', 'campaign_stats')).toEqual({ 'content-disposition': 'attachment; filename="campaign_stats.parquet"' });
  expect(attachmentHeaders('Parquet', 'a"b\r\nc')).toEqual({ 'content-disposition': 'attachment; filename="a_b__c.parquet"' });
  expect(attachmentHeaders('JSON', 'campaign_stats')).toEqual({});
});
