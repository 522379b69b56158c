// `/v0/pipes/<pipe>.prometheus`: an endpoint's rows as Prometheus' text exposition format (0.0.4), Tinybird's
// columns: `name` and `value` required; `help`, `type`, `labels` and `timestamp` optional. Rendered here from the
// query's JSON rather than by ClickHouse's own `FORMAT Prometheus` (22.x+, and its labels need the Map type), so it
// is the same on every server down to 18.16, where `labels` may be an Array(Tuple(String, String)). As ClickHouse
// does: rows of a histogram with label `le` are the family's `_bucket` samples, and a label `sum` or `count` (of a
// histogram or a summary) makes the sample `_sum` or `_count`; each series' buckets and quantiles are written in
// increasing `le` and `quantile`, then its `_sum`, then its `_count`; label names are sorted; a timestamp of 0 is left out; each family
// ends with a blank line.
// Unlike it, rows of one name are gathered into one family wherever they are in the result (a family repeated
// further down is not valid exposition), and HELP text is escaped as the format says.

/** The query column that carries `value` as ClickHouse prints it (`nan`, `inf`, exact 64-bit integers). */
export const VALUE_TEXT_COLUMN = '__prometheus_value';

/** What an endpoint must give for the format: said as a 400 with its reason. */
export class PrometheusFormatError extends Error {}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped', '']);

interface QueryResult {
  meta: { name: string; type: string }[];
  data: Record<string, unknown>[];
}

interface Sample {
  name: string;
  labels: [string, string][];
  value: string;
  timestamp?: string;
}

interface Family {
  help?: string;
  type?: string;
  samples: Sample[];
}

/** Whether an endpoint's output columns are metrics: it has `name` and `value`. */
export const isMetricsOutput = (columns: readonly string[]): boolean => columns.includes('name') && columns.includes('value');

/** The 400 for an endpoint whose rows are not metrics. */
export const missingMetricColumns = (pipe: string, columns: readonly string[]): string =>
  `the .prometheus format needs the columns name (String) and value (a number), and takes help, type, labels and timestamp; ${pipe} gives ${columns.join(', ') || 'no columns'}`;

/** The rows of `result` (ClickHouse JSON, with VALUE_TEXT_COLUMN) as exposition text. */
export function toPrometheus(result: QueryResult, pipe: string): string {
  const columns = result.meta.map((m) => m.name).filter((n) => n !== VALUE_TEXT_COLUMN);
  if (!isMetricsOutput(columns)) throw new PrometheusFormatError(missingMetricColumns(pipe, columns));
  // First pass: each family's help and type (the first given), which any of its rows may carry.
  const families = new Map<string, Family>();
  result.data.forEach((row, i) => {
    const at = `row ${i + 1} of ${pipe}`;
    const name = String(row.name ?? '');
    if (!METRIC_NAME.test(name)) throw new PrometheusFormatError(`${at}: '${name}' is not a Prometheus metric name (letters, digits, _ and :, not starting with a digit)`);
    const type = row.type === undefined || row.type === null ? '' : String(row.type);
    if (!TYPES.has(type)) throw new PrometheusFormatError(`${at}: type '${type}' is not one of counter, gauge, histogram, summary, untyped (or empty)`);
    const family = families.get(name) ?? { samples: [] };
    families.set(name, family);
    if (family.help === undefined && typeof row.help === 'string' && row.help !== '') family.help = row.help;
    if (family.type === undefined && type !== '') family.type = type;
  });
  // Second pass: the samples, named by their family's type.
  result.data.forEach((row, i) => {
    const at = `row ${i + 1} of ${pipe}`;
    const name = String(row.name);
    const family = families.get(name)!;
    const labels = labelsOf(row.labels, at);
    let sampleName = name;
    const suffix = labels.find(([k]) => k === 'sum' || k === 'count');
    if ((family.type === 'histogram' || family.type === 'summary') && suffix) sampleName = `${name}_${suffix[0]}`;
    else if (family.type === 'histogram' && labels.some(([k]) => k === 'le')) sampleName = `${name}_bucket`;
    const kept = suffix && sampleName !== name ? labels.filter(([k]) => k !== suffix[0]) : labels;
    family.samples.push({ name: sampleName, labels: kept, value: valueOf(row, at), timestamp: timestampOf(row.timestamp, at) });
  });
  const blocks: string[] = [];
  for (const [name, family] of families) {
    const lines: string[] = [];
    if (family.help !== undefined) lines.push(`# HELP ${name} ${escapeHelp(family.help)}`);
    if (family.type !== undefined) lines.push(`# TYPE ${name} ${family.type}`);
    for (const s of ordered(name, family)) {
      const labels = s.labels.length ? `{${s.labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}` : '';
      lines.push(`${s.name}${labels} ${s.value}${s.timestamp ? ` ${s.timestamp}` : ''}`);
    }
    blocks.push(`${lines.join('\n')}\n\n`);
  }
  return blocks.join('');
}

