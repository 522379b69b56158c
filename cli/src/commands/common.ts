// Options and output shared by commands: the project folder, the ClickHouse target, diagnostics printing.
import { Command, Option } from 'commander';
import path from 'node:path';
import { formatDiagnostic } from '../datafile/index.js';
import type { Diagnostic } from '../datafile/types.js';
import type { EngineTarget } from '../engine/index.js';
import { hasErrors, loadProject, type Project } from '../project/model.js';
import { openApiSession, type ApiSession } from '../local/api-session.js';
import type { Server } from 'node:http';
import { listen, type RunningServer } from '../server/app.js';
import { DEFAULT_LIMITS, type QueryLimits } from '../server/workspace.js';
import { UserError } from '../util/fatal.js';
import { createInterface } from 'node:readline/promises';

export function withProject(cmd: Command): Command {
  return cmd.option('--project <dir>', 'project folder (default: the current folder)');
}

/**
 * The ClickHouse connection options. Local commands spell them `--clickhouse-*` (they default to the embedded
 * engine); the production commands (deploy, deployment, serve) always target a server and spell them
 * `--url`, `--user`, ... Each also reads an environment variable, so CI secrets never appear on a command line.
 */
function addConnectionOptions(cmd: Command, flagPrefix: string, envPrefix: string, urlHelp: string): Command {
  return cmd
    .addOption(new Option(`--${flagPrefix}url <url>`, urlHelp).env(`${envPrefix}URL`))
    .addOption(new Option(`--${flagPrefix}user <user>`, 'ClickHouse user').env(`${envPrefix}USER`))
    .addOption(new Option(`--${flagPrefix}password <password>`, 'ClickHouse password').env(`${envPrefix}PASSWORD`))
    .addOption(new Option(`--${flagPrefix}database <db>`, 'ClickHouse database (default: the URL path, else default)').env(`${envPrefix}DATABASE`));
}

export function withEngine(cmd: Command): Command {
  return addConnectionOptions(cmd, 'clickhouse-', 'EMAILSTATS_CLICKHOUSE_', 'ClickHouse server URL instead of the embedded engine');
}

export function withServerTarget(cmd: Command): Command {
  return addConnectionOptions(cmd, '', 'EMAILSTATS_', 'ClickHouse server URL, e.g. http://clickhouse:8123');
}

export interface EngineCliOptions {
  clickhouseUrl?: string;
  clickhouseUser?: string;
  clickhousePassword?: string;
  clickhouseDatabase?: string;
}

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
export async function listenOrExplain(server: Server, port: string, host: string, cleanup: () => Promise<void>): Promise<RunningServer> {
  try {
    return await listen(server, Number(port), host);
  } catch (err) {
    await cleanup();
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'EADDRINUSE' ? `port ${port} is already in use; pick another with --port` : `cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
}

/** `--query-timeout`, shared by the commands that serve the API (dev, serve). */
export function withQueryTimeout(cmd: Command): Command {
  return cmd.addOption(
    new Option('--query-timeout <seconds>', 'time limit of endpoint and /v0/sql queries; slower ones answer 408').env('EMAILSTATS_QUERY_TIMEOUT').default(String(DEFAULT_LIMITS.maxExecutionTime)),
  );
}

export function queryLimits(opts: { queryTimeout: string }): QueryLimits {
  const n = Number(opts.queryTimeout);
  if (!Number.isFinite(n) || n <= 0) throw new UserError(`--query-timeout takes a positive number of seconds, got '${opts.queryTimeout}'`);
  return { ...DEFAULT_LIMITS, maxExecutionTime: n };
}

/** A numeric option that must be a positive whole number; the error names the flag. */
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
