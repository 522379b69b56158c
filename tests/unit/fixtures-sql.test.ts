// Generator fixtures (`fixtures/<ds>.sql`, as Tinybird's `tb mock` writes them): the query's rows load into an
// empty datasource, through its jsonpaths; an NDJSON or CSV fixture of the same datasource wins; a query that
// fails is an error at the fixture file.
import { describe, expect, it } from 'vitest';
import { useEmbeddedEngine } from '../helpers/embedded.js';
import { writeFiles } from '../helpers/project-files.js';
import { buildProject } from '../../cli/src/project/build.js';
import { findFixtures, fixtureInUse, fixtureOwner } from '../../cli/src/project/fixtures.js';
import { loadProject } from '../../cli/src/project/model.js';

const FLAT = 'SCHEMA >\n    `id` UInt64 `json:$.id`,\n    `at` DateTime `json:$.at`,\n    `kind` String `json:$.kind`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "id"\n';
const NESTED = 'SCHEMA >\n    `id` UInt32 `json:$.id`,\n    `city` String `json:$.geo.city`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "id"\n';

describe('SQL fixtures', () => {
  const chdb = useEmbeddedEngine('fixtures-sql');
  const write = (files: Record<string, string>) => writeFiles(chdb.dir, files);

  it('loads the rows of the query into the datasource, also through nested jsonpaths', async () => {
    write({
      'datasources/hits.datasource': FLAT,
      'datasources/places.datasource': NESTED,
      'fixtures/hits.sql': "SELECT number AS id, toDateTime('2025-01-01 00:00:00') + number * 60 AS at, ['open', 'click'][number % 2 + 1] AS kind FROM numbers(100);\n",
      'fixtures/places.sql': "SELECT number AS id, map('city', concat('c', toString(number))) AS geo FROM numbers(3)",
    });
    const r = await buildProject(chdb.engine, await loadProject(chdb.dir, {}));
    expect(r.diagnostics).toEqual([]);
    expect(r.fixtures.map((f) => [f.file, f.rows])).toEqual([['fixtures/hits.sql', 100], ['fixtures/places.sql', 3]]);
    expect(await chdb.engine.queryRows('SELECT count() AS n, countIf(kind = \'click\') AS clicks, max(at) AS last FROM hits')).toEqual([{ n: 100, clicks: 50, last: '2025-01-01 01:39:00' }]);
    expect(await chdb.engine.queryRows('SELECT id, city FROM places ORDER BY id')).toEqual([
      { id: 0, city: 'c0' },
      { id: 1, city: 'c1' },
      { id: 2, city: 'c2' },
    ]);
  });

  it('uses an NDJSON or CSV fixture of the datasource instead of its .sql, and ignores a suffixed .sql', async () => {
    write({
      'datasources/both.datasource': FLAT,
      'fixtures/both.ndjson': '{"id": 1, "at": "2025-01-01 00:00:00", "kind": "open"}\n',
      'fixtures/both.sql': 'SELECT number AS id FROM numbers(50)',
      'fixtures/hits_extra.sql': 'SELECT 1 AS id',
    });
    const project = await loadProject(chdb.dir, {});
    expect(findFixtures(project).get('both')).toEqual(['fixtures/both.ndjson']);
    expect(findFixtures(project).get('hits')).toEqual(['fixtures/hits.sql']);
    expect(fixtureOwner('both.sql', project.datasources)).toBe('both');
    // What dev's watcher reloads: only a file that is loaded (a replaced or suffixed .sql changes nothing).
    expect(['both.ndjson', 'both.sql', 'hits.sql', 'hits_extra.sql', 'notes.txt'].map((f) => fixtureInUse(project, f))).toEqual(['both', undefined, 'hits', undefined, undefined]);
  });

  it('reports a query that fails at the fixture file, with what to do', async () => {
    write({ 'datasources/broken.datasource': FLAT, 'fixtures/broken.sql': 'SELECT no_such_column AS id' });
    const r = await buildProject(chdb.engine, await loadProject(chdb.dir, {}));
    expect(r.diagnostics).toEqual([expect.objectContaining({ file: 'fixtures/broken.sql', message: expect.stringMatching(/cannot generate rows for broken: .*no_such_column/) })]);
  });
});
