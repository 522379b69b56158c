// Tinybird Classic constructs and Tinybird's service data sources (issue 14), as small self-written datafiles:
// each must load, build and answer on chDB, or fail at check time with a message naming the construct.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseDatasource, parsePipe } from '../../cli/src/datafile/index.js';
import { applyProject } from '../../cli/src/project/apply.js';
import { validateNodes } from '../../cli/src/project/build.js';
import { loadProject } from '../../cli/src/project/model.js';
import { renderNode } from '../../cli/src/project/render.js';
import { physicalTableNames } from '../../cli/src/project/service-datasources.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';
import { useProjectFiles } from '../helpers/project-files.js';

const ds = (text: string, file = 'datasources/d.datasource') => parseDatasource(text, file, { env: {} });
const pipe = (text: string, file = 'pipes/p.pipe') => parsePipe(text, file, { env: {} });
type Diags = { diagnostics: { severity: string; message: string; line: number; col: number }[] };
const errors = (r: Diags) => r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.message}`);
const warnings = (r: Diags) => r.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.message);

const writeProject = useProjectFiles('classic');

const EVENTS = 'SCHEMA >\n    `id` String `json:$.id`,\n    `amount` Int64 `json:$.amount`,\n    `at` DateTime `json:$.at`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "id, at"\n';
const engine = useEmbeddedEngine('classic');

async function built(files: Record<string, string>) {
  const project = await loadProject(writeProject(files), {});
  const loadErrors = project.diagnostics.filter((d) => d.severity === 'error');
  expect(loadErrors).toEqual([]);
  const applied = await applyProject(engine.engine, project);
  expect(applied.diagnostics).toEqual([]);
  const validated = await validateNodes(engine.engine, project);
  expect(validated.diagnostics).toEqual([]);
  // Each test builds into the same engine: drop what it created so the next starts clean.
  const cleanup = async () => {
    for (const v of Object.keys(applied.state.views)) await engine.engine.command(`DROP TABLE IF EXISTS \`${v}\``);
    for (const t of Object.keys(applied.state.datasources)) {
      await engine.engine.command(`DROP TABLE IF EXISTS \`${t}\``);
      await engine.engine.command(`DROP TABLE IF EXISTS \`${t}_quarantine\``);
    }
  };
  return { project, applied, cleanup };
}

