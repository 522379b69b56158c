import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { engineClause, parseDatafile, parseDatasource, type EngineSpec } from '../../cli/src/datafile/index.js';

const SCHEMA = 'SCHEMA >\n    a Int32,\n    b String,\n    n Nullable(Int32),\n    agg AggregateFunction(sum, UInt64),\n    v UInt64,\n    s Int8\n';
const parse = (text: string, path = 'datasources/t.datasource') => parseDatasource(text, path, { env: {} });
const errs = (text: string) =>
  parse(text)
    .diagnostics.filter((d) => d.severity === 'error')
    .map((d) => `${d.line}:${d.col} ${d.message}`);
const warns = (text: string) =>
  parse(text)
    .diagnostics.filter((d) => d.severity === 'warning')
    .map((d) => `${d.line}:${d.col} ${d.message}`);

describe('engine → DDL (spec 2.4)', () => {
  const e = (x: Partial<EngineSpec>): EngineSpec => ({ type: 'MergeTree', positions: {}, ...x });
  const table: [Partial<EngineSpec>, string][] = [
    [{}, 'MergeTree() ORDER BY (tuple())'],
    [{ type: 'Null' }, 'Null()'],
    [{ sortingKey: 'local_date, cod_store' }, 'MergeTree() ORDER BY (local_date, cod_store)'],
    [
      {
        partitionKey: 'toDate(timestamp)',
        sortingKey: 'local_date, cod_store',
        ttl: 'toDate(local_date) + INTERVAL 1 DAY',
        settings: 'index_granularity = 32, index_granularity_bytes = 2048',
      },
      'MergeTree() PARTITION BY (toDate(timestamp)) ORDER BY (local_date, cod_store) TTL (toDate(local_date) + INTERVAL 1 DAY) SETTINGS index_granularity = 32, index_granularity_bytes = 2048',
    ],
    [{ type: 'ReplacingMergeTree', ver: 'ver_column', sortingKey: 'key_column' }, 'ReplacingMergeTree(ver_column) ORDER BY (key_column)'],
    [{ type: 'CollapsingMergeTree', sign: 'sign_column', sortingKey: 'key_column' }, 'CollapsingMergeTree(sign_column) ORDER BY (key_column)'],
    [{ type: 'SummingMergeTree', summingColumns: 'col0, col2' }, 'SummingMergeTree(col0, col2) ORDER BY (tuple())'],
    [{ type: 'AggregatingMergeTree' }, 'AggregatingMergeTree() ORDER BY (tuple())'],
  ];
  for (const [spec, ddl] of table) it(ddl, () => expect(engineClause(e(spec))).toBe(ddl));

  it('orders every option and ignores an empty TTL', () => {
    expect(
      engineClause(
        e({
          type: 'ReplacingMergeTree',
          ver: 'v',
          isDeleted: 'd',
          settings: 's = 1',
          ttl: '',
          samplingKey: 'x',
          primaryKey: 'k',
          sortingKey: 'k, x',
          partitionKey: 'p',
        }),
      ),
    ).toBe('ReplacingMergeTree(v, d) PARTITION BY (p) ORDER BY (k, x) PRIMARY KEY (k) SAMPLE BY (x) SETTINGS s = 1');
    expect(engineClause(e({ type: 'VersionedCollapsingMergeTree', sign: 's', version: 'v', sortingKey: 'k' }))).toBe(
      'VersionedCollapsingMergeTree(s, v) ORDER BY (k)',
    );
  });

  it('parses ENGINE_* keywords into the spec', () => {
    const r = parse(
      SCHEMA +
        'ENGINE "replacingmergetree"\nENGINE_SORTING_KEY "a, b"\nENGINE_PARTITION_KEY toYYYYMM(a)\nENGINE_PRIMARY_KEY a\nENGINE_SAMPLING_KEY a\nENGINE_TTL ""\nENGINE_SETTINGS "index_granularity=8192"\nENGINE_VER v\nENGINE_IS_DELETED s\n',
    );
    expect(r.diagnostics).toEqual([]);
    expect(engineClause(r.file!.engine)).toBe(
      'ReplacingMergeTree(v, s) PARTITION BY (toYYYYMM(a)) ORDER BY (a, b) PRIMARY KEY (a) SAMPLE BY (a) SETTINGS index_granularity=8192',
    );
    expect(r.file!.engine.positions.ENGINE_VER).toEqual({ line: 15, col: 1 });
  });

  it('accepts ENGINE_COLUMNS and ENGINE_SUMMING_COLUMNS', () => {
    for (const kw of ['ENGINE_COLUMNS', 'ENGINE_SUMMING_COLUMNS']) {
      const r = parse(SCHEMA + `ENGINE SummingMergeTree\nENGINE_SORTING_KEY a\n${kw} "v, s"\n`);
      expect(r.diagnostics).toEqual([]);
      expect(engineClause(r.file!.engine)).toBe('SummingMergeTree(v, s) ORDER BY (a)');
    }
  });
});

