// Which project resources a token may read by name (used to check tables referenced by request SQL).
import { authorize, grants, isAdmin, type Scope, type ScopeType, type TokenRecord } from '../auth.js';
import { HttpError, type Request } from '../http.js';
import type { Workspace } from '../workspace.js';

export function readableResource(ws: Workspace, token: TokenRecord, name: string): 'ok' | 'denied' | 'unknown' {
  const admin = isAdmin(token);
  // Service datasources (tinybird.pipe_stats_rt) span every pipe and token: admin only.
  if (name.startsWith('tinybird.')) return admin ? 'ok' : 'denied';
  const quarantineOf = name.endsWith('_quarantine') ? name.slice(0, -'_quarantine'.length) : undefined;
  const dsName = ws.project.datasources.has(name) ? name : quarantineOf && ws.project.datasources.has(quarantineOf) ? quarantineOf : undefined;
  if (dsName) {
    return grants(token, 'DATASOURCES:READ', dsName) ? 'ok' : 'denied';
  }
  if (ws.project.pipes.has(name)) {
    return grants(token, 'PIPES:READ', name) ? 'ok' : 'denied';
  }
  return 'unknown';
}

/**
 * Authorizes first, then looks the resource up, so a 404 tells nothing to a token that may not use the name;
 * only an admin token is told which names exist.
 */
export function authorizedResource<K extends 'datasources' | 'pipes'>(
  ws: Workspace,
  req: Request,
  kind: K,
  name: string,
  needed: ScopeType,
): { resource: NonNullable<ReturnType<Workspace['project'][K]['get']>>; record: TokenRecord; scope?: Scope } {
  const { record, scope } = authorize(ws.tokens, req, needed === 'ADMIN' ? { type: 'ADMIN' } : { type: needed, resource: name });
  const resource = ws.project[kind].get(name) as NonNullable<ReturnType<Workspace['project'][K]['get']>> | undefined;
  if (!resource) {
    const label = kind === 'pipes' ? 'pipe' : 'datasource';
    const known = isAdmin(record) ? `; ${kind}: ${[...ws.project[kind].keys()].join(', ') || '(none)'}` : '';
    throw new HttpError(404, `${label} '${name}' not found${known}`);
  }
  return { resource, record, scope };
}
