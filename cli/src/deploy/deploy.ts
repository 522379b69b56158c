// `emailstats deploy`: plan against the live deployment recorded in the target database, then apply. The
// order makes a deploy safe to kill at any point: the new deployment is recorded as `deploying`; new tables
// are built beside the live ones and swapped in at the end; every applied step is recorded (so a re-run
// resumes from what was really done); the live pointer flips last. Until then `serve` keeps the old one.
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { formatDiagnostic } from '../datafile/index.js';
import type { Diagnostic } from '../datafile/types.js';
import type { Engine } from '../engine/types.js';
import { progressPrinter } from './progress.js';
import { executeApply, formatChange, planApply, rewrittenTables, EMPTY_STATE, type ApplyHooks, type ApplyPlan, type Change } from '../project/apply.js';
import type { Project } from '../project/model.js';
import { UserError } from '../util/fatal.js';
import { checkOnServer } from './check.js';
import { buildDeploymentPlan, formatPlan, type DeploymentPlan } from './plan.js';
import { contentHash, deployableSources } from './sources.js';
import { DeploymentStore, isReplaceOwner, timestampNow, type Deployment, type Rewriting } from './store.js';
import { resolveTokens } from './tokens.js';
import { HOLD_ENV, busy, leaseFromEnv, overlapping, pollFromEnv, recordHold, type ServeHold } from './rewrite-hold.js';
import { acquireDeployLock, type DeployLock } from './lock.js';

/** Test hook: milliseconds to wait once the new tables are filled, before anything is swapped. */
export const PAUSE_ENV = 'EMAILSTATS_DEPLOY_PAUSE_BEFORE_SWAP_MS';

export interface DeployOptions {
  engine: Engine;
  project: Project;
  check: boolean;
  allowDestructive: boolean;
  /** Asked once the plan is printed; false stops the deploy. */
  confirm: () => Promise<boolean>;
  /** Opens another connection to the same server on a scratch database (for --check). */
  openScratch: (database: string) => Promise<Engine>;
  out: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** End the deploy lock of a holder known to be dead instead of waiting for its lease (`--break-lock`). */
  breakLock?: boolean;
  /** View targets to recompute from their views although nothing changed (`--rebuild`, project/apply.ts). */
  rebuild?: string[];
}

export function whoDeploys(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GITHUB_ACTOR) return `${env.GITHUB_ACTOR} (GitHub Actions)`;
  return `${os.userInfo().username}@${os.hostname()}`;
}

export function gitCommit(root: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.GITHUB_SHA) return env.GITHUB_SHA;
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return '';
  }
}

function diagnosticsError(what: string, diagnostics: readonly Diagnostic[], project: Project): UserError {
  const text = diagnostics.map((d) => formatDiagnostic(d, project.sources.get(d.file))).join('\n');
  return new UserError(`${what}:\n${text}`);
}

export interface DeployOutcome {
  kind: 'checked' | 'unchanged' | 'deployed' | 'cancelled';
  deploymentId?: number;
  changes: Change[];
}

/**
 * Ends the event-flush holds that deploys left active. Called with the deploy lock held: no other deploy runs,
 * so an active record of a deployment is a killed deploy's (serve would otherwise hold until its lease ends).
 */
async function endKilledHolds(store: DeploymentStore, out: NodeJS.WritableStream): Promise<void> {
  for (const r of await store.rewriting()) {
    if (isReplaceOwner(r.deploymentId)) continue; // a replace run by serve: it ends its own record
    await store.endRewrite(r.deploymentId);
    out.write(`» deployment #${r.deploymentId} was stopped while rewriting ${r.tables.join(', ')}: ended its event-flush hold (serve processes resume flushing on their next poll)\n`);
  }
}

/** Runs `body` holding the database's deploy lock (refuses at once, naming the holder, when another has it). */
async function withDeployLock<T>(
  store: DeploymentStore,
  lockOpts: { what: string; again: string; breakLock?: boolean },
  out: NodeJS.WritableStream,
  env: NodeJS.ProcessEnv,
  body: (lock: DeployLock) => Promise<T>,
): Promise<T> {
  const lock = await acquireDeployLock(store.engine, { ...lockOpts, who: whoDeploys(env), env, log: (l) => out.write(l + '\n') });
  try {
    await endKilledHolds(store, out);
    return await body(lock);
  } finally {
    await lock.release();
  }
}

export async function deploy(opts: DeployOptions): Promise<DeployOutcome> {
  const env = opts.env ?? process.env;
  const store = new DeploymentStore(opts.engine);
  // --check must leave the target untouched: it takes no lock and reads the record only when one exists.
  if (opts.check) return deployWith(opts, store, undefined);
  await store.ensureTables();
  return withDeployLock(store, { what: 'a deploy (planning, no deployment id yet)', again: 'emailstats deploy', breakLock: opts.breakLock }, opts.out, env, (lock) => deployWith(opts, store, lock));
}