describe('engine validation (spec 2.1)', () => {
  it('rejects unsupported engines', () => {
    expect(errs(SCHEMA + 'ENGINE Log\n')).toEqual([
      '8:1 Engine Log is not supported, supported engines include: MergeTree, ReplacingMergeTree, SummingMergeTree, AggregatingMergeTree, CollapsingMergeTree, VersionedCollapsingMergeTree, Null',
    ]);
  });
  it('checks sorting keys', () => {
    expect(errs(SCHEMA + 'ENGINE_SORTING_KEY "tuple(a, sumMerge(v), n, agg, count(b))"\n')).toEqual([
      "8:1 Sorting key contains aggregate function expression 'sumMerge(v)'. Aggregate function expressions cannot be used in sorting keys.",
      "8:1 Sorting key contains nullable column 'n'. Nullable columns cannot be used in sorting keys.",
      "8:1 Sorting key contains column 'agg' with AggregateFunction type. AggregateFunction columns cannot be used in sorting keys.",
      "8:1 Sorting key contains aggregate function expression 'count(b)'. Aggregate function expressions cannot be used in sorting keys.",
    ]);
    expect(errs(SCHEMA + 'ENGINE_SORTING_KEY "toStartOfDay(toDateTime(a), \'UTC\'), b"\n')).toEqual([]);
    expect(errs(SCHEMA + 'ENGINE_SORTING_KEY "a, missing"\n')).toEqual(["8:1 Sorting key references column 'missing', which is not present in schema"]);
  });
  it('ReplacingMergeTree / Collapsing need a real sorting key and schema columns', () => {
    expect(errs(SCHEMA + 'ENGINE ReplacingMergeTree\n')).toEqual(["8:1 Missing required option 'sorting_key'"]);
    expect(errs(SCHEMA + 'ENGINE ReplacingMergeTree\nENGINE_SORTING_KEY tuple()\n')).toEqual([
      "9:1 Invalid value 'tuple()' for option 'sorting_key', reason: 'tuple()' is not a valid sorting key",
    ]);
    expect(errs(SCHEMA + 'ENGINE ReplacingMergeTree\nENGINE_SORTING_KEY a\nENGINE_VER x\n')).toEqual([
      "10:1 Invalid value 'x' for parameter 'engine_ver', reason: 'x' column is not present in schema",
    ]);
    expect(errs(SCHEMA + 'ENGINE CollapsingMergeTree\nENGINE_SORTING_KEY a\n')).toEqual(["8:1 Missing required option 'sign'"]);
    expect(errs(SCHEMA + 'ENGINE CollapsingMergeTree\nENGINE_SORTING_KEY a\nENGINE_SIGN s\n')).toEqual([]);
    expect(errs(SCHEMA + 'ENGINE VersionedCollapsingMergeTree\nENGINE_SORTING_KEY a\nENGINE_SIGN s\n')).toEqual([
      "8:1 Missing required option 'version'",
    ]);
    expect(errs(SCHEMA + 'ENGINE ReplacingMergeTree\nENGINE_SORTING_KEY a\nENGINE_IS_DELETED s\n')).toEqual([
      '10:1 ENGINE_IS_DELETED requires ENGINE_VER',
    ]);
  });
  it('ENGINE_VER may not be in the sorting key', () => {
    expect(errs(SCHEMA + 'ENGINE ReplacingMergeTree\nENGINE_SORTING_KEY a, v\nENGINE_VER v\n')).toEqual([
      "9:1 ENGINE_VER column 'v' is part of the sorting key. Including the version column in the sorting key prevents deduplication",
    ]);
  });
  it('warns on engine params that do not apply and on a missing sorting key', () => {
    expect(warns(SCHEMA + 'ENGINE_VER v\n')).toEqual([
      '1:1 ENGINE_SORTING_KEY is not set: rows are sorted by tuple()',
      '8:1 ENGINE_VER is ignored for engine MergeTree',
    ]);
    expect(warns(SCHEMA + 'ENGINE Null\n')).toEqual([]);
  });
});

