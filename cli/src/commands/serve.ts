// `emailstats serve`: the production API server. It reads the live deployment from ClickHouse (no project
// files), serves the same HTTP API as dev, keeps its own write-ahead log for events, and switches to a new
// live deployment without a restart. Stateless apart from the WAL, so several can run behind a load balancer.
import { Option, type Command } from 'commander';
import path from 'node:path';
import { LiveWorkspace } from '../deploy/live-workspace.js';
import { POLL_ENV } from '../deploy/rewrite-hold.js';
import { Ingestor } from '../ingest/index.js';
import { createApiServer } from '../server/app.js';
import { listenOrExplain, positiveInt } from './common.js';
import { DEFAULT_PORT, servingOptions, withServingOptions, type ServingCliOptions } from './serving-options.js';
import { readTimeoutFor } from '../engine/server.js';
import { openTarget, withTarget, type TargetCliOptions } from './target.js';
import { CORS_ANY, describeCors } from '../server/cors.js';
import { DeploymentStore } from '../deploy/store.js';
import { builtElsewhere } from '../project/apply.js';
import type { Engine } from '../engine/types.js';
import { reportFatal, UserError } from '../util/fatal.js';
import { startCopySchedules } from '../server/copy-schedules.js';
import { JobRegistry } from '../server/jobs.js';
import { CopySchedulesLease } from '../server/copy-schedules-lease.js';

interface ServeOptions extends TargetCliOptions, ServingCliOptions {
  host: string;
  walDir: string;
  pollIntervalMs: string;
  copySchedules?: boolean;
}

export function register(program: Command): void {
  withServingOptions(withTarget(program.command('serve')), 'any origin, as Tinybird')
    .description('serve the live deployment of a ClickHouse server over HTTP (production)')
    .addOption(new Option('--port <port>', 'HTTP port').env('EMAILSTATS_PORT').default(DEFAULT_PORT))
    .addOption(new Option('--host <host>', 'interface to listen on').env('EMAILSTATS_HOST').default('0.0.0.0'))
    .addOption(new Option('--wal-dir <dir>', "this process's write-ahead log for events (one per process)").env('EMAILSTATS_WAL_DIR').default('emailstats-wal'))
    .addOption(new Option('--poll-interval-ms <ms>', 'how often to look for a new live deployment').env(POLL_ENV).default('2000'))
    .addOption(new Option('--copy-schedules', `run copy pipes on their COPY_SCHEDULE (or ${COPY_SCHEDULES_ENV}=1); of the serves of a database given it, one at a time runs them`))
    .action(async (opts: ServeOptions) => runServe(opts));
}

const COPY_SCHEDULES_ENV = 'EMAILSTATS_COPY_SCHEDULES';

/** An on/off environment variable: 1/true/yes or 0/false/no (or unset); anything else is refused, naming it. */
function envSwitch(name: string): boolean {
  const v = (process.env[name] ?? '').trim().toLowerCase();
  if (v === '' || v === '0' || v === 'false' || v === 'no') return false;
  if (v === '1' || v === 'true' || v === 'yes') return true;
  throw new UserError(`${name}=${process.env[name]} is not a switch: set it to 1 (run scheduled copy pipes) or 0`);
}

async function runServe(opts: ServeOptions): Promise<void> {
  // Any origin by default, as Tinybird's API: tokens are bearer credentials, never cookies (docs/decisions.md).
  const serving = servingOptions(opts, CORS_ANY);
  const runCopies = Boolean(opts.copySchedules) || envSwitch(COPY_SCHEDULES_ENV);
  const pollMs = Math.max(100, positiveInt(opts.pollIntervalMs, '--poll-interval-ms'));
  const out = process.stdout;
  const log = (line: string): void => void out.write(line + '\n');
  const engine = await openTarget(opts, undefined, readTimeoutFor(serving.queryLimits.maxExecutionTime));
  log(`» engine: ${engine.description}, ClickHouse ${engine.version.text}`);
  await refuseOtherPlacement(engine);
  const walDir = path.resolve(opts.walDir);
  const ingestor = new Ingestor({
    engine,
    walDir,
    log: (m) => log(`△ ingest: ${m}`),
    ...serving.wal,
    walLock: {
      hint: 'stop that process, or give this serve another folder (--wal-dir or EMAILSTATS_WAL_DIR); serves of one database need one each',
      // Before the server is up there is nothing to stop gracefully.
      onLost: (message) => (stopServe ? void stopServe('write-ahead log taken over', 1) : reportFatal(new UserError(message))),
    },
  });
  let stopServe: ((reason: string, exitCode: number) => Promise<void>) | undefined;
  await ingestor.claimWal();
  const live = new LiveWorkspace(engine, ingestor, log, serving.queryLimits);
  await live.refresh();
  if (live.deploymentId === undefined) log('» no live deployment yet: waiting for `emailstats deploy`');
  await ingestor.start();
  // Copies run over HTTP and on schedule, deletes and URL imports: one list of jobs (GET /v0/jobs).
  const jobs = new JobRegistry();
  const server = createApiServer({ workspace: () => live.workspace, log, limits: serving.http, cors: serving.cors, jobs, publicUrl: serving.publicUrl });
  log(`» CORS (browsers calling /v0): ${describeCors(serving.cors)}`);
  const http = await listenOrExplain(server, serving.port, opts.host, async () => {
    await ingestor.close();
    await engine.close();
  });
  live.start(pollMs);
  log(`» emailstats serve listening on ${http.url}${serving.publicUrl ? `, reached at ${serving.publicUrl}` : ''} (wal ${walDir}, polling for deployments every ${pollMs} ms)`);
  // Off by default. Of the serves of this database given it, the one holding the lease runs them.
  const copies = startCopySchedules({
    workspace: () => live.workspace,
    log,
    run: runCopies,
    howToRun: 'start serves of this database with --copy-schedules to run them (one of them at a time does)',
    lease: runCopies ? new CopySchedulesLease(engine, log) : undefined,
    jobs,
  });

  let stopping = false;
  const stop = async (signal: string, exitCode = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // Taken over, the folder's events are the new holder's to insert: this process flushes nothing.
    log(`» ${signal}: stopping (no new connections, finishing requests${ingestor.refusing ? '' : ', flushing events'})`);
    await live.stop();
    // No new scheduled copy from here on; one running gets a few seconds, like the log flush below.
    await Promise.all([copies.stop(), http.close()]); // http: resolves once in-flight requests have been answered
    await copies.releaseLease(); // another serve takes the schedules over at its next minute
    await ingestor.close();
    await engine.close();
    log('» stopped');
    process.exit(exitCode);
  };
  stopServe = stop;
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/**
 * A serve must write the way the tables were deployed: through the Distributed tables with the cluster's DDL
 * (replace, truncate, delete), or to one server's tables. The applied schema state records which.
 */
async function refuseOtherPlacement(engine: Engine): Promise<void> {
  const store = new DeploymentStore(engine);
  if (!(await store.exists())) return;
  const applied = await store.appliedState();
  if (!builtElsewhere(engine, applied)) return;
  await engine.close();
  throw new UserError(
    applied.cluster
      ? `the live deployment of ${engine.description} was deployed across cluster ${applied.cluster}: start serve with --clickhouse-cluster ${applied.cluster} (any node of the cluster)`
      : `the live deployment of ${engine.description} was deployed without a cluster: start serve without --clickhouse-cluster`,
  );
}