/**
 * A histogram's or summary's samples series by series (their other labels, in the order they first appear): buckets
 * by `le` or quantiles by `quantile`, then `_sum`, then `_count`. Other families as given.
 */
function ordered(name: string, family: Family): Sample[] {
  const by = family.type === 'histogram' ? 'le' : family.type === 'summary' ? 'quantile' : undefined;
  if (!by) return family.samples;
  // Each sample's keys worked out once: its series (first appearance), its part (0, _sum, _count), its bound.
  const firstSeen = new Map<string, number>();
  const keyed = family.samples.map((s) => {
    const seriesKey = JSON.stringify(s.labels.filter(([k]) => k !== by));
    if (!firstSeen.has(seriesKey)) firstSeen.set(seriesKey, firstSeen.size);
    const v = s.labels.find(([k]) => k === by)?.[1];
    const n = v === undefined ? NaN : v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
    return { s, series: firstSeen.get(seriesKey)!, part: s.name === `${name}_sum` ? 1 : s.name === `${name}_count` ? 2 : 0, bound: Number.isNaN(n) ? Infinity : n };
  });
  keyed.sort((a, b) => a.series - b.series || a.part - b.part || (a.part === 0 ? a.bound - b.bound || 0 : 0));
  return keyed.map((k) => k.s);
}

/** Labels from a Map (a JSON object) or an Array(Tuple(String, String)) (pairs), sorted by name. */
function labelsOf(raw: unknown, at: string): [string, string][] {
  if (raw === undefined || raw === null) return [];
  let pairs: [unknown, unknown][];
  if (Array.isArray(raw)) {
    if (!raw.every((p) => Array.isArray(p) && p.length === 2)) throw new PrometheusFormatError(`${at}: labels must be a Map(String, String) or an Array(Tuple(String, String))`);
    pairs = raw as [unknown, unknown][];
  } else if (typeof raw === 'object') pairs = Object.entries(raw);
  else throw new PrometheusFormatError(`${at}: labels must be a Map(String, String) or an Array(Tuple(String, String))`);
  const out = new Map<string, string>();
  for (const [k, v] of pairs) {
    const key = String(k);
    if (!LABEL_NAME.test(key) || key.startsWith('__')) throw new PrometheusFormatError(`${at}: '${key}' is not a Prometheus label name (letters, digits and _, not starting with a digit or __)`);
    if (out.has(key)) throw new PrometheusFormatError(`${at}: label '${key}' is given twice`);
    out.set(key, v === null || v === undefined ? '' : String(v));
  }
  return [...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The value as ClickHouse printed it (`toString`), in Prometheus' spelling of the special floats. */
function valueOf(row: Record<string, unknown>, at: string): string {
  // The JSON `value` of NaN or ±Inf is null; ClickHouse's text of it is not, unless the value is NULL itself.
  const raw = VALUE_TEXT_COLUMN in row ? row[VALUE_TEXT_COLUMN] : row.value;
  if (raw === null || raw === undefined) throw new PrometheusFormatError(`${at}: value is NULL (use ifNull(value, 0), or leave the row out)`);
  const text = String(raw).trim();
  const special: Record<string, string> = { nan: 'NaN', '-nan': 'NaN', inf: '+Inf', '+inf': '+Inf', '-inf': '-Inf' };
  if (special[text.toLowerCase()]) return special[text.toLowerCase()];
  if (text === '' || !Number.isFinite(Number(text))) throw new PrometheusFormatError(`${at}: value '${text}' is not a number`);
  return text;
}

/** Milliseconds since the epoch, as Prometheus reads a sample's timestamp; 0 or none leaves it out. */
function timestampOf(raw: unknown, at: string): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  const text = String(raw);
  if (!/^-?\d+$/.test(text)) throw new PrometheusFormatError(`${at}: timestamp '${text}' must be an integer, milliseconds since the epoch (e.g. toUnixTimestamp(t) * 1000)`);
  return /^-?0+$/.test(text) ? undefined : text;
}

const escapeHelp = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabelValue = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