async function deployWith(opts: DeployOptions, store: DeploymentStore, lock: DeployLock | undefined): Promise<DeployOutcome> {
  const { engine, project, out } = opts;
  const env = opts.env ?? process.env;
  // A rewrite or a backfill of a large table runs for minutes: say how far it has got meanwhile. Read first, so
  // that a bad EMAILSTATS_PROGRESS_INTERVAL stops the deploy before anything is written.
  const progress = progressPrinter(out, env);
  const recorded = await store.exists();
  const live = recorded ? await store.live() : undefined;
  const applied = recorded ? await store.appliedState() : EMPTY_STATE;

  const applyPlan: ApplyPlan = await planApply(engine, project, applied, { rebuild: opts.rebuild });
  if (applyPlan.diagnostics.length) throw diagnosticsError('the project cannot be applied to this server', applyPlan.diagnostics, project);
  const sources = deployableSources(project);
  const hash = contentHash(sources);
  const tokens = resolveTokens(project, live?.tokens ?? [], env);
  const plan: DeploymentPlan = buildDeploymentPlan(sources, applyPlan, live, tokens.definitions);

  out.write(`» target: ${engine.description}, ClickHouse ${engine.version.text}\n`);
  out.write(live ? `» live deployment: #${live.id} (content ${live.contentHash}, ${live.createdAt} by ${live.who})\n` : '» no live deployment yet\n');
  if (live && live.contentHash === hash && !plan.schemaWork && !opts.check) {
    out.write(`✓ No changes: deployment #${live.id} is live with this content (${hash}). Nothing to do.\n`);
    return { kind: 'unchanged', deploymentId: live.id, changes: [] };
  }
  out.write(`» plan for content ${hash}:\n${formatPlan(plan)}`);
  if (plan.impossible.length) throw new UserError(`the plan cannot run, nothing was changed:\n  ${plan.impossible.join('\n  ')}`);
  if (plan.destructive.length && !opts.allowDestructive) {
    throw new UserError(`the plan deletes data, nothing was changed:\n  ${plan.destructive.join('\n  ')}\nIf that is intended, run again with --allow-destructive-operations.`);
  }

  if (opts.check) {
    const diagnostics = await checkOnServer(engine, project, applyPlan, opts.openScratch);
    if (diagnostics.length) throw diagnosticsError(`check failed on ${engine.description}; nothing was changed`, diagnostics, project);
    out.write('✓ Check passed: every datasource, view and node was analysed by the target server; nothing was changed.\n');
    return { kind: 'checked', changes: [] };
  }
  if (!(await (lock ? lock.whileAsking(() => opts.confirm()) : opts.confirm()))) {
    out.write('Deploy cancelled; nothing was changed.\n');
    return { kind: 'cancelled', changes: [] };
  }
  // A datasource replace run by a serve process holds some of the tables this plan rewrites: wait for it.
  const then = 'run deploy again when it is done (a killed replace is over when its lease ends)';
  const replacesOn = (tables: string[]) => (active: Rewriting[]) => overlapping(active.filter((r) => isReplaceOwner(r.deploymentId)), tables);
  const before = replacesOn(rewrittenTables(applyPlan))(await store.rewriting());
  if (before.length) throw busy(before, then);

  // The question may have waited a long time: the lock must still be ours before anything is written.
  await lock?.assertHeld('recording the deployment');
  const id = await store.nextId(); // unique: ids are only taken under the lock
  await lock?.describe(`deploy of deployment #${id}`);
  const record: Deployment = { id, createdAt: timestampNow(), who: whoDeploys(env), gitCommit: gitCommit(project.root, env), contentHash: hash, status: 'deploying', sources, state: applied, tokens: tokens.definitions };
  await store.save(record);
  out.write(`» deployment #${id}: applying\n`);
  const pauseMs = Number(env[PAUSE_ENV] ?? 0);
  const leaseMs = leaseFromEnv(env);
  let hold: ServeHold | undefined;
  const hooks: ApplyHooks = {
    onState: (s) => store.recordApplied(id, s),
    // serve processes keep inserting events into the live tables; rows inserted after the copy started would
    // be lost at the swap. The record makes every serve hold those flushes (its WAL keeps the rows) until it ends.
    beforeRewrite: async (tables) => {
      // A killed deploy's record was ended when the lock was taken (endKilledHolds).
      hold = await recordHold(store, id, tables, { pollMs: pollFromEnv(env), leaseMs, log: (l) => out.write(l + '\n'), conflicts: replacesOn(tables), then });
    },
    afterRewrite: async () => {
      if (!hold) return; // refused before recording: the record belongs to someone else
      await hold.end();
      out.write('» event flushes resume\n');
    },
    beforeSwap: async () => {
      if (pauseMs > 0) {
        out.write(`» paused before swap for ${pauseMs} ms (${PAUSE_ENV})\n`);
        await sleep(pauseMs);
      }
      // Past the lease, serve processes may have resumed flushing into the old tables: swapping would lose rows.
      if (hold && !(await hold.stillHeld())) {
        throw new UserError(`the rewrite took longer than its lease (${HOLD_ENV}=${leaseMs} ms); nothing was swapped, deployment #${id} is not live. Run deploy again with a larger ${HOLD_ENV}.`);
      }
      // Another deploy may have taken a lapsed lock and ended this hold: swapping then could lose rows.
      await lock?.assertHeld(`the swap of deployment #${id}`);
    },
  };
  let result: Awaited<ReturnType<typeof executeApply>>;
  engine.onProgress = progress;
  try {
    result = await executeApply(engine, project, applyPlan, hooks);
  } catch (e) {
    // Refused or cut short (lease, busy tables, a lost connection): the record must not stay `deploying`.
    await store.save({ ...record, status: 'failed' }).catch(() => {});
    throw e;
  } finally {
    engine.onProgress = undefined;
  }
  for (const c of result.changes) out.write(formatChange(c) + '\n');
  if (result.diagnostics.length) {
    await store.save({ ...record, status: 'failed', state: result.state });
    const keeps = live ? `deployment #${live.id} stays live` : 'nothing is live';
    throw diagnosticsError(`deployment #${id} failed (${keeps}; run deploy again once fixed, it resumes from what was applied)`, result.diagnostics, project);
  }
  await lock?.assertHeld(`the promotion of deployment #${id}`).catch(async (e: unknown) => {
    await store.save({ ...record, status: 'failed', state: result.state }).catch(() => {});
    throw e;
  });
  await store.save({ ...record, status: 'ready', state: result.state });
  await store.setLive(id, record.who, 'promote');
  out.write(`✓ Deployment #${id} is live (content ${hash}).\n`);
  for (const [name, secret] of Object.entries(tokens.minted)) out.write(`» new token ${name}: ${secret} (shown once; only its SHA-256 is stored)\n`);
  return { kind: 'deployed', deploymentId: id, changes: result.changes };
}

