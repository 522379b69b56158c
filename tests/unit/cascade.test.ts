// cascadeFrom: which materialized-view targets a replace recomputes, in which order, which it must leave alone,
// and which tables' flushes it holds (the whole upstream of every feeder).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cascadeFrom } from '../../cli/src/project/cascade.js';
import { loadProject } from '../../cli/src/project/model.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'cascade-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const table = (extra = '') => `SCHEMA >\n    \`k\` String,\n    \`n\` UInt64\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "k"\n${extra}`;
const view = (from: string, into: string) => `NODE m\nSQL >\n    SELECT k, count() AS n FROM ${from} GROUP BY k\n\nTYPE materialized\nDATASOURCE ${into}\n`;

// s0 → t1 → t2 ← ds, t2 → t3, ds → t4 (BACKFILL skip), ds → t5 ← t5 (reads itself), other → lone.
const files: Record<string, string> = {
  'datasources/ds.datasource': table(),
  'datasources/s0.datasource': table(),
  'datasources/other.datasource': table(),
  'datasources/t1.datasource': table(),
  'datasources/t2.datasource': table(),
  'datasources/t3.datasource': table(),
  'datasources/t4.datasource': table('BACKFILL skip\n'),
  'datasources/t5.datasource': table(),
  'datasources/lone.datasource': table(),
  'pipes/s0_t1.pipe': view('s0', 't1'),
  'pipes/t1_t2.pipe': view('t1', 't2'),
  'pipes/ds_t2.pipe': view('ds', 't2'),
  'pipes/t2_t3.pipe': view('t2', 't3'),
  'pipes/ds_t4.pipe': view('ds', 't4'),
  'pipes/ds_t5.pipe': view('ds', 't5'),
  'pipes/t5_t5.pipe': view('t5', 't5'),
  'pipes/other_lone.pipe': view('other', 'lone'),
};
mkdirSync(path.join(root, 'datasources'));
mkdirSync(path.join(root, 'pipes'));
for (const [f, text] of Object.entries(files)) writeFileSync(path.join(root, f), text);

describe('cascadeFrom', () => {
  it('recomputes reachable targets after their feeding targets, from all of their feeders', async () => {
    const project = await loadProject(root, {});
    expect(project.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const c = cascadeFrom(project, 'ds');
    expect(c.targets.map((t) => t.target)).toEqual(['t2', 't3']);
    // t2 is fed by ds and by t1 (which the replace does not touch): both views re-run into it.
    expect(c.targets[0].feeders.map((v) => v.source).sort()).toEqual(['ds', 't1']);
    expect(c.skipped).toEqual([
      { target: 't4', reason: 'BACKFILL skip' },
      { target: 't5', reason: expect.stringMatching(/reads the target itself/) },
    ]);
  });

  it('holds the replaced datasource, the rebuilt targets and everything upstream of their feeders', async () => {
    const c = cascadeFrom(await loadProject(root, {}), 'ds');
    // s0 feeds t1, which feeds t2: a row flushed into s0 during the rebuild would reach the old t2.
    expect(c.holdTables.sort()).toEqual(['ds', 's0', 't1', 't2', 't3']);
  });

  it('recomputes nothing for a datasource no view reads, but holds what feeds it when it is a view target', async () => {
    const c = cascadeFrom(await loadProject(root, {}), 'lone');
    // A row flushed into other during the replace would fire its view into the lone table being swapped out.
    expect({ ...c, holdTables: c.holdTables.sort() }).toEqual({ targets: [], skipped: [], holdTables: ['lone', 'other'] });
  });
});
