import { describe, expect, it } from 'vitest';
import { parsePipe } from '../../cli/src/datafile/index.js';

const parse = (text: string, path = 'pipes/p.pipe') => parsePipe(text, path, { env: {} });
const diags = (text: string, path?: string) => parse(text, path).diagnostics.map((d) => `${d.severity === 'warning' ? 'W ' : ''}${d.line}:${d.col} ${d.message}`);

const ENDPOINT = `DESCRIPTION >
    Top pages

NODE filtered
SQL >
    %
    SELECT pathname, timestamp
    FROM page_views
    WHERE timestamp >= {{DateTime(start_date, '2024-01-01 00:00:00', description="Start", required=False)}}
    {% if defined(country) %} AND country = {{String(country)}} {% end %}

NODE endpoint
SQL >
    %
    SELECT pathname, count() AS views
    FROM filtered
    GROUP BY pathname
    ORDER BY views DESC
    LIMIT {{Int32(limit, 10)}}

TYPE endpoint
TOKEN "dashboard" READ
`;

describe('pipe examples (spec 3.4)', () => {
  it('endpoint', () => {
    const r = parse(ENDPOINT, 'pipes/top_pages.pipe');
    expect(r.diagnostics).toEqual([]);
    const p = r.file!;
    expect(p.name).toBe('top_pages');
    expect(p.description).toBe('Top pages');
    expect(p.nodes.map((n) => [n.name, n.type, n.isTemplate, n.pos.line, n.sqlPos.line])).toEqual([
      ['filtered', 'standard', true, 4, 6],
      ['endpoint', 'endpoint', true, 12, 14],
    ]);
    const n = p.nodes[1]!;
    expect(n.sql).toBe(
      '%\n    SELECT pathname, count() AS views\n    FROM filtered\n    GROUP BY pathname\n    ORDER BY views DESC\n    LIMIT {{Int32(limit, 10)}}',
    );
    expect(n.template).toBe(n.sql.slice(1));
    expect(n.attrPositions.TYPE).toEqual({ line: 21, col: 1 });
    expect(p.tokens).toEqual([{ name: 'dashboard', permission: 'READ', pos: { line: 22, col: 1 } }]);
  });

  it('materialized', () => {
    const r = parse(`NODE daily_sales
SQL >
    SELECT toStartOfDay(ts) AS day, country, sumState(amount) AS total
    FROM sales GROUP BY day, country
TYPE MATERIALIZED
DATASOURCE sales_by_day        # target must exist; AggregatingMergeTree with AggregateFunction(sum, Float64)
`);
    expect(r.diagnostics).toEqual([]);
    const n = r.file!.nodes[0]!;
    expect(n).toMatchObject({
      type: 'materialized',
      datasource: 'sales_by_day',
      isTemplate: false,
      sql: 'SELECT toStartOfDay(ts) AS day, country, sumState(amount) AS total\nFROM sales GROUP BY day, country',
    });
    expect(n.template).toBe(n.sql);
  });

  it('copy', () => {
    const r = parse(`NODE snapshot
SQL >
    %
    SELECT * FROM events WHERE ts < {{DateTime(job_timestamp)}}
TYPE COPY
TARGET_DATASOURCE events_snapshot
COPY_SCHEDULE 0 * * * *         # or @on-demand
COPY_MODE append                # or replace
`);
    expect(r.diagnostics).toEqual([]);
    expect(r.file!.nodes[0]).toMatchObject({ type: 'copy', targetDatasource: 'events_snapshot', copySchedule: '0 * * * *', copyMode: 'append' });
    expect(parse('NODE s\nSQL >\n    SELECT 1\nTYPE copy\nTARGET_DATASOURCE t\nMODE replace\nCOPY_SCHEDULE @on-demand\n').file!.nodes[0]).toMatchObject({
      copyMode: 'replace',
      copySchedule: '@on-demand',
    });
  });

  it('sink (S3) parses with a warning', () => {
    const r = parse(`NODE export
SQL >
    SELECT * FROM events
TYPE sink
EXPORT_CONNECTION_NAME my_s3
EXPORT_BUCKET_URI s3://bucket/prefix/
EXPORT_FILE_TEMPLATE daily_{date}
EXPORT_FORMAT csv
EXPORT_SCHEDULE 0 0 * * *
EXPORT_COMPRESSION gzip
`);
    expect(r.diagnostics.map((d) => [d.severity, d.message])).toEqual([
      ['warning', "Sink nodes are not run by emailstats: node 'export' is parsed and ignored"],
    ]);
    expect(r.file!.nodes[0]!.exportSettings).toEqual({
      EXPORT_CONNECTION_NAME: 'my_s3',
      EXPORT_BUCKET_URI: 's3://bucket/prefix/',
      EXPORT_FILE_TEMPLATE: 'daily_{date}',
      EXPORT_FORMAT: 'csv',
      EXPORT_SCHEDULE: '0 0 * * *',
      EXPORT_COMPRESSION: 'gzip',
    });
  });
});

