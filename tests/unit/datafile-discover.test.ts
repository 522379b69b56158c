import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { discoverDatafiles, loadDatafiles } from '../../cli/src/project/discover.js';

const DS = 'SCHEMA >\n    a Int32\nENGINE_SORTING_KEY a\n';
const PIPE = 'NODE n\nSQL >\n    SELECT 1\nTYPE endpoint\n';
let root: string;

async function project(files: Record<string, string>): Promise<string> {
  root = await mkdtemp(path.join(tmpdir(), 'es-discover-'));
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), text);
  }
  return root;
}
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('discoverDatafiles (spec 0 globs)', () => {
  it('finds exactly the documented locations, sorted', async () => {
    await project({
      'a.datasource': DS,
      'datasources/b.datasource': DS,
      'top.pipe': PIPE,
      'pipes/p.pipe': PIPE,
      'endpoints/e.pipe': PIPE,
      'materializations/m.pipe': PIPE,
      'sinks/s.pipe': PIPE,
      'copies/c.pipe': PIPE,
      'playgrounds/g.pipe': PIPE,
      'connections/k.connection': 'TYPE kafka\n',
      'datasources/nested/x.datasource': DS,
      'pipes/readme.md': 'x',
      'other/o.pipe': PIPE,
      'vendor/w/datasources/v.datasource': DS,
      'a.connection': 'TYPE kafka\n',
    });
    expect(await discoverDatafiles(root)).toEqual([
      'a.datasource',
      'connections/k.connection',
      'copies/c.pipe',
      'datasources/b.datasource',
      'endpoints/e.pipe',
      'materializations/m.pipe',
      'pipes/p.pipe',
      'playgrounds/g.pipe',
      'sinks/s.pipe',
      'top.pipe',
    ]);
  });
});

describe('loadDatafiles', () => {
  it('parses every file and adds cross-file checks', async () => {
    await project({
      'datasources/events.datasource': DS,
      'pipes/events.pipe': PIPE,
      'pipes/pipe_stats.pipe': PIPE,
      'datasources/tinybird_pipe_stats.datasource': DS,
      'pipes/ok.pipe': PIPE,
      'pipes/bad.pipe': 'NODE bad\nSQL >\n    SELECT 1\n',
    });
    const r = await loadDatafiles(root, {});
    expect(r.paths).toHaveLength(6);
    expect(r.sources.get('pipes/ok.pipe')).toBe(PIPE);
    expect(r.files.map((f) => `${f.kind}:${f.name}`).sort()).toEqual(['datasource:events', 'datasource:tinybird_pipe_stats', 'pipe:bad', 'pipe:events', 'pipe:ok', 'pipe:pipe_stats']);
    expect(r.diagnostics.map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}${d.hint ? ` (${d.hint})` : ''}`)).toEqual([
      // Warnings since issue 14 (Tinybird Classic accepted both clashes).
      "pipes/bad.pipe:1:1: Nodes can't have the same exact name as the Pipe they belong to (accepted as Tinybird Classic did: inside bad.pipe, 'bad' means this node; Tinybird Forward refuses it, so rename the node to deploy there)",
      "datasources/tinybird_pipe_stats.datasource:1:1: 'tinybird_pipe_stats' is the name of the table emailstats keeps a Tinybird service data source in (rename the file)",
      "pipes/pipe_stats.pipe:1:1: 'pipe_stats' is the name of an internal table (tinybird.pipe_stats) (rename the file)",
      "pipes/events.pipe:1:1: Top level object names must be unique: pipe 'events' has the name of the data source in datasources/events.datasource (accepted as Tinybird Classic did: in SQL, 'events' means the data source; Tinybird Forward refuses it, so rename the pipe to deploy there)",
    ]);
  });

  it('reserves the names of the tables behind the service data sources it computes', async () => {
    const { PIPE_STATS_RT_TABLE, PIPE_STATS_DAILY_TABLE, PIPE_STATS_DAILY_VIEW } = await import('../../cli/src/server/request-log.js');
    const { OPS_LOG_TABLE } = await import('../../cli/src/server/ops-log-table.js');
    const { SERVICE_PHYSICAL_TABLES } = await import('../../cli/src/datafile/index.js');
    expect([...SERVICE_PHYSICAL_TABLES].sort()).toEqual([PIPE_STATS_RT_TABLE, PIPE_STATS_DAILY_TABLE, PIPE_STATS_DAILY_VIEW, OPS_LOG_TABLE].sort());
  });

  it('passes env through for $VAR substitution', async () => {
    await project({ 'pipes/p.pipe': 'NODE $NAME\nSQL >\n    SELECT 1\n' });
    const r = await loadDatafiles(root, { NAME: 'from_env' });
    expect(r.files[0]!.kind === 'pipe' && r.files[0]!.nodes[0]!.name).toBe('from_env');
  });
});
