// A ClickHouse server over HTTP (self-hosted, a cluster, ClickHouse Cloud), through @clickhouse/client.
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { open } from 'node:fs/promises';
import { capabilitiesFor, parseVersion, settingsKnown } from './capabilities.js';
import { ClientEngine, OUTPUT_SETTINGS } from './client-engine.js';
import { EngineError, toEngineError } from './errors.js';
import { quoteIdent, quoteString } from '../sql/quote.js';
import type { ProgressListener, QueryOptions, Settings, StatementProgress } from './types.js';
import { ClusterPlacement } from './placement.js';
import { UserError } from '../util/fatal.js';
import { envSeconds } from '../util/env-seconds.js';

export const STATEMENT_TIMEOUT_ENV = 'EMAILSTATS_CLICKHOUSE_STATEMENT_TIMEOUT';
const STATEMENT_TIMEOUT_DEFAULT_S = 3600;

export interface ServerOptions {
  url: string;
  user?: string;
  password?: string;
  database?: string;
  /** How long a read may wait for the server's answer (default 60 s). */
  requestTimeoutMs?: number;
  /**
   * How long a statement (DDL, INSERT ... SELECT, a file's insert) may run: STATEMENT_TIMEOUT_ENV in seconds by
   * default, 1 h when unset; 0 for no limit.
   */
  statementTimeoutMs?: number;
  /** A cluster of the server's `remote_servers` to deploy across (engine/placement.ts, docs/deploy.md). */
  cluster?: string;
}

/** How long a read may keep its connection silent before the client gives up (see readSettings: reads send nothing until they end). */
const READ_TIMEOUT_DEFAULT_MS = 60_000;

/**
 * The read client's limit for a server whose request queries may run `queryTimeoutS` seconds: their answers come
 * whole at the end (wait_end_of_query), so the client must wait longer than the server lets them run.
 */
export function readTimeoutFor(queryTimeoutS: number): number {
  return Math.max(READ_TIMEOUT_DEFAULT_MS, Math.ceil(queryTimeoutS + 30) * 1000);
}

export class ServerEngine extends ClientEngine {
  readonly kind = 'server' as const;
  description: string;
  /**
   * wait_end_of_query: the server holds an answer until its query has ended, so a query that fails after its first
   * rows (a time or memory limit, a throwIf) answers with an HTTP error. Without it the server has already sent 200
   * and part of the rows, and appends the exception to the body, which the client returns as the answer.
   */
  protected override readonly readSettings = { wait_end_of_query: 1 };

  private constructor(
    client: ClickHouseClient,
    /** The client of statements: its idle limit is the statement time limit (see statement()). */
    private readonly statementClient: ClickHouseClient,
    private readonly statementTimeoutMs: number,
    database: string,
    url: string,
  ) {
    super(client, database);
    this.description = `ClickHouse server at ${redactUrl(url)} (database ${database})`;
  }

