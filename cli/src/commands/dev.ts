// `emailstats dev`: builds the project into the persistent local engine, serves the HTTP API, and rebuilds on
// every change to a datafile or fixture. A broken file prints its error; the last good version keeps serving.
import { Option, type Command } from 'commander';
import { watch, type FSWatcher, existsSync } from 'node:fs';
import path from 'node:path';
import { EmbeddedEngine } from '../engine/embedded.js';
import { describeDedupRepair } from '../engine/dedup-log-repair.js';
import { formatDiagnostic } from '../datafile/index.js';
import type { Diagnostic } from '../datafile/types.js';
import { openEngine } from '../engine/index.js';
import { readTimeoutFor } from '../engine/server.js';
import { quoteIdent } from '../sql/quote.js';
import type { Engine } from '../engine/types.js';
import { Ingestor } from '../ingest/index.js';
import { readJson, writeJsonAtomic } from '../util/files.js';
import { localPaths, walDirFor } from '../local/paths.js';
import { DeploymentStore } from '../deploy/store.js';
import { clearRunningServer, findRunningServer, recordRunningServer } from '../local/running.js';
import { ensureTokenSecrets } from '../local/tokens.js';
import { forgetPostedProject, postedProjectApi, postedProjectFile, restorePostedProject } from '../local/posted-project.js';
import { EMPTY_STATE, sourceChanges, type ResourceState } from '../project/apply.js';
import { buildProject, servedEndpointColumns, uncheckedServedBefore, withoutBrokenPipes } from '../project/build.js';
import { fixtureInUse, loadFixtures } from '../project/fixtures.js';
import { emptyProject, hasErrors, isEndpoint, loadProject, type Project } from '../project/model.js';
import { createApiServer } from '../server/app.js';
import { buildTokenStore, type Workspace } from '../server/workspace.js';
import { ApiTokenRegistry } from '../server/api-tokens.js';
import { reportFatal, UserError } from '../util/fatal.js';
import { engineTarget, listenOrExplain, positiveInt, projectDir, withEngine, withProject, type EngineCliOptions } from './common.js';
import { DEFAULT_PORT, servingOptions, withServingOptions, type ServingCliOptions } from './serving-options.js';
import { printChanges } from './output.js';
import { CORS_ANY, describeCors } from '../server/cors.js';
import { pipeSecrets } from '../project/secrets.js';
import { startCopySchedules } from '../server/copy-schedules.js';
import { JobRegistry } from '../server/jobs.js';

interface DevOptions extends EngineCliOptions, ServingCliOptions {
  project?: string;
  host: string;
  watch: boolean;
  copySchedules: boolean;
  flushIntervalMs?: string;
}

/** Folders whose datafiles and fixtures are watched (see the discovery globs). */
const WATCHED_DIRS = ['.', 'datasources', 'pipes', 'endpoints', 'materializations', 'copies', 'sinks', 'playgrounds', 'connections', 'fixtures'];

export function register(program: Command): void {
  withServingOptions(withEngine(withProject(program.command('dev'))), 'any origin')
    .description('build into the local engine, serve the HTTP API and rebuild on every change')
    .option('--port <port>', 'HTTP port', process.env.EMAILSTATS_PORT ?? DEFAULT_PORT)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--no-watch', 'build and serve without watching for changes')
    .option('--no-copy-schedules', 'do not run copy pipes on their COPY_SCHEDULE (they still run with `emailstats copy run`)')
    .addOption(new Option('--flush-interval-ms <ms>', 'age at which buffered events are inserted into ClickHouse (default 1000)').env('EMAILSTATS_FLUSH_INTERVAL_MS'))
    .action(async (opts: DevOptions) => runDev(opts));
}

