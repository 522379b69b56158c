// `emailstats copy run <pipe>`: runs a copy pipe on demand into its TARGET_DATASOURCE. `copy ls` lists the copy
// pipes with their schedule and whether it is paused; `copy pause|resume <pipe>` stop and restart a schedule.
// All speak the HTTP API (the running dev, or an in-process server), as `tb copy ...` does.
import type { Command } from 'commander';
import { apiFetch } from '../local/api-session.js';
import { withApiSession, withEngine, withProject, type EngineCliOptions } from './common.js';
import { collectParam, paramsToQuery } from './endpoint.js';
import { formatTable } from './table.js';

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

  withEngine(withProject(copy.command('ls')))
    .description('list the copy pipes: target, mode, schedule (UTC) and whether it is paused')
    .action(async (opts: EngineCliOptions & { project?: string }) => {
      await withApiSession(opts, async (session) => {
        const { pipes } = (await (await apiFetch(session, '/v0/pipes')).json()) as { pipes: CopyPipeJson[] };
        const copies = pipes.filter((p) => p.type === 'copy');
        if (copies.length === 0) {
          process.stdout.write('no copy pipes (a copy pipe has a TYPE copy node)\n');
          return;
        }
        const data = copies.map((p) => ({ pipe: p.name, target: p.copy_target_datasource ?? '', mode: p.copy_mode ?? 'append', schedule: p.schedule?.cron ?? '@on-demand', status: p.schedule?.status ?? 'on demand' }));
        const meta = ['pipe', 'target', 'mode', 'schedule', 'status'].map((name) => ({ name, type: 'String' }));
        process.stdout.write(formatTable({ meta, data, rows: data.length }));
      });
    });

  for (const action of ['pause', 'resume'] as const) {
    withEngine(withProject(copy.command(`${action} <pipe>`)))
      .description(action === 'pause' ? "pause a copy pipe's schedule (a run in progress finishes; copy run still works)" : "resume a copy pipe's paused schedule from its next scheduled minute")
      .action(async (pipe: string, opts: EngineCliOptions & { project?: string }) => {
        await withApiSession(opts, async (session) => {
          const r = (await (await apiFetch(session, `/v0/pipes/${encodeURIComponent(pipe)}/copy/${action}`, { method: 'POST' })).json()) as CopyPipeJson;
          process.stdout.write(`✓ ${pipe}: schedule '${r.schedule?.cron}' (UTC) ${r.schedule?.status === 'paused' ? 'paused' : 'running'}\n`);
        });
      });
  }
}

/** What `copy ls`, `pause` and `resume` read of a pipe's JSON (GET /v0/pipes). */
interface CopyPipeJson {
  name: string;
  type: string;
  copy_target_datasource?: string | null;
  copy_mode?: string;
  schedule?: { cron?: string; status?: string };
}
