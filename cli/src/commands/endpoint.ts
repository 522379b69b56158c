// `emailstats endpoint ls | data <pipe> | url <pipe>`: the project's endpoints through the HTTP API.
import { quoteString } from '../sql/quote.js';
import { InvalidArgumentError, type Command } from 'commander';
import { apiFetch } from '../local/api-session.js';
import { UserError } from '../util/fatal.js';
import { withApiSession, withEngine, withProject, type EngineCliOptions } from './common.js';
import { checkAnswerFormat, writeAnswer } from './answer-output.js';
import { configuredPublicUrl, DEFAULT_PORT } from './serving-options.js';
import { parseDuration } from './token.js';

/** Where dev and serve answer on this machine by default. */
const DEFAULT_BASE = `http://127.0.0.1:${DEFAULT_PORT}`;

type Opts = EngineCliOptions & { project?: string };

/** `name=value` pairs from repeated --param options as a query string. */
export function paramsToQuery(pairs: string[]): URLSearchParams {
  return new URLSearchParams(pairs.map((p): [string, string] => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
}

export function collectParam(value: string, previous: string[] = []): string[] {
  // Commander reports an InvalidArgumentError as `option '--param <name=value>' argument 'x' is invalid. <this>`, exit 1.
  if (value.indexOf('=') <= 0) throw new InvalidArgumentError(`--param takes name=value, e.g. --param campaign_id=camp_1 (an empty value is --param campaign_id=)`);
  return [...previous, value];
}

export function register(program: Command): void {
  const endpoint = program.command('endpoint').description('list endpoints, read their data, print their URLs');

  withEngine(withProject(endpoint.command('ls')))
    .description('list the endpoint pipes')
    .option('--format <format>', 'human or json', 'human')
    .action(async (opts: Opts & { format: string }) =>
      withApiSession(opts, async (s) => {
        const { pipes } = (await (await apiFetch(s, '/v0/pipes')).json()) as { pipes: { name: string; type: string; description: string }[] };
        const endpoints = pipes.filter((p) => p.type === 'endpoint');
        if (opts.format === 'json') process.stdout.write(JSON.stringify(endpoints, null, 2) + '\n');
        else for (const p of endpoints) process.stdout.write(`${p.name}\t${s.url}/v0/pipes/${p.name}.json\t${p.description.split('\n')[0]}\n`);
      }),
    );

  withEngine(withProject(endpoint.command('data <pipe>')))
    .description("print an endpoint's result for the given parameters")
    .option('--param <name=value>', 'template parameter (repeatable)', collectParam, [])
    .option('--format <format>', 'human, json, csv, ndjson, parquet (redirect it to a file) or prometheus', 'human')
    .action(async (pipe: string, opts: Opts & { param: string[]; format: string }) => {
      checkAnswerFormat(opts.format, pipe);
      await withApiSession(opts, async (s) => {
        const ext = opts.format === 'human' ? 'json' : opts.format;
        const qs = paramsToQuery(opts.param);
        await writeAnswer(await apiFetch(s, `/v0/pipes/${encodeURIComponent(pipe)}.${ext}?${qs}`), opts.format);
      });
    });

  withEngine(withProject(endpoint.command('url <pipe>')))
    .description("print an endpoint's URL with the admin token (dev's; on a deployed database EMAILSTATS_ADMIN_TOKEN's)")
    .action(async (pipe: string, opts: Opts) =>
      withApiSession(opts, async (s) => {
        const { type } = (await (await apiFetch(s, `/v0/pipes/${encodeURIComponent(pipe)}`)).json()) as { type: string };
        if (type !== 'endpoint') throw new UserError(`${pipe} is a ${type} pipe, not an endpoint: it has no URL to call (emailstats endpoint ls lists the endpoints)`);
        const path = `/v0/pipes/${encodeURIComponent(pipe)}.json`;
        if (s.via === 'dev') return void process.stdout.write(`${s.url}${path}?token=${s.token}\n`);
        if (s.via === 'in-process') {
          process.stderr.write('note: no `emailstats dev` is running for this project; start it to use this URL\n');
          return void process.stdout.write(`${DEFAULT_BASE}${path}?token=${s.token}\n`);
        }
        // A deployed database: serve answers the URL, and its tokens are stored as digests, so none can be printed
        // but the admin token the environment gives (as it gives it to serve).
        // As serve reads it: blank counts as unset, and the same check and trailing-slash trim.
        const configured = configuredPublicUrl(process.env.EMAILSTATS_PUBLIC_URL, 'EMAILSTATS_PUBLIC_URL');
        const base = configured ?? DEFAULT_BASE;
        if (!configured) process.stderr.write("note: this is serve's default port on this machine; set EMAILSTATS_PUBLIC_URL to the address clients reach serve at\n");
        const admin = process.env.EMAILSTATS_ADMIN_TOKEN;
        if (!admin) process.stderr.write(`note: add ?token=<a token that can read ${pipe}>: a deployed database keeps its tokens as digests, and EMAILSTATS_ADMIN_TOKEN is not set\n`);
        process.stdout.write(`${base}${path}${admin ? `?token=${admin}` : ''}\n`);
      }),
    );

  withEngine(withProject(endpoint.command('stats <pipe>')))
    .description("an endpoint's requests over a window, from tinybird.pipe_stats_rt: count, error rate, p50/p95/p99 latency")
    .option('--window <duration>', 'how far back to look, e.g. 15min, 1h, 7d', '1h')
    .option('--format <format>', 'human or json', 'human')
    .action(async (pipe: string, opts: Opts & { window: string; format: string }) =>
      withApiSession(opts, async (s) => {
        const seconds = parseDuration(opts.window, '--window');
        const quoted = quoteString(pipe);
        const q =
          `SELECT count() AS requests, countIf(error = 1) AS errors, if(requests = 0, 0, errors / requests) AS error_rate, ` +
          `quantiles(0.5, 0.95, 0.99)(duration) AS q FROM tinybird.pipe_stats_rt ` +
          `WHERE pipe_name = ${quoted} AND start_datetime >= now() - ${seconds} FORMAT JSON`;
        const res = await apiFetch(s, '/v0/sql', { method: 'POST', body: new URLSearchParams({ q }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
        const [row] = ((await res.json()) as { data: { requests: number | string; errors: number | string; error_rate: number; q: number[] }[] }).data;
        const n = Number(row.requests);
        const ms = (v: number | undefined) => (n && v !== undefined && Number.isFinite(v) ? Math.round(v * 100000) / 100 : null);
        const stats = { pipe, window: opts.window, requests: n, errors: Number(row.errors), error_rate: Number(row.error_rate), p50_ms: ms(row.q[0]), p95_ms: ms(row.q[1]), p99_ms: ms(row.q[2]) };
        if (opts.format === 'json') return void process.stdout.write(JSON.stringify(stats) + '\n');
        process.stdout.write(
          `${pipe} over the last ${opts.window}: ${n} requests, ${stats.errors} errors (${(stats.error_rate * 100).toFixed(2)}%)` +
            (n ? `, latency p50 ${stats.p50_ms} ms, p95 ${stats.p95_ms} ms, p99 ${stats.p99_ms} ms` : '') +
            '\n',
        );
      }),
    );
}
