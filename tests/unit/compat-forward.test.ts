// Issue 14: constructs of Tinybird Forward projects that stopped real projects from building. Each is a small
// self-written datafile run against chDB (docs/compat-report.md, "Forward constructs").
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { compatQuerySettings, compatTableSettings, parseVersion } from '../../cli/src/engine/capabilities.js';
import { tokenizeSql } from '../../cli/src/sql/lexer.js';
import { applyProject } from '../../cli/src/project/apply.js';
import { buildProject, validateNodes, withoutBrokenPipes } from '../../cli/src/project/build.js';
import { withSelectSettings } from '../../cli/src/project/ddl.js';
import { loadFixtures } from '../../cli/src/project/fixtures.js';
import { loadProject, type Project } from '../../cli/src/project/model.js';
import { pipeParams } from '../../cli/src/project/params.js';
import { renderNode } from '../../cli/src/project/render.js';
import { pipeSecrets } from '../../cli/src/project/secrets.js';
import { stripStatementTerminator } from '../../cli/src/project/terminator.js';
import { removeDir } from '../helpers/cli.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';
import { tempDir } from '../helpers/ingest-fixture.js';

const chdb = useEmbeddedEngine('compat-forward');

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

async function project(files: Record<string, string>): Promise<Project> {
  const dir = tempDir('compat-forward-project');
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  const p = await loadProject(dir, {});
  expect(p.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return p;
}

const errors = (r: { diagnostics: { severity: string; message: string }[] }) => r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
const endpoint = (sql: string) => `NODE n\nSQL >\n${sql.split('\n').map((l) => '    ' + l).join('\n')}\n\nTYPE endpoint\n`;
// Each test gets its own table names: one engine serves the whole file.
const datasource = (cols: string, sortingKey = 'id', engine = 'MergeTree') => `SCHEMA >\n${cols.split('\n').map((l) => '    ' + l).join('\n')}\n\nENGINE "${engine}"\nENGINE_SORTING_KEY "${sortingKey}"\n`;

describe('1. a node ending in `;`', () => {
  it('builds, is referenced by another pipe, and runs', async () => {
    const p = await project({
      'datasources/semi_t.datasource': datasource('`id` String'),
      'pipes/semi_ids.pipe': endpoint('SELECT id FROM semi_t; -- the end\n'),
      'pipes/semi_tpl.pipe': endpoint("%\nSELECT id FROM semi_ids WHERE id != {{ String(skip, 'x') }} ;  /* done */ ;\n"),
    });
    const applied = await applyProject(chdb.engine, p);
    expect(applied.diagnostics).toEqual([]);
    await chdb.engine.command("INSERT INTO semi_t VALUES ('a'), ('x')");
    expect(errors(await validateNodes(chdb.engine, p, {}))).toEqual([]);
    const sql = renderNode(p, p.pipes.get('semi_tpl')!, undefined, { skip: 'z' }).sql;
    expect(sql).not.toContain(';');
    const rows = await chdb.engine.queryRows<{ id: string }>(`SELECT * FROM (${sql}) ORDER BY id`);
    expect(rows.map((r) => r.id)).toEqual(['a', 'x']);
  });

  it('strips only a real terminator: not one in a string or comment', () => {
    expect(stripStatementTerminator('SELECT id FROM t;')).toBe('SELECT id FROM t');
    expect(stripStatementTerminator('SELECT id FROM t ;\n  -- done\n')).toBe('SELECT id FROM t');
    expect(stripStatementTerminator("SELECT ';'")).toBe("SELECT ';'");
    expect(stripStatementTerminator('SELECT 1 -- ;')).toBe('SELECT 1 -- ;');
    expect(stripStatementTerminator('SELECT 1 /* ; */')).toBe('SELECT 1 /* ; */');
    expect(stripStatementTerminator('SELECT 1; SELECT 2')).toBe('SELECT 1; SELECT 2');
  });

  const sqlish = fc.string({ unit: fc.constantFrom('S', 'x', ' ', '\n', ';', "'", '"', '`', '-', '/', '*', '#', '!', '$', '\\', '(', ')', '1'), maxLength: 40 });
  const lastSignificant = (sql: string) => tokenizeSql(sql).filter((t) => t.kind !== 'ws' && t.kind !== 'comment').pop();

  it('property: never throws, and SQL without a terminator comes back unchanged', () => {
    fc.assert(
      fc.property(fc.oneof(sqlish, fc.string({ maxLength: 40 })), (sql) => {
        const out = stripStatementTerminator(sql);
        const last = lastSignificant(sql);
        if (!(last?.kind === 'op' && last.text === ';')) expect(out).toBe(sql);
        else expect(lastSignificant(out)?.text).not.toBe(';');
        // Stripping is idempotent and only ever cuts the tail.
        expect(stripStatementTerminator(out)).toBe(out);
        expect(sql.startsWith(out)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('property: `<sql>;` followed by whitespace or a comment gives back <sql> (when it had no terminator)', () => {
    const tail = fc.constantFrom(';', ';\n', ' ;  ', '; -- c', ';\n/* c */\n', ';;', '; # c');
    fc.assert(
      fc.property(sqlish, tail, (sql, t) => {
        const last = lastSignificant(sql);
        fc.pre(last !== undefined && last.kind !== 'error' && last.text !== ';' && !/(--|#[ !]|\/\*)[^\n]*$/.test(sql));
        expect(stripStatementTerminator(sql + t)).toBe(sql.trimEnd());
      }),
      { numRuns: 500 },
    );
  });
});

describe('2. a JOIN subquery without an alias', () => {
  const join = 'SELECT id, k2 FROM join_t LEFT JOIN (SELECT id, k AS k2 FROM join_t) USING (id)';

  it('validates and runs as an endpoint', async () => {
    const p = await project({ 'datasources/join_t.datasource': datasource('`id` String,\n`k` String'), 'pipes/joined.pipe': endpoint(join) });
    expect((await applyProject(chdb.engine, p)).diagnostics).toEqual([]);
    await chdb.engine.command("INSERT INTO join_t VALUES ('a', 'x')");
    expect(errors(await validateNodes(chdb.engine, p, {}))).toEqual([]);
    const rows = await chdb.engine.queryRows(renderNode(p, p.pipes.get('joined')!).sql);
    expect(rows).toEqual([{ id: 'a', k2: 'x' }]);
  });

  it('in a materialized view: created, backfilled and run on every insert', async () => {
    const files = {
      'datasources/mvjoin_src.datasource': datasource('`id` String,\n`k` String'),
      'datasources/mvjoin_dst.datasource': datasource('`id` String,\n`k2` String'),
    };
    const tables = await project(files);
    const first = await applyProject(chdb.engine, tables);
    expect(first.diagnostics).toEqual([]);
    await chdb.engine.command("INSERT INTO mvjoin_src VALUES ('a', 'x')");
    const withView = await project({
      ...files,
      'materializations/mvjoin.pipe': 'NODE m\nSQL >\n    SELECT id, k2 FROM mvjoin_src LEFT JOIN (SELECT id, k AS k2 FROM mvjoin_src) USING (id)\n\nTYPE materialized\nDATASOURCE mvjoin_dst\n',
    });
    expect((await applyProject(chdb.engine, withView, first.state)).diagnostics).toEqual([]);
    await chdb.engine.command("INSERT INTO mvjoin_src VALUES ('b', 'y')");
    const rows = await chdb.engine.queryRows('SELECT id, k2 FROM mvjoin_dst ORDER BY id');
    expect(rows).toEqual([
      { id: 'a', k2: 'x' },
      { id: 'b', k2: 'y' },
    ]);
  });

  it('the settings go only to servers that know them (18.16 runs the JOIN without one, and refuses unknown settings)', () => {
    expect(compatQuerySettings(parseVersion('18.16.1'))).toEqual({});
    expect(compatQuerySettings(parseVersion('20.1.2'))).toEqual({ joined_subquery_requires_alias: 0 });
    expect(compatQuerySettings(parseVersion('26.7.2.1'))).toEqual({
      joined_subquery_requires_alias: 0,
      allow_suspicious_types_in_group_by: 1,
      allow_suspicious_types_in_order_by: 1,
    });
    expect(compatQuerySettings(undefined)).toEqual({});
  });

  it('a view SELECT keeps its own SETTINGS clause and gets ours added to it', () => {
    expect(withSelectSettings('SELECT 1 -- c', { a: 0 })).toBe('SELECT 1\nSETTINGS a = 0 -- c');
    expect(withSelectSettings('SELECT 1 SETTINGS max_threads = 2', { a: 0 })).toBe('SELECT 1 SETTINGS max_threads = 2, a = 0');
    expect(withSelectSettings('SELECT 1 SETTINGS a = 1', { a: 0 })).toBe('SELECT 1 SETTINGS a = 1');
    expect(withSelectSettings('SELECT x FROM (SELECT 1 AS x SETTINGS max_threads = 1)', { a: 0 })).toBe('SELECT x FROM (SELECT 1 AS x SETTINGS max_threads = 1)\nSETTINGS a = 0');
  });
});

describe('3. a parameter named like a Python builtin', () => {
  const files = {
    'datasources/bi_t.datasource': datasource('`id` String,\n`k` String'),
    'pipes/by_filter.pipe': endpoint("%\nSELECT id FROM bi_t\n{% if not defined(filter) %}WHERE 1{% end %}\n{% if filter == 'a' %}WHERE k = {{ filter }}{% end %}"),
  };

  it('builds (placeholder mode) and renders with and without the parameter', async () => {
    const p = await project(files);
    expect((await applyProject(chdb.engine, p)).diagnostics).toEqual([]);
    expect(errors(await validateNodes(chdb.engine, p, {}))).toEqual([]);
    const pipe = p.pipes.get('by_filter')!;
    expect(renderNode(p, pipe, undefined, { filter: 'a' }).sql).toContain("WHERE k = 'a'");
    expect(renderNode(p, pipe, undefined, {}).sql).toContain('WHERE 1');
    expect(renderNode(p, pipe, undefined, { filter: 'b' }).sql).not.toContain('WHERE');
    expect(pipeParams(pipe, p).map((x) => x.name)).toEqual(['filter']);
  });

  it('builtins the templates do implement still work (len, range), and a request value is still escaped', async () => {
    const p = await project({
      'pipes/builtins.pipe': endpoint("%\nSELECT {{ len([1, 2]) }} AS n {% for i in range(2) %}, {{ i }} AS c{{ i }}{% end %}, {{ String(type, 'x') }} AS t"),
    });
    const pipe = p.pipes.get('builtins')!;
    expect(renderNode(p, pipe, undefined, {}).sql).toContain("SELECT 2 AS n , 0 AS c0, 1 AS c1, 'x' AS t");
    expect(renderNode(p, pipe, undefined, { type: "a' OR 1=1 --" }).sql).toContain("'a\\' OR 1=1 --' AS t");
  });
});

describe('4. tb_secret without a default', () => {
  const files = { 'pipes/with_secret.pipe': endpoint("%\nSELECT {{ tb_secret('API_KEY') }} AS key") };

  it('build uses the secret from the environment (TB_SECRET_<NAME>, else <NAME>)', async () => {
    const p = await project(files);
    const secrets = pipeSecrets({ TB_SECRET_API_KEY: 'from-prefix', API_KEY: 'plain', OTHER: 'o' });
    expect(secrets.API_KEY).toBe('from-prefix');
    expect(secrets.OTHER).toBe('o');
    const v = await validateNodes(chdb.engine, p, secrets);
    expect([...errors(v), ...v.warnings.map((w) => w.message)]).toEqual([]);
    const r = renderNode(p, p.pipes.get('with_secret')!, undefined, {}, { secrets });
    expect(r.sql).not.toContain('from-prefix'); // a query parameter, never inlined
    expect(await chdb.engine.queryRows(r.sql, { queryParams: r.queryParams })).toEqual([{ key: 'from-prefix' }]);
  });

  it('a missing secret: the node is still validated, with a warning naming the secret, where it is, and how to set it', async () => {
    const p = await project(files);
    const v = await validateNodes(chdb.engine, p, {});
    expect(errors(v)).toEqual([]);
    expect(v.warnings).toEqual([
      {
        file: 'pipes/with_secret.pipe',
        line: 4,
        col: 12,
        severity: 'warning',
        message: "node n: secret 'API_KEY' has no value; the node was checked with an empty value in its place",
        hint: "export TB_SECRET_API_KEY=<value> (or API_KEY) in the environment of emailstats, or give it a default: tb_secret('API_KEY', '<default>')",
      },
    ]);
    // The node is really analysed: a broken one next to the secret still fails.
    const broken = await project({ 'pipes/with_secret.pipe': endpoint("%\nSELECT {{ tb_secret('API_KEY') }} AS key, no_such_function(1) AS y") });
    expect(errors(await validateNodes(chdb.engine, broken, {}))).toEqual([expect.stringMatching(/no_such_function/)]);
  });
});

describe('7. JSON columns', () => {
  it('GROUP BY / ORDER BY a JSON path validates and runs', async () => {
    const p = await project({
      'datasources/json_t.datasource': datasource('`id` String `json:$.id`,\n`data` JSON `json:$.data`'),
      'pipes/plans.pipe': endpoint('SELECT data.plan AS plan, count() AS c FROM json_t GROUP BY data.plan ORDER BY data.plan'),
    });
    expect((await applyProject(chdb.engine, p)).diagnostics).toEqual([]);
    await chdb.engine.command(`INSERT INTO json_t VALUES ('1', '{"plan":"pro"}'), ('2', '{"plan":"free"}'), ('3', '{"plan":"pro"}')`);
    expect(errors(await validateNodes(chdb.engine, p, {}))).toEqual([]);
    const rows = await chdb.engine.queryRows<{ plan: string; c: number }>(renderNode(p, p.pipes.get('plans')!).sql);
    expect(rows.map((r) => [String(r.plan), Number(r.c)])).toEqual([
      ['free', 1],
      ['pro', 2],
    ]);
  });

  it('fixtures of a datasource with nested jsonpaths are mapped as the Events API maps them', async () => {
    const p = await project({
      'datasources/nested_fx.datasource': datasource("`id` String `json:$.id`,\n`city` String `json:$.user.city`,\n`plan` String `json:$.data.plan` DEFAULT 'none'"),
      'fixtures/nested_fx.ndjson': '{"id":"1","user":{"city":"Paris"},"data":{"plan":"pro"}}\n{"id":"2","user":{"city":"Rome"}}\n',
    });
    expect((await applyProject(chdb.engine, p)).diagnostics).toEqual([]);
    const loads = await loadFixtures(chdb.engine, p);
    expect(loads).toEqual([{ datasource: 'nested_fx', file: 'fixtures/nested_fx.ndjson', rows: 2 }]);
    expect(await chdb.engine.queryRows('SELECT id, city, plan FROM nested_fx ORDER BY id')).toEqual([
      { id: '1', city: 'Paris', plan: 'pro' },
      { id: '2', city: 'Rome', plan: 'none' },
    ]);
  });

  it('a nested-jsonpath fixture line that does not fit fails with its line and reason', async () => {
    const p = await project({
      'datasources/nested_bad.datasource': datasource('`id` String `json:$.id`,\n`n` UInt8 `json:$.v.n`'),
      'fixtures/nested_bad.ndjson': '{"id":"1","v":{"n":1}}\n{"id":"2","v":{"n":"many"}}\n',
    });
    expect((await applyProject(chdb.engine, p)).diagnostics).toEqual([]);
    await expect(loadFixtures(chdb.engine, p)).rejects.toThrow(/nested_bad: 1 line\(s\) do not fit the schema; line 2: column n/);
  });
});

describe('8. AggregatingMergeTree with a plain column outside the sorting key', () => {
  it('is created (and keeps working on insert)', async () => {
    const p = await project({
      'datasources/agg_src.datasource': datasource('`day` Date,\n`label` String', 'day'),
      'datasources/agg_daily.datasource': datasource('`day` Date,\n`label` String,\n`n` AggregateFunction(count)', 'day', 'AggregatingMergeTree'),
      'materializations/agg_mv.pipe': 'NODE m\nSQL >\n    SELECT day, any(label) AS label, countState() AS n FROM agg_src GROUP BY day\n\nTYPE materialized\nDATASOURCE agg_daily\n',
    });
    const report = await buildProject(chdb.engine, p, { fixtures: false });
    expect(report.diagnostics).toEqual([]);
    await chdb.engine.command("INSERT INTO agg_src VALUES ('2024-05-01', 'a'), ('2024-05-01', 'a')");
    const rows = await chdb.engine.queryRows<{ day: string; label: string; n: number }>('SELECT day, label, countMerge(n) AS n FROM agg_daily GROUP BY day, label');
    expect(rows.map((r) => [r.day, r.label, Number(r.n)])).toEqual([['2024-05-01', 'a', 2]]);
  });

  it('the MergeTree setting is added only where the server has that check, and never over the datafile\'s own', () => {
    expect(compatTableSettings('AggregatingMergeTree', parseVersion('26.7.2.1'))).toEqual(['allow_dimensions_outside_sorting_key = 1']);
    expect(compatTableSettings('AggregatingMergeTree', parseVersion('26.6.1'))).toEqual([]);
    expect(compatTableSettings('AggregatingMergeTree', parseVersion('18.16.1'))).toEqual([]);
    expect(compatTableSettings('MergeTree', parseVersion('26.7.2.1'))).toEqual([]);
    expect(compatTableSettings('AggregatingMergeTree', parseVersion('26.7.2.1'), 'allow_dimensions_outside_sorting_key = 0')).toEqual([]);
  });
});

describe('6. what dev serves while pipes are broken', () => {
  it('leaves out only the broken endpoint pipes; an error elsewhere keeps the last good version', async () => {
    const p = await project({ 'pipes/good.pipe': endpoint('SELECT 1 AS x'), 'pipes/bad.pipe': endpoint('SELECT 1 AS x') });
    const err = (file: string) => ({ file, line: 3, col: 1, severity: 'error' as const, message: 'broken' });
    const part = withoutBrokenPipes(p, [err('pipes/bad.pipe')], {});
    expect(part?.broken).toEqual(['bad']);
    expect([...part!.project.pipes.keys()]).toEqual(['good']);
    // A pipe that was served before keeps serving its last good version.
    const lastGood = await project({ 'pipes/good.pipe': endpoint('SELECT 1 AS x'), 'pipes/bad.pipe': endpoint('SELECT 2 AS x') });
    const again = withoutBrokenPipes(p, [err('pipes/bad.pipe')], {}, lastGood);
    expect([again?.kept, again?.broken]).toEqual([['bad'], []]);
    expect(again!.project.pipes.get('bad')).toBe(lastGood.pipes.get('bad'));
    expect(withoutBrokenPipes(p, [err('datasources/x.datasource')], {})).toBeUndefined();
    // A materialized pipe (applied before) is never left out: that would drop its view.
    expect(withoutBrokenPipes(p, [err('pipes/bad.pipe')], { bad: {} })).toBeUndefined();
  });
});