describe('5. service data sources and other databases', () => {
  it('a pipe reading tinybird.datasources_ops_log, tinybird.pipe_stats_rt and tinybird.pipe_stats builds and answers', async () => {
    const { project, cleanup } = await built({
      'datasources/events.datasource': EVENTS,
      'pipes/ingest_health.pipe':
        'NODE ops\nSQL >\n    SELECT datasource_name, event_type, sum(written_rows) AS written, sum(rows_quarantine) AS quarantined\n    FROM tinybird.datasources_ops_log\n    WHERE timestamp > now() - INTERVAL 1 DAY\n    GROUP BY datasource_name, event_type\n\n' +
        'NODE requests\nSQL >\n    SELECT pipe_name, count() AS n FROM tinybird.pipe_stats_rt GROUP BY pipe_name\n\n' +
        'NODE daily\nSQL >\n    SELECT date, sum(view_count) AS views, avgMerge(avg_duration_state) AS avg_time, quantilesTimingMerge(0.9, 0.95, 0.99)(quantile_timing_state) AS q\n    FROM tinybird.pipe_stats GROUP BY date\n\n' +
        'NODE endpoint\nSQL >\n    SELECT * FROM ops\nTYPE endpoint\n',
    });
    const p = project.pipes.get('ingest_health')!;
    const sql = renderNode(project, p).sql;
    expect(sql).toContain('FROM tinybird_datasources_ops_log');
    // The daily one reads the table the request log's view fills (created by the build).
    const daily = renderNode(project, p, p.nodes.find((n) => n.name === 'daily')!).sql;
    expect(daily).toContain('FROM tinybird_pipe_stats GROUP BY date');
    await engine.engine.command("INSERT INTO tinybird_pipe_stats_rt (start_datetime, pipe_id, pipe_name, duration, error, status_code) VALUES (now(), 'p', 'p', 0.25, 0, 200)");
    const [day] = await engine.engine.queryRows<{ views: string; avg_time: number }>(daily);
    expect(Number(day.views)).toBe(1);
    expect(day.avg_time).toBe(0.25);
    await engine.engine.command(
      "INSERT INTO tinybird_datasources_ops_log (timestamp, event_type, datasource_id, datasource_name, result, written_rows, rows_quarantine) VALUES (now(), 'append-hfi', 'events', 'events', 'ok', 5, 1)",
    );
    const rows = await engine.engine.queryRows<{ datasource_name: string; event_type: string; written: string | number }>(sql);
    expect(rows).toEqual([expect.objectContaining({ datasource_name: 'events', event_type: 'append-hfi' })]);
    expect(Number(rows[0].written)).toBe(5);
    const cols = await engine.engine.queryRows<{ name: string; type: string }>("SELECT name, type FROM system.columns WHERE table = 'tinybird_datasources_ops_log' AND database = currentDatabase()");
    expect(cols.slice(0, 6)).toEqual([
      { name: 'timestamp', type: 'DateTime' },
      { name: 'event_type', type: 'String' },
      { name: 'datasource_id', type: 'String' },
      { name: 'datasource_name', type: 'String' },
      { name: 'result', type: 'String' },
      { name: 'elapsed_time', type: 'Float32' },
    ]);
    expect(cols.map((c) => c.name)).toEqual(expect.arrayContaining(['rows_quarantine', 'Options.Names', 'Options.Values', 'written_rows_quarantine', 'cpu_time']));
    await cleanup();
  });

  it('organization.*, other tinybird.* and shared workspace.ds are check-time errors at file:line:col', async () => {
    const project = await loadProject(
      writeProject({
        'datasources/events.datasource': EVENTS,
        'pipes/org.pipe': 'NODE a\nSQL >\n    SELECT count() FROM organization.workspaces\n',
        'pipes/blocks.pipe': 'NODE a\nSQL >\n    SELECT *\n    FROM   tinybird.block_log\n',
        'pipes/shared.pipe': 'NODE a\nSQL >\n    SELECT * FROM other_ws.events AS e\n    JOIN marketing.leads USING id\n',
        'pipes/mv.pipe': 'NODE a\nSQL >\n    SELECT pipe_name FROM tinybird.pipe_stats_rt\nTYPE materialized\nDATASOURCE events\n',
      }),
      {},
    );
    const got = project.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.file}:${d.line}:${d.col}: ${d.message} | ${d.hint}`);
    expect(got).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^pipes\/org\.pipe:3:25: organization\.\* service data sources are not available in emailstats: organization\.workspaces/),
        expect.stringMatching(/^pipes\/blocks\.pipe:4:12: tinybird\.block_log is a Tinybird Cloud service data source that emailstats does not compute \| emailstats provides tinybird\.pipe_stats_rt, tinybird\.pipe_stats, tinybird\.datasources_ops_log/),
        expect.stringMatching(/^pipes\/shared\.pipe:3:19: shared data source other_ws\.events: .*not supported.* \| this project has a datasource 'events': read it as events/),
        expect.stringMatching(/^pipes\/shared\.pipe:4:10: shared data source marketing\.leads: .* \| share it by copying marketing's datasources\/leads\.datasource/),
        expect.stringMatching(/^pipes\/mv\.pipe:3:\d+: Service data sources cannot be used in materialized views/),
      ]),
    );
  });
});

describe('9. ENGINE settings in a materialized node (Classic)', () => {
  it('create the target datasource with the node output as schema', async () => {
    const files = {
      'datasources/events.datasource': EVENTS,
      'pipes/totals.pipe':
        'NODE totals_node\nSQL >\n    SELECT id, sum(amount) AS total, count() AS n FROM events GROUP BY id\n\nTYPE materialized\nDATASOURCE t_mv\nENGINE "SummingMergeTree"\nENGINE_SORTING_KEY "id"\n',
    };
    const r = pipe(files['pipes/totals.pipe'], 'pipes/totals.pipe');
    expect(errors(r)).toEqual([]);
    expect(warnings(r)).toEqual([expect.stringContaining("Tinybird Classic syntax: emailstats creates datasource 't_mv'")]);
    const { project, cleanup } = await built(files);
    const target = project.datasources.get('t_mv')!;
    expect(target.inferredFrom).toEqual({ pipe: 'totals', node: 'totals_node' });
    expect(target.columns.map((c) => `${c.name} ${c.type}`)).toEqual(['id String', 'total Int64', 'n UInt64']);
    const ddl = await engine.engine.queryRows<{ engine_full: string }>("SELECT engine_full FROM system.tables WHERE name = 't_mv' AND database = currentDatabase()");
    expect(ddl[0].engine_full).toMatch(/^SummingMergeTree.*ORDER BY \(?id/);
    await engine.engine.command("INSERT INTO events VALUES ('a', 2, now()), ('a', 3, now()), ('b', 1, now())");
    const rows = await engine.engine.queryRows<{ id: string; total: string | number }>('SELECT id, sum(total) AS total FROM t_mv GROUP BY id ORDER BY id');
    expect(rows.map((x) => [x.id, Number(x.total)])).toEqual([['a', 5], ['b', 1]]);
    await cleanup();
  });
});

describe('10. VERSION, __vN names, Classic tokens, imports, Kafka, implicit columns', () => {
  it('Classic datasource settings are warnings, not errors', () => {
    const r = ds(
      EVENTS +
        'VERSION 2\nTOKEN creator CREATE\nTOKEN writer APPEND\nIMPORT_SERVICE bigquery\nIMPORT_SCHEDULE */10 * * * *\nIMPORT_STRATEGY REPLACE\nIMPORT_EXTERNAL_DATASOURCE proj.ds.table\nIMPORT_QUERY >\n    SELECT id, amount, at\n    FROM `proj.ds.table`\n',
    );
    expect(errors(r)).toEqual([]);
    expect(warnings(r)).toEqual(
      expect.arrayContaining([
        'VERSION has been deprecated and will be ignored.',
        expect.stringContaining('TOKEN creator CREATE: the Classic DATASOURCES:CREATE scope is ignored'),
        "IMPORT_STRATEGY has been deprecated. It is now fixed to 'append'",
      ]),
    );
    expect(r.file!.tokens.map((t) => `${t.name}:${t.permission}`)).toEqual(['writer:APPEND']);
    expect(r.file!.connector.IMPORT_QUERY).toBe('SELECT id, amount, at\nFROM `proj.ds.table`');
    expect(r.file!.connector.IMPORT_SCHEDULE).toBe('*/10 * * * *');
    expect(r.file!.columns.find((c) => c.name === 'insertion_date')).toMatchObject({ type: 'DateTime', implicit: 'BigQuery' });
  });

  it('deprecated Kafka settings warn, and Kafka columns are known to the sorting key', () => {
    const r = ds(
      'SCHEMA >\n    `id` String `json:$.id`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "__partition, __offset"\nENGINE_TTL "__timestamp + INTERVAL 1 DAY"\n' +
        'KAFKA_CONNECTION_NAME k\nKAFKA_TOPIC t\nKAFKA_GROUP_ID g\nKAFKA_STORE_HEADERS True\nKAFKA_STORE_BINARY_HEADERS True\nKAFKA_KEY_AVRO_DESERIALIZATION True\n',
    );
    expect(errors(r)).toEqual([]);
    expect(warnings(r)).toEqual(expect.arrayContaining([expect.stringMatching(/^KAFKA_STORE_BINARY_HEADERS has been deprecated/), expect.stringMatching(/^KAFKA_KEY_AVRO_DESERIALIZATION has been deprecated/)]));
    expect(r.file!.columns.map((c) => c.name)).toEqual(['id', '__value', '__topic', '__partition', '__offset', '__timestamp', '__key', '__headers']);
    expect(r.file!.columns[7]).toMatchObject({ type: 'Map(String, String)', implicit: 'Kafka', pos: { line: 7, col: 1 } });
  });

  it('DynamoDB columns are known; a declared one is left as written', () => {
    const r = ds(
      'SCHEMA >\n    `pk` String `json:$.pk`,\n    `_is_deleted` UInt8 `json:$._is_deleted`\n\nENGINE "ReplacingMergeTree"\nENGINE_SORTING_KEY "pk"\nENGINE_VER "_timestamp"\nENGINE_IS_DELETED "_is_deleted"\n' +
        'IMPORT_SERVICE dynamodb\nIMPORT_CONNECTION_NAME c\nIMPORT_TABLE_ARN arn:aws:dynamodb:x\nIMPORT_EXPORT_BUCKET b\n',
    );
    expect(errors(r)).toEqual([]);
    expect(r.file!.columns.map((c) => `${c.name} ${c.type}${c.implicit ? ' implicit' : ''}`)).toEqual(['pk String', '_is_deleted UInt8', '_timestamp DateTime64(3) implicit']);
  });

  it('builds: name__vN references, Kafka columns in a pipe, a VERSIONed pipe', async () => {
    const { project, cleanup } = await built({
      'datasources/events.datasource': 'VERSION 1\n' + EVENTS,
      'datasources/stream.datasource': 'SCHEMA >\n    `id` String `json:$.id`\n\nENGINE_SORTING_KEY "__offset"\nKAFKA_CONNECTION_NAME k\nKAFKA_TOPIC t\nKAFKA_GROUP_ID g\n',
      'pipes/base.pipe': 'VERSION 3\nNODE n\nSQL >\n    SELECT id, amount FROM events__v1\n',
      'pipes/top.pipe': 'NODE n\nSQL >\n    SELECT b.id, s.__offset, s.__topic FROM base__v3 AS b JOIN stream__v0 AS s ON s.id = b.id\nTYPE endpoint\n',
    });
    const sql = renderNode(project, project.pipes.get('top')!).sql;
    expect(sql).toContain('FROM events');
    expect(sql).not.toContain('events__v1');
    expect(sql).toContain('JOIN stream AS s');
    await cleanup();
  });

  it('physicalTableNames never throws and leaves SQL without service or versioned names alone', () => {
    const project = { datasources: new Map([['events', {}]]), pipes: new Map() } as never;
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (sql) => {
        const out = physicalTableNames(project, sql);
        if (!sql.includes('tinybird') && !sql.includes('__v')) expect(out).toBe(sql);
        expect(typeof out).toBe('string');
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.constantFrom('SELECT 1 FROM ', 'SELECT x FROM a JOIN '), fc.constantFrom('`tinybird`.`datasources_ops_log`', 'tinybird.datasources_ops_log'), (pre, name) => {
        expect(physicalTableNames(project, pre + name)).toBe(pre + 'tinybird_datasources_ops_log');
      }),
    );
  });
});

describe('11. name clashes Tinybird Classic tolerated', () => {
  it('a node named like its pipe, and a pipe named like a datasource, are warnings; the datasource wins in SQL', async () => {
    expect(errors(pipe('NODE p\nSQL >\n    SELECT 1\n'))).toEqual([]);
    const { project, cleanup } = await built({
      'datasources/events.datasource': EVENTS,
      'pipes/events.pipe': 'NODE events\nSQL >\n    SELECT id, amount FROM events\n\nNODE out\nSQL >\n    SELECT count() AS c FROM events\nTYPE endpoint\n',
      'pipes/reader.pipe': 'NODE n\nSQL >\n    SELECT count() AS c FROM events\nTYPE endpoint\n',
      'pipes/sums.pipe': 'NODE sums\nSQL >\n    SELECT id, sum(amount) AS total FROM events GROUP BY id\nTYPE materialized\nDATASOURCE sums_ds\nENGINE "SummingMergeTree"\nENGINE_SORTING_KEY "id"\n',
    });
    const warned = project.diagnostics.filter((d) => d.severity === 'warning').map((d) => `${d.file}: ${d.message}`);
    expect(warned).toEqual(
      expect.arrayContaining([
        "pipes/events.pipe: Nodes can't have the same exact name as the Pipe they belong to",
        "pipes/events.pipe: Top level object names must be unique: pipe 'events' has the name of the data source in datasources/events.datasource",
      ]),
    );
    // Inside events.pipe, `events` is the sibling node; elsewhere it is the datasource.
    expect(renderNode(project, project.pipes.get('events')!).sql).toMatch(/FROM \(\n\s*SELECT id, amount FROM events\n\) AS events/);
    expect(renderNode(project, project.pipes.get('reader')!).sql).toBe('SELECT count() AS c FROM events');
    await cleanup();
  });
});
