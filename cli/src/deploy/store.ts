// The deployment record, kept in the target ClickHouse database itself so that `serve` needs nothing but a
// URL. Everything is append-only (ClickHouse 18.16 has no UPDATE worth the name):
//   _emailstats_deployments  one row per deployment and status change; ReplacingMergeTree keeps the latest
//   _emailstats_live         one row per promotion or rollback; the newest row names the live deployment
//   _emailstats_schema       the ResourceState actually applied, appended after every step of a deploy, so
//                            a deploy that was killed half-way resumes from what it really did
//   _emailstats_rewriting    one row when a writer (a deploy, or a replace run by serve) starts rewriting
//                            tables and one when it is done; `serve` holds its event flushes to the tables of
//                            every owner whose newest row is active (rewrite-hold.ts)
//   _emailstats_deploy_lock  claims on the one-deploy-at-a-time lock, with a renewed lease (lock.ts)
import { quoteIdent, quoteString } from '../sql/quote.js';
import { LOCK_TABLE } from './lock.js';
import type { Engine, Settings } from '../engine/types.js';
import { createRecordTable, nextRecordVersion } from './record-table.js';
import { writeEverywhere } from './quorum.js';
import { recordTableExists } from '../engine/tables.js';
import { EMPTY_STATE, type ResourceState } from '../project/apply.js';
import type { TokenDefinition } from './tokens.js';

export const DEPLOYMENTS_TABLE = '_emailstats_deployments';
export const LIVE_TABLE = '_emailstats_live';
export const SCHEMA_TABLE = '_emailstats_schema';
export const REWRITING_TABLE = '_emailstats_rewriting';
export const INTERNAL_TABLES = [DEPLOYMENTS_TABLE, LIVE_TABLE, SCHEMA_TABLE, REWRITING_TABLE, LOCK_TABLE];

/**
 * Tables one writer (a deploy, or a datasource replace run by serve) is rewriting: serve holds its flushes to
 * them for `remainingMs` (the lease) at most. `deploymentId` is the owner: a deployment id, or a replace id
 * (REPLACE_ID_BASE and above). `version` orders the owners' records (the earlier one wins a conflict).
 */
export interface Rewriting {
  deploymentId: number;
  tables: string[];
  since: string;
  remainingMs: number;
  version: number;
}

/** Owner ids from here on are datasource replaces run by serve processes (deployments count from 1). */
export const REPLACE_ID_BASE = 2 ** 40;
export const isReplaceOwner = (id: number): boolean => id >= REPLACE_ID_BASE;

export type DeploymentStatus = 'deploying' | 'ready' | 'failed';

export interface DeploymentSummary {
  id: number;
  createdAt: string;
  who: string;
  gitCommit: string;
  contentHash: string;
  status: DeploymentStatus;
}

export interface Deployment extends DeploymentSummary {
  /** Datafile text by relative path: `serve` parses these into a Project. */
  sources: Record<string, string>;
  /** The schema state after this deployment was applied. */
  state: ResourceState;
  tokens: TokenDefinition[];
}

export interface LiveEvent {
  deploymentId: number;
  changedAt: string;
  who: string;
  action: 'promote' | 'rollback';
}

interface DeploymentRow {
  id: number | string;
  created_at: string;
  who: string;
  git_commit: string;
  content_hash: string;
  status: DeploymentStatus;
  sources?: string;
  state?: string;
  tokens?: string;
}


function now(): string {
  return new Date().toISOString().slice(0, 19).replace('T', ' ');
}

export class DeploymentStore {
  constructor(readonly engine: Engine) {}

  /** True when this database has had a deployment (the tables exist); `--check` uses it to stay read-only. */
  async exists(): Promise<boolean> {
    return recordTableExists(this.engine, LIVE_TABLE);
  }

  async ensureTables(): Promise<void> {
    const e = this.engine;
    await createRecordTable(e, DEPLOYMENTS_TABLE, '(id UInt64, version UInt64, created_at DateTime, who String, git_commit String, content_hash String, status String, sources String, state String, tokens String)', 'ReplacingMergeTree(version) ORDER BY id');
    await createRecordTable(e, LIVE_TABLE, '(version UInt64, deployment_id UInt64, changed_at DateTime, who String, action String)', 'MergeTree ORDER BY version');
    await createRecordTable(e, SCHEMA_TABLE, '(version UInt64, deployment_id UInt64, state String)', 'MergeTree ORDER BY version');
    await createRecordTable(e, REWRITING_TABLE, '(version UInt64, deployment_id UInt64, tables String, since DateTime, until DateTime, active UInt8)', 'MergeTree ORDER BY version');
  }

  /**
   * Records that `tables` are being rewritten, with a lease of `leaseMs` counted on the server's clock (so
   * serve and deploy need not agree on time). A killed deploy leaves the row: it lapses with the lease.
   */
  async startRewrite(deploymentId: number, tables: string[], leaseMs: number): Promise<void> {
    const lit = quoteString(JSON.stringify(tables));
    const secs = Math.max(1, Math.ceil(leaseMs / 1000));
    await this.write('the rewrite hold', (settings) => this.engine.command(`INSERT INTO ${quoteIdent(REWRITING_TABLE)} (version, deployment_id, tables, since, until, active) SELECT ${nextRecordVersion()}, ${Number(deploymentId)}, ${lit}, now(), now() + ${secs}, 1`, { settings }));
  }

  async endRewrite(deploymentId: number): Promise<void> {
    await this.write('the rewrite hold', (settings) => this.engine.command(`INSERT INTO ${quoteIdent(REWRITING_TABLE)} (version, deployment_id, tables, since, until, active) SELECT ${nextRecordVersion()}, ${Number(deploymentId)}, '[]', now(), now(), 0`, { settings }));
  }