  static async open(opts: ServerOptions): Promise<ServerEngine> {
    const url = new URL(opts.url);
    // A database in the URL path (http://host:8123/db) is honoured unless --database says otherwise.
    const database = opts.database ?? (decodeURIComponent(url.pathname.replace(/^\/+|\/+$/g, '')) || 'default');
    const user = opts.user ?? (decodeURIComponent(url.username) || 'default');
    const password = opts.password ?? decodeURIComponent(url.password);
    const base = `${url.protocol}//${url.host}`;
    const statementTimeoutMs = opts.statementTimeoutMs ?? envSeconds(STATEMENT_TIMEOUT_ENV, STATEMENT_TIMEOUT_DEFAULT_S) * 1000;
    const common = { url: base, username: user, password, request_timeout: opts.requestTimeoutMs ?? READ_TIMEOUT_DEFAULT_MS, log: { level: ClickHouseLogLevel.OFF } };
    // Create the database first with a client bound to `default`: the target may not exist yet. CREATE DATABASE
    // ON CLUSTER waits for every node (the server's 180 s by default): it gets the statement limit.
    const bootstrap = createClient({ ...common, database: 'default' });
    const creator = opts.cluster ? createClient({ ...common, database: 'default', request_timeout: statementTimeoutMs }) : bootstrap;
    let nodes: string[] = [];
    try {
      if (opts.cluster) nodes = await checkCluster(bootstrap, opts.cluster, redactUrl(opts.url));
      // ON CLUSTER waits for every node: only when the database is new, so a serve starts with a node down.
      const exists = opts.cluster && (await databaseExists(bootstrap, database));
      const onCluster = opts.cluster ? ` ON CLUSTER ${quoteIdent(opts.cluster)}` : '';
      if (!exists) await creator.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdent(database)}${onCluster}` });
    } catch (err) {
      if (err instanceof UserError) throw err;
      const e = toEngineError(err);
      // Past checkCluster the node answered: a failure here is the CREATE DATABASE ON CLUSTER waiting for the others.
      if (nodes.length) {
        throw new EngineError(
          `could not create database ${database} on every node of cluster ${opts.cluster} through ${redactUrl(opts.url)}: ${e.message}\n` +
            'The first deploy to a database creates it on every node: start the nodes that are down (system.clusters lists them), then run it again.',
          e.code,
          e.type,
        );
      }
      throw new EngineError(`cannot reach ClickHouse at ${redactUrl(opts.url)}: ${e.message}`, e.code, e.type);
    } finally {
      await bootstrap.close();
      if (creator !== bootstrap) await creator.close();
    }
    const engine = new ServerEngine(
      createClient({ ...common, database }),
      createClient({ ...common, database, request_timeout: statementTimeoutMs }),
      statementTimeoutMs,
      database,
      opts.url,
    );
    if (opts.cluster) {
      engine.placement = new ClusterPlacement(opts.cluster, database, { nodes, user, password });
      engine.clusterSettings = CLUSTER_SETTINGS;
      engine.description += ` on cluster ${opts.cluster}`;
    }
    const [row] = await engine.queryRows<{ v: string }>('SELECT version() AS v');
    engine.version = parseVersion(row.v);
    engine.caps = capabilitiesFor(engine.version);
    engine.jsonInsertSettings = await jsonInsertSettings(engine, Boolean(opts.cluster));
    return engine;
  }

  private clusterSettings: Settings = {};
  /** JSONEachRow insert settings (jsonInsertSettings); empty until open() has asked the server. */
  private jsonInsertSettings: Settings = {};

  /**
   * Statements (`sql`: DDL, INSERT ... SELECT) go through their own client. A server sends nothing while one runs
   * (18.16 not even progress headers), and the client's limit is on silence: with the reads' 60 s, a backfill, a
   * copy or a DDL ON CLUSTER waiting for its nodes was given up at 60 s while the server went on and finished it, so
   * the caller's rollback or retry raced it. A statement the client gives up on (past the statement limit) or whose
   * connection breaks is cancelled on the server before the error is thrown, and the error says what became of it.
   */
  protected override async statement<T>(run: (client: ClickHouseClient) => Promise<T>, opts?: QueryOptions, sql?: string): Promise<T> {
    if (sql === undefined) return super.statement(run, opts);
    const stopWatching = this.watchProgress(sql, opts?.queryId);
    try {
      return await run(this.statementClient);
    } catch (err) {
      stopWatching(); // no progress lines for a statement being cancelled
      const e = toEngineError(err);
      if (e.isClientTimeout) {
        const limitS = this.statementTimeoutMs / 1000;
        throw new EngineError(
          `ClickHouse did not finish a statement within ${limitS} s; ${await this.cancel(opts?.queryId, sql)}. To let longer statements finish, raise ${STATEMENT_TIMEOUT_ENV} (whole seconds, 0 for no limit)`,
          159,
          'TIMEOUT_EXCEEDED',
        );
      }
      // Refused: nothing was sent. Any other broken connection may have left the statement running.
      if (e.isConnection && !e.isRefused) throw new EngineError(`${e.message}, during a statement; ${await this.cancel(opts?.queryId, sql)}`, e.code, e.type);
      throw e;
    } finally {
      stopWatching();
    }
  }

  onProgress?: ProgressListener;

  /** Reports a statement's progress to onProgress while it runs; returns what stops that. Best effort: a poll that fails is skipped. */
  private watchProgress(sql: string, queryId: string | undefined): () => void {
    const listener = this.onProgress;
    if (!listener || !queryId) return () => undefined;
    let polling = false;
    let stopped = false;
    const timer = setInterval(() => {
      if (polling) return;
      polling = true;
      this.progressOf(queryId)
        // A poll still out when the statement ended says nothing: its news is old.
        .then((p) => {
          if (p && !stopped) listener.report({ sql, queryId, ...p });
        })
        .catch(() => undefined)
        .finally(() => (polling = false));
    }, listener.everyMs);
    timer.unref();
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }

  /** A running statement's counters from system.processes (on the node this client reaches); undefined once it ended. */
  private async progressOf(queryId: string): Promise<Omit<StatementProgress, 'sql' | 'queryId'> | undefined> {
    const [row] = await this.queryRows<{ elapsed: number; read_rows: number | string; total_rows_approx: number | string; written_rows: number | string }>(
      `SELECT elapsed, read_rows, total_rows_approx, written_rows FROM system.processes WHERE query_id = ${quoteString(queryId)}`,
    );
    return row && { elapsedS: Number(row.elapsed), readRows: Number(row.read_rows), totalRowsApprox: Number(row.total_rows_approx), writtenRows: Number(row.written_rows) };
  }

  /** Cancels a statement this process no longer waits for (KILL QUERY), and says what became of it. */
  private async cancel(queryId: string | undefined, sql: string): Promise<string> {
    // The node that took an ON CLUSTER statement only waits for the others: the task stays in ZooKeeper's queue.
    const queued = /\bON\s+CLUSTER\b/i.test(sql) ? '; a statement ON CLUSTER stays queued for the nodes that have not run it yet, and they run it all the same' : '';
    if (!queryId) return `it may still be running on the server (system.processes)${queued}`;
    try {
      const rows = await this.queryRows<{ kill_status?: string }>(`KILL QUERY WHERE query_id = ${quoteString(queryId)} SYNC`);
      if (rows.length === 0) return `it had ended on the server when emailstats went to cancel it, and may have finished (query_id ${queryId}, system.query_log)${queued}`;
      if (rows.every((r) => r.kill_status === 'finished')) return `emailstats cancelled it on the server (KILL QUERY, query_id ${queryId})${queued}`;
      return `the server could not cancel it (KILL QUERY answered ${rows.map((r) => r.kill_status).join(', ')}): it may still be running (system.processes, query_id ${queryId})${queued}`;
    } catch (err) {
      return `emailstats could not cancel it (${toEngineError(err).message}): it may still be running on the server (system.processes, query_id ${queryId})${queued}`;
    }
  }

  /** Every statement has a query id, so that one this process stops waiting for can be cancelled. */
  override command(sql: string, opts: QueryOptions = {}): Promise<void> {
    return super.command(sql, { ...opts, queryId: opts.queryId ?? randomUUID() });
  }

  override async close(): Promise<void> {
    await Promise.all([super.close(), this.statementClient.close()]);
  }

  protected withSettings(sql: string, settings: Settings | undefined): { sql: string; settings: Settings } {
    return { sql, settings: { ...OUTPUT_SETTINGS, ...this.clusterSettings, ...settings } };
  }

  protected override insertSettings(): Settings {
    return { ...this.jsonInsertSettings, ...this.clusterSettings };
  }

  async insertNdjsonFile(table: string, file: string, opts: QueryOptions & { dedupToken?: string } = {}): Promise<void> {
    const settings: Settings = { ...opts.settings };
    if (opts.dedupToken && this.caps.insertDeduplicationToken) settings.insert_deduplication_token = opts.dedupToken;
    await this.insertJsonEachRow(table, () => createReadStream(file), () => firstRowKeys(file), { ...opts, settings });
  }

  async insertNdjsonLines(table: string, lines: readonly string[], opts: QueryOptions = {}): Promise<void> {
    if (lines.length === 0) return;
    await this.insertJsonEachRow(table, () => Readable.from([lines.join('\n') + '\n']), async () => keysOf(lines[0]), opts);
  }

  /**
   * A JSONEachRow body sent as it is (exec streams it; insert() would want parsed objects for JSON formats). On the
   * reads' client, with its 60 s limit on silence: the inserts of the write-ahead log are small, and a stalled one is
   * better retried (their dedup token or query_log check keeps a retry from storing rows twice) than waited for.
   */
  private async insertJsonEachRow(table: string, body: () => Readable, firstKeys: () => Promise<string[] | undefined>, opts: QueryOptions): Promise<void> {
    const settings: Settings = { ...this.jsonInsertSettings, ...this.clusterSettings, ...opts.settings };
    // Rows leave out the fields they do not have (ingest/plan.ts), so that the server computes those columns'
    // DEFAULTs; the rows of one body need not leave out the same ones. A column list of the first row's fields
    // would fail a later row with another field (18.16), or drop that field without a word (current servers,
    // skip unknown fields by default): only where jsonInsertSettings is empty is it still used.
    const columns = Object.keys(this.jsonInsertSettings).length ? undefined : await firstKeys();
    const columnList = columns ? ` (${columns.map(quoteIdent).join(', ')})` : '';
    const queryId = opts.queryId ?? randomUUID();
    await this.statement(
      async (client) => {
        const result = await client.exec({
          query: `INSERT INTO ${quoteIdent(table)}${columnList} FORMAT JSONEachRow`,
          values: body(),
          clickhouse_settings: settings as never,
          query_id: queryId,
        });
        result.stream.resume();
        await new Promise((resolve, reject) => result.stream.once('end', resolve).once('error', reject));
      },
      { ...opts, queryId },
    );
  }
}

/**
 * Settings of every statement on a cluster. An insert into a Distributed table answers once every shard has
 * its rows (by default it would queue them on the node it reached and answer at once, so an acknowledged event
 * could sit in that node's queue when it dies). A DDL ON CLUSTER waits for every node as long as the server's
 * distributed_ddl_task_timeout says (180 s by default), then fails naming the nodes that did not answer.
 * A subquery over a Distributed table inside IN or JOIN (campaign_timeline's early clicks) runs once and is sent
 * to every shard (GLOBAL): 18.16 refuses it by default, and `local` would be right only for co-sharded tables.
 */
const CLUSTER_SETTINGS: Settings = { insert_distributed_sync: 1, distributed_product_mode: 'global' };

async function databaseExists(client: ReturnType<typeof createClient>, database: string): Promise<boolean> {
  const rows = (await (await client.query({ query: `SELECT count() AS n FROM system.databases WHERE name = ${quoteString(database)}`, format: 'JSONEachRow' })).json()) as { n: number | string }[];
  return Number(rows[0]?.n) > 0;
}

/**
 * The cluster must be one of the server's `remote_servers`, and the node must have the macros replicated tables
 * use. Returns the cluster's nodes as `host:port` (their native port, as the config names them).
 */
async function checkCluster(client: ReturnType<typeof createClient>, cluster: string, where: string): Promise<string[]> {
  const rows = (await (await client.query({ query: 'SELECT cluster, host_name AS h, port AS p FROM system.clusters', format: 'JSONEachRow' })).json()) as { cluster: string; h: string; p: number }[];
  const names = [...new Set(rows.map((r) => r.cluster))];
  if (!names.includes(cluster)) {
    throw new UserError(
      `cluster ${cluster} is not configured on ClickHouse at ${where}: its remote_servers name ${names.length ? names.join(', ') : 'no cluster'}. ` +
        `Pass one of those to --clickhouse-cluster, or add the cluster to the server's config (docs/deploy.md, "Deploying to a cluster")`,
    );
  }
  const macros = (await (await client.query({ query: 'SELECT macro FROM system.macros', format: 'JSONEachRow' })).json()) as { macro: string }[];
  const missing = ['shard', 'replica'].filter((m) => !macros.some((r) => r.macro === m));
  if (missing.length) {
    throw new UserError(
      `ClickHouse at ${where} has no ${missing.map((m) => `{${m}}`).join(' or ')} macro: replicated tables on cluster ${cluster} name their ZooKeeper path and replica with <macros><shard> and <replica> in each node's config (docs/deploy.md, "Deploying to a cluster")`,
    );
  }
  // An IPv6 address needs its brackets in remote('[::1]:9000').
  return rows.filter((r) => r.cluster === cluster).map((r) => `${r.h.includes(':') ? `[${r.h}]` : r.h}:${r.p}`);
}

