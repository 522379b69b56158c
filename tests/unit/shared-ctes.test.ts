// A node the query uses more than once is written once, as a WITH common table expression, on engines whose CTEs
// reach every nested subquery (render.ts, `sharedCtes`): the query must answer exactly as the inlined one does,
// whatever the shape of the pipe. Checked on the embedded engine, by examples and by random pipes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadProject, outputNode, type Project } from '../../cli/src/project/model.js';
import { renderNode } from '../../cli/src/project/render.js';
import { useEmbeddedEngine } from '../helpers/embedded.js';
import { useProjectFiles } from '../helpers/project-files.js';

const state = useEmbeddedEngine('shared-ctes');
const writeProject = useProjectFiles('shared-ctes');

const DATASOURCE = `SCHEMA >
    \`v\` Int64

ENGINE "MergeTree"
ENGINE_SORTING_KEY "v"
`;

function pipeText(nodes: [name: string, sql: string][]): string {
  return nodes.map(([name, sql]) => `NODE ${name}\nSQL >\n${sql.split('\n').map((l) => `    ${l}`).join('\n')}\n`).join('\n');
}

async function project(pipes: Record<string, [string, string][]>): Promise<Project> {
  const files: Record<string, string> = { 'datasources/events.datasource': DATASOURCE };
  for (const [name, nodes] of Object.entries(pipes)) files[`pipes/${name}.pipe`] = pipeText(nodes);
  const p = await loadProject(writeProject(files));
  const errors = p.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new Error(errors.map((d) => `${d.file}:${d.line} ${d.message}`).join('\n'));
  await state.engine.command('CREATE TABLE IF NOT EXISTS events (v Int64) ENGINE = MergeTree ORDER BY v');
  return p;
}

function both(p: Project, pipeName: string): { inline: string; shared: string } {
  const pipe = p.pipes.get(pipeName)!;
  return { inline: renderNode(p, pipe, outputNode(pipe)).sql, shared: renderNode(p, pipe, outputNode(pipe), {}, { sharedCtes: true }).sql };
}

async function rows(sql: string): Promise<unknown[]> {
  return (JSON.parse(await state.engine.queryText(sql, 'JSON', { settings: { readonly: 2 } })) as { data: unknown[] }).data;
}

const count = (text: string, part: string) => text.split(part).length - 1;