  /**
   * The rewrites in progress: per owner its newest record, kept when it is active and its lease is not over.
   * `serve` polls this and holds the union of their tables.
   */
  async rewriting(): Promise<Rewriting[]> {
    if (!(await recordTableExists(this.engine, REWRITING_TABLE))) return []; // deployed by a version without the record
    // Aliases differ from the column names: ClickHouse substitutes aliases, and `max(version) AS version` would
    // put an aggregate inside argMax(..., version).
    const rows = await this.engine.queryRows<{ id: number | string; t: string; s: string; a: number | string; left: number | string; latest: number | string }>(
      `SELECT id, t, s, a, left, latest FROM (
         SELECT deployment_id AS id, argMax(tables, version) AS t, toString(argMax(since, version)) AS s,
           argMax(active, version) AS a, toInt64(argMax(until, version)) - toInt64(now()) AS left, max(version) AS latest
         FROM ${quoteIdent(REWRITING_TABLE)} GROUP BY deployment_id
       ) WHERE a = 1 AND left > 0 ORDER BY latest`,
    );
    return rows.map((r) => ({ deploymentId: Number(r.id), tables: JSON.parse(r.t) as string[], since: r.s, remainingMs: Number(r.left) * 1000, version: Number(r.latest) }));
  }

  /** The id of the live deployment; a cheap query that `serve` polls. */
  async liveId(): Promise<number | undefined> {
    const rows = await this.engine.queryRows<{ id: number | string }>(`SELECT deployment_id AS id FROM ${quoteIdent(LIVE_TABLE)} ORDER BY version DESC LIMIT 1`);
    return rows.length ? Number(rows[0].id) : undefined;
  }

  async live(): Promise<Deployment | undefined> {
    const id = await this.liveId();
    return id === undefined ? undefined : this.get(id);
  }

  async get(id: number): Promise<Deployment | undefined> {
    const rows = await this.engine.queryRows<DeploymentRow>(`SELECT * FROM ${quoteIdent(DEPLOYMENTS_TABLE)} FINAL WHERE id = ${Number(id)}`);
    if (!rows.length) return undefined;
    const r = rows[0];
    return { ...summary(r), sources: JSON.parse(r.sources ?? '{}') as Record<string, string>, state: JSON.parse(r.state || 'null') ?? EMPTY_STATE, tokens: JSON.parse(r.tokens || '[]') as TokenDefinition[] };
  }

  async list(): Promise<DeploymentSummary[]> {
    const rows = await this.engine.queryRows<DeploymentRow>(`SELECT id, created_at, who, git_commit, content_hash, status FROM ${quoteIdent(DEPLOYMENTS_TABLE)} FINAL ORDER BY id`);
    return rows.map(summary);
  }

  async liveHistory(): Promise<LiveEvent[]> {
    const rows = await this.engine.queryRows<{ deployment_id: number | string; changed_at: string; who: string; action: LiveEvent['action'] }>(
      `SELECT deployment_id, changed_at, who, action FROM ${quoteIdent(LIVE_TABLE)} ORDER BY version`,
    );
    return rows.map((r) => ({ deploymentId: Number(r.deployment_id), changedAt: r.changed_at, who: r.who, action: r.action }));
  }

  async nextId(): Promise<number> {
    const [r] = await this.engine.queryRows<{ m: number | string }>(`SELECT max(id) AS m FROM ${quoteIdent(DEPLOYMENTS_TABLE)}`);
    return Number(r?.m ?? 0) + 1;
  }

  /** Every record write: on a cluster it returns once every node has the row (deploy/quorum.ts). */
  private write(what: string, insert: (settings: Settings | undefined) => Promise<void>): Promise<void> {
    return writeEverywhere(this.engine, what, insert);
  }

  async save(d: Deployment): Promise<void> {
    await this.write(`the record of deployment #${d.id}`, (settings) => this.engine.insertRows(DEPLOYMENTS_TABLE, [
      {
        id: d.id,
        version: nextRecordVersion(),
        created_at: d.createdAt,
        who: d.who,
        git_commit: d.gitCommit,
        content_hash: d.contentHash,
        status: d.status,
        sources: JSON.stringify(d.sources),
        state: JSON.stringify(d.state),
        tokens: JSON.stringify(d.tokens),
      },
    ], { settings }));
  }

  async setLive(deploymentId: number, who: string, action: LiveEvent['action']): Promise<void> {
    await this.write('the live pointer', (settings) => this.engine.insertRows(LIVE_TABLE, [{ version: nextRecordVersion(), deployment_id: deploymentId, changed_at: now(), who, action }], { settings }));
  }

  /** The schema as actually applied (may be ahead of the live deployment after an interrupted deploy or a rollback). */
  async appliedState(): Promise<ResourceState> {
    const rows = await this.engine.queryRows<{ state: string }>(`SELECT state FROM ${quoteIdent(SCHEMA_TABLE)} ORDER BY version DESC LIMIT 1`);
    return rows.length ? (JSON.parse(rows[0].state) as ResourceState) : EMPTY_STATE;
  }

  async recordApplied(deploymentId: number, state: ResourceState): Promise<void> {
    await this.write('the applied schema state', (settings) => this.engine.insertRows(SCHEMA_TABLE, [{ version: nextRecordVersion(), deployment_id: deploymentId, state: JSON.stringify(state) }], { settings }));
  }
}

function summary(r: DeploymentRow): DeploymentSummary {
  return { id: Number(r.id), createdAt: r.created_at, who: r.who, gitCommit: r.git_commit, contentHash: r.content_hash, status: r.status };
}

export { now as timestampNow };
