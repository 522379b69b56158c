// Gives a command the HTTP API of a project: the running `dev` server when there is one (chDB lets only one
// process open the data directory), otherwise an in-process server on the engine, torn down afterwards.
// Either way the command speaks the same API, so its behaviour does not depend on whether dev runs.
// Pointed at a ClickHouse database that `emailstats deploy` manages, the in-process server serves its live
// deployment, as `serve` does, and the local datafiles are not built into it: that would rewrite every table
// outside the deploy's lock and record (schema changes go through `emailstats deploy`).
import { openEngine, type EngineTarget } from '../engine/index.js';
import { Ingestor } from '../ingest/index.js';
import { EMPTY_STATE, type ResourceState } from '../project/apply.js';
import { buildProject } from '../project/build.js';
import { hasErrors, loadProject } from '../project/model.js';
import { createApiServer, listen, type RunningServer } from '../server/app.js';
import { buildTokenStore, DEFAULT_LIMITS, type Workspace } from '../server/workspace.js';
import { DeploymentStore } from '../deploy/store.js';
import { EmbeddedEngine } from '../engine/embedded.js';
import { describeDedupRepair } from '../engine/dedup-log-repair.js';
import { rewriterOf } from '../deploy/rewrite-hold.js';
import { ApiTokenRegistry } from '../server/api-tokens.js';
import { formatDiagnostic } from '../datafile/index.js';
import { UserError } from '../util/fatal.js';
import { readJson, writeJsonAtomic } from '../util/files.js';
import { localPaths, walDirFor } from './paths.js';
import { WalInUseError } from '../ingest/wal-lock.js';
import { findRunningServer } from './running.js';
import { ensureTokenSecrets } from './tokens.js';
import { pipeSecrets } from '../project/secrets.js';
import { LiveWorkspace } from '../deploy/live-workspace.js';
import { newTokenSecret } from '../server/auth.js';
import type { Engine } from '../engine/types.js';

export interface ApiSession {
  url: string;
  token: string;
  /**
   * `dev` when talking to a running dev server; `deployed` for an in-process server of a database that deploy
   * manages, whose token is the command's own (gone when it ends); `in-process` for one built from the datafiles.
   */
  via: 'dev' | 'in-process' | 'deployed';
  close(): Promise<void>;
}

export async function openApiSession(root: string, target: Omit<EngineTarget, 'dataDir'>): Promise<ApiSession> {
  const paths = localPaths(root);
  if (!target.url) {
    const running = await findRunningServer(paths.serverFile);
    if (running) {
      // The running dev knows its admin token (it may come from EMAILSTATS_ADMIN_TOKEN); it hands it out on localhost.
      // An explicit admin token wins; otherwise ask dev, which hands its tokens out on localhost only.
      if (process.env.EMAILSTATS_ADMIN_TOKEN) return { url: running.url, token: process.env.EMAILSTATS_ADMIN_TOKEN, via: 'dev', close: async () => {} };
      const res = await fetch(`${running.url}/tokens`).catch((err: Error) => {
        throw new UserError(`emailstats dev is recorded at ${running.url} but did not answer (${err.message}); restart it, or stop it and run this command again`);
      });
      const tokens = res.ok ? ((await res.json()) as { admin_token?: string }) : {};
      if (!tokens.admin_token) {
        throw new UserError(`emailstats dev at ${running.url} did not hand out its admin token (HTTP ${res.status}): it serves /tokens only to localhost. Set EMAILSTATS_ADMIN_TOKEN to the token dev printed, or run dev with --host 127.0.0.1`);
      }
      return { url: running.url, token: tokens.admin_token, via: 'dev', close: async () => {} };
    }
  }
  // A server is opened first: a database that deploy manages needs no local project (its errors do not matter).
  let opened: Engine | undefined;
  if (target.url) {
    const { engine: server, deployed } = await openAsDeployed({ ...target, dataDir: paths.dataDir });
    opened = server;
    if (deployed) {
      return deployedSession(server, walDirFor(paths, server, target.url)).catch(async (err: unknown) => {
        await server.close();
        throw err;
      });
    }
  }
  const project = await loadProject(root);
  if (hasErrors(project.diagnostics)) {
    await opened?.close();
    const text = project.diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(d, project.sources.get(d.file))).join('\n');
    throw new UserError(`the project has errors; fix them first (see \`emailstats check\`):\n${text}`);
  }
  const engine = opened ?? (await openEngine({ ...target, dataDir: paths.dataDir }));
  const ingestor = await sessionIngestor(engine, walDirFor(paths, engine, target.url)).catch(async (err: unknown) => {
    await engine.close();
    throw err;
  });
  // Bring the engine up to date with the datafiles, exactly as dev would on start.
  const report = await buildProject(engine, project, { previous: readJson<ResourceState>(paths.resourceStateFile) ?? EMPTY_STATE });
  if (report.diagnostics.length) {
    await ingestor.close();
    await engine.close();
    const text = report.diagnostics.map((d) => formatDiagnostic(d, project.sources.get(d.file))).join('\n');
    throw new UserError(`the project does not build:\n${text}`);
  }
  writeJsonAtomic(paths.resourceStateFile, report.state);
  // This session replays the project's write-ahead log too: say what the engine repaired for it, as dev does.
  for (const r of engine instanceof EmbeddedEngine ? engine.dedupRepairs : []) process.stderr.write(`△ engine: ${describeDedupRepair(r)}\n`);
  await ingestor.start();
  const secrets = ensureTokenSecrets(paths.tokensFile, project);
  const apiTokens = new ApiTokenRegistry(paths.apiTokensFile);
  const workspace: Workspace = { project, engine, tokens: buildTokenStore(project, secrets, apiTokens), apiTokens, ingestor, limits: DEFAULT_LIMITS, endpointColumns: report.endpointColumns, secrets: pipeSecrets() };
  // On a server a deploy or a serve may be rewriting tables: copies (`copy run`) stay off them, as in serve.
  if (engine.kind === 'server') {
    const store = new DeploymentStore(engine);
    workspace.rewritingBy = (table) => rewriterOf(store, table);
  }
  const http = await listen(createApiServer({ workspace: () => workspace }), 0);
  return {
    url: http.url,
    token: secrets.admin,
    via: 'in-process',
    close: async () => {
      await http.close();
      await ingestor.close();
      await engine.close();
    },
  };
}

