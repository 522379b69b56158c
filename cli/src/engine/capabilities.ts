// Feature detection by server version. Generated SQL asks these before using anything newer than ClickHouse 18.16.
import type { Capabilities, Engine, ServerVersion, Settings } from './types.js';
import { quoteString } from '../sql/quote.js';

export function parseVersion(text: string): ServerVersion {
  const [major = 0, minor = 0, patch = 0] = text.split('.').map((p) => Number.parseInt(p, 10) || 0);
  return { major, minor, patch, text };
}

/** Whether the server is at least version `since` ('major.minor'). */
export function atLeast(v: ServerVersion, since: string): boolean {
  const [major, minor] = since.split('.').map(Number);
  return v.major > major || (v.major === major && v.minor >= minor);
}

/** The first ClickHouse version with each capability; error messages quote these. */
export const CAPABILITY_VERSIONS: Record<keyof Capabilities, string> = {
  insertDeduplicationToken: '22.2',
  queryParameters: '19.15',
  exchangeTables: '20.7',
  dateTime64: '20.1',
  ttl: '19.6',
  lowCardinality: '19.9',
  readonlySetting: '1.1',
  sharedCtes: '24.3',
  parquetOutput: '19.4',
  parquetInput: '22.3',
};

export function capabilitiesFor(v: ServerVersion): Capabilities {
  const caps = {} as Capabilities;
  for (const [name, since] of Object.entries(CAPABILITY_VERSIONS) as [keyof Capabilities, string][]) caps[name] = atLeast(v, since);
  return caps;
}

/** The message for something the connected server is too old to run. */
export function needsVersionMessage(what: string, since: string, v: ServerVersion): string {
  return `${what} requires ClickHouse ${since} or newer; the server runs ${v.text}. Upgrade the server, or change the datafile not to use it`;
}

/**
 * Query settings that make ClickHouse accept what Tinybird's servers accept, each with the first version that
 * knows it (older servers refuse unknown settings, and accept these queries anyway: 18.16 runs a JOIN of an
 * unaliased subquery and has no Variant/Dynamic types).
 */
const COMPAT_QUERY_SETTINGS: { name: string; value: number; since: string }[] = [
  // `JOIN (SELECT ...) USING (id)` without an alias: refused since 20.1 unless this is 0.
  { name: 'joined_subquery_requires_alias', value: 0, since: '20.1' },
  // `GROUP BY` / `ORDER BY` a JSON path (type Dynamic): refused since 24.11 unless these are 1.
  { name: 'allow_suspicious_types_in_group_by', value: 1, since: '24.11' },
  { name: 'allow_suspicious_types_in_order_by', value: 1, since: '24.11' },
];

/** The compatibility query settings the server at `v` knows (none before the server's version is known). */
export function compatQuerySettings(v: ServerVersion | undefined): Settings {
  const out: Settings = {};
  if (!v) return out;
  for (const s of COMPAT_QUERY_SETTINGS) if (atLeast(v, s.since)) out[s.name] = s.value;
  return out;
}

/**
 * MergeTree settings a datasource's table gets so the server accepts what Tinybird accepts: since 26.7 an
 * AggregatingMergeTree refuses a plain column outside the sorting key unless allow_dimensions_outside_sorting_key
 * is set (it was accepted before). `own` is the datasource's ENGINE_SETTINGS: a value set there wins.
 */
export function compatTableSettings(engineType: string, v: ServerVersion, own = ''): string[] {
  if (!/AggregatingMergeTree$/i.test(engineType) || !atLeast(v, '26.7') || /\ballow_dimensions_outside_sorting_key\b/.test(own)) return [];
  return ['allow_dimensions_outside_sorting_key = 1'];
}

/** Which of the settings `names` the server has (system.settings): a setting it lacks would fail the statement. */
export async function settingsKnown(engine: Engine, names: readonly string[]): Promise<Set<string>> {
  const rows = await engine.queryRows<{ name: string }>(`SELECT name FROM system.settings WHERE name IN (${names.map(quoteString).join(', ')})`);
  return new Set(rows.map((r) => r.name));
}
