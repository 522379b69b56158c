// The 74 rendering facts of docs/tinybird-compat.md §4.8, as a table.
import { describe, expect, it } from 'vitest';
import { TemplateError, renderTemplate, type RenderOptions, type TemplateVars } from '../../cli/src/template/index.js';

type Case = { n: number; tpl: string; vars?: TemplateVars; test?: boolean; secrets?: Record<string, string>; sql?: string; err?: string; status?: number; warnings?: string[]; settings?: Record<string, unknown> };

const TSE = 'Template Syntax Error: ';

const cases: Case[] = [
  { n: 1, tpl: 'select * from table where f = {{Float32(foo)}}', vars: { foo: '-1' }, sql: "select * from table where f = toFloat32('-1.0')" },
  { n: 1.1, tpl: 'select * from table where f = {{Float32(foo)}}', vars: { foo: -1 }, sql: "select * from table where f = toFloat32('-1.0')" },
  { n: 2, tpl: 'select * from table where f = {{Float32(foo)}}', vars: { foo: 1 }, sql: "select * from table where f = toFloat32('1.0')" },
  { n: 3, tpl: 'select * from table where f = {{Float32(foo)}}', test: true, sql: "select * from table where f = toFloat32('0.0')" },
  { n: 4, tpl: '{% if defined(open) %}ERROR{% else %}YEAH!{% end %}', sql: 'YEAH!' },
  { n: 4.1, tpl: '{% if defined(close) %}ERROR{% else %}YEAH!{% end %}', sql: 'YEAH!' },
  { n: 4.2, tpl: '{% if defined(input) %}ERROR{% else %}YEAH!{% end %}', sql: 'YEAH!' },
  { n: 4.3, tpl: '{% if defined(print) %}ERROR{% else %}YEAH!{% end %}', sql: 'YEAH!' },
  { n: 5, tpl: 'select * from table where str = {{foo}}', vars: { foo: 'test' }, sql: "select * from table where str = 'test'" },
  { n: 6, tpl: 'select * from table where f = {{foo}}', vars: { foo: 1.5 }, sql: 'select * from table where f = 1.5' },
  { n: 7, tpl: 'select {{Boolean(foo)}} from table', vars: { foo: true }, sql: 'select 1 from table' },
  { n: 7.1, tpl: 'select {{Boolean(foo)}} from table', vars: { foo: false }, sql: 'select 0 from table' },
  { n: 8, tpl: 'select * from table where f = {{foo}}', vars: { foo: "';drop table users;" }, sql: "select * from table where f = '\\';drop table users;'" },
  { n: 9, tpl: 'select * from {{symbol(foo)}}', vars: { foo: 'table-name' }, sql: 'select * from `table-name`' },
  { n: 9.1, tpl: 'select * from {{symbol(foo)}}', vars: { foo: '"table-name"' }, sql: 'select * from `table-name`' },
  { n: 10, tpl: 'select * from {{table(foo)}}', vars: { foo: '"table-name"' }, sql: 'select * from table-name' },
  { n: 11, tpl: 'select * from {{Int32(foo)}}', vars: { foo: 'non_int' }, err: `${TSE}Error validating 'non_int' to type Int32` },
  { n: 12, tpl: 'SELECT * FROM t where a = {{test}}', test: true, sql: "SELECT * FROM t where a = '__no_value__'" },
  { n: 13, tpl: 'SELECT {{test}}', vars: { token: 'testing' }, err: `${TSE}expression "test" evaluated to null` },
  { n: 14, tpl: 'SELECT {{testisasuperlongthingandwedontwanttoreturnthefullthing}}', err: `${TSE}expression "testisasuperlongthin..." evaluated to null` },
  { n: 15, tpl: "SELECT {{ Array(embedding, 'Float32') }}", vars: { token: 'testing', embedding: '1,2,3,4, null' }, err: `${TSE}Error validating [1,2,3,4, null][4] ( null) to type Float32` },
  { n: 16, tpl: "SELECT {{ Array(embedding, 'Int32', '') }}", vars: { embedding: '' }, err: `${TSE}Error validating [][0] (empty string) to type Int32` },
  { n: 16.1, tpl: "SELECT {{ Array(embedding, 'Int32', '') }}", err: `${TSE}Error validating [][0] (empty string) to type Int32` },
  { n: 17, tpl: '{% if test %}SELECT 1{% else %} select 2 {% end %}', sql: ' select 2 ' },
  { n: 18, tpl: '{% if Int32(test, 1) %}SELECT 1{% else %} select 2 {% end %}', sql: 'SELECT 1' },
  { n: 19, tpl: '{% for v in test %}SELECT {{v}} {% end %}', test: true, sql: "SELECT '__no_value__' SELECT '__no_value__' SELECT '__no_value__' " },
  { n: 20, tpl: 'select {{Int32(foo, 1)}}', test: true, sql: "select toInt32('1')" },
  {
    n: 21,
    tpl: 'SELECT count() c FROM test_table where a > {{Float32(myvar)}} {% if defined(my_condition) %} and c = Int32({{my_condition}}){% end %}',
    vars: { myvar: 1.0 },
    sql: "SELECT count() c FROM test_table where a > toFloat32('1.0') ",
  },
  { n: 22, tpl: 'SELECT count() c FROM where {{sql_and(a=a, b=b)}}', vars: { a: '1', b: '2' }, sql: "SELECT count() c FROM where a = '1' and b = '2'" },
  { n: 23, tpl: 'SELECT count() c FROM where {{sql_and(a=a, b=b)}}', vars: { b: '2' }, sql: "SELECT count() c FROM where b = '2'" },
  { n: 24, tpl: 'SELECT count() c FROM where {{sql_and(a=Int(a, defined=False), b=Int(b, defined=False))}}', vars: { b: '2' }, sql: 'SELECT count() c FROM where b = 2' },
  { n: 25, tpl: 'SELECT count() c FROM where {{sql_and(a__in=Array(a), b=b)}}', vars: { a: 'a,b,c', b: '2' }, sql: "SELECT count() c FROM where a in ['a','b','c'] and b = '2'" },
  { n: 26, tpl: 'SELECT count() c FROM where {{sql_and(a__not_in=Array(a), b=b)}}', vars: { a: 'a,b,c', b: '2' }, sql: "SELECT count() c FROM where a not in ['a','b','c'] and b = '2'" },
  { n: 27, tpl: 'SELECT c FROM where a > {{Date(start)}}', test: true, sql: "SELECT c FROM where a > '2019-01-01'" },
  { n: 27.1, tpl: 'SELECT c FROM where a > {{DateTime(start)}}', test: true, sql: "SELECT c FROM where a > '2019-01-01 00:00:00'" },
  { n: 28, tpl: 'SELECT c FROM where a > {{DateTime(start)}}', vars: { start: '2018-09-07 23:55:00' }, sql: "SELECT c FROM where a > '2018-09-07 23:55:00'" },
  {
    n: 29,
    tpl: 'SELECT * FROM tracker {% if defined(start) %} {{DateTime(start)}} and {{DateTime(end)}} {% end %}',
    vars: { start: '2019-08-01 00:00:00', end: '2019-08-02 00:00:00' },
    sql: "SELECT * FROM tracker  '2019-08-01 00:00:00' and '2019-08-02 00:00:00' ",
  },
  { n: 30, tpl: 'SELECT * from test limit {{Int(limit)}}', test: true, sql: 'SELECT * from test limit 0' },
  { n: 31, tpl: 'SELECT {{symbol(attr)}} from test', test: true, sql: 'SELECT `placeholder` from test' },
  { n: 32, tpl: 'SELECT {{Array(foo)}}', vars: { foo: 'a,b,c,d' }, sql: "SELECT ['a','b','c','d']" },
  { n: 33, tpl: "SELECT {{Array(foo, 'Int32')}}", vars: { foo: '1,2,3,4' }, sql: 'SELECT [1,2,3,4]' },
  { n: 33.1, tpl: "SELECT {{Array(foo, 'Int32')}}", test: true, sql: 'SELECT [0,0]' },
  { n: 34, tpl: 'SELECT {{Array(foo)}}', test: true, sql: "SELECT ['']" },
  { n: 35, tpl: '{{max_threads(2)}} SELECT 1', sql: '-- max_threads 2\n SELECT 1', settings: { max_threads: 2 } },
  { n: 36, tpl: 'SELECT {{String(foo)}}', test: true, sql: "SELECT '__no_value__'" },
  { n: 36.1, tpl: "SELECT {{String(foo, 'test')}}", test: true, sql: "SELECT 'test'" },
  { n: 37, tpl: "SELECT {{String(foo, 'test')}}", vars: { foo: 'tt' }, sql: "SELECT 'tt'" },
  { n: 38, tpl: "SELECT {{String(format, 'test')}}", vars: { format: 'tt' }, err: '"format" can not be used as a variable name, line 1' },
  { n: 38.1, tpl: 'SELECT {{format}}', vars: { format: 'tt' }, err: '"format" can not be used as a variable name, line 1' },
  { n: 38.2, tpl: "SELECT {{String(q, 'test')}}", vars: { q: 'tt' }, err: '"q" can not be used as a variable name, line 1' },
  { n: 39, tpl: 'SELECT {{column(agg)}}', err: `${TSE}Missing column() default value, use \`column(column_name, 'default_column_name')\`` },
  { n: 40, tpl: 'SELECT {{column(agg)}}', vars: { agg: 'foo' }, sql: 'SELECT `foo`' },
  { n: 40.1, tpl: 'SELECT {{column(agg)}}', vars: { agg: '"foo"' }, sql: 'SELECT `foo`' },
  { n: 40.2, tpl: 'SELECT {{column(agg)}}', vars: { agg: 'json.a' }, sql: 'SELECT `json`.`a`' },
  { n: 41, tpl: '{% if not defined(test) %}error("This is an error"){% end %}', sql: 'error("This is an error")' },
  { n: 42, tpl: "SELECT {{String(foo + 'abcd')}}", test: true, sql: "SELECT '__no_value__'" },
  { n: 43, tpl: 'SELECT {{columns(agg)}}', err: `${TSE}Missing columns() default value, use \`columns(column_names, 'default_column_name')\`` },
  { n: 44, tpl: "SELECT {{columns(agg, 'a,b,c')}} FROM table", sql: 'SELECT `a`,`b`,`c` FROM table' },
  { n: 44.1, tpl: "SELECT {{columns(agg, 'a,b,c')}} FROM table", vars: { agg: 'foo' }, sql: 'SELECT `foo` FROM table' },
  { n: 45, tpl: '{% if whatever(passenger_count) %}{% end %}', test: true, err: `${TSE}'whatever' is not a valid function, line 1` },
  { n: 46, tpl: '{% if defined((passenger_count) %}{% end %}', test: true, err: 'invalid syntax' },
  { n: 47, tpl: "SELECT * FROM dim_fecha_evento where foo like {{sql_unescape(String(pepe), '%')}}", vars: { pepe: 'raul_el_bueno_is_the_best_%' }, sql: "SELECT * FROM dim_fecha_evento where foo like 'raul_el_bueno_is_the_best_%'" },
  { n: 48, tpl: 'SELECT * FROM table WHERE field={{String(field_filter)}}', vars: { field_filter: 'action."test run"' }, sql: "SELECT * FROM table WHERE field='action.\\\"test run\\\"'" },
  { n: 49, tpl: 'SELECT {{Int128(foo)}} as x', vars: { foo: '-170141183460469231731687303715884105728' }, sql: "SELECT toInt128('-170141183460469231731687303715884105728') as x" },
  { n: 49.1, tpl: 'SELECT {{Int128(foo)}} as x', vars: { foo: '170141183460469231731687303715884105727' }, sql: "SELECT toInt128('170141183460469231731687303715884105727') as x" },
  {
    n: 49.2,
    tpl: 'SELECT {{Int256(foo)}} as x',
    vars: { foo: '-57896044618658097711785492504343953926634992332820282019728792003956564819968' },
    sql: "SELECT toInt256('-57896044618658097711785492504343953926634992332820282019728792003956564819968') as x",
  },
  { n: 50, tpl: '% SELECT * FROM {% import os %}{{ os.popen("whoami").read() }}', err: 'import is forbidden at <string>:1' },
  { n: 50.1, tpl: '% SELECT * FROM {% from os import popen %}{{ popen("cat etc/passwd").read() }}', err: 'import is forbidden at <string>:1' },
  { n: 51, tpl: 'SELECT {{len([1] * 10**7)}}', err: `${TSE}Invalid BinOp: Pow()` },
  { n: 52, tpl: "SELECT {{Array(click_selector, 'String', 'pre,pro')}}", sql: "SELECT ['pre','pro']" },
  { n: 52.1, tpl: "SELECT {{Array(click_selector, 'String', 'pre,pro')}}", vars: { click_selector: 'hi,hello' }, sql: "SELECT ['hi','hello']" },
  { n: 53, tpl: "SELECT {{Array(click_selector, 'String', '')}}", sql: "SELECT ['']" },
  { n: 53.1, tpl: "SELECT {{Array(click_selector, 'String', '')}}", test: true, sql: "SELECT ['']" },
  { n: 54, tpl: "SELECT now() > {{DateTime64(variable, '2020-09-09 10:10:10.000')}}", sql: "SELECT now() > '2020-09-09 10:10:10.000'" },
  { n: 55, tpl: 'SELECT {% if defined(x) %} x, 1', err: 'Missing {% end %} block for if at line 1' },
  { n: 56, tpl: "SELECT * FROM employees WHERE 0 {% for kv in JSON(payload) %} OR department = {{kv['dp']}} {% end %}", sql: 'SELECT * FROM employees WHERE 0 ' },
  {
    n: 57,
    tpl: `SELECT * FROM employees WHERE 0 {% for kv in JSON(payload, '[{"dp":"Sales"}]') %} OR department = {{kv['dp']}} {% end %}`,
    sql: "SELECT * FROM employees WHERE 0  OR department = 'Sales' ",
  },
  {
    n: 58,
    tpl: "SELECT * FROM employees WHERE 0 {% for kv in JSON(payload) %} OR department = {{kv['dp']}} {% end %}",
    vars: { payload: '[{"dp":"Design"},{"dp":"Marketing"}]' },
    sql: "SELECT * FROM employees WHERE 0  OR department = 'Design'  OR department = 'Marketing' ",
  },
  { n: 59, tpl: "{% for kv in JSON(payload) %} department = {{kv['dp']}} {% end %}", test: true, err: `${TSE}Error parsing JSON: '__no_value__' - Expecting value: line 1 column 1 (char 0)` },
  { n: 60, tpl: "{% for kv in JSON(payload, '') %} department = {{kv['dp']}} {% end %}", err: `${TSE}Error parsing JSON: '' - Expecting value: line 1 column 1 (char 0)` },
  {
    n: 61,
    tpl: "{% if defined(test) %}{% set _g = ','.join(test) %} SELECT {{Array(test, 'String')}} as test, {{_g}} as a {% end %}",
    vars: { test: '1,2' },
    sql: " SELECT ['1','2'] as test, '1,2' as a ",
  },
  {
    n: 61.1,
    tpl: "{% if defined(test) %}{% set _g = ','.join(test) %} SELECT {{Array(test, 'String')}} as test, {{_g}} as a {% end %}",
    vars: { test: ['1', '2'] },
    sql: " SELECT ['1','2'] as test, '1,2' as a ",
  },
  {
    n: 62,
    tpl: "{% if defined(test) %}{% set _total = sum(test) %} SELECT test as aa, {{Array(test, 'Int32')}} as test, {{_total}} as a {% end %}",
    vars: { test: '1,2' },
    sql: ' SELECT test as aa, [1,2] as test, 3 as a ',
  },
  { n: 63, tpl: 'select * from table where str = {{pipeline}}', vars: { pipeline: 'test' }, sql: "select * from table where str = 'test'", warnings: ['pipeline'] },
  { n: 64, tpl: "select * from table where str = {{tb_secret('test')}}", secrets: { test: 's3cr3t' }, sql: 'select * from table where str = {test: String}' },
  { n: 64.1, tpl: "select * from table where str = {{tb_var('test')}}", secrets: { test: 's3cr3t' }, sql: 'select * from table where str = {test: String}' },
  { n: 64.2, tpl: "select * from table where str = {{tb_secret('test')}}", test: true, sql: 'select * from table where str = {test: String}' },
  {
    n: 65,
    tpl: "select * from table where str = {{tb_secret('test')}}",
    vars: { test: '1234' },
    err: `${TSE}Cannot access secret 'test'. Check the secret exists in the Workspace and the token has the required scope.`,
  },
  {
    n: 65.1,
    tpl: "select * from table where str = {{tb_secret('test')}}",
    secrets: { test2: 'x' },
    err: `${TSE}Cannot access secret 'test'. Check the secret exists in the Workspace and the token has the required scope.`,
  },
  { n: 66, tpl: "select * from table where str = {{tb_secret('test', 'default_value')}}", secrets: {}, sql: "select * from table where str = 'default_value'" },
  { n: 66.1, tpl: "select * from table where str = {{tb_secret('test', 'default_value')}}", secrets: { test: 'v' }, sql: 'select * from table where str = {test: String}' },
  { n: 66.2, tpl: "select * from table where str = {{tb_secret('test', 'default_value')}}", test: true, sql: "select * from table where str = 'default_value'" },
  { n: 67, tpl: "select * from table where str = {{tb_secret('test', '')}}", sql: "select * from table where str = ''" },
  {
    n: 68,
    tpl: "select * from table where str = {{String(test)}} and category = {{String(category, 'shirts')}} and color = {{ Int32(color)}}",
    err: `${TSE}Required parameter is not defined. Check the parameters test and color. Please provide a value or set a default value in the pipe code.`,
  },
  { n: 68.1, tpl: "select columns(cols, 'salary') from table where str = {{String(test)}}", err: `${TSE}Required parameter is not defined. Check the parameters test. Please provide a value or set a default value in the pipe code.` },
  { n: 69, tpl: "SELECT * FROM test WHERE {% for item in JSON(filters, '[{}]') %} {{item.get('operand')}} {% end %}", err: `${TSE}expression "item.get('operand')" evaluated to null` },
  { n: 70, tpl: `SELECT * FROM test WHERE {% for item in JSON(filters, '[{"operand":"test"}]') %} {{item.get('operand')}} {% end %}`, sql: "SELECT * FROM test WHERE  'test' " },
  {
    n: 71,
    tpl: `SELECT * FROM test WHERE {% for item in JSON(filters, '["test"]') %} {{item.get('operator')}} {% end %}`,
    err: `${TSE}'str' object has no attribute 'get'. Make sure you're using an object/dictionary where trying to use .get()`,
  },
  { n: 72, tpl: "{{Boolean('FALSE')}}{{Boolean('0')}}{{Boolean(None)}}{{Boolean('TRUE')}}{{Boolean(1)}}{{Boolean(None, default=True)}}", sql: '000111' },
  { n: 72.1, tpl: "{{Boolean(x, 'FALSE')}}{{Boolean(x, 'TRUE')}}{{Boolean(x, False)}}", test: true, sql: '010' },
  {
    n: 73,
    tpl: "{{date_diff_in_days('2019-01-02','2019-02-01')}} {{date_diff_in_hours('2022-12-14 18:42:22','2022-12-19 18:42:22')}} {{date_diff_in_minutes('2022-12-19','2022-12-19 00:01:00', backup_date_format='%Y-%m-%d')}} {{date_diff_in_seconds('2022-12-19 18:42:22','2022-12-19 18:43:22')}}",
    sql: '30 120 1 60',
  },
  { n: 74, tpl: "{{sql_unescape('testing%', '$')}}", sql: "'testing\\%'" },
  { n: 74.1, tpl: "{{sql_unescape('testing%', '%')}}", sql: "'testing%'" },
];

describe('§4.8 rendering table', () => {
  for (const c of cases) {
    it(`#${c.n} ${c.tpl.slice(0, 70)}`, () => {
      const opts: RenderOptions = {};
      if (c.test) opts.testMode = true;
      if (c.secrets) opts.secrets = c.secrets;
      if (c.err !== undefined) {
        let err: unknown;
        try {
          renderTemplate(c.tpl, c.vars ?? {}, opts);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(TemplateError);
        expect((err as TemplateError).message).toBe(c.err);
        expect((err as TemplateError).status).toBe(c.status ?? 400);
        return;
      }
      const r = renderTemplate(c.tpl, c.vars ?? {}, opts);
      expect(r.sql).toBe(c.sql);
      if (c.warnings) expect(r.warnings).toEqual(c.warnings);
      if (c.settings) expect(r.settings).toEqual(c.settings);
    });
  }

  it('#64 sends the secret as a query parameter, never inline', () => {
    const r = renderTemplate("select {{tb_secret('test')}}", {}, { secrets: { test: "x'; DROP" } });
    expect(r.sql).toBe('select {test: String}');
    expect(r.queryParams).toEqual({ test: "x'; DROP" });
  });
});
