// What `serve` serves: the live deployment read from ClickHouse, turned into a Workspace, and swapped for a
// newer one when the live pointer moves (a cheap poll of one small table). Requests in flight keep the
// Workspace they started with, so a switch fails none of them. The same poll follows the rewrite record of a
// deploy in progress and holds the Ingestor's flushes to the tables being rewritten (see docs/deploy.md).
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDiagnostic } from '../datafile/index.js';
import type { Engine } from '../engine/types.js';
import type { Ingestor } from '../ingest/index.js';
import { validateNodes } from '../project/build.js';
import { emptyProject, hasErrors } from '../project/model.js';
import { DEFAULT_LIMITS, type QueryLimits, type Workspace } from '../server/workspace.js';
import { TokenStore } from '../server/auth.js';
import { projectFromSources } from './sources.js';
import { DeploymentStore, type Deployment, type Rewriting } from './store.js';
import { tokenStoreFor } from './tokens.js';
import { holdServes, leaseFromEnv, ownerName, rewriterOf, type ServeHold } from './rewrite-hold.js';
import { pipeSecrets } from '../project/secrets.js';


export async function workspaceFor(engine: Engine, deployment: Deployment, ingestor: Ingestor | undefined, limits: QueryLimits = DEFAULT_LIMITS): Promise<Workspace> {
  const project = projectFromSources(deployment.sources, `deployment #${deployment.id}`);
  if (hasErrors(project.diagnostics)) {
    const text = project.diagnostics.map((d) => formatDiagnostic(d, project.sources.get(d.file))).join('\n');
    throw new Error(`deployment #${deployment.id} does not parse with this version of emailstats:\n${text}`);
  }
  // The endpoints' output columns, for the API's docs; the deploy already checked the nodes.
  const { endpointColumns } = await validateNodes(engine, project);
  return { project, engine, tokens: tokenStoreFor(deployment.tokens, process.env.EMAILSTATS_ADMIN_TOKEN), ingestor, limits, endpointColumns, secrets: pipeSecrets() };
}

/** How long a live deployment that failed to load waits before the next attempt. */
const LOAD_RETRY_MS = 30_000;

export class LiveWorkspace {
  private current: Workspace;
  private liveId?: number;
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private readonly store: DeploymentStore;
  /** Tables whose flushes this process holds because a deploy is rewriting them. */
  private readonly holding = new Set<string>();
  /** The live deployment that last failed to load, when to try it again, and why (logged once). */
  private failed?: { id: number; retryAt: number; message: string };
  /** This process's poll interval; a replace it runs waits two of them for the other serve processes. */
  private pollMs = 2000;

  constructor(
    private readonly engine: Engine,
    private readonly ingestor: Ingestor | undefined,
    private readonly log: (line: string) => void,
    private readonly limits: QueryLimits = DEFAULT_LIMITS,
  ) {
    this.store = new DeploymentStore(engine);
    this.current = { project: emptyProject('(no deployment)'), engine, tokens: new TokenStore(), ingestor, limits, endpointColumns: new Map() };
  }

  get workspace(): Workspace {
    return this.current;
  }

  get deploymentId(): number | undefined {
    return this.liveId;
  }

  /** Loads the live deployment if it moved. Errors are logged; the last good deployment keeps serving. */
  async refresh(): Promise<void> {
    await this.followRewrite();
    let id: number | undefined;
    try {
      id = (await this.store.exists()) ? await this.store.liveId() : undefined;
      if (id === undefined || id === this.liveId) return;
      // A deployment that failed to load is tried again after a pause, not on every poll of every process.
      if (this.failed?.id === id && Date.now() < this.failed.retryAt) return;
      const deployment = await this.store.get(id);
      if (!deployment) throw new Error(`the live pointer names deployment #${id}, which has no record`);
      this.current = await workspaceFor(this.engine, deployment, this.ingestor, this.limits);
      this.current.holdOtherWriters = async (tables) => {
        const hold = await holdServes(this.store, tables, { pollMs: this.pollMs, leaseMs: leaseFromEnv(process.env), log: this.log });
        return { stillHeld: () => hold.stillHeld(), end: () => this.endHold(hold, tables) };
      };
      this.current.rewritingBy = (table) => rewriterOf(this.store, table);
      const was = this.liveId;
      this.liveId = id;
      this.log(was === undefined ? `» serving deployment #${id} (content ${deployment.contentHash})` : `» switched from deployment #${was} to #${id} (content ${deployment.contentHash})`);
      if (process.env.EMAILSTATS_ADMIN_TOKEN && !this.current.tokens.jwtSecret) {
        this.log(`! EMAILSTATS_ADMIN_TOKEN is not deployment #${id}'s admin token: JWTs are refused. Set it to the admin token deploy printed or was given.`);
      }
      this.failed = undefined;
    } catch (err) {
      const message = (err as Error).message;
      // Said once per failure, with the way out; the same failure on a later retry is not logged again.
      if (this.failed?.message !== message)
        this.log(
          `✗ cannot load the live deployment: ${message}; still serving ${this.liveId === undefined ? 'nothing' : `#${this.liveId}`}. ` +
            `Retrying every ${LOAD_RETRY_MS / 1000} s; if it does not parse, run this emailstats version's \`emailstats deploy\` again or \`emailstats deployment rollback\`.`,
        );
      this.failed = id === undefined ? undefined : { id, retryAt: Date.now() + LOAD_RETRY_MS, message };
    }
  }

  /**
   * Holds flushes to the tables being rewritten (by a deploy, or a datasource replace run by any serve
   * process), releases each once no active record names it. When the records cannot be read, holds stay as
   * they are (the Ingestor's timeout bounds them).
   */
  private async followRewrite(): Promise<void> {
    if (!this.ingestor) return;
    let records: Rewriting[];
    try {
      records = await this.store.rewriting();
    } catch (err) {
      this.log(`✗ cannot read the rewrite record: ${(err as Error).message}`);
      return;
    }
    // Per table: who holds it, and the longest lease left.
    const want = new Map<string, Rewriting>();
    for (const r of records) for (const t of r.tables) if (!want.has(t) || want.get(t)!.remainingMs < r.remainingMs) want.set(t, r);
    for (const [t, r] of want) {
      if (this.holding.has(t)) continue;
      this.holding.add(t);
      this.log(`» ${ownerName(r)} is rewriting ${t}: holding event flushes to it (events are still accepted)`);
      void this.ingestor.hold(t, r.remainingMs).catch((err) => this.log(`✗ cannot hold flushes to ${t}: ${(err as Error).message}`));
    }
    for (const t of this.holding) {
      if (want.has(t)) continue;
      this.holding.delete(t);
      this.ingestor.release(t);
      this.log(`» ${t} is no longer being rewritten: resuming event flushes`);
    }
  }

  start(intervalMs: number): void {
    this.pollMs = intervalMs;
    this.timer = setInterval(() => {
      this.polling ??= this.refresh().finally(() => (this.polling = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
  }

  /**
   * Ends a replace's hold. A failure must not turn the replace's answer into an error (its rows are replaced), so
   * it is retried once and then logged: the hold then lasts until its lease ends.
   */
  private async endHold(hold: ServeHold, tables: string[]): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return await hold.end();
      } catch (e) {
        if (attempt === 1)
          this.log(`✗ could not end the hold on ${tables.join(', ')} in the rewrite record (${(e as Error).message}); serve processes keep holding those flushes until its lease ends`);
        else await sleep(1000);
      }
    }
  }
}
