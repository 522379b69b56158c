// Options and output shared by commands: the project folder, the ClickHouse target, diagnostics printing.
import type { Command } from 'commander';
import path from 'node:path';
import { formatDiagnostic } from '../datafile/index.js';
import type { Diagnostic } from '../datafile/types.js';
import type { EngineTarget } from '../engine/index.js';
import { hasErrors, loadProject, type Project } from '../project/model.js';
import { openApiSession, type ApiSession } from '../local/api-session.js';
import type { Server } from 'node:http';
import { listen, type RunningServer } from '../server/app.js';
import { UserError } from '../util/fatal.js';
import { createInterface } from 'node:readline/promises';
import { withClusterOption, withConnectionOptions, type EngineCliOptions } from './connection.js';

export function withProject(cmd: Command): Command {
  return cmd.option('--project <dir>', 'project folder (default: the current folder)');
}

/** The ClickHouse options of local commands: no URL means the embedded engine (connection.ts has the names). */
export function withEngine(cmd: Command): Command {
  return withConnectionOptions(cmd, 'ClickHouse server URL instead of the embedded engine', false);
}

/** The ClickHouse options of the production commands (deploy, deployment, serve), which always target a server. */
export function withServerTarget(cmd: Command): Command {
  return withClusterOption(withConnectionOptions(cmd, 'ClickHouse server URL, e.g. http://clickhouse:8123', true));
}

export type { EngineCliOptions };

export function engineTarget(opts: EngineCliOptions, dataDir?: string): EngineTarget {
  return { url: opts.clickhouseUrl, user: opts.clickhouseUser, password: opts.clickhousePassword, database: opts.clickhouseDatabase, dataDir };
}

/** The project folder: a positional DIR wins over --project, which wins over the current folder. */
export function projectDir(positional: string | undefined, opts: { project?: string }): string {
  return path.resolve(positional ?? opts.project ?? '.');
}

export function printDiagnostics(diagnostics: readonly Diagnostic[], project?: Pick<Project, 'sources'>, out: NodeJS.WritableStream = process.stderr): void {
  for (const d of diagnostics) {
    out.write(formatDiagnostic(d, project?.sources.get(d.file)) + '\n');
  }
}

export function countErrors(diagnostics: readonly Diagnostic[]): number {
  return diagnostics.filter((d) => d.severity === 'error').length;
}

export type ProjectEngineOptions = EngineCliOptions & { project?: string };

/** Runs `fn` against the project's HTTP API (the running dev, or an in-process server), closing it afterwards. */
export async function withApiSession<T>(opts: ProjectEngineOptions, fn: (session: ApiSession) => Promise<T>): Promise<T> {
  const session = await openApiSession(projectDir(undefined, opts), engineTarget(opts));
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** Listens, or explains why not (port taken, bad interface) after `cleanup` has released what was opened. */
export async function listenOrExplain(server: Server, port: number, host: string, cleanup: () => Promise<void>): Promise<RunningServer> {
  try {
    return await listen(server, port, host);
  } catch (err) {
    await cleanup();
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'EADDRINUSE' ? `port ${port} is already in use; pick another with --port` : `cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
}

/** A TCP port (0 = any free one); the error names the flag. */
export function portNumber(text: string, flag = '--port'): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new UserError(`${flag} must be a port number from 0 to 65535, got '${text}'`);
  return n;
}

/**
 * Checks the option values of a command that serves the API (dev, serve) before it opens anything, so a typo
 * fails at once with the flag's name instead of after the engine and the log are open.
 */
export function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UserError(`${flag} must be a positive whole number, got '${text}'`);
  return n;
}

/**
 * Loads the project at `root`; with errors in its datafiles, prints them and stops with `what` (what did not
 * happen because of them).
 */
export async function loadCleanProject(root: string, what: string): Promise<Project> {
  const project = await loadProject(root);
  if (hasErrors(project.diagnostics)) {
    printDiagnostics(project.diagnostics, project);
    throw new UserError(`${countErrors(project.diagnostics)} error(s) in the datafiles of ${root} (above); ${what}. Fix them (\`emailstats check\` lists them) and run again`);
  }
  return project;
}

/** Asks on a terminal; `--yes`, CI or a non-interactive stdin answer yes (deploys run from CI). */
export async function confirmOnTty(yes: boolean | undefined, question = 'Apply this plan?'): Promise<boolean> {
  if (yes || process.env.CI || !process.stdin.isTTY) return true;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