async function runDev(opts: DevOptions): Promise<void> {
  // Any origin by default: dev listens on localhost and every /v0 call needs a token (docs/decisions.md).
  const serving = servingOptions(opts, CORS_ANY);
  const flushIntervalMs = opts.flushIntervalMs ? positiveInt(opts.flushIntervalMs, '--flush-interval-ms') : undefined;
  const root = projectDir(undefined, opts);
  const paths = localPaths(root);
  const running = await findRunningServer(paths.serverFile);
  if (running) {
    throw new UserError(`emailstats dev is already running for ${root} at ${running.url} (pid ${running.pid}); stop it first, or use that server`);
  }
  const out = process.stdout;
  const started = performance.now();
  const target = engineTarget(opts, paths.dataDir);
  const engine: Engine = await openEngine({ ...target, readTimeoutMs: readTimeoutFor(serving.queryLimits.maxExecutionTime) });
  out.write(`» engine: ${engine.description}, ClickHouse ${engine.version.text}\n`);
  // A database that deploy manages is changed by deploy only: dev would build the local datafiles into it.
  const deployments = engine.kind === 'server' ? new DeploymentStore(engine) : undefined;
  if (deployments && (await deployments.exists())) {
    const live = await deployments.liveId();
    await engine.close();
    throw new UserError(
      `${engine.description} is managed by emailstats deploy (${live === undefined ? 'it has deployment records' : `deployment #${live} is live there`}): dev would build the local datafiles into it and rewrite its tables. ` +
        'Give dev a database of its own (--clickhouse-database), and use emailstats deploy for this one (serve serves it)',
    );
  }
  for (const r of engine instanceof EmbeddedEngine ? engine.dedupRepairs : []) out.write(`△ engine: ${describeDedupRepair(r)}\n`);

  const devPauseMs = Number(process.env.EMAILSTATS_DEV_PAUSE_BEFORE_SWAP_MS ?? 0);
  let state: ResourceState = readJson<ResourceState>(paths.resourceStateFile) ?? EMPTY_STATE;
  const postedFile = postedProjectFile(paths.resourceStateFile);
  const ingestor = new Ingestor({
    engine,
    walDir: walDirFor(paths, engine, target.url),
    log: (m) => out.write(`△ ingest: ${m}\n`),
    ...serving.wal,
    ...(flushIntervalMs ? { flushIntervalMs } : {}),
    walLock: {
      hint: 'stop that command first: it works on the same ClickHouse database from this project folder',
      // Before the server is up there is nothing to stop gracefully.
      onLost: (message) => (stopDev ? void stopDev('write-ahead log taken over', 1) : reportFatal(new UserError(message))),
    },
  });
  let stopDev: ((reason: string, exitCode: number) => Promise<void>) | undefined;
  // Refused here, before the first build, if another process has this target's write-ahead log.
  await ingestor.claimWal().catch(async (err: unknown) => {
    await engine.close();
    throw err;
  });
  const apiTokens = new ApiTokenRegistry(paths.apiTokensFile);
  let workspace: Workspace = {
    project: emptyProject(root),
    engine,
    tokens: buildTokenStore(emptyProject(root), ensureTokenSecrets(paths.tokensFile, undefined), apiTokens),
    ingestor,
    limits: serving.queryLimits,
    endpointColumns: new Map(),
    apiTokens,
    secrets: pipeSecrets(),
    // A replace or a copy sent over HTTP takes its turn with rebuilds and scheduled copies (`exclusively`, below).
    serialized: (task) => exclusively(() => task(workspace)),
  };

  // One rebuild at a time; a change during a rebuild schedules exactly one more.
  let building: Promise<void> | undefined;
  let again = false;
  const rebuild = async (reason: string, changedFixtures: Set<string>): Promise<void> => {
    const t0 = performance.now();
    // After a build over HTTP (the SDK CLI), a restart serves that project again, not the folder's datafiles.
    const posted = reason === 'start' ? restorePostedProject(postedFile, root) : undefined;
    if (posted) out.write('» serving the project last built over HTTP (tinybird build/deploy); a change to a datafile here rebuilds from the folder\n');
    const loaded = posted ?? (await loadProject(root));
    for (const d of loaded.diagnostics) out.write(formatDiagnostic(d, loaded.sources.get(d.file)) + '\n');
    // Broken pipes are left out and reported; every other pipe is served (a fix is picked up by the next rebuild).
    let project = loaded;
    const kept: string[] = [];
    const broken: string[] = [];
    /** The project without the pipes `diagnostics` blame; undefined (reported) when a datasource or view is broken. */
    const leaveOutBroken = (p: Project, diagnostics: Diagnostic[]) => {
      const part = withoutBrokenPipes(p, diagnostics, state.views, workspace.project);
      if (!part) out.write(`✗ Rebuild failed (${reason}); still serving the last good version\n`);
      else {
        kept.push(...part.kept);
        broken.push(...part.broken);
      }
      return part;
    };
    if (hasErrors(loaded.diagnostics)) {
      const part = leaveOutBroken(loaded, loaded.diagnostics);
      if (!part) return;
      project = part.project;
    }
    // A rewritten table is copied and swapped: hold our own event flushes to it meanwhile, or the rows
    // flushed into the old table during the copy would be lost at the swap (the WAL keeps them).
    const report = await buildProject(engine, project, {
      previous: state,
      hooks: {
        beforeRewrite: async (tables) => void (await Promise.all(tables.map((t) => ingestor.hold(t)))),
        afterRewrite: async (tables) => tables.forEach((t) => ingestor.release(t)),
        // Test hook, as deploy's EMAILSTATS_DEPLOY_PAUSE_BEFORE_SWAP_MS: widens the window a rewrite is open.
        beforeSwap: async () => void (devPauseMs > 0 && (await new Promise((r) => setTimeout(r, devPauseMs)))),
      },
    });
    state = report.state;
    writeJsonAtomic(paths.resourceStateFile, state);
    const changes = reason === 'start' ? report.changes : [...report.changes, ...sourceChanges(workspace.project.sources, project.sources, report.changes)];
    printChanges(changes, out);
    // A fixture that changed replaces its datasource's rows (they came from the previous fixture).
    for (const ds of changedFixtures) {
      if (!project.datasources.has(ds) || report.fixtures.some((f) => f.datasource === ds)) continue;
      await engine.command(`TRUNCATE TABLE ${quoteIdent(ds)}`);
      report.fixtures.push(...(await loadFixtures(engine, { ...project, datasources: new Map([[ds, project.datasources.get(ds)!]]) })));
    }
    for (const f of report.fixtures) out.write(`✓ ${f.file} loaded into ${f.datasource} (${f.rows} rows)\n`);
    for (const d of [...report.warnings, ...report.diagnostics]) out.write(formatDiagnostic(d, project.sources.get(d.file)) + '\n');
    // A pipe served before whose new version the engine could not check keeps the version served (uncheckedServedBefore).
    const failed = [...report.diagnostics, ...uncheckedServedBefore(report.unchecked, project, workspace.project)];
    if (failed.length) {
      const part = leaveOutBroken(project, failed);
      if (!part) return;
      project = part.project;
      report.endpointColumns = servedEndpointColumns(report.endpointColumns, part, workspace.endpointColumns);
    }
    if (kept.length) out.write(`✗ Rebuild failed for ${kept.join(', ')} (${reason}); still serving the last good version of ${kept.length === 1 ? 'it' : 'them'}\n`);
    if (broken.length) out.write(`✗ Not served until the errors above are fixed (dev picks up the fix): ${broken.join(', ')}\n`);
    const secrets = ensureTokenSecrets(paths.tokensFile, project);
    workspace = { ...workspace, project, tokens: buildTokenStore(project, secrets, apiTokens), endpointColumns: report.endpointColumns };
    if (!posted) forgetPostedProject(postedFile);
    const changed = changes.length + report.fixtures.length;
    out.write(changed || reason === 'start' ? `✓ Rebuild completed in ${((performance.now() - t0) / 1000).toFixed(2)}s\n` : 'No changes. Build skipped.\n');
  };
  const scheduleRebuild = (reason: string, fixtures: Set<string>): void => {
    if (building) {
      again = true;
      for (const f of fixtures) pendingFixtures.add(f);
      return;
    }
    building = rebuild(reason, fixtures)
      .catch((err) => {
        out.write(`✗ Rebuild failed: ${(err as Error).message}\n`);
      })
      .finally(rebuildDone);
  };
  function rebuildDone(): void {
    building = undefined;
    if (again) {
      again = false;
      const next = new Set(pendingFixtures);
      pendingFixtures.clear();
      scheduleRebuild('changes during rebuild', next);
    }
  }
  /** Runs `task` as the rebuild (a project posted by the SDK CLI): after the running one, before the next change's. */
  const exclusively = async <T,>(task: () => Promise<T>): Promise<T> => {
    while (building) await building;
    const run = task();
    building = run.then(() => undefined, () => undefined).finally(rebuildDone);
    return run;
  };
  const pendingFixtures = new Set<string>();

  await rebuild('start', new Set());
  await ingestor.start();

  const secrets = () => ensureTokenSecrets(paths.tokensFile, workspace.project);
  // Copies run over HTTP and on schedule, deletes and URL imports: one list of jobs (GET /v0/jobs).
  const jobs = new JobRegistry();
  const server = createApiServer({
    workspace: () => workspace,
    jobs,
    localTokens: () => {
      const s = secrets();
      return { admin_token: s.admin, workspace_admin_token: s.admin, user_token: s.admin, tokens: s.resource };
    },
    log: (l) => out.write(l + '\n'),
    limits: serving.http,
    cors: serving.cors,
    publicUrl: serving.publicUrl,
    projectApi: postedProjectApi({
      root, postedFile, name: path.basename(root), engine, ingestor, out, exclusively,
      state: () => state,
      saveState: (s) => { state = s; writeJsonAtomic(paths.resourceStateFile, s); },
      workspace: () => workspace,
      serve: (w) => { workspace = w; },
      tokenSecrets: (project) => ensureTokenSecrets(paths.tokensFile, project),
    }),
  });
  const http = await listenOrExplain(server, serving.port, opts.host, async () => {
    await ingestor.close();
    await engine.close();
  });
  recordRunningServer(paths.serverFile, { pid: process.pid, port: http.port, url: http.url, startedAt: new Date().toISOString() });

  const admin = secrets().admin;
  out.write(`\n» emailstats dev serving ${http.url} (ready in ${((performance.now() - started) / 1000).toFixed(1)}s)\n`);
  out.write(`» admin token: ${admin}\n`);
  for (const pipe of workspace.project.pipes.values()) {
    if (isEndpoint(pipe)) out.write(`» endpoint ${pipe.name}: ${http.url}/v0/pipes/${pipe.name}.json?token=${admin}\n`);
  }
  out.write(`» CORS (browsers calling /v0): ${describeCors(serving.cors)}\n`);
  out.write(`» docs: ${http.url}/docs?token=${admin}\n`);
  // The campaign dashboard reads the email API's endpoints: worth a line only in a project that has them.
  if (workspace.project.pipes.has('campaign_stats')) out.write(`» dashboard: ${http.url}/dashboard (give it a read token, not the admin token: README, "Dashboard")\n`);
  out.write(`» events: POST ${http.url}/v0/events?name=<datasource>\n`);
  // Scheduled copies wait for a running rebuild (and hold the next one back), like a project posted over HTTP.
  const copies = startCopySchedules({ workspace: () => workspace, log: (l) => out.write(l + '\n'), run: opts.copySchedules, howToRun: 'started with --no-copy-schedules', exclusive: exclusively, jobs });

  const watchers: FSWatcher[] = [];
  if (opts.watch) {
    let timer: NodeJS.Timeout | undefined;
    const fixtures = new Set<string>();
    let datafiles = false;
    const onChange = (dir: string, file: string | null): void => {
      if (!file) return;
      const rel = path.posix.join(dir, file);
      const fixtureOf = dir === 'fixtures' ? fixtureInUse(workspace.project, file) : undefined;
      if (/\.(datasource|pipe|connection)$/.test(file)) datafiles = true;
      else if (fixtureOf) fixtures.add(fixtureOf);
      else return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        const f = new Set(fixtures);
        fixtures.clear();
        const reason = datafiles ? `${rel} changed` : 'fixtures changed';
        datafiles = false;
        scheduleRebuild(reason, f);
      }, 60);
    };
    for (const dir of WATCHED_DIRS) {
      const abs = path.join(root, dir);
      if (existsSync(abs)) watchers.push(watch(abs, (_e, f) => onChange(dir, f ? String(f) : null)));
    }
    out.write(`» watching ${root} for changes (Ctrl-C to stop)\n`);
  }

  let stopping = false;
  const stop = async (signal: string, exitCode = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // Taken over, the folder's events are the new holder's to insert: this process flushes nothing.
    out.write(`\n» ${signal}: stopping (${ingestor.refusing ? '' : 'flushing events, '}closing the engine)\n`);
    for (const w of watchers) w.close();
    await Promise.all([copies.stop(), http.close()]);
    await building;
    await ingestor.close();
    await engine.close();
    clearRunningServer(paths.serverFile);
    process.exit(exitCode);
  };
  stopDev = stop;
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
