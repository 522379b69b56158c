// `emailstats copy run <pipe>`: runs a copy pipe on demand into its TARGET_DATASOURCE.
import type { Command } from 'commander';
import { apiFetch } from '../local/api-session.js';
import { withApiSession, withEngine, withProject, type EngineCliOptions } from './common.js';
import { collectParam, paramsToQuery } from './endpoint.js';

export function register(program: Command): void {
  const copy = program.command('copy').description('copy pipes');
  withEngine(withProject(copy.command('run <pipe>')))
    .description("run a copy pipe now, writing its result into its target datasource")
    .option('--mode <mode>', 'append or replace (default: the pipe\'s COPY_MODE, else append)')
    .option('--param <name=value>', 'template parameter (repeatable)', collectParam, [])
    .action(async (pipe: string, opts: EngineCliOptions & { project?: string; mode?: string; param: string[] }) => {
      await withApiSession(opts, async (session) => {
        const qs = paramsToQuery(opts.param);
        if (opts.mode) qs.set('_mode', opts.mode);
        const r = (await (await apiFetch(session, `/v0/pipes/${encodeURIComponent(pipe)}/copy?${qs}`, { method: 'POST' })).json()) as { target: string; mode: string; rows_written: number; elapsed: number; status: string; job: { id: string } };
        if (r.status === 'cancelled') {
          // Cancelled (POST /v0/jobs/<id>/cancel) while it waited for dev's rebuild to end.
          process.stderr.write(`✗ ${pipe}: its job ${r.job.id} was cancelled before it started; nothing was copied\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(`✓ ${pipe} -> ${r.target} (${r.mode}): ${r.rows_written} rows written in ${r.elapsed.toFixed(2)}s\n`);
      });
    });
}
