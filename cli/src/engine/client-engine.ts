// The Engine implementation shared by both targets: everything goes through @clickhouse/client, over chDB's
// in-process connection or over HTTP. Subclasses only say how settings travel and how files are bulk-loaded.
import { quoteString } from '../sql/quote.js';
import type { ClickHouseClient } from '@clickhouse/client';
import { compatQuerySettings } from './capabilities.js';
import { ResultTooLargeError, toEngineError } from './errors.js';
import type { Capabilities, Engine, QueryOptions, ServerVersion, Settings } from './types.js';
import { SINGLE_NODE, type Placement } from './placement.js';

/** Output settings both engines use, so that the HTTP API answers alike whichever ClickHouse runs behind it. */
export const OUTPUT_SETTINGS: Settings = {
  output_format_json_quote_64bit_integers: 0,
  output_format_json_quote_denormals: 0,
};

export abstract class ClientEngine implements Engine {
  abstract readonly kind: 'embedded' | 'server';
  abstract readonly description: string;
  version!: ServerVersion;
  caps!: Capabilities;
  placement: Placement = SINGLE_NODE;

  constructor(
    protected readonly client: ClickHouseClient,
    readonly database: string,
  ) {}

  /** How per-query settings reach ClickHouse: returns the SQL to send and the settings for the client. */
  protected abstract withSettings(sql: string, settings: Settings | undefined): { sql: string; settings?: Settings };

  /** Settings every read (queryText, queryBytes, queryRows) carries, under the caller's. */
  protected readonly readSettings: Settings = {};

  abstract insertNdjsonFile(table: string, path: string, opts?: QueryOptions & { dedupToken?: string }): Promise<void>;

  abstract insertNdjsonLines(table: string, lines: readonly string[], opts?: QueryOptions): Promise<void>;

  /**
   * Every statement reaches a client through here, with the client's errors turned into EngineErrors. An engine
   * that must order statements, clean up after a failed one, or pick one of several clients (from `opts`)
   * overrides this one method. `sql`: given for a statement that may run for minutes with nothing to send back
   * (DDL, INSERT ... SELECT), not for a read or an insert of rows.
   */
  protected async statement<T>(run: (client: ClickHouseClient) => Promise<T>, _opts?: QueryOptions, _sql?: string): Promise<T> {
    try {
      return await run(this.client);
    } catch (err) {
      throw toEngineError(err);
    }
  }

  private compat: { version: ServerVersion; settings: Settings } | undefined;

  /**
   * A statement's settings: the compatibility settings this server knows (compatQuerySettings: what Tinybird's
   * servers accept, such as a JOIN of an unaliased subquery), then the caller's, which win.
   */
  protected statementSettings(settings: Settings | undefined): Settings | undefined {
    if (!this.version) return settings;
    if (this.compat?.version !== this.version) this.compat = { version: this.version, settings: compatQuerySettings(this.version) };
    return Object.keys(this.compat.settings).length ? { ...this.compat.settings, ...settings } : settings;
  }

  async queryText(sql: string, format: string, opts: QueryOptions = {}): Promise<string> {
    // A capped answer is read as bytes, so that its length is known before it becomes one string.
    if (opts.maxBytes !== undefined) return (await this.queryBytes(sql, format, opts)).toString('utf8');
    return this.read(sql, opts, async (client, prepared) => {
      const rs = await client.query({
        query: prepared.sql,
        format: format as 'JSON',
        clickhouse_settings: prepared.settings as never,
        query_params: opts.queryParams,
        query_id: opts.queryId,
        abort_signal: opts.signal,
      });
      return rs.text();
    });
  }

  async queryBytes(sql: string, format: string, opts: QueryOptions = {}): Promise<Buffer> {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(format)) throw new Error(`invalid output format name ${JSON.stringify(format)}`);
    return this.read(sql, opts, async (client, prepared) => {
      // exec hands the body over as it came; query() would decode it as UTF-8 text.
      const { stream } = await client.exec({
        query: `${stripTrailingSemicolon(prepared.sql)}\nFORMAT ${format}`,
        clickhouse_settings: prepared.settings as never,
        query_params: opts.queryParams,
        query_id: opts.queryId,
        abort_signal: opts.signal,
      });
      const chunks: Uint8Array[] = [];
      let length = 0;
      for await (const chunk of stream) {
        chunks.push(chunk as Uint8Array);
        length += (chunk as Uint8Array).length;
        if (opts.maxBytes !== undefined && length > opts.maxBytes) {
          stream.destroy(); // the server stops sending; the rest is never held
          throw new ResultTooLargeError(opts.maxBytes);
        }
      }
      // A buffer of its own: a small one from Buffer.concat would hold on to a slot of Node's shared 8 KiB pool,
      // which a cache that counts the answer's bytes would not see.
      const out = Buffer.allocUnsafeSlow(length);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    });
  }

  /** A read: the caller's SQL with the read settings (this engine's, the compatibility ones, the caller's). */
  protected read<T>(sql: string, opts: QueryOptions, run: (client: ClickHouseClient, prepared: { sql: string; settings?: Settings }) => Promise<T>): Promise<T> {
    const prepared = this.withSettings(sql, this.statementSettings({ ...this.readSettings, ...opts.settings }));
    return this.statement((client) => run(client, prepared), opts);
  }

  async queryRows<T = Record<string, unknown>>(sql: string, opts: QueryOptions = {}): Promise<T[]> {
    const text = await this.queryText(sql, 'JSONEachRow', opts);
    const rows: T[] = [];
    for (const line of text.split('\n')) if (line) rows.push(JSON.parse(line) as T);
    return rows;
  }

  async command(sql: string, opts: QueryOptions = {}): Promise<void> {
    // Only statements that carry settings (INSERT ... SELECT of copies and backfills) get the compatibility
    // ones: DDL takes no SETTINGS clause where the embedded engine puts it.
    const withOwn = opts.settings && Object.keys(opts.settings).length > 0;
    const prepared = this.withSettings(sql, withOwn ? this.statementSettings(opts.settings) : opts.settings);
    await this.statement(
      (client) =>
        client.command({
          query: prepared.sql,
          clickhouse_settings: prepared.settings as never,
          query_params: opts.queryParams,
          query_id: opts.queryId,
          abort_signal: opts.signal,
        }),
      opts,
      prepared.sql,
    );
  }

  /** Settings every insert carries (a cluster's: server.ts). */
  protected insertSettings(): Settings {
    return {};
  }

  async insertRows(table: string, rows: readonly object[], opts: QueryOptions = {}): Promise<void> {
    if (rows.length === 0) return;
    await this.statement(
      (client) =>
        client.insert({
          table,
          values: rows as object[],
          format: 'JSONEachRow',
          clickhouse_settings: { ...this.insertSettings(), ...opts.settings } as never,
          query_id: opts.queryId,
        }),
      opts,
    );
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** Renders settings as a `SETTINGS a = 1, b = 'x'` clause (names are checked: they come from our code, never from requests). */
export function settingsClause(settings: Settings): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid setting name ${JSON.stringify(k)}`);
    const value = typeof v === 'number' ? String(v) : typeof v === 'boolean' ? (v ? '1' : '0') : quoteString(String(v));
    parts.push(`${k} = ${value}`);
  }
  return parts.length ? `SETTINGS ${parts.join(', ')}` : '';
}

export function stripTrailingSemicolon(sql: string): string {
  return sql.replace(/;\s*$/, '');
}