/**
 * Settings of every JSONEachRow insert: a field a row leaves out gets its column's DEFAULT expression (by default
 * only since 19.x; 18.16 calls the setting insert_sample_with_metadata), so inserts need no column list. Asked of
 * the server, since the setting changed its name. Empty on an 18.16 cluster: there insert_sample_with_metadata
 * breaks inserts through Distributed tables ("Unexpected packet from server (expected TablesStatusResponse, got
 * Hello)"), so inserts name the first row's columns as before.
 */
async function jsonInsertSettings(engine: ServerEngine, cluster: boolean): Promise<Settings> {
  const known = await settingsKnown(engine, ['input_format_defaults_for_omitted_fields', 'insert_sample_with_metadata']);
  if (known.has('input_format_defaults_for_omitted_fields')) return { input_format_defaults_for_omitted_fields: 1 };
  if (known.has('insert_sample_with_metadata') && !cluster) return { insert_sample_with_metadata: 1 };
  return {};
}

/** Keys of the first JSON object in an NDJSON file (reads only its first 64 KB). */
async function firstRowKeys(file: string): Promise<string[] | undefined> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('utf8');
    const nl = text.indexOf('\n');
    if (nl < 0 && bytesRead === buf.length) return undefined;
    return keysOf(nl < 0 ? text : text.slice(0, nl));
  } finally {
    await handle.close();
  }
}

/** Keys of one JSON object's line; undefined when it is not one, or has none. */
function keysOf(line: string): string[] | undefined {
  try {
    const keys = Object.keys(JSON.parse(line) as object);
    return keys.length ? keys : undefined;
  } catch {
    return undefined;
  }
}

/** Hides credentials in URLs shown to users. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return raw;
  }
}
