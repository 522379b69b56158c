// Issue 14, point 6: a pipe that fails on dev's first start no longer leaves every endpoint unserved. dev serves
// each pipe that builds, names the broken ones with file:line and the hint, and serves a fixed one on the next
// rebuild, without a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { tempDir } from '../helpers/ingest-fixture.js';

const endpoint = (sql: string) => `NODE n\nSQL >\n${sql.split('\n').map((l) => '    ' + l).join('\n')}\n\nTYPE endpoint\n`;

describe('emailstats dev with broken pipes on its first start', () => {
  let dir: string;
  let dev: DevServer;
  const get = async (pipe: string) => {
    const res = await fetch(`${dev.url}/v0/pipes/${pipe}.json`, { headers: { authorization: `Bearer ${dev.token}` } });
    return { status: res.status, body: (await res.json()) as { data?: Record<string, unknown>[]; error?: string } };
  };

  beforeAll(async () => {
    dir = tempDir('dev-partial');
    for (const sub of ['datasources', 'pipes', 'fixtures']) mkdirSync(path.join(dir, sub));
    writeFileSync(path.join(dir, 'datasources/things.datasource'), 'SCHEMA >\n    `id` String `json:$.id`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "id"\n');
    writeFileSync(path.join(dir, 'fixtures/things.ndjson'), '{"id":"a"}\n{"id":"b"}\n');
    writeFileSync(path.join(dir, 'pipes/good.pipe'), endpoint('SELECT id FROM things ORDER BY id'));
    // Fails in the engine (a syntax error there), with Tinybird's hint for SQL holding {{ }} without the leading %.
    writeFileSync(path.join(dir, 'pipes/engine_error.pipe'), endpoint("SELECT upper(id) AS x FROM things WHERE id = {{ String(id, 'a') }}"));
    // Fails when the project loads (template syntax).
    writeFileSync(path.join(dir, 'pipes/template_error.pipe'), endpoint('%\nSELECT id FROM things {% if defined(x) %}'));
    dev = await startDev(dir);
  }, 160_000);

  afterAll(async () => {
    await dev?.stop();
    if (dir) removeDir(dir);
  });

  it('serves the pipe that builds and reports the broken ones with file:line and hint', async () => {
    const good = await get('good');
    expect(good.status).toBe(200);
    expect(good.body.data).toEqual([{ id: 'a' }, { id: 'b' }]);
    expect((await get('engine_error')).status).toBe(404);
    expect((await get('template_error')).status).toBe(404);
    const out = dev.output();
    expect(out).toMatch(/pipes\/engine_error\.pipe:3:\d+: node n: Syntax error/);
    expect(out).toContain('hint: In order to make a query dynamic, it is necessary to start the query with a % character');
    expect(out).toMatch(/pipes\/template_error\.pipe:\d+:\d+: node n: .*Missing \{% end %\} block/);
    expect(out).toMatch(/Not served until the errors above are fixed \(dev picks up the fix\): (engine_error, template_error|template_error, engine_error)/);
    expect(out).toContain('» endpoint good:');
    expect(out).not.toContain('» endpoint engine_error:');
  });

  it('serves a broken pipe once its file is fixed, without a restart', async () => {
    const mark = dev.output().length;
    writeFileSync(path.join(dir, 'pipes/engine_error.pipe'), endpoint("%\nSELECT upper(id) AS x FROM things WHERE id = {{ String(id, 'a') }}"));
    await dev.waitFor(/Rebuild completed in [\d.]+s/, 60_000, mark);
    const fixed = await get('engine_error');
    expect(fixed.status).toBe(200);
    expect(fixed.body.data).toEqual([{ x: 'A' }]);
    // The other broken pipe is still reported, and still not served.
    expect(dev.output().slice(mark)).toMatch(/Not served until the errors above are fixed \(dev picks up the fix\): template_error\n/);
    expect((await get('template_error')).status).toBe(404);
  });
});
