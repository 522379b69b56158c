// The embedded engine: chDB (ClickHouse in-process) through @clickhouse/client. One process owns a data
// directory at a time (chDB locks it), so `dev` owns it and other commands talk to `dev` while it runs.
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { capabilitiesFor, parseVersion } from './capabilities.js';
import { repairDedupLogs, type DedupRepair } from './dedup-log-repair.js';
import { ClientEngine, OUTPUT_SETTINGS, settingsClause, stripTrailingSemicolon } from './client-engine.js';
import { EngineError, toEngineError } from './errors.js';
import { DEFAULT_FAIR_SHARE_LIMITS, EngineBusyError, FairScheduler, type FairShareLimits } from './scheduler.js';
import { quoteIdent, quoteString } from '../sql/quote.js';
import type { QueryOptions, Settings } from './types.js';

export interface EmbeddedOptions {
  /** chDB connections for request reads (besides the one for internal statements). */
  readLanes?: number;
  /** How many request reads may wait for a read lane, per token and overall, before they are refused as busy. */
  fairShare?: FairShareLimits;
  /** End dedup records a crash left without their part before opening (dedup-log-repair.ts). Default true. */
  repairDedupLogs?: boolean;
}

/**
 * Three read lanes on two cores: chDB ran light queries 1.6x faster on two connections than on one, no faster on
 * three, and the third lets one token hold two lanes while another token's query still finds one.
 */
const DEFAULT_READ_LANES = 3;

/**
 * One chDB connection, one statement at a time. chDB keeps the output a failed query had already produced and
 * hands it out at the front of the next query's result ON THE SAME CONNECTION (chDB 26.7: a query cut off by
 * max_result_rows, then `SELECT 42` answered 40 MB of the first query's rows; a query on another connection,
 * even one running at the same moment, got only its own rows). Across HTTP requests that would give one
 * token's rows to another. So a lane runs its statements one after the other, and after a failure a throw-away
 * query takes the leftover before the lane takes its next statement.
 */
