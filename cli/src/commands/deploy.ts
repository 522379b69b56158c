// `emailstats deploy`: takes the project to a ClickHouse server (see cli/src/deploy/deploy.ts and docs/deploy.md).
import type { Command } from 'commander';
import { deploy } from '../deploy/deploy.js';
import { confirmOnTty, loadCleanProject, projectDir, withProject } from './common.js';
import { openTarget, withTarget, type TargetCliOptions } from './target.js';

interface DeployCliOptions extends TargetCliOptions {
  project?: string;
  check?: boolean;
  allowDestructiveOperations?: boolean;
  yes?: boolean;
  breakLock?: boolean;
  rebuild?: string[];
}

export function register(program: Command): void {
  withTarget(withProject(program.command('deploy')))
    .description('plan and apply the project to a ClickHouse server, then make it the live deployment')
    .option('--check', 'validate everything against the server and change nothing')
    .option('--allow-destructive-operations', 'allow deleting datasources, dropping columns that hold data, and type changes that may change stored values')
    .option('-y, --yes', 'do not ask for confirmation (also when CI is set)')
    .option('--break-lock', 'end the deploy lock of a deploy known to be dead (killed) instead of waiting for its lease to lapse')
    .option(
      '--rebuild <datasources>',
      'recompute these rollups (comma-separated datasources filled by materialized views) from their sources, even when nothing changed',
      (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)],
    )
    .action(async (opts: DeployCliOptions) => runDeploy(opts));
}

async function runDeploy(opts: DeployCliOptions): Promise<void> {
  const root = projectDir(undefined, opts);
  const project = await loadCleanProject(root, 'nothing was deployed');
  const engine = await openTarget(opts);
  try {
    await deploy({
      engine,
      project,
      check: Boolean(opts.check),
      allowDestructive: Boolean(opts.allowDestructiveOperations),
      confirm: () => confirmOnTty(opts.yes),
      // The scratch database lives on the node deploy talks to only: it is there for the server to analyse the SQL.
      openScratch: (database) => openTarget({ ...opts, clickhouseCluster: undefined }, database),
      out: process.stdout,
      breakLock: Boolean(opts.breakLock),
      rebuild: opts.rebuild,
    });
  } finally {
    await engine.close();
  }
}
