// Which project resources a token may read by name (used to check tables referenced by request SQL).
import { authorize, grants, isAdmin, type Scope, type ScopeType, type TokenRecord } from '../auth.js';
import { HttpError, type Request } from '../http.js';
import type { Workspace } from '../workspace.js';
import { viewNameFor } from '../../project/ddl.js';

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

const DATABASES_TTL_MS = 60_000;
const databaseCache = new WeakMap<object, { at: number; names: Promise<Set<string>> }>();

/**
 * The engine's database names (cached for a minute), for the SQL guard to refuse `db.table` anywhere in request
 * SQL: a server may hold other databases than this workspace's.
 */
export function knownDatabases(ws: Workspace): Promise<Set<string>> {
  const hit = databaseCache.get(ws.engine);
  if (hit && Date.now() - hit.at < DATABASES_TTL_MS) return hit.names;
  const names = ws.engine
    .queryRows<{ name: string }>('SELECT name FROM system.databases')
    .then((rows) => new Set(rows.map((r) => r.name)))
    .catch(() => new Set([ws.engine.database])); // the structural check still refuses db.table after FROM/JOIN
  databaseCache.set(ws.engine, { at: Date.now(), names });
  return names;
}

const tablesCache = new WeakMap<object, { at: number; names: Promise<string[]> }>();

/**
 * Tables of the workspace's database that are not datasources (nor their quarantine tables), for the SQL guard:
 * materialized views (named after their pipes), service and internal tables, leftovers of other deployments.
 * The database's list is cached for a minute; the views of this project's materialized pipes are added from the
 * project itself, so a view created since the last look is never missed.
 */
export async function hiddenTables(ws: Workspace): Promise<Set<string>> {
  const hit = tablesCache.get(ws.engine);
  let names = hit && Date.now() - hit.at < DATABASES_TTL_MS ? hit.names : undefined;
  if (!names) {
    names = ws.engine
      .queryRows<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase()')
      .then((rows) => rows.map((r) => r.name))
      .catch(() => {
        tablesCache.delete(ws.engine); // not kept: the next request looks again
        return []; // the project's own views below still count
      });
    tablesCache.set(ws.engine, { at: Date.now(), names });
  }
  const { datasources, pipes } = ws.project;
  const hidden = new Set(await names);
  for (const pipe of pipes.values()) if (pipe.nodes.some((n) => n.type === 'materialized')) hidden.add(viewNameFor(pipe.name, datasources));
  for (const name of datasources.keys()) {
    hidden.delete(name);
    hidden.delete(`${name}_quarantine`);
  }
  return hidden;
}
