// Minimal Engine over chDB (@clickhouse/client + chdb/connection) for the ingest tests, until tests use
// the real engine module. One chDB process per data directory: use a fresh temp dir per test file.
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { resolve } from 'node:path';
import type { Capabilities, Engine, QueryOptions, Settings } from '../../cli/src/engine/types.js';
import { SINGLE_NODE } from '../../cli/src/engine/placement.js';

const CAPS: Capabilities = {
  insertDeduplicationToken: true,
  queryParameters: true,
  exchangeTables: true,
  dateTime64: true,
  ttl: true,
  lowCardinality: true,
  readonlySetting: true,
  sharedCtes: true,
  parquetOutput: true,
  parquetInput: true,
};

function settingsClause(s: Settings | undefined): string {
  const entries = Object.entries(s ?? {});
  if (!entries.length) return '';
  return 'SETTINGS ' + entries.map(([k, v]) => `${k} = ${typeof v === 'string' ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : Number(v)}`).join(', ');
}

export class ChdbTestEngine implements Engine {
  readonly kind = 'embedded' as const;
  readonly database = 'default';
  readonly version = { major: 26, minor: 7, patch: 0, text: '26.7' };
  readonly caps: Capabilities;
  readonly placement = SINGLE_NODE;
  readonly description: string;
  /** Counts insertNdjsonFile calls; tests use it to see how many inserts a segment took. */
  fileInserts = 0;
  /** When set, insertNdjsonFile fails with this error (simulates ClickHouse being down). */
  failInserts?: Error;
  /** Called before each insertNdjsonLines; what it throws fails that insert (ClickHouse going away part-way through). */
  beforeInsertLines?: (table: string, lines: readonly string[]) => void;
  private readonly client: ClickHouseClient;

  constructor(readonly path: string, caps: Partial<Capabilities> = {}) {
    this.caps = { ...CAPS, ...caps };
    this.description = `embedded:${path}`;
    this.client = createClient({ connection: createChdbConnection({ path }) } as never);
  }

  async queryText(sql: string, format: string, opts: QueryOptions = {}): Promise<string> {
    const rs = await this.client.query({ query: sql, format: format as 'JSON', clickhouse_settings: opts.settings as never });
    return rs.text();
  }
  async queryBytes(sql: string, format: string, opts: QueryOptions = {}): Promise<Buffer> {
    const { stream } = await this.client.exec({ query: `${sql}\nFORMAT ${format}`, clickhouse_settings: opts.settings as never });
    return Buffer.concat(await stream.toArray());
  }
  async queryRows<T = Record<string, unknown>>(sql: string, opts: QueryOptions = {}): Promise<T[]> {
    const text = await this.queryText(sql, 'JSONEachRow', opts);
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
  }
  async command(sql: string, opts: QueryOptions = {}): Promise<void> {
    await this.client.command({ query: sql, clickhouse_settings: opts.settings as never });
  }
  async insertRows(table: string, rows: readonly object[], opts: QueryOptions = {}): Promise<void> {
    await this.client.insert({ table, values: rows as object[], format: 'JSONEachRow', clickhouse_settings: opts.settings as never });
  }
  async insertNdjsonLines(table: string, lines: readonly string[], opts: QueryOptions = {}): Promise<void> {
    this.beforeInsertLines?.(table, lines);
    if (lines.length) await this.command(`INSERT INTO ${table} ${settingsClause(opts.settings)} FORMAT JSONEachRow\n${lines.join('\n')}\n`);
  }
  async insertNdjsonFile(table: string, path: string, opts: QueryOptions & { dedupToken?: string } = {}): Promise<void> {
    this.fileInserts++;
    if (this.failInserts) throw this.failInserts;
    const settings: Settings = { ...opts.settings };
    if (opts.dedupToken) settings.insert_deduplication_token = opts.dedupToken;
    // chDB's file() resolves relative paths against user_files; an absolute path is read as is.
    const abs = resolve(path).replace(/\\/g, '\\\\').replace(/'/g, "\\'");
    await this.command(`INSERT INTO ${table} ${settingsClause(settings)} SELECT * FROM file('${abs}', JSONEachRow)`);
  }
  async close(): Promise<void> {
    await this.client.close();
  }
}
