// The .prometheus format (server/prometheus.ts) on chDB: for well-formed metrics its text is ClickHouse's own
// `FORMAT Prometheus` (run on the same rows, as the oracle); for hostile label values and help text (quotes,
// backslashes, new lines, any Unicode) the text parses back, by the exposition format's escaping rules, to exactly
// the rows given; rows of one name far apart make one family; what the format cannot carry is a clear error.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PrometheusFormatError, toPrometheus, VALUE_TEXT_COLUMN } from '../../cli/src/server/prometheus.js';
import { quoteString } from '../../cli/src/sql/quote.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';

interface Row {
  name: string;
  type: string;
  help: string;
  labels: [string, string][];
  value: string; // a ClickHouse expression
  timestamp: number;
}

const metricName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,12}$/);
const labelName = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{0,8}$/).filter((n) => !['le', 'sum', 'count', 'quantile'].includes(n));
const value = fc.oneof(
  fc.integer({ min: -1e9, max: 1e9 }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }).map((d) => `toFloat64(${d})`),
  fc.constantFrom('nan', 'inf', '-inf', 'toUInt64(18446744073709551615)'),
);
const labels = (text: fc.Arbitrary<string>) => fc.uniqueArray(fc.tuple(labelName, text), { maxLength: 3, selector: ([k]) => k });

const rowSql = (r: Row): string =>
  `SELECT ${quoteString(r.name)} AS name, ${quoteString(r.type)} AS type, ${quoteString(r.help)} AS help, ` +
  `CAST(map(${r.labels.flatMap(([k, v]) => [quoteString(k), quoteString(v)]).join(', ')}), 'Map(String, String)') AS labels, ${r.value} AS value, toInt64(${r.timestamp}) AS timestamp`;