describe('datasource keywords (spec 2.1)', () => {
  it('parses the complete example of 2.5', () => {
    const text = `DESCRIPTION >
    Page views from the web tracker

SCHEMA >
    \`timestamp\` DateTime64(3) \`json:$.timestamp\`,
    \`session_id\` String \`json:$.session_id\`,
    \`action\` LowCardinality(String) \`json:$.action\`,
    \`tags\` Array(String) \`json:$.tags[:]\` DEFAULT [],
    \`payload\` String \`json:$.payload\` CODEC(ZSTD(1))

INDEXES >
    idx_session session_id TYPE bloom_filter(0.01) GRANULARITY 4

ENGINE "MergeTree"
ENGINE_PARTITION_KEY "toYYYYMM(timestamp)"
ENGINE_SORTING_KEY "action, timestamp"
ENGINE_TTL "toDateTime(timestamp) + toIntervalDay(90)"
ENGINE_SETTINGS "index_granularity=8192"

TOKEN tracker APPEND
TOKEN dashboard READ
`;
    const r = parse(text, 'datasources/page_views.datasource');
    expect(r.diagnostics).toEqual([]);
    const f = r.file!;
    expect(f.name).toBe('page_views');
    expect(f.description).toBe('Page views from the web tracker');
    expect(f.columns.map((c) => [c.name, c.type, c.jsonpath, c.default, c.codec, c.pos.line])).toEqual([
      ['timestamp', 'DateTime64(3)', '$.timestamp', undefined, undefined, 5],
      ['session_id', 'String', '$.session_id', undefined, undefined, 6],
      ['action', 'LowCardinality(String)', '$.action', undefined, undefined, 7],
      ['tags', 'Array(String)', '$.tags[:]', '[]', undefined, 8],
      ['payload', 'String', '$.payload', undefined, 'CODEC(ZSTD(1))', 9],
    ]);
    expect(f.indexes).toEqual([{ name: 'idx_session', expr: 'session_id', type: 'bloom_filter(0.01)', granularity: 4, pos: { line: 12, col: 5 } }]);
    expect(engineClause(f.engine)).toBe(
      'MergeTree() PARTITION BY (toYYYYMM(timestamp)) ORDER BY (action, timestamp) TTL (toDateTime(timestamp) + toIntervalDay(90)) SETTINGS index_granularity=8192',
    );
    expect(f.tokens).toEqual([
      { name: 'tracker', permission: 'APPEND', pos: { line: 20, col: 1 } },
      { name: 'dashboard', permission: 'READ', pos: { line: 21, col: 1 } },
    ]);
  });

  it('parses the seed email_events.datasource clean', () => {
    const text = readFileSync(new URL('../../datasources/email_events.datasource', import.meta.url), 'utf8');
    const r = parseDatafile(text, 'datasources/email_events.datasource');
    expect(r.diagnostics).toEqual([]);
    expect(r.file!.kind).toBe('datasource');
    if (r.file!.kind !== 'datasource') return;
    // The seed's ten columns come first (the project may add columns after them).
    const seed = ['event_id', 'timestamp', 'event_type', 'campaign_id', 'email_id', 'recipient_id', 'recipient_email', 'link_url', 'metadata', 'user_agent'];
    expect(r.file!.columns.slice(0, 10).map((c) => [c.name, c.type, c.jsonpath])).toEqual(
      seed.map((n) => [n, n === 'timestamp' ? 'DateTime' : 'String', `$.${n}`]),
    );
    expect(engineClause(r.file!.engine)).toMatch(/^MergeTree\(\) PARTITION BY \(toYYYYMM\(timestamp\)\) ORDER BY \(campaign_id, /);
  });

  it('TOKEN, TAGS, BACKFILL, FORWARD_QUERY, SHARED_WITH, DESCRIPTION line', () => {
    const r = parse(
      SCHEMA +
        'ENGINE_SORTING_KEY a\nDESCRIPTION   one   line  \nTOKEN "read api" read\nTOKEN only_name\nTAGS "env=prod&team=x, tag1, tag2"\nBACKFILL SKIP\nFORWARD_QUERY >\n    SELECT a, b\n      , n\nSHARED_WITH >\n    ws_one,\n    ws_two\n',
    );
    expect(r.diagnostics.map((d) => d.message)).toEqual(['SHARED_WITH is ignored: emailstats has a single workspace']);
    const f = r.file!;
    expect(f.description).toBe('one line');
    expect(f.tokens.map((t) => [t.name, t.permission])).toEqual([
      ['read api', 'READ'],
      ['only_name', 'READ'],
    ]);
    expect(f.tags).toEqual(['tag1', 'tag2']);
    expect(f.operationalTags).toBe('env=prod&team=x');
    expect(f.backfill).toBe('skip');
    expect(f.forwardQuery).toBe('SELECT a, b\n  , n');
    expect(f.sharedWith).toEqual(['ws_one', 'ws_two']);
  });

  it('reports every bad keyword, with exact messages', () => {
    const text =
      SCHEMA +
      'ENGINE_SORTING_KEY a\nFOO bar\nsettings index_granularity=1\nNODE x\nTOKEN t WRITE\nBACKFILL always\nENGINE_TTL >\n    x\nSOURCE x\nIMPORT_STRATEGY x\nKAFKA_STORE_BINARY_HEADERS True\nKAFKA_KEY_AVRO_DESERIALIZATION True\nSHARED_WITH >\nINDEXES a b\n';
    expect(errs(text)).toEqual([
      '9:1 FOO is not a valid option in datasource files.',
      '10:1 SETTINGS option is not allowed, use ENGINE_SETTINGS instead. See https://www.tinybird.co/docs/cli/datafiles#data-source for more information.',
      '11:1 NODE is not a valid option in datasource files.',
      '12:1 Invalid permission WRITE for token t. Only READ and APPEND are allowed for datasources',
      "13:1 always is not an allowed value for BACKFILL. Use one of: {'skip'}",
      '14:1 ENGINE_TTL does not support multiline arguments',
      '16:1 SOURCE has been deprecated',
      '20:1 SHARED_WITH requires at least one workspace name',
      '21:1 INDEXES must be multiline',
    ]);
    expect(parse(text).diagnostics.find((d) => d.message.startsWith('NODE'))!.hint).toBe('Datasource files cannot have nodes defined');
  });

  it('SCHEMA is mandatory', () => {
    expect(errs('ENGINE MergeTree\n')).toEqual(['1:1 SCHEMA is mandatory']);
    expect(errs('SCHEMA >\nENGINE MergeTree\n')).toEqual(['1:1 SCHEMA must contain at least one column']);
  });

  it('unbalanced quotes do not crash and are reported', () => {
    expect(errs(SCHEMA + 'ENGINE_SORTING_KEY "a, b\n')).toEqual(['8:1 Unbalanced quote in ENGINE_SORTING_KEY line']);
    expect(parse(SCHEMA + "ENGINE_SORTING_KEY a\nDESCRIPTION Bob's table\n").file!.description).toBe("Bob's table");
  });

  it('deprecated keywords that only warn, and unsupported features', () => {
    const text =
      SCHEMA +
      'ENGINE_SORTING_KEY a\nVERSION 1\nKAFKA_TARGET_PARTITIONS 2\nIMPORT_SERVICE s3\nIMPORT_EXTERNAL_DATASOURCE x\nINCLUDE "a.incl"\n' +
      'KAFKA_CONNECTION_NAME k\nKAFKA_TOPIC t\nKAFKA_GROUP_ID g\nKAFKA_AUTO_OFFSET_RESET latest\nKAFKA_STORE_RAW_VALUE True\nKAFKA_STORE_HEADERS False\nKAFKA_KEY_FORMAT avro\nKAFKA_VALUE_FORMAT json_without_schema\n' +
      'IMPORT_CONNECTION_NAME c\nIMPORT_BUCKET_URI s3://b/*.csv\nIMPORT_SCHEDULE @auto\nIMPORT_FROM_TIMESTAMP 2024-01-01T00:00:00Z\nIMPORT_TABLE_ARN arn\nIMPORT_EXPORT_BUCKET b\nIMPORT_QUERY q\n';
    const r = parse(text);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(warns(text)).toEqual([
      '9:1 VERSION has been deprecated and will be ignored.',
      '10:1 KAFKA_TARGET_PARTITIONS has been deprecated and will be ignored.',
      "11:1 IMPORT_SERVICE has been deprecated and will be ignored. If you're using an S3 or GCS connection, you don't need this setting anymore.",
      '12:1 IMPORT_EXTERNAL_DATASOURCE has been deprecated and will be ignored.',
      '13:1 INCLUDE is not supported yet; the line is ignored',
      '14:1 Kafka ingestion is not run by emailstats: KAFKA_* settings are parsed and ignored',
      '22:1 S3/GCS import is not run by emailstats: IMPORT_* settings are parsed and ignored',
    ]);
    expect(r.file!.connector.KAFKA_TOPIC).toBe('t');
    expect(r.file!.connector.IMPORT_BUCKET_URI).toBe('s3://b/*.csv');
    expect(r.file!.warnings).toHaveLength(7);
  });

  it('connector groups must be complete and valid', () => {
    expect(errs(SCHEMA + 'ENGINE_SORTING_KEY a\nKAFKA_TOPIC t\nKAFKA_AUTO_OFFSET_RESET middle\nIMPORT_SCHEDULE @hourly\n')).toEqual([
      "9:1 Some Kafka params have been provided, but the following required ones are missing: ['kafka_connection_name', 'kafka_group_id']",
      "10:1 Invalid KAFKA_AUTO_OFFSET_RESET 'middle'. Allowed values: earliest, latest, error",
      "11:1 Invalid import schedule '@hourly'. Only ['@auto', '@on-demand', '@once'] values are allowed",
      "11:1 Some import params have been provided, but the following required ones are missing: ['import_connection_name', 'import_bucket_uri']",
    ]);
  });

  it('keywords are case-insensitive', () => {
    const r = parse('schema >\n    a Int32\nengine "Null"\nEngine_Sorting_Key a\n');
    expect(r.diagnostics).toEqual([]);
    expect(engineClause(r.file!.engine)).toBe('Null()');
  });

  it('connection files parse with a warning', () => {
    const r = parseDatafile(
      "TYPE kafka\nKAFKA_BOOTSTRAP_SERVERS {{ tb_secret('SERVERS', 'localhost:9092') }}\nKAFKA_SSL_CA_PEM >\n    -----BEGIN-----\n    abc\nGCS_SECRET x\nBAD 1\n",
      'connections/k.connection',
      { env: { SERVERS: 'server1:9092,server2:9092' } },
    );
    expect(r.diagnostics.map((d) => `${d.severity} ${d.line}:${d.col} ${d.message}`)).toEqual([
      'warning 1:1 Connections are parsed but not used by emailstats yet (kafka)',
      'error 7:1 BAD is not a valid option in connection files.',
    ]);
    const ok = parseDatafile("TYPE kafka\nKAFKA_BOOTSTRAP_SERVERS {{ tb_secret('SERVERS', 'localhost:9092') }}\nKAFKA_SSL_CA_PEM >\n    -----BEGIN-----\n    abc\nGCS_SECRET x\n", 'k.connection', {
      env: { SERVERS: 'server1:9092,server2:9092' },
    });
    expect(ok.file).toMatchObject({
      kind: 'connection',
      type: 'kafka',
      settings: { KAFKA_BOOTSTRAP_SERVERS: 'server1:9092,server2:9092', KAFKA_SSL_CA_PEM: '-----BEGIN-----\nabc', GCS_HMAC_SECRET: 'x' },
    });
  });

  it('tb_secret: the secret, the default (empty renders ""), or an error where it stands', () => {
    const conn = (line: string, env: Record<string, string> = {}) => parseDatafile(`TYPE kafka\n${line}\n`, 'k.connection', { env });
    const setting = (line: string, env: Record<string, string> = {}) => (conn(line, env).file as { settings: Record<string, string> }).settings.KAFKA_KEY;
    expect(setting(`KAFKA_KEY {{ tb_secret('K', 'dflt') }}`)).toBe('dflt');
    expect(setting(`KAFKA_KEY {{ tb_secret("K") }}`, { K: 'v' })).toBe('v');
    expect(setting(`KAFKA_KEY {{ tb_secret(secret_name='K', default='d') }}`)).toBe('d');
    // Tinybird's render_template_with_secrets: an empty value or default renders "" (so the keyword still has
    // a value, the empty string once unquoted), a number as its text.
    expect(setting(`KAFKA_KEY {{ tb_secret('K', '') }}`)).toBe('');
    expect(conn(`KAFKA_KEY {{ tb_secret('K', '') }}`).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(setting(`KAFKA_KEY {{ tb_secret('K', 0) }}`)).toBe('0');
    const missing = conn(`KAFKA_KEY x\nKAFKA_SECRET   {{ tb_secret('NOPE') }} {{ tb_secret("K") }}`);
    expect(missing.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.message}`)).toEqual([
      "3:16 Cannot access secret 'NOPE'. Check the secret exists in the Workspace and the token has the required scope.",
      "3:40 Cannot access secret 'K'. Check the secret exists in the Workspace and the token has the required scope.",
    ]);
    // The same missing secret twice on a line, and one inside an expression: each reported where it stands.
    const twice = conn(`KAFKA_KEY {{ tb_secret('A') }},{{ tb_secret('A') + 'x' }}`);
    expect(twice.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.message.split('. ')[0]}`)).toEqual([
      "2:11 Cannot access secret 'A'",
      "2:32 Cannot access secret 'A'",
    ]);
    const other = conn(`KAFKA_KEY {{ columns }}`);
    expect(other.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.message}`)).toEqual([
      expect.stringMatching(/^2:1 .*columns/),
    ]);
  });

  it('an unbalanced quote is an error in every kind of file, DESCRIPTION excepted', () => {
    for (const [text, path] of [["TYPE kafka\nKAFKA_KEY 'abc\n", 'k.connection'], ["SCHEMA >\n    a Int32\nENGINE_SORTING_KEY 'a\n", 'd.datasource'], ["NODE n\nSQL >\n    SELECT 1\nTYPE 'endpoint\n", 'p.pipe']]) {
      const errors = parseDatafile(text, path).diagnostics.filter((d) => d.severity === 'error');
      expect(errors.map((d) => d.message)).toEqual([expect.stringMatching(/^Unbalanced quote in (KAFKA_KEY|ENGINE_SORTING_KEY|TYPE) line$/)]);
    }
    expect(parseDatafile("DESCRIPTION it's fine\nTYPE kafka\n", 'k.connection').diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('invalid resource names and unknown kinds', () => {
    expect(errs.call(null, SCHEMA).length).toBe(0);
    const r = parseDatasource(SCHEMA + 'ENGINE_SORTING_KEY a\n', 'datasources/my-ds.datasource');
    expect(r.diagnostics.map((d) => d.message)).toEqual(["Invalid datasource name 'my-ds'"]);
    expect(parseDatafile('x', 'a.txt').diagnostics[0]!.message).toBe("Unknown datafile kind 'txt'");
  });
});

describe('every keyword of every kind is recognised', () => {
  const notValid = (r: { diagnostics: { message: string }[] }) => r.diagnostics.filter((d) => d.message.includes('is not a valid option'));
  it('datasource keywords', async () => {
    const { DATASOURCE_KEYWORDS } = await import('../../cli/src/datafile/keywords.js');
    for (const kw of DATASOURCE_KEYWORDS) {
      const line = kw === 'SCHEMA' || kw === 'INDEXES' || kw === 'FORWARD_QUERY' || kw === 'SHARED_WITH' ? `${kw} >\n    x` : `${kw} x`;
      expect(notValid(parse(`SCHEMA >\n    a Int32\n${line}\n`)), kw).toEqual([]);
      expect(notValid(parse(`SCHEMA >\n    a Int32\n${line.toLowerCase()}\n`)), kw).toEqual([]);
    }
  });
  it('pipe keywords', async () => {
    const { PIPE_KEYWORDS } = await import('../../cli/src/datafile/keywords.js');
    const { parsePipe } = await import('../../cli/src/datafile/index.js');
    for (const kw of PIPE_KEYWORDS) {
      const r = parsePipe(`NODE n\nSQL >\n    SELECT 1\n${kw === 'SQL' ? 'SQL >\n    SELECT 2' : `${kw} x`}\n`, 'p.pipe');
      expect(notValid(r), kw).toEqual([]);
    }
    const f = parsePipe('NODE n\nSQL >\n    SELECT 1\nTYPE endpoint\nFILTER a = 1\n', 'p.pipe');
    expect(f.diagnostics).toEqual([]);
    expect(f.file!.nodes[0]!.filter).toBe('a = 1');
    const k = parsePipe('NODE n\nSQL >\n    SELECT 1\nTYPE sink\nEXPORT_CONNECTION_NAME k\nEXPORT_KAFKA_TOPIC t\nEXPORT_SCHEDULE @on-demand\n', 'p.pipe');
    expect(k.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const s = parsePipe(
      'NODE n\nSQL >\n    SELECT 1\nTYPE sink\nEXPORT_CONNECTION_NAME c\nEXPORT_BUCKET_URI s3://b\nEXPORT_FILE_TEMPLATE f\nEXPORT_SCHEDULE @on-demand\nEXPORT_STRATEGY create_new\nEXPORT_WRITE_STRATEGY replace\n',
      'p.pipe',
    );
    expect(s.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });
  it('connection keywords', async () => {
    const { CONNECTION_KEYWORDS } = await import('../../cli/src/datafile/keywords.js');
    for (const kw of CONNECTION_KEYWORDS) expect(notValid(parseDatafile(`${kw} x\n`, 'c.connection')), kw).toEqual([]);
    const r = parseDatafile('TYPE gcs\nGCS_SERVICE_ACCOUNT_CREDENTIALS_JSON >\n    {"a": 1}\nGCS_ACCESS_ID id\n', 'c.connection');
    expect(r.file).toMatchObject({ settings: { GCS_SERVICE_ACCOUNT_CREDENTIALS_JSON: '{"a": 1}', GCS_HMAC_ACCESS_ID: 'id' } });
  });
});
