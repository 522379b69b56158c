// Unknown tables and columns in node SQL, found without an engine: reported at file:line:col with a
// did-you-mean, and never where the datafiles alone cannot prove the name wrong.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../cli/src/datafile/types.js';
import { blamedNames, engineErrorPosition } from '../../cli/src/project/error-position.js';
import { projectFromTexts, type Project } from '../../cli/src/project/model.js';
import { blankTemplateTags, checkNames } from '../../cli/src/project/name-check.js';
import { narrowRequiredMessage } from '../../cli/src/project/required-params.js';
import { compileTemplate } from '../../cli/src/template/index.js';

const EVENTS = 'SCHEMA >\n    `campaign_id` String `json:$.campaign_id`,\n    `event_type` String `json:$.event_type`,\n    `timestamp` DateTime `json:$.timestamp`,\n    `tags` Array(String) `json:$.tags[:]`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "campaign_id, timestamp"\n';

function project(files: Record<string, string>): Project {
  const sources = new Map(Object.entries(files));
  return projectFromTexts('/p', { sources, paths: [...sources.keys()], diagnostics: [] }, {});
}

/** A project with the events datasource and one pipe whose single node runs `sql` (indented as a block). */
function pipeWith(sql: string, extra: Record<string, string> = {}): Project {
  const block = sql.split('\n').map((l) => `    ${l}`).join('\n');
  return project({ 'datasources/events.datasource': EVENTS, 'pipes/stats.pipe': `NODE stats_node\nSQL >\n${block}\n\nTYPE endpoint\n`, ...extra });
}

const problems = (p: Project): string[] => checkNames(p).map((d) => `${d.file}:${d.line}:${d.col}: ${d.message} (${d.hint})`);

describe('unknown tables', () => {
  it('reports a table in FROM or JOIN that no datasource, pipe or node has, at its position, with a did-you-mean', () => {
    expect(problems(pipeWith('SELECT count() FROM event'))).toEqual([
      "pipes/stats.pipe:3:25: node stats_node: unknown table 'event': no datasource, pipe or node of stats has that name (did you mean 'events'?)",
    ]);
    const joined = problems(pipeWith('%\nSELECT *\nFROM events\nLEFT JOIN campaigns USING campaign_id\nWHERE campaign_id = {{String(c)}}'));
    expect(joined).toHaveLength(1);
    expect(joined[0]).toMatch(/^pipes\/stats\.pipe:6:15: node stats_node: unknown table 'campaigns'.*\(datasources, pipes and nodes: (events, stats|stats, events)\)$/);
  });

  it('accepts datasources, pipes, sibling nodes, CTEs, quarantine tables, qualified names and table functions', () => {
    const p = project({
      'datasources/events.datasource': EVENTS,
      'pipes/other.pipe': 'NODE o\nSQL >\n    SELECT 1 AS x\n',
      'pipes/stats.pipe':
        'NODE first\nSQL >\n    SELECT * FROM events\n\n' +
        'NODE second\nSQL >\n    WITH c AS (SELECT x FROM other) SELECT * FROM first, c JOIN events_quarantine USING (x) JOIN system.one ON 1 JOIN numbers(3) ON 1\n\n' +
        'NODE third\nSQL >\n    %\n    SELECT * FROM {{TABLE("events")}} ARRAY JOIN tags WHERE a IS DISTINCT FROM b AND extract(DAY FROM timestamp) = 1\n',
    });
    expect(problems(p)).toEqual([]);
  });

  it('says nothing about a name whose own datafile failed to parse (that file has its error)', () => {
    const p = project({ 'datasources/events.datasource': EVENTS, 'datasources/broken.datasource': 'SCHEMA >\n    a Nope(\n', 'pipes/stats.pipe': 'NODE n\nSQL >\n    SELECT * FROM broken\n' });
    expect(problems(p)).toEqual([]);
  });
});

describe('unknown columns', () => {
  it('reports a column a node selecting straight from a datasource does not have, at the line of the typo', () => {
    const out = problems(pipeWith('%\nSELECT campaign_id, count() AS n\nFROM events\nWHERE campain_id = {{String(c, "x")}}\nGROUP BY campaign_id'));
    expect(out).toEqual(["pipes/stats.pipe:6:11: node stats_node: unknown column 'campain_id': datasource events has no such column (did you mean 'campaign_id'?)"]);
  });

  it('accepts aliases (with and without AS), lambdas, casts, functions, keywords, tuple access and template output', () => {
    const sql = [
      '%',
      'SELECT campaign_id AS c, count() n, toStartOfInterval(timestamp, INTERVAL 1 DAY) day_bucket,',
      "  arrayMap(x -> upper(x), tags) AS up, arrayFilter((k, v) -> v > 0, tags, [1]) f, CAST(event_type AS LowCardinality(String)) t,",
      "  event_type::String s2, CASE WHEN n > 1 THEN 'many' ELSE 'one' END label, tags.size0, _part",
      'FROM events AS e FINAL',
      "WHERE e.campaign_id != '' AND timestamp >= now() - INTERVAL 7 DAY AND event_type IN ('open', 'click') AND c IS NOT NULL",
      '{% if defined(kind) %} AND event_type = {{String(kind)}} {% end %}',
      'GROUP BY c, label ORDER BY n DESC NULLS LAST LIMIT 10 BY c',
    ].join('\n');
    expect(problems(pipeWith(sql))).toEqual([]);
  });

  it('does not judge columns where the source is a node, a pipe, a join, a subquery or a union', () => {
    for (const sql of [
      'SELECT nope FROM events JOIN events AS b USING campaign_id',
      'SELECT nope FROM (SELECT campaign_id FROM events)',
      'SELECT nope FROM events WHERE campaign_id IN (SELECT campaign_id FROM events)',
      'SELECT nope FROM events UNION ALL SELECT campaign_id FROM events',
      'WITH 1 AS one SELECT nope FROM events',
    ])
      expect(problems(pipeWith(sql)), sql).toEqual([]);
    const viaNode = project({ 'datasources/events.datasource': EVENTS, 'pipes/stats.pipe': 'NODE a\nSQL >\n    SELECT campaign_id AS x FROM events\n\nNODE b\nSQL >\n    SELECT x, y FROM a\n' });
    expect(problems(viaNode)).toEqual([]);
  });
});

