// `POST /v0/events?name=<ds>[&wait=true]`: the Events API. Durability, mapping and quarantine live in ingest/.
import type { ServerResponse } from 'node:http';
import { IngestError, type IngestTarget } from '../../ingest/index.js';
import type { DatasourceFile } from '../../datafile/types.js';
import { authorize } from '../auth.js';
import { HttpError, param, sendJson, type Request } from '../http.js';
import type { Workspace } from '../workspace.js';

export function ingestTarget(ds: DatasourceFile): IngestTarget {
  return { name: ds.name, table: ds.name, quarantineTable: `${ds.name}_quarantine`, columns: ds.columns };
}

export async function postEvents(ws: Workspace, req: Request, res: ServerResponse): Promise<void> {
  const name = param(req, 'name');
  if (!name) throw new HttpError(400, "missing 'name': say which datasource the events go to, e.g. /v0/events?name=email_events");
  const ds = ws.project.datasources.get(name);
  if (!ds) throw new HttpError(404, `datasource '${name}' not found; datasources: ${[...ws.project.datasources.keys()].join(', ') || '(none)'}`);
  authorize(ws.tokens, req, { type: 'DATASOURCES:APPEND', resource: name });
  if (!ws.ingestor) throw new HttpError(503, 'this server does not accept events');
  const wait = /^(1|true|yes)$/i.test(param(req, 'wait') ?? '');
  try {
    const result = await ws.ingestor.ingest(ingestTarget(ds), req.body ?? Buffer.alloc(0), {
      contentEncoding: req.headers['content-encoding'] as string | undefined,
      wait,
    });
    sendJson(res, wait ? 200 : 202, result, { 'x-request-id': req.requestId });
  } catch (err) {
    if (err instanceof IngestError) {
      const headers: Record<string, string> = err.retryAfterSeconds !== undefined ? { 'retry-after': String(err.retryAfterSeconds) } : {};
      throw new HttpError(err.status, err.message, {}, headers);
    }
    throw err;
  }
}