class Lane {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly client: ClickHouseClient) {}

  run<T>(run: (client: ClickHouseClient) => Promise<T>): Promise<T> {
    const result = this.queue.then(async () => {
      try {
        return await run(this.client);
      } catch (err) {
        await this.client
          .query({ query: "SELECT 'discarding what a failed query left behind'", format: 'TabSeparated' })
          .then((rs) => rs.text())
          .catch(() => undefined);
        throw toEngineError(err);
      }
    });
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/** The SETTINGS clause withSettings appends (OUTPUT_SETTINGS first), as ClickHouse quotes it in an error. */
const APPENDED_SETTINGS = /\s*SETTINGS output_format_json_quote_64bit_integers = [01](?:, [A-Za-z_][A-Za-z0-9_]* = (?:'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))*/;

export class EmbeddedEngine extends ClientEngine {
  readonly kind = 'embedded' as const;
  readonly description: string;
  /** Internal statements (ingest, DDL, rebuilds, the request log): never behind request reads. */
  private readonly internal: Lane;
  /** Request reads, shared between tokens by the scheduler. */
  private readonly readLanes: Lane[];
  private readonly scheduler: FairScheduler;
  /** Dedup records ended at open because their part never reached the disk (a crash mid-insert); dev reports them. */
  dedupRepairs: DedupRepair[] = [];

  private constructor(
    private readonly clients: ClickHouseClient[],
    readonly dataDir: string,
    fairShare: FairShareLimits,
  ) {
    super(clients[0], 'default');
    this.internal = new Lane(clients[0]);
    this.readLanes = clients.slice(1).map((c) => new Lane(c));
    this.scheduler = new FairScheduler(this.readLanes.length, fairShare);
    this.description = `embedded chDB at ${dataDir}`;
  }

  static async open(dataDir: string, opts: EmbeddedOptions = {}): Promise<EmbeddedEngine> {
    const dir = path.resolve(dataDir);
    mkdirSync(dir, { recursive: true });
    // Before ClickHouse loads the tables: dedup records a crash of ours left without their part (dedup-log-repair.ts).
    const dedupRepairs = opts.repairDedupLogs === false ? [] : repairDedupLogs(dir);
    // Loaded here, not at module load: the library is ~150 MB of RSS and 0.1 s that commands which never open
    // the embedded engine (check, render, mock, token ...) should not pay.
    const { createChdbConnection } = await import('chdb/connection');
    // Each connection keeps its own query state (and its own failed-query leftover); all share the one data directory.
    const connect = () =>
      // chdb ships its own copy of the client-common types; the runtime contract is the same.
      createClient({ connection: createChdbConnection({ path: dir }) as never, log: { level: ClickHouseLogLevel.OFF } });
    const clients: ClickHouseClient[] = [];
    try {
      for (let i = 0; i <= Math.max(1, opts.readLanes ?? DEFAULT_READ_LANES); i++) clients.push(connect());
    } catch (err) {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      const msg = String((err as Error).message ?? err);
      if (/Cannot lock file|already running/i.test(msg)) {
        throw new EngineError(
          `the embedded engine's data directory ${dir} is in use by another emailstats process (chDB allows one process per directory). ` +
            'Stop that process (for example a running `emailstats dev`), or point this command at it.',
        );
      }
      throw toEngineError(err);
    }
    const engine = new EmbeddedEngine(clients, dir, opts.fairShare ?? DEFAULT_FAIR_SHARE_LIMITS);
    engine.dedupRepairs = dedupRepairs;
    const [row] = await engine.queryRows<{ v: string }>('SELECT version() AS v');
    engine.version = parseVersion(row.v);
    engine.caps = capabilitiesFor(engine.version);
    return engine;
  }

  /** Request reads (with a fairShareKey) take a fair turn on a read lane; everything else runs on the internal lane. */
  protected override statement<T>(run: (client: ClickHouseClient) => Promise<T>, opts?: QueryOptions): Promise<T> {
    const key = opts?.fairShareKey;
    if (key === undefined) return this.internal.run(run);
    return this.scheduler.run(key, (lane) => this.readLanes[lane].run(run));
  }

  // chDB's connection turns client settings into session-wide SET statements, which would leak (readonly=1 on
  // one query would forbid the next DDL). A SETTINGS clause scopes them to the one query.
  protected withSettings(sql: string, settings: Settings | undefined): { sql: string } {
    const clause = settingsClause({ ...OUTPUT_SETTINGS, ...settings });
    return { sql: `${stripTrailingSemicolon(sql)}\n${clause}` };
  }

  protected override async read<T>(sql: string, opts: QueryOptions, run: (client: ClickHouseClient, prepared: { sql: string; settings?: Settings }) => Promise<T>): Promise<T> {
    try {
      return await super.read(sql, opts, run);
    } catch (err) {
      if (err instanceof EngineBusyError) throw err;
      // ClickHouse quotes the failing query; drop the settings clause we appended so the user sees their SQL. The
      // clause ends where its last value does (a number, 2.5 included, or a quoted string), not at the first dot.
      const e = err as EngineError;
      throw new EngineError(e.message.replace(APPENDED_SETTINGS, ''), e.code, e.type);
    }
  }

  override async command(sql: string, opts: QueryOptions = {}): Promise<void> {
    // DDL takes no SETTINGS clause in the same position as SELECT; only pass what the caller asked for.
    if (!opts.settings || Object.keys(opts.settings).length === 0) {
      await this.statement((client) => client.command({ query: sql, query_params: opts.queryParams }), opts);
      return;
    }
    return super.command(sql, opts);
  }

  override async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }

  /**
   * Rows inline in one `INSERT ... SETTINGS ... FORMAT JSONEachRow` statement. Through the client's insert(), chDB's
   * connection would turn the settings into session-wide SETs: a dedup token would stay on the connection and
   * make every later insert on it look like a repeat (and vanish).
   */
  override async insertRows(table: string, rows: readonly object[], opts: QueryOptions = {}): Promise<void> {
    await this.insertNdjsonLines(table, rows.map((r) => JSON.stringify(r)), opts);
  }

  async insertNdjsonLines(table: string, lines: readonly string[], opts: QueryOptions = {}): Promise<void> {
    if (lines.length === 0) return;
    const clause = settingsClause({ ...opts.settings });
    await this.statement((client) => client.command({ query: `INSERT INTO ${quoteIdent(table)} ${clause} FORMAT JSONEachRow\n${lines.join('\n')}\n` }), opts);
  }

  async insertNdjsonFile(table: string, file: string, opts: QueryOptions & { dedupToken?: string } = {}): Promise<void> {
    const settings: Settings = { ...opts.settings };
    if (opts.dedupToken) settings.insert_deduplication_token = opts.dedupToken;
    const clause = settingsClause(settings);
    await this.statement(
      (client) => client.command({ query: `INSERT INTO ${quoteIdent(table)} ${clause} SELECT * FROM file(${quoteString(path.resolve(file))}, 'JSONEachRow')` }),
      opts,
    );
  }
}

