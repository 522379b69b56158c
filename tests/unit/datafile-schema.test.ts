import { describe, expect, it } from 'vitest';
import { parseDatasource } from '../../cli/src/datafile/index.js';

/** Put schema text in a SCHEMA block (indented 4, starting at file line 2). */
function ds(schema: string, extra = '') {
  const body = schema
    .split('\n')
    .map((l) => '    ' + l)
    .join('\n');
  return parseDatasource(`SCHEMA >\n${body}\n${extra}`, 'datasources/t.datasource');
}

/** Errors with positions relative to the schema text, as in the spec's tables. */
function errors(schema: string) {
  return ds(schema)
    .diagnostics.filter((d) => d.severity === 'error')
    .map((d) => ({ at: `${d.line - 1}:${d.col - 4}`, message: d.message, ...(d.hint ? { hint: d.hint } : {}) }));
}

describe('SCHEMA error table (spec 2.2)', () => {
  const table: [string, string, string, string?][] = [
    ['col', '1:1', 'Column name and either type or DEFAULT are required'],
    ['`col Int32', '1:5', 'Expected closing backtick'],
    ['col Int32 DEFAULT', '1:18', 'Missing mandatory value for DEFAULT'],
    ['col Int32 CODEC', '1:16', 'Missing mandatory value for CODEC'],
    ['col#name Int32', '1:4', "Column name contains invalid character '#'", 'use backticks'],
    ['col Int32 MATERIALIZED expr', '1:11', 'MATERIALIZED columns are not supported'],
    ['col Int32 TTL now() + 1', '1:11', 'column TTL is not supported'],
    ['col Int32 NULL', '1:11', 'NULL column syntax not supported', 'use Nullable(...)'],
    ['col Int32 NOT NULL', '1:11', 'NOT NULL column syntax not supported', 'Columns are not nullable by default'],
    ['col ALIAS x', '1:5', 'ALIAS columns are not supported'],
    ['a Int32,\nb String,\nc String,\nd String CODEC(ZSTD(1)', '4:23', 'Expected closing )'],
    [
      'INDEX idx a TYPE minmax GRANULARITY 1',
      '1:1',
      'Forbidden INDEX definition',
      'Indexes are not allowed in SCHEMA section. Use the INDEXES section instead',
    ],
    ['a Boolean', '1:3', 'Boolean type is not supported', 'use Bool or UInt8 instead'],
    ['a Array(Boolean)', '1:3', 'Boolean type is not supported', 'use Bool or UInt8 instead'],
    ['a DateTime64', '1:3', 'DateTime64 type without precision is not supported', 'use DateTime64(3) instead'],
    ['a Int', '1:3', 'Precision is mandatory for Int types', 'use one of Int8, Int16, Int32, Int64, Int128, Int256'],
    ['a UInt', '1:3', 'Precision is mandatory for Int types', 'use one of Int8, Int16, Int32, Int64, Int128, Int256'],
    ['a Int32 CODEC(ZSTD) DEFAULT 1', '1:21', 'Unexpected DEFAULT after CODEC'],
    ['a Int32 DEFAULT 1 DEFAULT 2', '1:19', 'Unexpected DEFAULT after DEFAULT'],
    ['a String `json:$.a` `json:$.b`', '1:21', 'Unexpected JSONPATH after JSONPATH'],
    ['a String `json:$.a` foo', '1:21', 'Unexpected TYPE after JSONPATH'],
    ['a Int32 DEFAULT 1 % 2', '1:19', "Invalid character '%'"],
    ['a String `json:$.a', '1:19', 'Expected closing backtick'],
  ];
  for (const [input, at, message, hint] of table) {
    it(`${JSON.stringify(input)} → ${message}`, () => {
      expect(errors(input)).toEqual([{ at, message, ...(hint ? { hint } : {}) }]);
    });
  }

  it('a newline does not separate columns', () => {
    expect(errors('a Int32\nb String')).toEqual([
      { at: '2:1', message: 'Unexpected TYPE after NEW_LINE', hint: 'columns must be separated by commas' },
    ]);
  });

  it('reports file positions (offset by the block start), skipping dropped lines', () => {
    const r = parseDatasource('DESCRIPTION x\n\nSCHEMA >\n    a Int32,\n\n    # dropped by the lexer\n\tb Int32 NULL\n', 'x.datasource');
    expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.line, d.col])).toEqual([[7, 10]]);
  });

  it('collects every bad column and keeps going', () => {
    expect(errors('a Int32 NULL,\nb#c String,\nok String,\nd Boolean,\ne').map((e) => e.at)).toEqual(['1:9', '2:2', '4:3', '5:1']);
  });

  it('warns about unknown type families', () => {
    const r = ds('a Strin,\nb LowCardinality(Nullable(Strng))', 'ENGINE_SORTING_KEY a\n');
    expect(r.diagnostics.map((d) => [d.severity, d.message])).toEqual([
      ['warning', 'Unknown data type family: Strin'],
      ['warning', 'Unknown data type family: Strng'],
    ]);
  });

  it('warns about a jsonpath the Events API cannot map, at the column, instead of failing the first event', () => {
    const r = ds('a String `json:$.x[?(@.y)]`,\nb String `json:$.ok`', 'ENGINE_SORTING_KEY a\n');
    expect(r.diagnostics.map((d) => [d.severity, d.line, d.message])).toEqual([
      ['warning', 2, expect.stringMatching(/^jsonpath '\$\.x\[\?\(@\.y\)\]' cannot be mapped here: unsupported selector .*\/v0\/events will refuse events/)],
    ]);
  });

  it('reports duplicate column names', () => {
    expect(errors('a Int32,\na String')).toEqual([{ at: '2:1', message: "Duplicate column name 'a'", hint: 'first defined at line 2' }]);
  });
});

