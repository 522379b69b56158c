// The embedded engine: chDB (ClickHouse in-process) through @clickhouse/client. One process owns a data
// directory at a time (chDB locks it), so `dev` owns it and other commands talk to `dev` while it runs.
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { capabilitiesFor, parseVersion } from './capabilities.js';
import { ClientEngine, OUTPUT_SETTINGS, settingsClause } from './client-engine.js';
import { EngineError, toEngineError } from './errors.js';
import { quoteIdent, quoteString } from '../sql/quote.js';
import type { QueryOptions, Settings } from './types.js';

export class EmbeddedEngine extends ClientEngine {
  readonly kind = 'embedded' as const;
  readonly description: string;

  private constructor(
    client: ReturnType<typeof createClient>,
    readonly dataDir: string,
  ) {
    super(client, 'default');
    this.description = `embedded chDB at ${dataDir}`;
  }

  static async open(dataDir: string): Promise<EmbeddedEngine> {
    const dir = path.resolve(dataDir);
    mkdirSync(dir, { recursive: true });
    // Loaded here, not at module load: the library is ~150 MB of RSS and 0.1 s that commands which never open
    // the embedded engine (check, render, mock, token ...) should not pay.
    const { createChdbConnection } = await import('chdb/connection');
    let connection;
    try {
      connection = createChdbConnection({ path: dir });
    } catch (err) {
      const msg = String((err as Error).message ?? err);
      if (/Cannot lock file|already running/i.test(msg)) {
        throw new EngineError(
          `the embedded engine's data directory ${dir} is in use by another emailstats process (chDB allows one process per directory). ` +
            'Stop that process (for example a running `emailstats dev`), or point this command at it.',
        );
      }
      throw toEngineError(err);
    }
    // chdb ships its own copy of the client-common types; the runtime contract is the same.
    const engine = new EmbeddedEngine(createClient({ connection: connection as never, log: { level: ClickHouseLogLevel.OFF } }), dir);
    const [row] = await engine.queryRows<{ v: string }>('SELECT version() AS v');
    engine.version = parseVersion(row.v);
    engine.caps = capabilitiesFor(engine.version);
    return engine;
  }

  private queue: Promise<unknown> = Promise.resolve();

  /**
   * chDB keeps the output a failed query had already produced and hands it out at the front of the next query's
   * result (chDB 26.7: a query cut off by max_result_rows, then `SELECT 42` answered 40 MB of the first query's
   * rows). Across HTTP requests that would give one token's rows to another. So statements run one at a time (chDB
   * runs them one at a time anyway), and after a failure a throw-away query takes the leftover before the next one.
   */
  protected override statement<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.then(async () => {
      try {
        return await super.statement(run);
      } catch (err) {
        await this.client
          .query({ query: "SELECT 'discarding what a failed query left behind'", format: 'TabSeparated' })
          .then((rs) => rs.text())
          .catch(() => undefined);
        throw err;
      }
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  // chDB's connection turns client settings into session-wide SET statements, which would leak (readonly=1 on
  // one query would forbid the next DDL). A SETTINGS clause scopes them to the one query.
  protected withSettings(sql: string, settings: Settings | undefined): { sql: string } {
    const clause = settingsClause({ ...OUTPUT_SETTINGS, ...settings });
    return { sql: `${stripTrailingSemicolon(sql)}\n${clause}` };
  }

  override async queryText(sql: string, format: string, opts: QueryOptions = {}): Promise<string> {
    try {
      return await super.queryText(sql, format, opts);
    } catch (err) {
      // ClickHouse quotes the failing query; drop the settings clause we appended so the user sees their SQL.
      const e = err as EngineError;
      throw new EngineError(e.message.replace(/\s*SETTINGS output_format_json_quote_64bit_integers = 0[^.]*/, ''), e.code, e.type);
    }
  }

  override async command(sql: string, opts: QueryOptions = {}): Promise<void> {
    // DDL takes no SETTINGS clause in the same position as SELECT; only pass what the caller asked for.
    if (!opts.settings || Object.keys(opts.settings).length === 0) {
      await this.statement(() => this.client.command({ query: sql, query_params: opts.queryParams }));
      return;
    }
    return super.command(sql, opts);
  }

  async insertNdjsonFile(table: string, file: string, opts: QueryOptions & { dedupToken?: string } = {}): Promise<void> {
    const settings: Settings = { ...opts.settings };
    if (opts.dedupToken) settings.insert_deduplication_token = opts.dedupToken;
    const clause = settingsClause(settings);
    await this.statement(() =>
      this.client.command({ query: `INSERT INTO ${quoteIdent(table)} ${clause} SELECT * FROM file(${quoteString(path.resolve(file))}, 'JSONEachRow')` }),
    );
  }
}

function stripTrailingSemicolon(sql: string): string {
  return sql.replace(/;\s*$/, '');
}