/**
 * Makes the deployment promoted before the live one live again; schema changes stay applied. `confirm` is asked
 * (with both ids) before anything changes; a refusal leaves the live deployment as it is and returns undefined.
 */
export async function rollback(
  engine: Engine,
  out: NodeJS.WritableStream,
  env: NodeJS.ProcessEnv = process.env,
  confirm: (question: string) => Promise<boolean> = async () => true,
  breakLock = false,
): Promise<number | undefined> {
  const store = new DeploymentStore(engine);
  if (!(await store.exists())) throw new UserError(`nothing to roll back: ${engine.description} has no deployments`);
  // A rollback while a deploy runs would be undone by its promotion (or promote a half-applied schema's pipes).
  return withDeployLock(store, { what: 'a rollback', again: 'emailstats deployment rollback', breakLock }, out, env, (lock) => rollbackLocked(store, lock, out, env, confirm));
}

async function rollbackLocked(store: DeploymentStore, lock: DeployLock, out: NodeJS.WritableStream, env: NodeJS.ProcessEnv, confirm: (question: string) => Promise<boolean>): Promise<number | undefined> {
  const history = await store.liveHistory();
  const current = history.at(-1)?.deploymentId;
  // The previous deployment is the one promoted before the current one (so rolling back twice goes back twice).
  const promoted = history.filter((h) => h.action === 'promote').map((h) => h.deploymentId);
  const at = promoted.lastIndexOf(current!);
  const previous = promoted.slice(0, at < 0 ? promoted.length : at).reverse().find((id) => id !== current);
  if (previous === undefined) throw new UserError(`no earlier deployment to roll back to: #${current} is the first one`);
  if (!(await lock.whileAsking(() => confirm(`Make deployment #${previous} live again instead of #${current}?`)))) {
    out.write(`Nothing changed: deployment #${current} is still live.\n`);
    return undefined;
  }
  // The question may have waited a long time: a deploy promoted meanwhile is not silently undone.
  const now = (await store.liveHistory()).at(-1)?.deploymentId;
  if (now !== current) throw new UserError(`deployment #${now} became live while you were asked; nothing changed. Run rollback again to roll it back`);
  await lock.assertHeld(`the rollback to deployment #${previous}`);
  await store.setLive(previous, whoDeploys(env), 'rollback');
  out.write(`✓ Deployment #${previous} is live again (was #${current}): its pipes, endpoints and tokens are served from now on.\n`);
  out.write('  Schema changes stay applied: tables, columns and materialized views keep the shape deployment #' + current + ' gave them.\n');
  out.write('  Running serve processes pick this up within their poll interval.\n');
  return previous;
}
