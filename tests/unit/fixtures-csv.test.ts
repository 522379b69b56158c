// CSV fixtures load as appended CSV does: an optional header, ClickHouse's CSV values, columns by name.
import { describe, expect, it } from 'vitest';
import { useEmbeddedEngine } from '../helpers/embedded.js';
import { writeFiles } from '../helpers/project-files.js';
import { buildProject } from '../../cli/src/project/build.js';
import { loadProject } from '../../cli/src/project/model.js';

const DS = 'SCHEMA >\n    `id` UInt32 `json:$.id`,\n    `tags` Array(String) `json:$.meta.tags`,\n    `note` Nullable(String) `json:$.note`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "id"\n';

describe('CSV fixtures', () => {
  const chdb = useEmbeddedEngine('fixtures-csv');
  const write = (files: Record<string, string>) => writeFiles(chdb.dir, files);

  it('loads a headerless file in schema order and a file with a header in any order', async () => {
    write({
      'datasources/items.datasource': DS,
      'datasources/other.datasource': DS,
      'fixtures/items.csv': `1,"['a','b']",\\N\n2,[],"x"\n`,
      'fixtures/other.csv': 'note,id,tags\nhi,3,"[\'c\']"\n',
    });
    const r = await buildProject(chdb.engine, await loadProject(chdb.dir, {}));
    expect(r.diagnostics).toEqual([]);
    expect(r.fixtures.map((f) => [f.file, f.rows])).toEqual([['fixtures/items.csv', 2], ['fixtures/other.csv', 1]]);
    expect(await chdb.engine.queryRows('SELECT id, tags, note FROM items ORDER BY id')).toEqual([
      { id: 1, tags: ['a', 'b'], note: null },
      { id: 2, tags: [], note: 'x' },
    ]);
    expect(await chdb.engine.queryRows('SELECT id, tags, note FROM other')).toEqual([{ id: 3, tags: ['c'], note: 'hi' }]);
  });

  it('refuses a header naming a column the datasource lacks, at the fixture file', async () => {
    write({ 'datasources/bad.datasource': DS, 'fixtures/bad.csv': 'id,tagz\n1,[]\n' });
    const r = await buildProject(chdb.engine, await loadProject(chdb.dir, {}));
    expect(r.diagnostics).toEqual([expect.objectContaining({ file: 'fixtures/bad.csv', message: expect.stringMatching(/the CSV header names 'tagz', which datasource 'bad' has no column/) })]);
  });
});
