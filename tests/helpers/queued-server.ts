// A project built on chDB and served in-process as dev serves it, with dev's rebuild queue in the test's hands:
// while `hold()` is in force, a copy or replace sent over HTTP (and a scheduled run given `inTurn`) waits for its
// turn, as it waits for a rebuild under dev.
import { afterAll, beforeAll, expect } from 'vitest';
import type { EmbeddedEngine } from '../../cli/src/engine/embedded.js';
import { buildProject } from '../../cli/src/project/build.js';
import { loadProject } from '../../cli/src/project/model.js';
import { createApiServer, listen, type RunningServer } from '../../cli/src/server/app.js';
import type { TokenStore } from '../../cli/src/server/auth.js';
import type { JobRegistry } from '../../cli/src/server/jobs.js';
import { buildTokenStore, DEFAULT_LIMITS, type Workspace } from '../../cli/src/server/workspace.js';

export interface QueuedServer {
  readonly ws: Workspace;
  readonly server: RunningServer;
  /** Holds the queue until the returned function is called. */
  hold(): () => void;
  /** Runs `task` in the queue's turn (what dev passes the copy scheduler). */
  inTurn<T>(task: () => Promise<T>): Promise<T>;
}

export function useQueuedServer(opts: {
  engine: () => EmbeddedEngine;
  /** Writes the project's files and returns its folder (useProjectFiles). */
  project: () => string;
  admin: string;
  jobs: JobRegistry;
  /** More tokens for the test. */
  tokens?: (store: TokenStore) => void;
}): QueuedServer {
  let gate: Promise<void> = Promise.resolve();
  const state = {} as { ws: Workspace; server: RunningServer };
  beforeAll(async () => {
    const engine = opts.engine();
    const project = await loadProject(opts.project());
    const report = await buildProject(engine, project, { fixtures: true });
    expect(report.diagnostics).toEqual([]);
    const tokens = buildTokenStore(project, { admin: opts.admin, resource: {} });
    opts.tokens?.(tokens);
    const ws: Workspace = {
      project,
      engine,
      tokens,
      limits: DEFAULT_LIMITS,
      endpointColumns: report.endpointColumns,
      serialized: async (task) => {
        await gate;
        return task(ws);
      },
    };
    state.ws = ws;
    state.server = await listen(createApiServer({ workspace: () => ws, jobs: opts.jobs, requestLog: false }), 0);
  });
  afterAll(async () => {
    await state.server?.close();
  });
  return {
    get ws() {
      return state.ws;
    },
    get server() {
      return state.server;
    },
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return release;
    },
    async inTurn(task) {
      await gate;
      return task();
    },
  };
}