describe('pipe keywords and node validation (spec 3.1)', () => {
  it('SQL text: dedent + rstrip, or strip for %', () => {
    const r = parse('NODE a\nSQL >\n      SELECT 1\n        , 2   \n\n\nNODE b\nSQL >\n      %\n      SELECT {{x}}\n');
    expect(r.file!.nodes.map((n) => n.sql)).toEqual(['SELECT 1\n  , 2', '%\n      SELECT {{x}}']);
    expect(r.file!.nodes[1]!.template).toBe('\n      SELECT {{x}}');
  });

  it('comments, quotes and blank lines inside SQL blocks', () => {
    const r = parse("NODE a\nSQL >\n    SELECT 'it''s' AS x, \"q\" -- note\n\n    # a shell comment line: dropped\n    FROM t # kept: not the first token\nSELECT_AT_COLUMN_0 1\n    WHERE x = 'unbalanced\nTYPE endpoint\n");
    expect(r.diagnostics).toEqual([]);
    expect(r.file!.nodes[0]!.sql).toBe(
      // A line at column 0 leaves nothing to dedent (textwrap.dedent semantics).
      "    SELECT 'it''s' AS x, \"q\" -- note\n    FROM t # kept: not the first token\nSELECT_AT_COLUMN_0 1\n    WHERE x = 'unbalanced",
    );
    expect(r.file!.nodes[0]!.type).toBe('endpoint');
  });

  it('SCOPE is an alias of NODE; DESCRIPTION attaches to the current node', () => {
    const r = parse('DESCRIPTION pipe desc\nSCOPE a\nDESCRIPTION >\n    node\n    desc\nSQL >\n    SELECT 1\n');
    expect(r.file!.description).toBe('pipe desc');
    expect(r.file!.nodes[0]).toMatchObject({ name: 'a', description: 'node\ndesc' });
  });

  it('node names may be quoted and $ENV substituted', () => {
    const r = parsePipe('NODE "${PREFIX}_n"\nSQL >\n    SELECT 1\n', 'p.pipe', { env: { PREFIX: 'my' } });
    expect(r.file!.nodes[0]!.name).toBe('my_n');
  });

  it('CACHE on endpoint pipes, TAGS, VERSION, INCLUDE, EXPORT_SERVICE', () => {
    const r = parse('NODE a\nSQL >\n    SELECT 1\nTYPE endpoint\nCACHE 60\nTAGS "t1, k=v"\nVERSION 2\nINCLUDE "x.incl"\nEXPORT_SERVICE s3\n');
    expect(r.file!.cacheSeconds).toBe(60);
    expect(r.file!.tags).toEqual(['t1']);
    expect(r.file!.operationalTags).toBe('k=v');
    expect(r.diagnostics.map((d) => `${d.line} ${d.severity} ${d.message}`)).toEqual([
      '7 warning VERSION has been deprecated and will be ignored.',
      '8 warning INCLUDE is not supported yet; the line is ignored',
      "9 warning EXPORT_SERVICE has been deprecated and will be ignored. If you're using an S3 or GCS connection, you don't need this setting anymore.",
    ]);
    expect(diags('NODE a\nSQL >\n    SELECT 1\nCACHE 10\nCACHE -1\n')).toEqual([
      '4:1 CACHE is only supported for TYPE endpoint',
      "5:1 CACHE must be a non-negative number of seconds, got '-1'",
    ]);
  });

  it('top-level errors of spec 1.4 and 3.1, all reported', () => {
    expect(
      diags(
        'TYPE endpoint\nSQL >\n    SELECT 1\nDATASOURCE x\nNODE a\nSQL SELECT 1\nTYPE foo\nNODE b\nSQL >\n    SELECT 1\nTYPE endpoint\nNODE c\nSQL >\n    SELECT 1\nTYPE materialized\nTOKEN t APPEND\nSETTINGS x\nNODE >\n    x\n',
      ),
    ).toEqual([
      '1:1 TYPE must be called after a NODE command',
      '2:1 SQL must be called after a NODE command',
      '4:1 DATASOURCE must be called after a NODE command',
      '6:1 SQL must be multiline',
      "7:1 Invalid node ''a'' of type (foo). Allowed node types: {'materialized','copy','endpoint','sink'}",
      '15:1 Multiple non-standard nodes in pipe. There can only be one',
      "15:1 Some materialized node params have been provided, but the following required ones are missing: ['datasource']",
      '16:1 Invalid permission APPEND for token t. Only READ is allowed for pipes',
      '17:1 SETTINGS is not a valid option in pipe files.',
      '18:1 NODE does not support multiline arguments',
    ]);
    expect(parse('SQL >\n    SELECT 1\n').diagnostics.find((d) => d.message === 'SQL must be multiline')).toBeUndefined();
    expect(parse('NODE a\nSQL x\n').diagnostics.find((d) => d.message === 'SQL must be multiline')!.hint).toBe('Use > to start a multiline SQL block');
  });

  it('at least one node; node names unique and not the pipe name', () => {
    expect(diags('DESCRIPTION x\n')).toEqual(['1:1 Pipe data file must have at least one node']);
    // A node named like its pipe is a warning (Tinybird Classic accepted it; issue 14).
    expect(diags('NODE p\nSQL >\n    SELECT 1\nNODE a\nSQL >\n    SELECT 1\nNODE a\nSQL >\n    SELECT 2\n')).toEqual([
      "W 1:1 Nodes can't have the same exact name as the Pipe they belong to",
      "7:1 Duplicate node name 'a'",
    ]);
  });

  it('per-type attributes', () => {
    expect(diags('NODE a\nSQL >\n    SELECT 1\nDATASOURCE x\nTARGET_DATASOURCE y\n')).toEqual([
      "4:1 Standard node 'a' has an invalid attribute (DATASOURCE)",
      "5:1 Standard node 'a' has an invalid attribute (TARGET_DATASOURCE)",
    ]);
    expect(diags('NODE a\nSQL >\n    SELECT 1\nTYPE materialized\nDATASOURCE x\nCOPY_MODE append\nDEPLOYMENT_METHOD alter\n')).toEqual([
      "6:1 Materialized node 'a' has an invalid attribute (COPY_MODE)",
    ]);
    expect(parse('NODE a\nSQL >\n    SELECT 1\nTYPE materialized\nDATASOURCE x\nDEPLOYMENT_METHOD ALTER\n').file!.nodes[0]!.deploymentMethod).toBe('alter');
    expect(diags('NODE a\nSQL >\n    SELECT 1\nTYPE materialized\nDATASOURCE x\nDEPLOYMENT_METHOD drop\n')).toEqual([
      "6:1 Invalid DEPLOYMENT_METHOD 'drop'. Only 'alter' is allowed",
    ]);
    expect(diags('NODE a\nSQL >\n    SELECT 1\nTYPE endpoint\nDATASOURCE x\n')).toEqual(["5:1 Endpoint node 'a' has an invalid attribute (DATASOURCE)"]);
    expect(diags('NODE a\nSQL >\n    SELECT 1\nTYPE copy\nCOPY_MODE upsert\nCOPY_SCHEDULE every hour\n')).toEqual([
      "4:1 Some copy node params have been provided, but the following required ones are missing: ['target_datasource']",
      '5:1 COPY node mode must be append or replace',
      '6:1 COPY node schedule must be @on-demand or a valid cron expression.',
    ]);
    expect(diags('NODE a\nSQL >\n    SELECT 1\nTYPE Standard\n')).toEqual([]);
    expect(parse('NODE a\nSQL >\n    SELECT 1\nTYPE DEFAULT\n').file!.nodes[0]!.type).toBe('standard');
  });

  it('sink validation', () => {
    expect(diags('NODE a\nSQL >\n    SELECT 1\nTYPE sink\nEXPORT_CONNECTION_NAME k\nEXPORT_KAFKA_TOPIC t\nEXPORT_FORMAT csv\nEXPORT_SCHEDULE hourly\n')).toEqual([
      "W 4:1 Sink nodes are not run by emailstats: node 'a' is parsed and ignored",
      "7:1 Sink node 'a' mixes Kafka and S3/GCS export parameters (EXPORT_FORMAT)",
      '8:1 EXPORT_SCHEDULE must be @on-demand or a valid cron expression.',
    ]);
    expect(diags('NODE a\nSQL >\n    SELECT 1\nTYPE sink\n')).toEqual([
      "W 4:1 Sink nodes are not run by emailstats: node 'a' is parsed and ignored",
      "4:1 Some sink node params have been provided, but the following required ones are missing: ['export_connection_name', 'export_schedule', 'export_bucket_uri', 'export_file_template']",
    ]);
  });

  it('unknown keywords and unbalanced quotes never stop the parse', () => {
    expect(diags('NODE a\nFOO 1\nSQL >\n    SELECT 1\nBAR "x\nTYPE "endpoint\n')).toEqual([
      '2:1 FOO is not a valid option in pipe files.',
      '6:1 Unbalanced quote in TYPE line',
    ]);
    // BAR is not a pipe keyword, so (as in Tinybird) that line belongs to the SQL block.
    expect(parse('NODE a\nSQL >\n    SELECT 1\nBAR "x\n').file!.nodes[0]!.sql).toBe('    SELECT 1\nBAR "x');
  });
});
