// `emailstats dev`: builds the project into the persistent local engine, serves the HTTP API, and rebuilds on
// every change to a datafile or fixture. A broken file prints its error; the last good version keeps serving.
import { Option, type Command } from 'commander';
import { watch, type FSWatcher, existsSync } from 'node:fs';
import path from 'node:path';
import { formatDiagnostic } from '../datafile/index.js';
import { openEngine } from '../engine/index.js';
import { quoteIdent } from '../sql/quote.js';
import type { Engine } from '../engine/types.js';
import { Ingestor } from '../ingest/index.js';
import { readJson, writeJsonAtomic } from '../util/files.js';
import { localPaths } from '../local/paths.js';
import { clearRunningServer, findRunningServer, recordRunningServer } from '../local/running.js';
import { ensureTokenSecrets } from '../local/tokens.js';
import { EMPTY_STATE, sourceChanges, type ResourceState } from '../project/apply.js';
import { buildProject } from '../project/build.js';
import { fixtureOwner, loadFixtures } from '../project/fixtures.js';
import { emptyProject, hasErrors, isEndpoint, loadProject } from '../project/model.js';
import { createApiServer } from '../server/app.js';
import { buildTokenStore, type Workspace } from '../server/workspace.js';
import { ApiTokenRegistry } from '../server/api-tokens.js';
import { UserError } from '../util/fatal.js';
import { engineTarget, listenOrExplain, positiveInt, projectDir, queryLimits, withEngine, withProject, withQueryTimeout, type EngineCliOptions } from './common.js';
import { printChanges } from './output.js';

interface DevOptions extends EngineCliOptions {
  project?: string;
  port: string;
  host: string;
  watch: boolean;
  walMaxBytes?: string;
  queryTimeout: string;
  flushIntervalMs?: string;
}

/** Folders whose datafiles and fixtures are watched (see the discovery globs). */
const WATCHED_DIRS = ['.', 'datasources', 'pipes', 'endpoints', 'materializations', 'copies', 'sinks', 'playgrounds', 'connections', 'fixtures'];


export function register(program: Command): void {
  withQueryTimeout(withEngine(withProject(program.command('dev'))))
    .description('build into the local engine, serve the HTTP API and rebuild on every change')
    .option('--port <port>', 'HTTP port', process.env.EMAILSTATS_PORT ?? '7181')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--no-watch', 'build and serve without watching for changes')
    .addOption(new Option('--wal-max-bytes <bytes>', 'events not yet in ClickHouse kept on disk before /v0/events answers 429 (default 1 GB)').env('EMAILSTATS_WAL_MAX_BYTES'))
    .addOption(new Option('--flush-interval-ms <ms>', 'age at which buffered events are inserted into ClickHouse (default 1000)').env('EMAILSTATS_FLUSH_INTERVAL_MS'))
    .action(async (opts: DevOptions) => runDev(opts));
}

async function runDev(opts: DevOptions): Promise<void> {
  const root = projectDir(undefined, opts);
  const paths = localPaths(root);
  const running = await findRunningServer(paths.serverFile);
  if (running) {
    throw new UserError(`emailstats dev is already running for ${root} at ${running.url} (pid ${running.pid}); stop it first, or use that server`);
  }
  const out = process.stdout;
  const started = performance.now();
  const engine: Engine = await openEngine(engineTarget(opts, paths.dataDir));
  out.write(`» engine: ${engine.description}, ClickHouse ${engine.version.text}\n`);

  const devPauseMs = Number(process.env.EMAILSTATS_DEV_PAUSE_BEFORE_SWAP_MS ?? 0);
  let state: ResourceState = readJson<ResourceState>(paths.resourceStateFile) ?? EMPTY_STATE;
  const ingestor = new Ingestor({
    engine,
    walDir: paths.walDir,
    log: (m) => out.write(`△ ingest: ${m}\n`),
    ...(opts.walMaxBytes ? { maxWalBytes: positiveInt(opts.walMaxBytes, '--wal-max-bytes') } : {}),
    ...(opts.flushIntervalMs ? { flushIntervalMs: positiveInt(opts.flushIntervalMs, '--flush-interval-ms') } : {}),
  });
  const apiTokens = new ApiTokenRegistry(paths.apiTokensFile);
  let workspace: Workspace = {
    project: emptyProject(root),
    engine,
    tokens: buildTokenStore(emptyProject(root), ensureTokenSecrets(paths.tokensFile, undefined), apiTokens),
    ingestor,
    limits: queryLimits(opts),
    endpointColumns: new Map(),
    apiTokens,
  };

  // One rebuild at a time; a change during a rebuild schedules exactly one more.
  let building: Promise<void> | undefined;
  let again = false;
  const rebuild = async (reason: string, changedFixtures: Set<string>): Promise<void> => {
    const t0 = performance.now();
    const project = await loadProject(root);
    for (const d of project.diagnostics) out.write(formatDiagnostic(d, project.sources.get(d.file)) + '\n');
    if (hasErrors(project.diagnostics)) {
      out.write(`✗ Rebuild failed (${reason}); still serving the last good version\n`);
      return;
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
    if (report.diagnostics.length) {
      for (const d of report.diagnostics) out.write(formatDiagnostic(d, project.sources.get(d.file)) + '\n');
      out.write(`✗ Rebuild failed (${reason}); still serving the last good version\n`);
      return;
    }
    const secrets = ensureTokenSecrets(paths.tokensFile, project);
    workspace = { ...workspace, project, tokens: buildTokenStore(project, secrets, apiTokens), endpointColumns: report.endpointColumns };
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
      .finally(() => {
        building = undefined;
        if (again) {
          again = false;
          const next = new Set(pendingFixtures);
          pendingFixtures.clear();
          scheduleRebuild('changes during rebuild', next);
        }
      });
  };
  const pendingFixtures = new Set<string>();

  await rebuild('start', new Set());
  await ingestor.start();

  const secrets = () => ensureTokenSecrets(paths.tokensFile, workspace.project);
  const server = createApiServer({
    workspace: () => workspace,
    localTokens: () => {
      const s = secrets();
      return { admin_token: s.admin, workspace_admin_token: s.admin, user_token: s.admin, tokens: s.resource };
    },
    log: (l) => out.write(l + '\n'),
  });
  const http = await listenOrExplain(server, opts.port, opts.host, async () => {
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
  out.write(`» events: POST ${http.url}/v0/events?name=<datasource>\n`);

  const watchers: FSWatcher[] = [];
  if (opts.watch) {
    let timer: NodeJS.Timeout | undefined;
    const fixtures = new Set<string>();
    let datafiles = false;
    const onChange = (dir: string, file: string | null): void => {
      if (!file) return;
      const rel = path.posix.join(dir, file);
      if (/\.(datasource|pipe|connection)$/.test(file)) datafiles = true;
      else if (dir === 'fixtures' && fixtureOwner(file, workspace.project.datasources)) fixtures.add(fixtureOwner(file, workspace.project.datasources)!);
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
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    out.write(`\n» ${signal}: stopping (flushing events, closing the engine)\n`);
    for (const w of watchers) w.close();
    await http.close();
    await building;
    await ingestor.close();
    await engine.close();
    clearRunningServer(paths.serverFile);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
