// `emailstats deployment ls|rollback`: the deployment history kept in the target database.
import type { Command } from 'commander';
import { rollback } from '../deploy/deploy.js';
import { DeploymentStore } from '../deploy/store.js';
import { confirmOnTty } from './common.js';
import { openTarget, withTarget, type TargetCliOptions } from './target.js';

export function register(program: Command): void {
  const cmd = program.command('deployment').description('deployments recorded in a ClickHouse server');
  withTarget(cmd.command('ls'))
    .description('list deployments, newest last; * marks the live one')
    .action(async (opts: TargetCliOptions) => {
      const engine = await openTarget(opts);
      try {
        const store = new DeploymentStore(engine);
        if (!(await store.exists())) {
          process.stdout.write(`no deployments in ${engine.description}\n`);
          return;
        }
        const live = await store.liveId();
        process.stdout.write('   id  status     created (UTC)        content           commit    who\n');
        for (const d of await store.list()) {
          const mark = d.id === live ? '*' : ' ';
          process.stdout.write(`${mark} ${String(d.id).padStart(3)}  ${(d.id === live ? 'live' : d.status).padEnd(9)}  ${d.createdAt}  ${d.contentHash.padEnd(16)}  ${(d.gitCommit || '-').slice(0, 8).padEnd(8)}  ${d.who}\n`);
        }
      } finally {
        await engine.close();
      }
    });
  withTarget(cmd.command('rollback'))
    .description('make the previous deployment live again (its pipes and tokens; schema changes stay applied)')
    .option('-y, --yes', 'do not ask for confirmation (also when CI is set)')
    .option('--break-lock', 'end the deploy lock of a deploy known to be dead (killed) instead of waiting for its lease to lapse')
    .action(async (opts: TargetCliOptions & { yes?: boolean; breakLock?: boolean }) => {
      const engine = await openTarget(opts);
      try {
        await rollback(engine, process.stdout, process.env, (question) => confirmOnTty(opts.yes, question), Boolean(opts.breakLock));
      } finally {
        await engine.close();
      }
    });
}
