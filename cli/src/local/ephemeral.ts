// Throw-away workspaces for `build` and `test run`: a fresh engine (a temp data directory for chDB, or a temp
// database on a ClickHouse server), the project built into it with fixtures, and optionally the HTTP API served
// in-process on a free port with a generated admin token. Nothing touches the project's .emailstats/ state.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openEngine, quoteIdent, type Engine, type EngineTarget } from '../engine/index.js';
import { buildProject, type BuildReport } from '../project/build.js';
import type { Project } from '../project/model.js';
import { createApiServer, listen } from '../server/app.js';
import { buildTokenStore, declaredTokenScopes, DEFAULT_LIMITS, type Workspace } from '../server/workspace.js';
import { newTokenSecret } from '../server/auth.js';
import { pipeSecrets } from '../project/secrets.js';

export interface EphemeralEngine {
  engine: Engine;
  /** Drops the temp database or deletes the temp data directory, then closes the engine. */
  dispose(): Promise<void>;
}

/** `purpose` names the temp folder / database (`emailstats_<purpose>_...`) so a leftover says where it came from. */
export async function openEphemeralEngine(target: Omit<EngineTarget, 'dataDir'>, purpose: string): Promise<EphemeralEngine> {
  if (target.url) {
    const database = `emailstats_${purpose}_${process.pid}_${Date.now().toString(36)}`;
    const engine = await openEngine({ ...target, database });
    return {
      engine,
      dispose: async () => {
        await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
        await engine.close();
      },
    };
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `emailstats-${purpose}-`));
  try {
    const engine = await openEngine({ ...target, dataDir });
    return {
      engine,
      dispose: async () => {
        await engine.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

export interface EphemeralApi {
  url: string;
  /** A fresh admin token, valid only for this server. */
  token: string;
  close(): Promise<void>;
}

/** Serves the HTTP API over an already built engine. Resource-scoped tokens get fresh secrets too. */
export async function serveEphemeral(project: Project, engine: Engine, report: BuildReport): Promise<EphemeralApi> {
  const admin = newTokenSecret('es_admin');
  const resource: Record<string, string> = {};
  for (const name of declaredTokenScopes(project).keys()) resource[name] = newTokenSecret();
  // No endpoint cache: a test's answers must come from its pipe's query over the data the test loaded.
  const limits = { ...DEFAULT_LIMITS, endpointCacheBytes: 0 };
  const workspace: Workspace = { project, engine, tokens: buildTokenStore(project, { admin, resource }), limits, endpointColumns: report.endpointColumns, secrets: pipeSecrets() };
  const http = await listen(createApiServer({ workspace: () => workspace }), 0);
  return { url: http.url, token: admin, close: () => http.close() };
}

export interface EphemeralWorkspace extends EphemeralEngine {
  report: BuildReport;
}

/** Opens a throw-away engine and builds the project into it (fixtures loaded). The caller checks report.diagnostics. */
export async function buildEphemeral(project: Project, target: Omit<EngineTarget, 'dataDir'>, purpose: string): Promise<EphemeralWorkspace> {
  const eph = await openEphemeralEngine(target, purpose);
  try {
    const report = await buildProject(eph.engine, project);
    return { ...eph, report };
  } catch (err) {
    await eph.dispose();
    throw err;
  }
}