/**
 * The server, and whether `emailstats deploy` manages its database (read once). A database deployed across a
 * cluster is opened with that cluster: a command reads and writes the tables as they were deployed (through the
 * Distributed tables, DDL ON CLUSTER), as serve started with `--clickhouse-cluster` does. The commands have no
 * cluster option of their own: the deployment says.
 */
async function openAsDeployed(target: EngineTarget): Promise<{ engine: Engine; deployed: boolean }> {
  const engine = await openEngine(target);
  let deployed: boolean;
  let cluster: string | undefined;
  try {
    const store = new DeploymentStore(engine);
    deployed = await store.exists();
    if (deployed) cluster = (await store.appliedState()).cluster;
  } catch (err) {
    await engine.close();
    throw err;
  }
  if (!cluster || cluster === engine.placement.cluster) return { engine, deployed };
  await engine.close();
  return { engine: await openEngine({ ...target, cluster }), deployed };
}

/**
 * The session of a database `emailstats deploy` manages: its live deployment, followed as `serve` follows it
 * (deploy/live-workspace.ts: a switch, and the rewrite record that holds event flushes to tables a deploy is
 * swapping), served in-process with an admin token made for this command only. Nothing is built (a database
 * without deployments is built from the local datafiles by the caller, as dev does).
 */
async function deployedSession(engine: Engine, walDir: string): Promise<ApiSession> {
  const ingestor = await sessionIngestor(engine, walDir);
  const live = new LiveWorkspace(engine, ingestor, (line) => process.stderr.write(`${line}\n`));
  const token = newTokenSecret('es_session');
  let http: RunningServer;
  try {
    await ingestor.start();
    await live.refresh();
    const id = live.deploymentId;
    if (id === undefined) {
      throw new UserError(
        `${engine.description} has deployment records but no live deployment it can load (see above); deploy one with \`emailstats deploy\` (the local datafiles are not built into a database that deploy manages)`,
      );
    }
    live.start(2000);
    // The command's own token, in whichever deployment is live when a request comes.
    const withToken = new WeakSet<Workspace>();
    const workspace = () => {
      const ws = live.workspace;
      if (!withToken.has(ws)) {
        ws.tokens.add(token, { name: 'emailstats session', scopes: [{ type: 'ADMIN' }], origin: 'session' });
        withToken.add(ws);
      }
      return ws;
    };
    http = await listen(createApiServer({ workspace }), 0);
    process.stderr.write(`» ${engine.description}: deployment #${id} is live there; this command acts on it (the local datafiles are not built into a deployed database: emailstats deploy does that)\n`);
  } catch (err) {
    await live.stop();
    await ingestor.close();
    throw err;
  }
  return {
    url: http.url,
    token,
    via: 'deployed',
    close: async () => {
      await http.close();
      await live.stop();
      await ingestor.close();
      await engine.close();
    },
  };
}

/** Calls the API and returns the body; a non-2xx answer becomes a UserError carrying the server's message. */
export async function apiFetch(session: ApiSession, pathAndQuery: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(`${session.url}${pathAndQuery}`, { ...init, headers: { authorization: `Bearer ${session.token}`, ...(init.headers as Record<string, string>) } });
  if (!res.ok) {
    const text = await res.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      /* not JSON */
    }
    throw new UserError(`${message} (HTTP ${res.status})`);
  }
  return res;
}

/**
 * A command's ingestor, its messages on stderr. While another process of this folder has the target's write-ahead
 * log (a dev, another command), the command still queries, and refuses events, saying who has it.
 */
async function sessionIngestor(engine: Engine, walDir: string): Promise<Ingestor> {
  const ingestor = new Ingestor({
    engine,
    walDir,
    log: (m) => process.stderr.write(`△ ingest: ${m}\n`),
    walLock: {
      hint: 'wait for it to finish, or stop it (a running emailstats dev of this folder takes the commands given without --clickhouse-url)',
    },
  });
  try {
    await ingestor.claimWal();
  } catch (err) {
    if (!(err instanceof WalInUseError)) throw err;
    ingestor.refuseEvents(err.message);
  }
  return ingestor;
}
