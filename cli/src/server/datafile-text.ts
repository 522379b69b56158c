// `GET /v0/pipes/<p>.pipe` and `GET /v0/datasources/<d>.datasource` (or `?format=pipe|datasource`): the datafile
// text a resource was built from, as `pull` reads it. Admin only, as `pull` runs with a workspace token: the text
// is the whole resource (TOKEN lines, connector settings, DESCRIPTIONs), not only what an endpoint's reader needs.
import type { ServerResponse } from 'node:http';
import { HttpError, sendText, type Request } from './http.js';
import { authorizedResource } from './routes/access.js';
import type { Workspace } from './workspace.js';

export function sendDatafile(ws: Workspace, req: Request, res: ServerResponse, kind: 'pipes' | 'datasources', name: string): void {
  const { resource } = authorizedResource(ws, req, kind, name, 'ADMIN');
  const text = ws.project.sources.get(resource.path);
  if (text === undefined) throw new HttpError(404, `the datafile of '${name}' (${resource.path}) is not available on this server`);
  sendText(res, 200, text, 'text/plain; charset=utf-8', { 'x-request-id': req.requestId });
}
