// `/v0/datasources`: list datasources with their row counts and bytes on disk, and describe one.
import { rowCount, tableBytes } from '../../engine/tables.js';
import type { ServerResponse } from 'node:http';
import { authorize, grants } from '../auth.js';
import { authorizedResource } from './access.js';
import { sendJson, type Request } from '../http.js';
import type { Workspace } from '../workspace.js';


export async function listDatasources(ws: Workspace, req: Request, res: ServerResponse): Promise<void> {
  const { record } = authorize(ws.tokens, req, { type: 'DATASOURCES:READ' });
  const readable = [...ws.project.datasources.values()].filter((ds) => grants(record, 'DATASOURCES:READ', ds.name));
  const [bytes, counts] = await Promise.all([tableBytes(ws.engine, readable.map((ds) => ds.name)), Promise.all(readable.map((ds) => rowCount(ws.engine, ds.name)))]);
  const out = readable.map((ds, i) => ({ id: ds.name, name: ds.name, description: ds.description ?? '', statistics: { row_count: counts[i], bytes: bytes.get(ds.name) ?? 0 } }));
  sendJson(res, 200, { datasources: out }, { 'x-request-id': req.requestId });
}

export async function describeDatasource(ws: Workspace, req: Request, res: ServerResponse, name: string): Promise<void> {
  const ds = authorizedResource(ws, req, 'datasources', name, 'DATASOURCES:READ').resource;
  const [rows, bytes, quarantined] = await Promise.all([rowCount(ws.engine, ds.name), tableBytes(ws.engine, [ds.name]), rowCount(ws.engine, `${ds.name}_quarantine`)]);
  sendJson(res, 200, {
    id: ds.name,
    name: ds.name,
    description: ds.description ?? '',
    columns: ds.columns.map((c) => ({ name: c.name, type: c.type, jsonpath: c.jsonpath ?? null, default_value: c.default ?? null, nullable: c.nullable })),
    engine: { engine: ds.engine.type, sorting_key: ds.engine.sortingKey ?? 'tuple()', partition_key: ds.engine.partitionKey ?? '' },
    statistics: { row_count: rows, bytes: bytes.get(ds.name) ?? 0, quarantine_rows: quarantined },
  }, { 'x-request-id': req.requestId });
}