describe('SCHEMA example parses (spec 2.2)', () => {
  const col = (schema: string) => {
    const r = ds(schema, 'ENGINE_SORTING_KEY tuple()\n');
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const { pos: _pos, ...c } = r.file!.columns[0]!;
    return c;
  };
  it('DEFAULT', () => expect(col('col Int32 DEFAULT 0')).toEqual({ name: 'col', type: 'Int32', nullable: false, default: '0' }));
  it('CODEC', () => expect(col('col String CODEC(ZSTD)')).toEqual({ name: 'col', type: 'String', nullable: false, codec: 'CODEC(ZSTD)' }));
  it('backticked name', () => expect(col('`column.name!@#$%` String').name).toBe('column.name!@#$%'));
  it('Nullable', () => expect(col('col Nullable(Int32)')).toEqual({ name: 'col', type: 'Nullable(Int32)', nullable: true }));
  it('Nullable with DEFAULT NULL drops the default', () =>
    expect(col('col Nullable(Int32) DEFAULT NULL')).toEqual({ name: 'col', type: 'Nullable(Int32)', nullable: true }));
  it('jsonpath keeps -- inside, comment removed', () =>
    expect(col('c Float32 `json:$.aa--aa` -- comment')).toEqual({ name: 'c', type: 'Float32', nullable: false, jsonpath: '$.aa--aa' }));
  it('type-less column with DEFAULT', () => expect(col('col DEFAULT 42')).toEqual({ name: 'col', type: '', nullable: false, default: '42' }));
  it('complex types with quotes and parentheses', () => {
    expect(col("t DateTime64(3, 'UTC') `json:$.t`").type).toBe("DateTime64(3, 'UTC')");
    expect(col('m Map(String, Array(String)) `json:$.m`').type).toBe('Map(String, Array(String))');
    expect(col("e Enum8('a' = 1, 'b--c' = 2)").type).toBe("Enum8('a' = 1, 'b--c' = 2)");
    expect(col('s SimpleAggregateFunction(sum, UInt64)').type).toBe('SimpleAggregateFunction(sum, UInt64)');
  });
  it('jsonpath before or after DEFAULT/CODEC; array and root paths', () => {
    expect(col('`tags` Array(String) `json:$.tags[:]` DEFAULT []')).toEqual({
      name: 'tags',
      type: 'Array(String)',
      nullable: false,
      jsonpath: '$.tags[:]',
      default: '[]',
    });
    expect(col('p String DEFAULT \'x\' CODEC(ZSTD(1)) `json:$`')).toEqual({
      name: 'p',
      type: 'String',
      nullable: false,
      default: "'x'",
      codec: 'CODEC(ZSTD(1))',
      jsonpath: '$',
    });
  });
  it('multi-line types and trailing comma', () => {
    const r = ds('a Tuple(\n  x Int32,\n  y String\n) `json:$.a`,\nb Int32,', 'ENGINE_SORTING_KEY b\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.file!.columns.map((c) => [c.name, c.type, c.pos.line, c.pos.col])).toEqual([
      ['a', 'Tuple( x Int32, y String )', 2, 5],
      ['b', 'Int32', 6, 5],
    ]);
  });
});

describe('INDEXES (spec 2.3)', () => {
  const idx = (block: string) =>
    parseDatasource(
      `SCHEMA >\n    a String,\n    d Map(String, String),\n    m Map(String, String)\nENGINE_SORTING_KEY a\nINDEXES >\n${block
        .split('\n')
        .map((l) => '    ' + l)
        .join('\n')}\n`,
      'x.datasource',
    );
  it('parses the documented forms', () => {
    const r = idx(
      [
        'index_name mapValues(d) TYPE bloom_filter(0.001) GRANULARITY 16',
        "INDEX my_index m['key'] TYPE ngrambf_v1(1, 1024, 1, 42) GRANULARITY 1,",
        'ip_idx (toIPv6(a), toIPv6(a)) TYPE minmax GRANULARITY 1',
        'no_gran a TYPE set(100)',
      ].join('\n'),
    );
    expect(r.diagnostics).toEqual([]);
    expect(r.file!.indexes.map(({ pos: _p, ...i }) => i)).toEqual([
      { name: 'index_name', expr: 'mapValues(d)', type: 'bloom_filter(0.001)', granularity: 16 },
      { name: 'my_index', expr: "m['key']", type: 'ngrambf_v1(1, 1024, 1, 42)', granularity: 1 },
      { name: 'ip_idx', expr: '(toIPv6(a), toIPv6(a))', type: 'minmax', granularity: 1 },
      { name: 'no_gran', expr: 'a', type: 'set(100)' },
    ]);
    expect(r.file!.indexes[1]!.pos).toEqual({ line: 8, col: 5 });
  });
  it('reports invalid syntax with the usage hint, for every bad line', () => {
    const r = idx('bad_index a GRANULARITY 1\na a TYPE minmax GRANULARITY 1, b a TYPE minmax GRANULARITY 1');
    expect(r.diagnostics.map((d) => [d.line, d.col, d.message, d.hint])).toEqual([
      [7, 5, 'Invalid INDEX syntax', 'Usage: `[INDEX] name expr TYPE type_full GRANULARITY granularity`'],
      [8, 5, 'Invalid INDEX syntax', 'Usage: `[INDEX] name expr TYPE type_full GRANULARITY granularity`'],
    ]);
  });
});