describe('shared nodes as CTEs', () => {
  it('writes a node used twice once, at the top, and inlines a node used once', async () => {
    const p = await project({
      p: [
        ['base', 'SELECT number AS v FROM numbers(6)'],
        ['once', 'SELECT v * 10 AS v10 FROM base WHERE v < 3'],
        ['out', 'SELECT v FROM (\nSELECT v10 AS v FROM once\nUNION ALL\nSELECT b.v FROM base AS b WHERE b.v IN (SELECT v FROM base)\n) ORDER BY v'],
      ],
    });
    const { inline, shared } = both(p, 'p');
    expect(count(inline, 'FROM numbers(6)')).toBe(3);
    expect(count(shared, 'FROM numbers(6)')).toBe(1);
    expect(shared.startsWith('WITH `p.base` AS (')).toBe(true);
    expect(shared).toContain('FROM `p.base` AS b'); // the reference's own alias is kept
    expect(shared).toContain('SELECT v FROM `p.base` AS base)'); // an unaliased reference keeps its name as alias
    expect(shared).not.toContain('`p.once`');
    expect(await rows(shared)).toEqual(await rows(inline));
    expect((await rows(shared)).length).toBe(9);
  });

  it('without the option the SQL is the inlined one, with no WITH added', async () => {
    const p = await project({ p: [['base', 'SELECT 1 AS v'], ['out', 'SELECT v FROM base UNION ALL SELECT v FROM base']] });
    const pipe = p.pipes.get('p')!;
    expect(renderNode(p, pipe, outputNode(pipe), {}, { sharedCtes: false }).sql).not.toMatch(/^\s*WITH/);
  });

  it('puts the CTEs a shared node uses before it, and first in the output node’s own WITH list', async () => {
    const p = await project({
      p: [
        ['a', 'SELECT number AS v FROM numbers(3)'],
        ['b', 'SELECT v + 1 AS v FROM a UNION ALL SELECT v FROM a'],
        ['out', '-- the output node has a WITH of its own\nWITH 100 AS k\nSELECT v FROM (SELECT v + k AS v FROM b UNION ALL SELECT v FROM b) ORDER BY v'],
      ],
    });
    const { inline, shared } = both(p, 'p');
    expect(shared.indexOf('`p.a` AS (')).toBeLessThan(shared.indexOf('`p.b` AS ('));
    expect(shared).toMatch(/^-- the output node has a WITH of its own\nWITH `p\.a` AS \(/);
    expect(shared).toContain(',\n 100 AS k');
    expect(await rows(shared)).toEqual(await rows(inline));
  });

  it('names a CTE after its pipe and node, so it never captures a datasource of the same name', async () => {
    // Pipe q's node `events` shadows the datasource inside q; pipe p reads the datasource `events` itself.
    await state.engine.command('TRUNCATE TABLE IF EXISTS events');
    const p = await project({
      q: [
        ['events', 'SELECT toInt64(number + 100) AS v FROM numbers(2)'],
        ['q_out', 'SELECT v FROM events UNION ALL SELECT v FROM events'],
      ],
      p: [['out', 'SELECT v FROM (SELECT v FROM events UNION ALL SELECT v FROM q UNION ALL SELECT v FROM q) ORDER BY v']],
    });
    await state.engine.command('INSERT INTO events VALUES (1), (2)');
    const { inline, shared } = both(p, 'p');
    expect(shared).toContain('`q.q_out` AS (');
    expect(shared).toContain('`q.events` AS (');
    expect(await rows(shared)).toEqual(await rows(inline));
    expect(await rows(shared)).toEqual([1, 2, 100, 100, 100, 100, 101, 101, 101, 101].map((v) => ({ v })));
  });

  it('leaves a query that starts with a bracket inlined: no WITH can go in front of it', async () => {
    const p = await project({ p: [['base', 'SELECT 1 AS v'], ['out', '(SELECT v FROM base) UNION ALL (SELECT v FROM base)']] });
    const { inline, shared } = both(p, 'p');
    expect(shared).toBe(inline);
    expect(await rows(shared)).toEqual([{ v: 1 }, { v: 1 }]);
  });

  it('keeps the inlined form where a UNION branch has a WITH of its own or brackets, which the list would not reach', async () => {
    for (const out of [
      'SELECT count() AS c FROM base UNION ALL WITH 7 AS d SELECT countIf(v < d) AS c FROM base',
      'SELECT count() AS c FROM base UNION ALL (SELECT count() AS c FROM base)',
      'SELECT count() AS c FROM base EXCEPT DISTINCT (SELECT 0 AS c FROM base)',
    ]) {
      const p = await project({ p: [['base', 'SELECT number AS v FROM numbers(10)'], ['out', out]] });
      const { inline, shared } = both(p, 'p');
      expect(shared).toBe(inline);
      expect((await rows(shared)).length).toBeGreaterThan(0);
    }
    // A plain branch after the first receives the list.
    const p = await project({ p: [['base', 'SELECT number AS v FROM numbers(10)'], ['out', 'SELECT count() AS c FROM base UNION ALL SELECT sum(v) AS c FROM base']] });
    const { inline, shared } = both(p, 'p');
    expect(shared).toMatch(/^WITH `p\.base` AS/);
    expect(new Set((await rows(shared)).map((r) => JSON.stringify(r)))).toEqual(new Set((await rows(inline)).map((r) => JSON.stringify(r))));
  });

  it('writes the list after leading comments of every kind, nested ones included', async () => {
    const p = await project({
      p: [
        ['base', 'SELECT number AS v FROM numbers(3)'],
        ['out', '/* outer /* nested */ SELECT 1 FROM nowhere */\n# hash comment\n-- dash comment\nSELECT sum(v) AS s FROM base WHERE v IN (SELECT v FROM base)'],
      ],
    });
    const { inline, shared } = both(p, 'p');
    expect(shared).toMatch(/-- dash comment\nWITH `p\.base` AS \(/);
    expect(await rows(shared)).toEqual(await rows(inline));
    expect(await rows(shared)).toEqual([{ s: 3 }]);
  });

  it('answers as the inlined query for random pipes of nodes that reuse each other', async () => {
    await project({});
    // Node i reads one to three earlier nodes, by plain name, with an alias, or inside IN; each reads numbers() at
    // the bottom. The last node is the output, ordered so the two forms' rows compare one to one.
    const reference = fc.record({ target: fc.nat(), form: fc.constantFrom('plain', 'as', 'bare', 'in') });
    const nodeArb = fc.record({ refs: fc.array(reference, { minLength: 1, maxLength: 3 }), add: fc.integer({ min: -5, max: 5 }) });
    const nameArb = fc.stringMatching(/^[a-z][a-z0-9_]{0,7}$/).map((s) => `n_${s}`);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(nameArb, { minLength: 2, maxLength: 6 }), fc.array(nodeArb, { minLength: 5, maxLength: 5 }), async (names, specs) => {
        const nodes: [string, string][] = [[names[0], 'SELECT toInt64(number) AS v FROM numbers(4)']];
        for (let i = 1; i < names.length; i++) {
          const spec = specs[i - 1];
          const parts = spec.refs.map((r, k) => {
            const t = names[r.target % i];
            if (r.form === 'as') return `SELECT x${k}.v + ${spec.add} AS v FROM ${t} AS x${k}`;
            if (r.form === 'bare') return `SELECT v FROM ${t} x${k}`;
            if (r.form === 'in') return `SELECT toInt64(number) AS v FROM numbers(3) WHERE v IN (SELECT v FROM ${t})`;
            return `SELECT v * 2 AS v FROM ${t}`;
          });
          nodes.push([names[i], parts.join('\nUNION ALL\n')]);
        }
        nodes.push(['final_out', `SELECT v, count() AS c FROM ${names[names.length - 1]} GROUP BY v ORDER BY v`]);
        const p = await project({ rand: nodes });
        const { inline, shared } = both(p, 'rand');
        expect(await rows(shared)).toEqual(await rows(inline));
        // Every node is written at most once in the shared form: its CTE, or its one inlined use.
        for (const [name] of nodes) expect(count(shared, `\`rand.${name}\` AS (`)).toBeLessThanOrEqual(1);
        expect(count(shared, 'FROM numbers(4)')).toBeLessThanOrEqual(1);
        if (count(inline, 'FROM numbers(4)') > 1) expect(shared).toMatch(/^WITH /);
      }),
      { numRuns: 40 },
    );
  });
});