/** A strict reader of the exposition text, by the format's rules: families, samples, escapes. */
function parseExposition(text: string) {
  const unescape = (s: string) => s.replace(/\\(\\|n|")/g, (_, c: string) => (c === 'n' ? '\n' : c));
  const out: { name: string; help?: string; type?: string; samples: { name: string; labels: [string, string][]; value: string; timestamp?: string }[] }[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      out.push({ name: m[1], help: m[2].replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\')), samples: [] });
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      const last = out[out.length - 1];
      if (last?.name === m[1] && last.samples.length === 0 && last.type === undefined) last.type = m[2];
      else out.push({ name: m[1], type: m[2], samples: [] });
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\n"])*",?)*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const sampleLabels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\n"])*)"/g)].map((l) => [l[1], unescape(l[2])] as [string, string]);
    const family = out[out.length - 1];
    const sample = { name: m[1], labels: sampleLabels, value: m[3], ...(m[4] ? { timestamp: m[4] } : {}) };
    if (family && (m[1] === family.name || m[1].startsWith(`${family.name}_`))) family.samples.push(sample);
    else out.push({ name: m[1], samples: [sample] });
  }
  return out;
}

describe('the .prometheus format', () => {
  const ctx = useEmbeddedEngine('prometheus');

  /** What the server does: the rows as JSON with `value` printed by ClickHouse, then rendered. */
  async function ours(sql: string): Promise<string> {
    const json = JSON.parse(await ctx.engine.queryText(`SELECT *, toString(value) AS ${VALUE_TEXT_COLUMN} FROM (${sql})`, 'JSON')) as Parameters<typeof toPrometheus>[0];
    return toPrometheus(json, 'metrics');
  }
  const union = (rows: Row[]) => rows.map(rowSql).join(' UNION ALL ');

  it("is ClickHouse's own FORMAT Prometheus for well-formed metrics, grouped by name", async () => {
    // Help without backslashes or new lines: there ClickHouse writes them unescaped, where the format escapes them.
    const help = fc.stringMatching(/^[a-zA-Z0-9 ,.()"'%-]{0,20}$/);
    // One value type for every row (ClickHouse's format refuses the Variant a mixed UNION makes).
    const sample = fc.record({ labels: labels(fc.string({ maxLength: 8, unit: 'grapheme' })), value: value.map((v) => `toFloat64(${v})`), timestamp: fc.constantFrom(0, 1395066363000) });
    const family = fc.record({ name: metricName, type: fc.constantFrom('counter', 'gauge', 'untyped', ''), help, samples: fc.array(sample, { minLength: 1, maxLength: 3 }) });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(family, { minLength: 1, maxLength: 4, selector: (f) => f.name }), async (families) => {
        const rows: Row[] = families.flatMap((f) => f.samples.map((s, i) => ({ name: f.name, type: f.type, help: i === 0 ? f.help : '', ...s })));
        // ClickHouse keeps the rows' order only with ORDER BY; the families stay as generated.
        const ordered = `SELECT * FROM (${rows.map((r, i) => `SELECT ${i} AS n, * FROM (${rowSql(r)})`).join(' UNION ALL ')}) ORDER BY n`;
        const sql = `SELECT name, type, help, labels, value, timestamp FROM (${ordered})`;
        expect(await ours(sql)).toBe(await ctx.engine.queryText(sql, 'Prometheus'));
      }),
      { numRuns: 40 },
    );
  });

  it('writes histograms and summaries as ClickHouse does: le makes _bucket in increasing order, a sum or count label _sum or _count after them', async () => {
    const sql = union([
      { name: 'latency', type: 'histogram', help: 'Request latency', labels: [['le', '0.05']], value: '24054', timestamp: 0 },
      { name: 'latency', type: 'histogram', help: '', labels: [['le', '+Inf']], value: '144320', timestamp: 0 },
      { name: 'latency', type: 'histogram', help: '', labels: [['sum', '']], value: '53423', timestamp: 0 },
      { name: 'latency', type: 'histogram', help: '', labels: [['count', '']], value: '144320', timestamp: 0 },
      { name: 'rpc', type: 'summary', help: '', labels: [['quantile', '0.5']], value: '4773', timestamp: 0 },
      { name: 'rpc', type: 'summary', help: '', labels: [['count', '']], value: '2693', timestamp: 0 },
    ]);
    // Rows in the reverse of the order written.
    const reversed = `SELECT * FROM (${sql}) ORDER BY name DESC, toString(labels) DESC`;
    expect(await ours(reversed)).toBe(
      '# TYPE rpc summary\nrpc{quantile="0.5"} 4773\nrpc_count 2693\n\n' +
        '# HELP latency Request latency\n# TYPE latency histogram\nlatency_bucket{le="0.05"} 24054\nlatency_bucket{le="+Inf"} 144320\nlatency_sum 53423\nlatency_count 144320\n\n',
    );
    // ClickHouse writes the same from rows in this order (it gathers consecutive rows only).
    const inOrder = `SELECT * FROM (${sql}) ORDER BY name, has(mapKeys(labels), 'le') DESC, labels['le'] = '+Inf', value`;
    expect(await ours(inOrder)).toBe(await ctx.engine.queryText(inOrder, 'Prometheus'));
  });

  it('parses back to exactly the rows given, whatever the label values and help text hold; one family per name', async () => {
    const hostile = fc.string({ maxLength: 12, unit: fc.oneof(fc.constantFrom('\\', '"', '\n', '{', '}', '=', ',', ' ', '#'), fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' })) });
    const row = fc.record({ name: fc.constantFrom('a_total', 'b', 'c:rate'), type: fc.constant(''), help: hostile, labels: labels(hostile), value: fc.integer({ min: -1000, max: 1000 }).map(String), timestamp: fc.constant(0) });
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 6 }), async (rows) => {
        const ordered = `SELECT name, type, help, labels, value, timestamp FROM (${rows.map((r, i) => `SELECT ${i} AS n, * FROM (${rowSql(r)})`).join(' UNION ALL ')}) ORDER BY n`;
        const families = parseExposition(await ours(ordered));
        // One family per name, in the order names first appear, holding that name's rows in order.
        const names = [...new Set(rows.map((r) => r.name))];
        expect(families.map((f) => f.name)).toEqual(names);
        for (const f of families) {
          const mine = rows.filter((r) => r.name === f.name);
          expect(f.help).toBe(mine.find((r) => r.help !== '')?.help);
          expect(f.samples).toEqual(mine.map((r) => ({ name: r.name, labels: [...r.labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), value: r.value })));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('writes a labelled histogram series by series: its buckets in increasing le, then its _sum and _count', async () => {
    const text = await ours(
      "SELECT * FROM (SELECT 1 AS n, 'lat' AS name, 'histogram' AS type, [('le', '+Inf'), ('m', 'GET')] AS labels, 5 AS value UNION ALL SELECT 2, 'lat', '', [('le', '+Inf'), ('m', 'POST')], 2 UNION ALL SELECT 3, 'lat', '', [('count', ''), ('m', 'GET')], 5 UNION ALL SELECT 4, 'lat', '', [('le', '0.1'), ('m', 'POST')], 1 UNION ALL SELECT 5, 'lat', '', [('le', '0.1'), ('m', 'GET')], 3) ORDER BY n",
    );
    expect(text).toBe('# TYPE lat histogram\nlat_bucket{le="0.1",m="GET"} 3\nlat_bucket{le="+Inf",m="GET"} 5\nlat_count{m="GET"} 5\nlat_bucket{le="0.1",m="POST"} 1\nlat_bucket{le="+Inf",m="POST"} 2\n\n');
  });

  it("names every row by its family's type, even when only a later row gives the type", async () => {
    const text = await ours(
      "SELECT * FROM (SELECT 1 AS n, 'lat' AS name, '' AS type, [('le', '0.1')] AS labels, 2 AS value UNION ALL SELECT 2, 'lat', 'histogram', [('le', '+Inf')], 3 UNION ALL SELECT 3, 'lat', '', [('sum', '')], 0.5) ORDER BY n",
    );
    expect(text).toBe('# TYPE lat histogram\nlat_bucket{le="0.1"} 2\nlat_bucket{le="+Inf"} 3\nlat_sum 0.5\n\n');
  });

  it('takes labels as Array(Tuple(String, String)), the only form ClickHouse 18.16 has; 64-bit integers keep every digit', async () => {
    const text = await ours("SELECT 'sends_total' AS name, [('provider', 'ses'), ('campaign', 'camp_1')] AS labels, toUInt64(18446744073709551615) AS value");
    expect(text).toBe('sends_total{campaign="camp_1",provider="ses"} 18446744073709551615\n\n');
  });

  it('refuses what the format cannot carry, saying which row and why', async () => {
    const refused = async (sql: string) => {
      const err = await ours(sql).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(PrometheusFormatError);
      return (err as Error).message;
    };
    expect(await refused("SELECT 'a' AS metric, 1 AS value")).toBe('the .prometheus format needs the columns name (String) and value (a number), and takes help, type, labels and timestamp; metrics gives metric, value');
    expect(await refused("SELECT '1bad' AS name, 1 AS value")).toBe("row 1 of metrics: '1bad' is not a Prometheus metric name (letters, digits, _ and :, not starting with a digit)");
    expect(await refused("SELECT 'a' AS name, map('bad-label', 'x') AS labels, 1 AS value")).toMatch(/^row 1 of metrics: 'bad-label' is not a Prometheus label name/);
    expect(await refused("SELECT 'a' AS name, map('__name__', 'x') AS labels, 1 AS value")).toMatch(/'__name__' is not a Prometheus label name/);
    expect(await refused("SELECT 'a' AS name, 'meter' AS type, 1 AS value")).toBe("row 1 of metrics: type 'meter' is not one of counter, gauge, histogram, summary, untyped (or empty)");
    expect(await refused("SELECT 'a' AS name, 'x' AS value")).toBe("row 1 of metrics: value 'x' is not a number");
    expect(await refused("SELECT 'a' AS name, CAST(NULL, 'Nullable(Float64)') AS value")).toBe('row 1 of metrics: value is NULL (use ifNull(value, 0), or leave the row out)');
    expect(await refused("SELECT 'a' AS name, [('k', '1'), ('k', '2')] AS labels, 1 AS value")).toBe("row 1 of metrics: label 'k' is given twice");
    expect(await refused("SELECT 'a' AS name, 1 AS value, now() AS timestamp")).toMatch(/^row 1 of metrics: timestamp '.+' must be an integer, milliseconds since the epoch \(e\.g\. toUnixTimestamp\(t\) \* 1000\)$/);
    // No rows is an empty exposition, which Prometheus reads as no samples.
    expect(await ours("SELECT 'a' AS name, 1 AS value WHERE 0")).toBe('');
  });
});
