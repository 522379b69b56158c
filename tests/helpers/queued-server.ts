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
import { inTurn } from '../../cli/src/server/table-rewrite.js';
import { buildTokenStore, DEFAULT_LIMITS, type Workspace } from '../../cli/src/server/workspace.js';
import { useEmbeddedEngine } from './embedded.js';
import { useProjectFiles } from './project-files.js';

/** An answer of the API: its status and JSON body. */
interface Reply {
  status: number;
  body: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface QueuedServer {
  readonly engine: EmbeddedEngine;
  readonly ws: Workspace;
  readonly server: RunningServer;
  /** Holds the queue until the returned function is called. */
  hold(): () => void;
  /** Runs `task` in the queue's turn (what dev passes the copy scheduler). */
  inTurn<T>(task: () => Promise<T>): Promise<T>;
  /** Calls the API with `token` (default: the admin token), on this server or `on`. */
  call(method: string, pathAndQuery: string, token?: string, on?: RunningServer): Promise<Reply>;
}

export function useQueuedServer(opts: {
  /** Names the scratch folders (`emailstats-<name>-*`). */
  name: string;
  /** The project's files, relative path → text. */
  files: Record<string, string>;
  admin: string;
  jobs: JobRegistry;
  /** More tokens for the test. */
  tokens?: (store: TokenStore) => void;
}): QueuedServer {
  const ctx = useEmbeddedEngine(opts.name);
  const writeProject = useProjectFiles(opts.name);
  let gate: Promise<void> = Promise.resolve();
  const state = {} as { ws: Workspace; server: RunningServer };
  beforeAll(async () => {
    const engine = ctx.engine;
    const project = await loadProject(writeProject(opts.files));
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
    get engine() {
      return ctx.engine;
    },
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
    inTurn: (task) => inTurn(state.ws, () => task()),
    async call(method, pathAndQuery, token = opts.admin, on = state.server) {
      const res = await fetch(`${on.url}${pathAndQuery}`, { method, headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
  };
}
