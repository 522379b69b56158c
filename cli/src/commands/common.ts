// Options and output shared by commands: the project folder, the ClickHouse target, diagnostics printing.
import { Command, Option } from 'commander';
import path from 'node:path';
import { formatDiagnostic } from '../datafile/index.js';
import type { Diagnostic } from '../datafile/types.js';
import type { EngineTarget } from '../engine/index.js';
import type { Project } from '../project/model.js';

export function withProject(cmd: Command): Command {
  return cmd.option('--project <dir>', 'project folder (default: the current folder)');
}

export function withEngine(cmd: Command): Command {
  return cmd
    .addOption(new Option('--clickhouse-url <url>', 'ClickHouse server URL instead of the embedded engine').env('EMAILSTATS_CLICKHOUSE_URL'))
    .addOption(new Option('--clickhouse-user <user>', 'ClickHouse user').env('EMAILSTATS_CLICKHOUSE_USER'))
    .addOption(new Option('--clickhouse-password <password>', 'ClickHouse password').env('EMAILSTATS_CLICKHOUSE_PASSWORD'))
    .addOption(new Option('--clickhouse-database <db>', 'ClickHouse database').env('EMAILSTATS_CLICKHOUSE_DATABASE'));
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
