// The ClickHouse connection options, spelled the same for every command: `--clickhouse-url`, `--clickhouse-user`,
// `--clickhouse-password`, `--clickhouse-database`, or EMAILSTATS_CLICKHOUSE_* (docs/decisions.md, "One set of
// connection names"). The production commands' old spelling (`--url`, EMAILSTATS_URL, ...) still works on every
// command, with a deprecation note, so existing CI secrets keep deploying; two different values for one setting
// are refused instead of one of them being picked silently.
import { Option, type Command } from 'commander';
import { UserError } from '../util/fatal.js';

export interface EngineCliOptions {
  clickhouseUrl?: string;
  clickhouseUser?: string;
  clickhousePassword?: string;
  clickhouseDatabase?: string;
  /** The production commands only (deploy, deployment, serve): a cluster of the server (engine/placement.ts). */
  clickhouseCluster?: string;
}

interface Setting {
  /** `url` → `--clickhouse-url` / EMAILSTATS_CLICKHOUSE_URL; deprecated `--url` / EMAILSTATS_URL. */
  name: 'url' | 'user' | 'password' | 'database';
  key: keyof EngineCliOptions;
  placeholder: string;
  help: string;
  secret?: boolean;
}

const SETTINGS: readonly Setting[] = [
  { name: 'url', key: 'clickhouseUrl', placeholder: '<url>', help: '' },
  { name: 'user', key: 'clickhouseUser', placeholder: '<user>', help: 'ClickHouse user' },
  { name: 'password', key: 'clickhousePassword', placeholder: '<password>', help: 'ClickHouse password', secret: true },
  { name: 'database', key: 'clickhouseDatabase', placeholder: '<db>', help: 'ClickHouse database (default: the URL path, else default)' },
];

const canonicalFlag = (s: Pick<Setting, 'name'>): string => `--clickhouse-${s.name}`;
const canonicalEnv = (s: Pick<Setting, 'name'>): string => `EMAILSTATS_CLICKHOUSE_${s.name.toUpperCase()}`;
const deprecatedFlag = (s: Setting): string => `--${s.name}`;
const deprecatedEnv = (s: Setting): string => `EMAILSTATS_${s.name.toUpperCase()}`;

/**
 * Adds the four settings (and their hidden deprecated spellings) to `cmd`, and resolves them before its action
 * runs. `serverRequired`: the command always targets a server (deploy, deployment, serve); otherwise no URL
 * means the embedded engine, and a user, password or database without a URL is refused (it would be ignored).
 */
export function withConnectionOptions(cmd: Command, urlHelp: string, serverRequired: boolean): Command {
  for (const s of SETTINGS) {
    cmd.addOption(new Option(`${canonicalFlag(s)} ${s.placeholder}`, s.name === 'url' ? urlHelp : s.help).env(canonicalEnv(s)));
    cmd.addOption(new Option(`${deprecatedFlag(s)} ${s.placeholder}`, `deprecated spelling of ${canonicalFlag(s)}`).env(deprecatedEnv(s)).hideHelp());
  }
  return cmd.hook('preAction', (_hooked, action) => resolveConnection(action, serverRequired, (line) => process.stderr.write(line + '\n')));
}

type Source = 'cli' | 'env';
interface Given {
  value: string;
  source: Source;
  /** How the user spelled it: the flag or the variable. */
  spelling: string;
  deprecated: boolean;
}

function given(cmd: Command, s: Setting, deprecated: boolean): Given | undefined {
  const key = deprecated ? s.name : s.key;
  const value = cmd.getOptionValue(key) as string | undefined;
  // An empty value (a CI secret that is not set) counts as not given.
  if (value === undefined || value === '') return undefined;
  const source: Source = cmd.getOptionValueSource(key) === 'env' ? 'env' : 'cli';
  const spelling = deprecated ? (source === 'env' ? deprecatedEnv(s) : deprecatedFlag(s)) : source === 'env' ? canonicalEnv(s) : canonicalFlag(s);
  return { value, source, spelling, deprecated };
}

/**
 * Picks each setting's value: a flag wins over an environment variable (as for every option), and two
 * different values at the same level are an error naming both. The chosen value is stored under the
 * canonical name, so commands read `clickhouseUrl` and never the deprecated one.
 */
function resolveConnection(cmd: Command, serverRequired: boolean, note: (line: string) => void): void {
  const chosen = new Map<Setting['name'], Given>();
  for (const s of SETTINGS) {
    const current = given(cmd, s, false);
    const old = given(cmd, s, true);
    cmd.setOptionValue(s.name, undefined);
    if (!current) cmd.setOptionValue(s.key, undefined);
    if (current) chosen.set(s.name, current);
    if (!old) continue;
    note(`note: ${old.spelling} is deprecated; use ${old.source === 'env' ? canonicalEnv(s) : canonicalFlag(s)} (same meaning, one spelling for every command)`);
    if (!current || (old.source === 'cli' && current.source === 'env')) {
      cmd.setOptionValueWithSource(s.key, old.value, old.source);
      chosen.set(s.name, old);
    } else if (current.value !== old.value && current.source === old.source) {
      const show = (g: Given): string => (s.secret ? g.spelling : `${g.spelling}=${g.value}`);
      throw new UserError(
        `two different ClickHouse ${s.name}s given: ${show(current)} and ${show(old)}. ` +
          `Give one: ${canonicalFlag(s)} (or ${canonicalEnv(s)}); ${deprecatedFlag(s)} and ${deprecatedEnv(s)} are its deprecated spellings`,
      );
    }
  }
  if (!serverRequired && !chosen.has('url')) {
    const stray = [...chosen.values()].map((g) => g.spelling);
    if (stray.length) {
      const names = stray.join(', ');
      throw new UserError(
        `${names} ${stray.length === 1 ? 'is' : 'are'} set but no ClickHouse server URL: ` +
          `give ${canonicalFlag({ name: 'url' })} (or ${canonicalEnv({ name: 'url' })}) to use that server, or unset ${names} to use the embedded engine`,
      );
    }
  }
}

/**
 * `--clickhouse-cluster NAME` (or `--cluster NAME`, EMAILSTATS_CLICKHOUSE_CLUSTER): the production commands
 * deploy and serve across a cluster of the server's remote_servers (docs/deploy.md, "Deploying to a cluster").
 */
export function withClusterOption(cmd: Command): Command {
  cmd.addOption(
    new Option('--clickhouse-cluster <name>', 'a cluster of the server (remote_servers): replicated shard tables behind Distributed tables, DDL ON CLUSTER').env('EMAILSTATS_CLICKHOUSE_CLUSTER'),
  );
  cmd.addOption(new Option('--cluster <name>', 'same as --clickhouse-cluster'));
  return cmd.hook('preAction', (_hooked, action) => {
    const long = action.getOptionValue('clickhouseCluster') as string | undefined;
    const short = action.getOptionValue('cluster') as string | undefined;
    if (long && short && long !== short && action.getOptionValueSource('clickhouseCluster') === 'cli') {
      throw new UserError(`two different clusters given: --clickhouse-cluster=${long} and --cluster=${short}; give one`);
    }
    // A flag wins over the environment variable, whichever spelling it has.
    const value = short ?? long;
    action.setOptionValue('clickhouseCluster', value === '' ? undefined : value);
    action.setOptionValue('cluster', undefined);
  });
}
