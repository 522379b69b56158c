// `POST /v0/events?name=<ds>[&wait=true]`: the Events API. Durability, mapping and quarantine live in ingest/.
import type { ServerResponse } from 'node:http';
import { IngestError, type Ingestor, type IngestTarget } from '../../ingest/index.js';
import type { DatasourceFile } from '../../datafile/types.js';
import { authorizedResource } from './access.js';
import { HttpError, param, sendJson, type Request } from '../http.js';
import type { Workspace } from '../workspace.js';

export function ingestTarget(ds: DatasourceFile): IngestTarget {
  return { name: ds.name, table: ds.name, quarantineTable: `${ds.name}_quarantine`, columns: ds.columns };
}

/** The workspace's Ingestor; every server `dev` and `serve` start has one. */
export function ingestorOf(ws: Workspace): Ingestor {
  if (!ws.ingestor) throw new HttpError(503, 'this server takes no writes (it runs without a write-ahead log); send them to `emailstats dev` or `emailstats serve`');
  return ws.ingestor;
}

/** An ingest failure as the HTTP error it means (429/503 keep their Retry-After). */
export function ingestHttpError(err: unknown): unknown {
  if (!(err instanceof IngestError)) return err;
  return new HttpError(err.status, err.message, {}, err.retryAfterSeconds !== undefined ? { 'retry-after': String(err.retryAfterSeconds) } : {});
}

export async function postEvents(ws: Workspace, req: Request, res: ServerResponse): Promise<void> {
  const name = param(req, 'name');
  if (!name) throw new HttpError(400, "missing 'name': say which datasource the events go to, e.g. /v0/events?name=email_events");
  const ds = authorizedResource(ws, req, 'datasources', name, 'DATASOURCES:APPEND').resource;
  const ingestor = ingestorOf(ws);
  const wait = /^(1|true|yes)$/i.test(param(req, 'wait') ?? '');
  try {
    const result = await ingestor.ingest(ingestTarget(ds), req.body ?? Buffer.alloc(0), {
      contentEncoding: req.headers['content-encoding'] as string | undefined,
      wait,
    });
    sendJson(res, wait ? 200 : 202, result, { 'x-request-id': req.requestId });
  } catch (err) {
    throw ingestHttpError(err);
  }
}
