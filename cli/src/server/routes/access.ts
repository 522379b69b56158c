// Which project resources a token may read by name (used to check tables referenced by request SQL).
import { authorize, grants, isAdmin, type Scope, type ScopeType, type TokenRecord } from '../auth.js';
import { HttpError, type Request } from '../http.js';
import type { Workspace } from '../workspace.js';
import { viewNameFor } from '../../project/ddl.js';
import { perEngineFor } from '../../engine/per-engine.js';

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

/** The engine's databases and tables are looked at again after this long. */
const LISTS_TTL_MS = 60_000;

const databaseNames = perEngineFor(LISTS_TTL_MS, async (engine) => new Set((await engine.queryRows<{ name: string }>('SELECT name FROM system.databases')).map((r) => r.name)));
const tableNames = perEngineFor(LISTS_TTL_MS, async (engine) => (await engine.queryRows<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase()')).map((r) => r.name));

/**
 * What the SQL guard needs besides the token: the engine's database names, to refuse `db.table` anywhere in
 * request SQL (a server may hold other databases than this workspace's), and the workspace database's tables that
 * are not datasources (hiddenTables). Both lists are cached for a minute and looked up side by side.
 */
export function guardLists(ws: Workspace): Promise<[Set<string>, Set<string>]> {
  return Promise.all([knownDatabases(ws), hiddenTables(ws)]);
}

function knownDatabases(ws: Workspace): Promise<Set<string>> {
  // A failed look is not kept (the next request looks again); the structural check still refuses db.table after FROM/JOIN.
  return databaseNames(ws.engine).catch(() => new Set([ws.engine.database]));
}

/** The last set hiddenTables made for a project, and the table list it was made from. */
const hiddenMemo = new WeakMap<object, { names: string[]; hidden: Set<string> }>();

/**
 * Tables of the workspace's database that are not datasources (nor their quarantine tables): materialized views
 * (named after their pipes), service and internal tables, leftovers of other deployments. The views of this
 * project's materialized pipes are added from the project itself, so a view created since the last look of the
 * database is never missed. Made again only when the project or the database's list changes.
 */
async function hiddenTables(ws: Workspace): Promise<Set<string>> {
  const names = await tableNames(ws.engine).catch(() => [] as string[]); // the project's own views below still count
  const memo = hiddenMemo.get(ws.project);
  if (memo && memo.names === names) return memo.hidden;
  const { datasources, pipes } = ws.project;
  const hidden = new Set(names);
  for (const pipe of pipes.values()) if (pipe.nodes.some((n) => n.type === 'materialized')) hidden.add(viewNameFor(pipe.name, datasources));
  for (const name of datasources.keys()) {
    hidden.delete(name);
    hidden.delete(`${name}_quarantine`);
  }
  hiddenMemo.set(ws.project, { names, hidden });
  return hidden;
}