// Hostile input: arbitrary text as node SQL. The check must never throw, and every diagnostic it gives must
// point inside the file.
describe('properties', () => {
  const sqlish = fc.array(
    fc.oneof(
      fc.constantFrom('SELECT', 'FROM', 'JOIN', 'ARRAY', 'WHERE', 'AS', '(', ')', ',', '.', '->', '::', "'", '"', '`', '{{', '}}', '{%', '%}', '--', '/*', '*/', '\n', ' ', 'events', 'campaign_id', 'x', '%'),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 40 },
  );

  it('never throws on arbitrary SQL and places every diagnostic on a line of the file', () => {
    fc.assert(
      fc.property(sqlish, (parts) => {
        const sql = parts.join(' ').replace(/\r/g, '');
        let p: Project;
        try {
          p = pipeWith(sql.trim() === '' ? 'SELECT 1' : sql);
        } catch {
          return; // the datafile parser's own robustness is tested elsewhere
        }
        const lines = p.sources.get('pipes/stats.pipe')!.split('\n').length;
        let out: Diagnostic[] = [];
        expect(() => (out = checkNames(p))).not.toThrow();
        for (const d of out) {
          expect(d.line).toBeGreaterThanOrEqual(1);
          expect(d.line).toBeLessThanOrEqual(lines);
          expect(d.col).toBeGreaterThanOrEqual(1);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('reports nothing for queries built only from the datasource columns, functions, aliases and keywords', () => {
    const column = fc.constantFrom('campaign_id', 'event_type', 'timestamp', 'tags');
    const expr = fc.oneof(column, column.map((c) => `length(${c})`), column.map((c) => `${c} IS NOT NULL`), fc.constant('count()'), fc.integer().map(String));
    const select = fc.array(fc.tuple(expr, fc.option(fc.constantFrom('a1', 'b2', 'c3'), { nil: undefined }), fc.boolean()), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(select, fc.option(expr, { nil: undefined }), (items, where) => {
        const list = items.map(([e, alias, as]) => (alias ? `${e}${as ? ' AS' : ''} ${alias}` : e)).join(', ');
        const sql = `SELECT ${list}\nFROM events${where ? `\nWHERE ${where}` : ''}`;
        expect(problems(pipeWith(sql)), sql).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('blanking template tags keeps every offset and line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const blanked = blankTemplateTags(s);
        expect(blanked.length).toBe(s.length);
        expect(blanked.split('\n').length).toBe(s.split('\n').length);
      }),
    );
  });
});

describe('engine errors at the line of the name they blame', () => {
  it('reads the blamed names of chDB 26 and ClickHouse 18.16 messages', () => {
    expect(blamedNames("Unknown expression or function identifier `nmae` in scope SELECT id FROM t. Maybe you meant: ['name']")).toEqual(['nmae']);
    expect(blamedNames("Missing columns: 'nmae' 'other' while processing query: 'SELECT nmae'")).toEqual(['nmae', 'other']);
    expect(blamedNames('Unknown function cuont. Maybe you meant: [count]')).toEqual(['cuont']);
    expect(blamedNames("Table default.evnts doesn't exist")).toEqual(['evnts']);
    expect(blamedNames('Syntax error: failed at position 8')).toEqual([]);
  });

  it('maps the name to its file line and column, skipping template tags', () => {
    const p = project({ 'datasources/events.datasource': EVENTS, 'pipes/stats.pipe': 'NODE n\nSQL >\n    %\n    SELECT campaign_id\n    FROM base\n    WHERE x = {{String(nmae)}}\n      AND nmae != 1\n' });
    const pipe = p.pipes.get('stats')!;
    expect(engineErrorPosition(pipe.nodes[0], p.sources.get(pipe.path), "Missing columns: 'nmae' while processing query")).toEqual({ line: 7, col: 11 });
    expect(engineErrorPosition(pipe.nodes[0], p.sources.get(pipe.path), 'Syntax error')).toBeUndefined();
  });
});

describe('a missing required parameter', () => {
  const src = '%\nSELECT 1 WHERE a = {{String(a, required=True)}} {% if defined(b) %} AND x = {{String(b)}} {% end %} AND d = {{DateTime(start_date)}} AND c = {{Int32(c, 5)}}';
  const tpl = compileTemplate(src.slice(1), 'p.n', 'n');
  const message = (vars: Record<string, string>): string => {
    try {
      tpl.render(vars);
    } catch (err) {
      return narrowRequiredMessage((err as Error).message, src, tpl.params(), vars);
    }
    throw new Error('expected the render to fail');
  };

  it('names only the required parameters the request lacks', () => {
    expect(message({})).toContain('Check the parameters a and start_date. Please provide a value');
    expect(message({ a: 'x' })).toContain('Check the parameter start_date. Please provide a value');
    expect(message({ start_date: '2020-01-01 00:00:00' })).toContain('Check the parameter a. Please provide a value');
  });
});
