// Checks that catch what they can: `check` reports unknown tables and columns and refuses a folder without
// datafiles; `build` places an engine error at the line of the name it blames; `/v0/sql` says only SELECT is
// allowed; a missing required parameter names only what is missing; `/docs` explains the token to a browser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startDev, type DevServer } from '../helpers/cli.js';
import { useProjectFiles } from '../helpers/project-files.js';

const project = useProjectFiles('strict');

const THINGS = 'SCHEMA >\n    `id` Int32 `json:$.id`,\n    `name` String `json:$.name`,\n    `created_at` DateTime `json:$.created_at`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "id"\n';

describe('emailstats check', () => {
  it('reports an unknown table and an unknown column at file:line:col with a did-you-mean, and exits 1', async () => {
    const root = project({
      'datasources/things.datasource': THINGS,
      'pipes/by_name.pipe': 'NODE filtered\nSQL >\n    %\n    SELECT id, name\n    FROM things\n    WHERE nmae = {{String(name, "a")}}\n\nNODE endpoint\nSQL >\n    SELECT * FROM filterd\nTYPE endpoint\n',
    });
    const r = await runCli(['check', root]);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.stdout).toContain("pipes/by_name.pipe:6:11: node filtered: unknown column 'nmae': datasource things has no such column\n  hint: did you mean 'name'?");
    expect(r.stdout).toContain("pipes/by_name.pipe:10:19: node endpoint: unknown table 'filterd': no datasource, pipe or node of by_name has that name\n  hint: did you mean 'filtered'?");
    expect(r.stdout.trimEnd().split('\n').pop()).toBe('✗ 2 errors in 1 file');
  });

  it('fails on a folder without datasources or pipes, saying which folder and what layout it expects', async () => {
    const empty = project({});
    const wrong = project({ 'README.md': '# not a project\n', 'datasources/notes.txt': 'x' });
    for (const dir of [empty, wrong]) {
      const r = await runCli(['check', dir]);
      expect(r.exitCode, r.all).toBe(1);
      expect(r.stderr).toContain(`error: no datasources or pipes found under ${dir}. A project folder holds datasources/*.datasource and pipes/*.pipe`);
      expect(r.stdout).not.toContain('✓');
    }
  });
});

describe('emailstats build', () => {
  it('places an engine error at the line and column of the misspelled name, not at the node start', async () => {
    // The typo reads a node's output, which only the engine knows: check cannot judge it, build must place it.
    const root = project({
      'datasources/things.datasource': THINGS,
      'pipes/by_name.pipe': 'NODE base\nSQL >\n    SELECT id, name FROM things\n\nNODE endpoint\nSQL >\n    %\n    SELECT id\n    FROM base\n    WHERE id > {{Int32(min_id, 0)}}\n      AND nmae != \'\'\nTYPE endpoint\n',
    });
    expect((await runCli(['check', root])).exitCode).toBe(0);
    const r = await runCli(['build', root]);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.stderr).toMatch(/pipes\/by_name\.pipe:11:11: node endpoint: .*nmae/);
    expect(r.stderr).toContain("  11:       AND nmae != ''\n                ^");
  }, 120_000);
});

describe('the API under dev', () => {
  let dev: DevServer;
  beforeAll(async () => {
    const root = project({
      'datasources/things.datasource': THINGS,
      'pipes/things_by_name.pipe':
        'NODE endpoint\nSQL >\n    %\n    SELECT id, name FROM things\n    WHERE name = {{String(name, required=True)}}\n' +
        '    {% if defined(min_id) %} AND id >= {{Int32(min_id)}} {% end %}\n    AND created_at >= {{DateTime(since)}}\nTYPE endpoint\n',
    });
    dev = await startDev(root, ['--no-watch']);
  }, 120_000);
  afterAll(async () => dev?.stop());

  it('prints the docs URL with the token in the banner', () => {
    expect(dev.output()).toContain(`» docs: ${dev.url}/docs?token=${dev.token}\n`);
  });

  it('/v0/sql answers a raw INSERT body (as curl -d sends it) with 400: only SELECT is allowed', async () => {
    const res = await fetch(`${dev.url}/v0/sql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${dev.token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: "INSERT INTO things (id, name) VALUES (1, 'x')",
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^only SELECT queries are allowed, got INSERT/);
  });

  it('a missing required parameter names only the required ones the request lacks', async () => {
    const get = async (qs: string) => {
      const res = await fetch(`${dev.url}/v0/pipes/things_by_name.json?${qs}`, { headers: { authorization: `Bearer ${dev.token}` } });
      return { status: res.status, error: ((await res.json()) as { error: string }).error };
    };
    const noSince = await get('name=a');
    expect(noSince.status).toBe(400);
    expect(noSince.error).toContain('Check the parameter since. Please provide a value');
    const none = await get('');
    expect(none.error).toContain('Check the parameters name and since. Please provide a value');
    expect(none.error).not.toContain('min_id');
  });

  it('/docs in a browser without a token answers an HTML page explaining ?token=; API clients still get JSON', async () => {
    const html = await fetch(`${dev.url}/docs`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(html.status).toBe(403);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await html.text();
    expect(page).toContain(`${dev.url}/docs?token=&lt;your token&gt;`);
    expect(page).toContain('A token is needed');
    const json = await fetch(`${dev.url}/docs`);
    expect(json.status).toBe(403);
    expect(((await json.json()) as { error: string }).error).toMatch(/token is required/);
    const ok = await fetch(`${dev.url}/docs?token=${dev.token}`, { headers: { accept: 'text/html' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('things_by_name');
  });
});
