// `emailstats token ls | create static | create jwt | rm | refresh`: the Token API (/v0/tokens) of the running
// dev server, or of an in-process server when none runs.
import type { Command } from 'commander';
import { apiFetch } from '../local/api-session.js';
import { tokenNameProblem } from '../server/token-name.js';
import { UserError } from '../util/fatal.js';
import { withApiSession, withEngine, withProject, type EngineCliOptions } from './common.js';

type Opts = EngineCliOptions & { project?: string };

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `1h`, `30min`, `1d`, `90s`, `15m` → seconds; `flag` names the option in the error. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)$/i.exec(text.trim());
  if (!m) throw new UserError(`${flag} '${text}' is not a duration: use e.g. 30s, 15min, 1h or 7d`);
  const unit = m[2].toLowerCase();
  const factor = unit.startsWith('s') ? 1 : unit.startsWith('m') ? 60 : unit.startsWith('h') ? 3600 : 86400;
  return Math.round(Number(m[1]) * factor);
}

/** `campaign_id=camp_1,region=eu` → an object. */
export function parseFixedParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new UserError(`--fixed-params takes name=value pairs separated by commas, got '${pair}'`);
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}

/** Refuses a name the API would refuse before a server is contacted (or started in-process); returns `opts`. */
function checkName<T>(name: string, opts: T): T {
  const problem = tokenNameProblem(name.trim());
  if (problem) throw new UserError(problem);
  return opts;
}

interface TokenJson {
  name: string;
  origin: string;
  token?: string;
  scopes: { type: string; resource: string | null }[];
  limits?: { rps: number };
}

export function register(program: Command): void {
  const token = program.command('token').description('list, create, delete and refresh tokens (static and JWT)');

  withEngine(withProject(token.command('ls')))
    .description('list tokens and their scopes (static secrets are shown only when created or refreshed)')
    .option('--format <format>', 'human or json', 'human')
    .action(async (opts: Opts & { format: string }) =>
      withApiSession(opts, async (s) => {
        const { tokens } = (await (await apiFetch(s, '/v0/tokens')).json()) as { tokens: TokenJson[] };
        if (opts.format === 'json') return void process.stdout.write(JSON.stringify(tokens, null, 2) + '\n');
        for (const t of tokens) {
          const scopes = t.scopes.map((sc) => (sc.resource ? `${sc.type}:${sc.resource}` : sc.type)).join(' ');
          process.stdout.write(`${t.name}\t${t.origin}\t${scopes}${t.limits ? `\t${t.limits.rps} rps` : ''}\n`);
        }
      }),
    );

  const create = token.command('create').description('create a static token or mint a JWT');

  withEngine(withProject(create.command('static <name>')))
    .description('create a static token; prints its secret once')
    .option('--scope <scope>', 'PIPES:READ:<pipe>, DATASOURCES:READ:<ds>, DATASOURCES:APPEND:<ds> or ADMIN (repeatable)', collect, [])
    .option('--rps <n>', 'requests per second this token may make')
    .action(async (name: string, opts: Opts & { scope: string[]; rps?: string }) =>
      withApiSession(checkName(name, opts), async (s) => {
        if (!opts.scope.length) throw new UserError('give the token at least one --scope, e.g. --scope PIPES:READ:campaign_stats');
        const qs = new URLSearchParams({ name });
        for (const sc of opts.scope) qs.append('scope', sc);
        if (opts.rps) qs.set('rps', opts.rps);
        const t = (await (await apiFetch(s, `/v0/tokens?${qs}`, { method: 'POST' })).json()) as TokenJson;
        process.stdout.write(`${t.token}\n`);
      }),
    );

  withEngine(withProject(create.command('jwt <name>')))
    .description('mint a JWT signed with the admin token (not stored; expires after --ttl)')
    .requiredOption('--ttl <duration>', 'lifetime, e.g. 1h, 30min, 1d')
    .option('--scope <type>', 'PIPES:READ or DATASOURCES:READ, paired with the --resource at the same position (repeatable)', collect, [])
    .option('--resource <name>', 'pipe or datasource of the --scope at the same position (repeatable)', collect, [])
    .option('--fixed-params <k=v,...>', "parameters forced on the --resource at the same position (row-level security); with several resources give one per resource, '' for none", collect, [])
    .option('--rps <n>', 'requests per second this JWT may make')
    .action(async (name: string, opts: Opts & { ttl: string; scope: string[]; resource: string[]; fixedParams: string[]; rps?: string }) =>
      withApiSession(checkName(name, opts), async (s) => {
        if (!opts.resource.length) throw new UserError('give the JWT at least one --resource (and --scope PIPES:READ), e.g. --scope PIPES:READ --resource campaign_stats');
        // Options are paired by their rank, not by where they stand on the line: with fewer --fixed-params than
        // --resource, which resource a filter meant to restrict could not be told, and the wrong one would be left open.
        if (opts.fixedParams.length && opts.fixedParams.length !== opts.resource.length)
          throw new UserError(`give one --fixed-params per --resource, in the same order (${opts.resource.length} resources, ${opts.fixedParams.length} --fixed-params); --fixed-params '' for a resource without`);
        const scopes = opts.resource.map((resource, i) => ({
          type: opts.scope[i] ?? opts.scope[opts.scope.length - 1] ?? 'PIPES:READ',
          resource,
          ...(opts.fixedParams[i] ? { fixed_params: parseFixedParams(opts.fixedParams[i]) } : {}),
        }));
        const exp = Math.floor(Date.now() / 1000) + parseDuration(opts.ttl, '--ttl');
        const body: Record<string, unknown> = { scopes };
        if (opts.rps) body.limits = { rps: Number(opts.rps) };
        const qs = new URLSearchParams({ name, expiration_time: String(exp) });
        const t = (await (await apiFetch(s, `/v0/tokens?${qs}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })).json()) as { token: string };
        process.stdout.write(`${t.token}\n`);
      }),
    );

  withEngine(withProject(token.command('rm <name>')))
    .description('delete a token created with `token create static`')
    .action(async (name: string, opts: Opts) =>
      withApiSession(opts, async (s) => {
        await apiFetch(s, `/v0/tokens/${encodeURIComponent(name)}`, { method: 'DELETE' });
        process.stdout.write(`✓ token ${name} deleted\n`);
      }),
    );

  withEngine(withProject(token.command('refresh <name>')))
    .description('give a token a new secret (same name and scopes); the old secret stops working; prints the new one')
    .action(async (name: string, opts: Opts) =>
      withApiSession(opts, async (s) => {
        const t = (await (await apiFetch(s, `/v0/tokens/${encodeURIComponent(name)}/refresh`, { method: 'POST' })).json()) as TokenJson;
        process.stdout.write(`${t.token}\n`);
      }),
    );
}
