// `emailstats sql "<query>"`: runs a read-only query through the Query API (/v0/sql).
import type { Command } from 'commander';
import { apiFetch } from '../local/api-session.js';
import { UserError } from '../util/fatal.js';
import { withApiSession, withEngine, withProject, type EngineCliOptions } from './common.js';
import { checkAnswerFormat, writeAnswer } from './answer-output.js';
import { ENDPOINT_FORMATS } from '../server/output-formats.js';

/** The endpoints' formats but Prometheus (rendered from an endpoint's metric rows, not from any query). */
const FORMATS = Object.fromEntries(Object.entries(ENDPOINT_FORMATS).filter(([ext]) => ext !== 'prometheus').map(([ext, f]) => [ext, f.clickhouse]));

export function register(program: Command): void {
  withEngine(withProject(program.command('sql <query>')))
    .description('run a read-only SQL query over the datasources and pipes (talks to a running dev server if any)')
    .option('--format <format>', 'human, json, csv, ndjson or parquet (redirect it to a file)', 'human')
    .option('--pipeline <pipe>', "let the query select from this pipe's nodes by name")
    .action(async (query: string, opts: EngineCliOptions & { project?: string; format: string; pipeline?: string }) => {
      const chFormat = opts.format === 'human' ? 'JSON' : FORMATS[opts.format];
      if (!chFormat) throw new UserError(`unknown --format ${opts.format}: use human, json, csv, ndjson or parquet`);
      checkAnswerFormat(opts.format, 'answer');
      await withApiSession(opts, async (session) => {
        const body = new URLSearchParams({ q: `${query.trim().replace(/;$/, '')}\nFORMAT ${chFormat}` });
        if (opts.pipeline) body.set('pipeline', opts.pipeline);
        await writeAnswer(await apiFetch(session, '/v0/sql', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }), opts.format);
      });
    });
}
