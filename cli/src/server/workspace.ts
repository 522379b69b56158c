// What the HTTP server serves: the last good project, the engine, the tokens and the ingest path.
// `dev` builds a new Workspace on every good rebuild and swaps it in; requests in flight keep the old one.
import type { Engine } from '../engine/types.js';
import type { Ingestor } from '../ingest/index.js';
import type { Project } from '../project/model.js';
import type { Change } from '../project/apply.js';
import type { ApiTokenRegistry } from './api-tokens.js';
import { TokenStore, type Scope } from './auth.js';
import { DEFAULT_ENDPOINT_CACHE_BYTES } from './endpoint-cache.js';

export interface QueryLimits {
  /** Seconds before an endpoint or /v0/sql query is cancelled (408). */
  maxExecutionTime: number;
  /** Bytes of memory one query may use. */
  maxMemoryUsage: number;
  /** Rows a response may hold. */
  maxResultRows: number;
  /** Bytes a response may hold, in its output format (a JSON row repeats its column names: rows alone do not bound it). */
  maxResultBytes: number;
  /** Bytes of answers kept for endpoints that ask for caching (`CACHE`, `cache_ttl`); 0 caches nothing. */
  endpointCacheBytes: number;
}

export const DEFAULT_LIMITS: QueryLimits = { maxExecutionTime: 10, maxMemoryUsage: 2 * 1024 ** 3, maxResultRows: 1_000_000, maxResultBytes: 100 * 1024 ** 2, endpointCacheBytes: DEFAULT_ENDPOINT_CACHE_BYTES };

export interface Workspace {
  project: Project;
  engine: Engine;
  tokens: TokenStore;
  ingestor?: Ingestor;
  limits: QueryLimits;
  /** Endpoint output columns from the last build (used for docs), keyed by pipe name. */
  endpointColumns: Map<string, { name: string; type: string }[]>;
  /** Values of `tb_secret('NAME')` in pipes (project/secrets.ts: from the environment), bound as query parameters. */
  secrets?: Record<string, string>;
  /** Tokens created through /v0/tokens (they outlive rebuilds); absent = the Token API is off. */
  apiTokens?: ApiTokenRegistry;
  /**
   * Holds event flushes to `tables` in every other process writing to the same ClickHouse (serve: through
   * the rewrite record); rejects with RewriteBusyError while a deploy or another replace holds any of them.
   * Absent when this process is the only writer (dev): its own Ingestor holds suffice.
   */
  holdOtherWriters?: (tables: string[]) => Promise<OtherWritersHold>;
  /**
   * Who is rewriting `table` right now (a deploy or a datasource replace), read afresh from the rewrite record of
   * the ClickHouse this workspace writes to; undefined when nobody is. A copy pipe does not write into such a
   * table: the rewrite would swap its rows out. Absent in dev, whose copies, rebuilds and replaces take turns
   * (`serialized`).
   */
  rewritingBy?: (table: string) => Promise<Rewriter | undefined>;
  /**
   * dev: runs a table rewrite started over HTTP (a datasource replace, a copy run by hand) in dev's rebuild queue,
   * after a running rebuild or scheduled copy and before the next one, so that none of them writes into a table
   * another is swapping out; `task` gets the workspace as it is then (a rebuild may have changed it meanwhile).
   * Absent under serve, which has the rewrite record for that (the two fields above). Truncate and delete are
   * not queued: they do not swap tables.
   */
  serialized?: <T>(task: (current: Workspace) => Promise<T>) => Promise<T>;
}

export interface Rewriter {
  /** `deployment #12`, `a datasource replace`. */
  owner: string;
  /** Lease left on the record, an upper bound of how long it can take. */
  remainingMs: number;
}

export interface OtherWritersHold {
  /** False once the hold is about to lapse: swapping then could lose rows. */
  stillHeld(): Promise<boolean>;
  /** Never rejects: a hold that cannot be ended is reported and lapses with its lease. */
  end(): Promise<void>;
}

export interface TokenSecrets {
  admin: string;
  /** Secrets of the resource-scoped tokens declared with TOKEN lines, by token name. */
  resource: Record<string, string>;
}

/** Scopes each TOKEN name accumulates across datafiles (one token per name, as Tinybird does). */
export function declaredTokenScopes(project: Project): Map<string, Scope[]> {
  const scopes = new Map<string, Scope[]>();
  const add = (name: string, scope: Scope): void => {
    const list = scopes.get(name) ?? [];
    if (!list.some((s) => s.type === scope.type && s.resource === scope.resource)) list.push(scope);
    scopes.set(name, list);
  };
  for (const ds of project.datasources.values()) {
    for (const t of ds.tokens) add(t.name, { type: t.permission === 'APPEND' ? 'DATASOURCES:APPEND' : 'DATASOURCES:READ', resource: ds.name });
  }
  for (const pipe of project.pipes.values()) for (const t of pipe.tokens) add(t.name, { type: 'PIPES:READ', resource: pipe.name });
  return scopes;
}

export function buildTokenStore(project: Project, secrets: TokenSecrets, apiTokens?: ApiTokenRegistry): TokenStore {
  const store = new TokenStore();
  // JWTs are signed with the admin token, as in Tinybird.
  store.jwtSecret = secrets.admin;
  store.dynamic = apiTokens;
  store.add(secrets.admin, { name: 'admin token', scopes: [{ type: 'ADMIN' }], origin: 'admin' });
  for (const [name, scopes] of declaredTokenScopes(project)) {
    const secret = secrets.resource[name];
    if (secret) store.add(secret, { name, scopes, origin: 'datafile' });
  }
  return store;
}

/** A datafile posted over HTTP (the SDK CLI's /v1/build and /v1/deploy), at the path discovery would give it. */
export interface PostedDatafile {
  path: string;
  text: string;
}

export interface ProjectApplyRequest {
  /** The whole project: resources it lacks are deleted, as a Tinybird build or deployment deletes them. */
  files: PostedDatafile[];
  /** Plan and check only (`tinybird deploy --check`): nothing changes. */
  check: boolean;
  /** Apply a plan that loses data (a datasource or columns holding rows dropped); otherwise it is refused. */
  allowDataLoss: boolean;
  /** What asked, for dev's output (`tinybird build`, `tinybird deploy`). */
  origin: string;
}

export interface ProjectApplyOutcome {
  /** Why the project was not applied (or, with `check`, would not be); empty on success. */
  errors: { filename?: string; error: string }[];
  /** What changed (with `check`: what would change). */
  changes: Change[];
}

/**
 * How `dev` lets an HTTP client replace the project it serves (Tinybird's SDK CLI: `tinybird build`, `deploy`).
 * `serve` has none: production deploys go through `emailstats deploy`.
 */
export interface ProjectApi {
  /** The workspace's name, as GET /v1/workspace reports it. */
  name: string;
  apply(request: ProjectApplyRequest): Promise<ProjectApplyOutcome>;
}
