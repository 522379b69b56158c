// Records write operations in `tinybird.datasources_ops_log`, batched off the request path like the request log.
// Rows that go through the write-ahead log are logged when the flusher commits them to ClickHouse (`append-hfi`):
// the Events API's, and the Data Sources API's appends, which take the same path. Replaces and truncates are
// logged when they finish. Routes find the log through the engine they write to.
import type { Engine } from '../engine/types.js';
import type { Ingestor } from '../ingest/index.js';
import { OPS_LOG_TABLE, opsLogDdl, opsLogEntry, type OpsEvent, type OpsLogEntry } from './ops-log-table.js';
import { RequestLog, type RequestLogOptions } from './request-log.js';

const byEngine = new WeakMap<Engine, OpsLog>();
const attached = new WeakSet<Ingestor>();

export class OpsLog {
  private readonly log: RequestLog<OpsLogEntry>;

  /** @param isDatasource tells a datasource's table from staging tables the WAL also fills (a replace's copy). */
  constructor(
    engine: () => Engine,
    private readonly isDatasource: (table: string) => boolean,
    opts: Omit<RequestLogOptions, 'table'> = {},
  ) {
    this.log = new RequestLog<OpsLogEntry>(engine, { ...opts, table: { name: OPS_LOG_TABLE, ddl: opsLogDdl } });
  }

  record(e: OpsEvent): void {
    this.log.record(opsLogEntry(e));
  }

  /** Makes this log the one for the engine's routes, and for the ingestor's flushes (once per ingestor). */
  serve(engine: Engine, ingestor: Ingestor | undefined): void {
    byEngine.set(engine, this);
    if (!ingestor || attached.has(ingestor)) return;
    attached.add(ingestor);
    ingestor.onFlushed = (table, rows, ms) => {
      if (this.isDatasource(table)) this.record({ eventType: 'append-hfi', datasource: table, rows, elapsedMs: ms });
    };
  }

  ensureTable(): Promise<void> {
    return this.log.ensureTable();
  }

  flush(): Promise<void> {
    return this.log.flush();
  }

  close(): Promise<void> {
    return this.log.close();
  }
}

/** The ops log of the server writing to `engine`, if one runs (a build without a server has none). */
export function opsLogFor(engine: Engine): OpsLog | undefined {
  return byEngine.get(engine);
}
