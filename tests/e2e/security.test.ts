// Security of the HTTP API, as an attacker sees it: every route against missing, wrong, expired, tampered
// and misdirected tokens; JWT row-level multi-tenancy; SQL injection through every endpoint parameter, `q`
// and /v0/sql; and proof (two snapshots of system.tables and row counts, taken with dev stopped) that
// nothing changed. Tokens created through the API survive the restart in between.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { signJwt } from '../../cli/src/server/jwt.js';
import { ADMIN_TOKEN, copyProject, removeDir, REPO, startDev, type DevServer } from '../helpers/cli.js';

type Cred = 'none' | 'wrong' | 'expired' | 'tampered' | 'otherPipe' | 'otherDatasource' | 'readOnAppend';
const CREDS: Cred[] = ['none', 'wrong', 'expired', 'tampered', 'otherPipe', 'otherDatasource', 'readOnAppend'];

interface Route {
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: string;
  /** What the route serves: a token lacking it must get 403 (or a filtered 200 where noted). */
  kind: 'pipe' | 'pipeList' | 'sql' | 'datasource' | 'datasourceList' | 'append' | 'admin' | 'docs';
}

const ROUTES: Route[] = [
  { name: 'endpoint json', method: 'GET', path: '/v0/pipes/campaign_stats.json?campaign_id=camp_1', kind: 'pipe' },
  { name: 'endpoint csv (POST form)', method: 'POST', path: '/v0/pipes/campaign_stats.csv', body: 'campaign_id=camp_1', kind: 'pipe' },
  { name: 'endpoint with q', method: 'GET', path: '/v0/pipes/campaign_stats.ndjson?q=SELECT%20*%20FROM%20_', kind: 'pipe' },
  { name: 'pipe description', method: 'GET', path: '/v0/pipes/campaign_stats', kind: 'pipe' },
  { name: 'pipe list', method: 'GET', path: '/v0/pipes', kind: 'pipeList' },
  { name: 'query api', method: 'GET', path: '/v0/sql?q=SELECT%20*%20FROM%20campaign_stats%20FORMAT%20JSON', kind: 'sql' },
  { name: 'query api raw datasource', method: 'POST', path: '/v0/sql', body: 'q=SELECT%20*%20FROM%20email_events%20LIMIT%205', kind: 'datasource' },
  { name: 'datasource description', method: 'GET', path: '/v0/datasources/email_events', kind: 'datasource' },
  { name: 'datasource list', method: 'GET', path: '/v0/datasources', kind: 'datasourceList' },
  { name: 'events api', method: 'POST', path: '/v0/events?name=email_events&wait=true', body: '{"event_id":"ev_attack","timestamp":"2025-01-01 00:00:00","event_type":"open","campaign_id":"camp_attack"}', kind: 'append' },
  { name: 'token list', method: 'GET', path: '/v0/tokens', kind: 'admin' },
  { name: 'token create', method: 'POST', path: '/v0/tokens?name=evil&scope=ADMIN', kind: 'admin' },
  { name: 'token delete', method: 'DELETE', path: '/v0/tokens/other_pipe', kind: 'admin' },
  { name: 'token refresh', method: 'POST', path: '/v0/tokens/other_pipe/refresh', kind: 'admin' },
  { name: 'service datasource', method: 'GET', path: '/v0/sql?q=SELECT%20*%20FROM%20tinybird.pipe_stats_rt', kind: 'admin' },
  { name: 'metrics', method: 'GET', path: '/metrics', kind: 'admin' },
  { name: 'job list', method: 'GET', path: '/v0/jobs', kind: 'admin' },
  { name: 'job cancel', method: 'POST', path: '/v0/jobs/some_job/cancel', kind: 'admin' },
  { name: 'copy schedule pause', method: 'POST', path: '/v0/pipes/email_campaign_uniques_copy/copy/pause', kind: 'admin' },
  { name: 'copy schedule resume', method: 'POST', path: '/v0/pipes/email_campaign_uniques_copy/copy/resume', kind: 'admin' },
  { name: 'copy schedule cancel', method: 'POST', path: '/v0/pipes/email_campaign_uniques_copy/copy/cancel', kind: 'admin' },
  { name: 'openapi', method: 'GET', path: '/v0/pipes/openapi.json', kind: 'docs' },
  { name: 'docs page', method: 'GET', path: '/docs', kind: 'docs' },
];

/** Expected status, and strings the body must not contain, for a credential on a route. */
function expected(route: Route, cred: Cred): { status: number; absent: string[] } {
  const secretsAndData = ['camp_1"', 'camp_1,', ADMIN_TOKEN, 'email_events_append', 'campaign_stats_read'];
  if (cred === 'none' || cred === 'wrong' || cred === 'expired' || cred === 'tampered') return { status: 403, absent: secretsAndData };
  if (cred === 'otherPipe') {
    // PIPES:READ on campaign_timeline only.
    if (route.kind === 'pipeList' || route.kind === 'docs') return { status: 200, absent: ['/v0/pipes/campaign_stats.', '"name":"campaign_stats"', 'id="campaign_stats"', ADMIN_TOKEN] };
    return { status: 403, absent: secretsAndData };
  }
  if (cred === 'otherDatasource') {
    // DATASOURCES:READ on email_activity_hourly only.
    if (route.kind === 'datasourceList') return { status: 200, absent: ['"email_events"', ADMIN_TOKEN] };
    return { status: 403, absent: secretsAndData };
  }
  // readOnAppend: the datafile's read token (PIPES:READ on the three endpoints), used to append and to read raw data.
  if (route.kind === 'pipe' || route.kind === 'pipeList' || route.kind === 'sql' || route.kind === 'docs') return { status: 200, absent: [ADMIN_TOKEN] };
  return { status: 403, absent: [ADMIN_TOKEN, 'email_events_append'] };
}

describe('API security', () => {
  let project: string;
  let dev: DevServer;
  const tokens = {} as Record<Cred, string | undefined>;
  let before: Snapshot;

  type Snapshot = { database: string; name: string; engine: string; create_table_query: string; rows: number | null }[];
  const snapshot = async (): Promise<Snapshot> => {
    const r = await execa('node', [path.join(REPO, 'bin/run-ts.mjs'), path.join(REPO, 'tests/helpers/table-snapshot.ts'), path.join(project, '.emailstats/data')], { cwd: REPO });
    return JSON.parse(r.stdout) as Snapshot;
  };
  const call = async (method: string, pathAndQuery: string, token?: string, body?: string, contentType = 'application/x-www-form-urlencoded') => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body) headers['content-type'] = contentType;
    const res = await fetch(`${dev.url}${pathAndQuery}`, { method, headers, body });
    return { status: res.status, text: await res.text(), headers: res.headers };
  };
  const admin = (method: string, p: string, body?: string) => call(method, p, ADMIN_TOKEN, body);

  beforeAll(async () => {
    project = copyProject();
    dev = await startDev(project, ['--no-watch', '--no-copy-schedules']); // scheduled copies write on their own; this file checks what requests write
    const create = async (name: string, scopes: string[]) => {
      const qs = new URLSearchParams({ name });
      for (const s of scopes) qs.append('scope', s);
      const r = await admin('POST', `/v0/tokens?${qs}`);
      expect(r.status, r.text).toBe(200);
      return (JSON.parse(r.text) as { token: string }).token;
    };
    tokens.otherPipe = await create('other_pipe', ['PIPES:READ:campaign_timeline']);
    tokens.otherDatasource = await create('other_ds', ['DATASOURCES:READ:email_activity_hourly']);
    const dsRead = await create('events_read', ['DATASOURCES:READ:email_events']);
    await dev.stop();
    before = await snapshot();
    dev = await startDev(project, ['--no-watch', '--no-copy-schedules']);
    const local = (await (await fetch(`${dev.url}/tokens`)).json()) as { tokens: Record<string, string> };
    tokens.readOnAppend = local.tokens.campaign_stats_read;
    tokens.none = undefined;
    tokens.wrong = 'es_not_a_real_token';
    const now = Math.floor(Date.now() / 1000);
    tokens.expired = signJwt({ name: 'late', exp: now - 60, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats' }] }, ADMIN_TOKEN);
    const good = signJwt({ name: 'tenant', exp: now + 600, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats', fixed_params: { campaign_id: 'camp_2' } }] }, ADMIN_TOKEN);
    const [h, , sig] = good.split('.');
    const forged = Buffer.from(JSON.stringify({ name: 'tenant', exp: now + 600, scopes: [{ type: 'ADMIN' }, { type: 'PIPES:READ', resource: 'campaign_stats' }] })).toString('base64url');
    tokens.tampered = `${h}.${forged}.${sig}`;
    // The data source read token made before the restart still works after it (persisted, hashed).
    expect((await call('GET', '/v0/datasources/email_events', dsRead)).status).toBe(200);
  }, 180_000);

  afterAll(async () => {
    await dev?.stop();
    if (project) removeDir(project);
  });

  it('persists API tokens across restarts as digests only', () => {
    const file = readFileSync(path.join(project, '.emailstats/api-tokens.json'), 'utf8');
    expect(file).toContain('other_pipe');
    expect(file).not.toContain(tokens.otherPipe!);
    expect(file).not.toContain(tokens.otherDatasource!);
  });

  for (const route of ROUTES) {
    it(`${route.method} ${route.name}: every credential gets its documented status`, async () => {
      for (const cred of CREDS) {
        const { status, absent } = expected(route, cred);
        const r = await call(route.method, route.path, tokens[cred], route.body, route.kind === 'append' ? 'application/x-ndjson' : undefined);
        expect(r.status, `${route.name} with ${cred}: ${r.text.slice(0, 300)}`).toBe(status);
        for (const s of absent) expect(r.text, `${route.name} with ${cred} leaks ${s}`).not.toContain(s);
        if (status === 403) {
          const err = (JSON.parse(r.text) as { error: string }).error;
          expect(err.length).toBeGreaterThan(10);
          if (cred === 'expired') expect(err).toMatch(/expired/);
          if (cred === 'otherPipe' || cred === 'otherDatasource' || cred === 'readOnAppend') expect(err).toMatch(/scope|cannot read/);
        }
      }
    });
  }

  it('JWTs fixed to different campaigns only ever read their own campaign', async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = (campaign: string) => signJwt({ name: `tenant_${campaign}`, exp: now + 600, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats', fixed_params: { campaign_id: campaign } }] }, ADMIN_TOKEN);
    const truth = async (campaign: string) => (JSON.parse((await admin('GET', `/v0/pipes/campaign_stats.json?campaign_id=${campaign}`)).text) as { data: Record<string, unknown>[] }).data;
    for (const [mine, theirs] of [['camp_1', 'camp_2'], ['camp_2', 'camp_1']]) {
      const token = jwt(mine);
      const expectedRows = await truth(mine);
      expect(expectedRows).toHaveLength(1);
      for (const p of [`/v0/pipes/campaign_stats.json?campaign_id=${theirs}`, `/v0/pipes/campaign_stats.json?campaign_id=${theirs}&campaign_id=${mine}`, '/v0/pipes/campaign_stats.json', `/v0/pipes/campaign_stats.json?q=${encodeURIComponent('SELECT * FROM _')}&campaign_id=${theirs}`]) {
        const r = await call('GET', p, token);
        expect(r.status, r.text).toBe(200);
        expect((JSON.parse(r.text) as { data: unknown[] }).data).toEqual(expectedRows);
      }
      const viaSql = await call('POST', '/v0/sql', token, `q=${encodeURIComponent(`SELECT campaign_id, sends, opens FROM campaign_stats FORMAT JSON`)}&campaign_id=${theirs}`);
      expect(viaSql.status, viaSql.text).toBe(200);
      expect((JSON.parse(viaSql.text) as { data: { campaign_id: string }[] }).data.map((r) => r.campaign_id)).toEqual([mine]);
      // The JWT reads neither other pipes nor raw datasources.
      expect((await call('GET', '/v0/pipes/campaign_timeline.json', token)).status).toBe(403);
      expect((await call('POST', '/v0/sql', token, `q=${encodeURIComponent('SELECT * FROM email_events')}`)).status).toBe(403);
    }
  });

  it('SQL injection through every parameter of the three email pipes is neutralised', async () => {
    const doc = JSON.parse((await admin('GET', '/v0/pipes/openapi.json')).text) as { paths: Record<string, { get: { parameters: { name: string }[] } }> };
    const payloads = [
      "camp_1' OR '1'='1",
      "x'; DROP TABLE email_events; --",
      "1; DROP TABLE email_events",
      "') UNION ALL SELECT name FROM system.tables --",
      '1 SETTINGS readonly=0',
      "x\\' OR 1=1 --",
      "file('/etc/passwd')",
      '2025-01-01 00:00:00\' OR 1=1 --',
    ];
    let requests = 0;
    for (const pipe of ['campaign_stats', 'campaign_timeline', 'recipient_activity']) {
      const params = doc.paths[`/v0/pipes/${pipe}.json`].get.parameters.map((p) => p.name).filter((n) => n !== 'q');
      expect(params.length).toBeGreaterThan(0);
      for (const name of params) {
        for (const payload of payloads) {
          const r = await admin('GET', `/v0/pipes/${pipe}.json?${new URLSearchParams({ [name]: payload })}`);
          requests++;
          expect([200, 400], `${pipe} ${name}=${payload}: ${r.text.slice(0, 200)}`).toContain(r.status);
          if (r.status === 200) {
            const body = JSON.parse(r.text) as { data: Record<string, unknown>[] };
            // A quoted string matches no campaign and no table name leaks into the data.
            if (name === 'campaign_id' || name === 'recipient_id') expect(body.data, `${pipe} ${name}=${payload}`).toHaveLength(0);
            expect(r.text).not.toContain('pipe_stats_rt');
          }
        }
      }
    }
    expect(requests).toBeGreaterThan(20);
  });

  it('SQL injection through q and /v0/sql is refused', async () => {
    const attacks = [
      'SELECT * FROM _; DROP TABLE email_events',
      'DROP TABLE email_events',
      'INSERT INTO email_events SELECT * FROM email_events',
      'ALTER TABLE email_events DELETE WHERE 1',
      'CREATE TABLE x (a UInt8) ENGINE = Memory',
      'TRUNCATE TABLE email_events',
      'OPTIMIZE TABLE email_events',
      'SELECT * FROM system.tables',
      'SELECT * FROM system.numbers LIMIT 1',
      'SELECT 1 /* ; */ ; DROP TABLE email_events',
      'SELECT * FROM _ SETTINGS readonly = 0',
      'SELECT * FROM _ FORMAT JSON SETTINGS max_execution_time = 1000',
      "SELECT * FROM file('/etc/passwd', 'LineAsString')",
      "SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 'a String')",
      "SELECT * FROM remote('127.0.0.1', system.one)",
      "SELECT * FROM s3('http://127.0.0.1:1/x', 'CSV', 'a String')",
      "SELECT 1 INTO OUTFILE '/tmp/emailstats-pwned'",
      'SELECT * FROM default.email_events',
      'SELECT * FROM tinybird_pipe_stats_rt',
      "SELECT * FROM _ UNION ALL SELECT * FROM (SELECT name FROM system.tables)",
      // Found by a hostile probe: scalar file(), and tables reached where the structural scan did not look.
      "SELECT file('/etc/passwd') AS f",
      "SELECT file('.emailstats/tokens.json') AS f FROM _",
      'SELECT DISTINCT (SELECT groupArray(name) FROM system.tables) FROM _',
      "SELECT DISTINCT (SELECT groupArray(line) FROM url('http://127.0.0.1:1/tokens', 'LineAsString')) FROM _",
      'SELECT * FROM _ LIMIT (SELECT count() FROM system.tables)',
      "SELECT 1 FROM (SELECT 1) AS a, file('/etc/hostname', 'LineAsString') AS f",
      'SELECT 1 FROM (SELECT 1) AS a, system.one',
      'SELECT 0 IN system.one',
      'SELECT 1 FROM (SELECT 1) AS a, `system`.`one`',
      "SELECT joinGet('system.one', 'dummy', 0)",
      "SELECT dictGet('d', 'a', toUInt64(1))",
      'SELECT 1 FROM (SELECT 1) AS a, _emailstats_schema',
    ];
    for (const q of attacks) {
      for (const [where, r] of [
        ['q', await admin('GET', `/v0/pipes/campaign_stats.json?${new URLSearchParams({ q })}`)],
        ['/v0/sql', await admin('POST', '/v0/sql', new URLSearchParams({ q: q.replace(/\b_\b/g, 'campaign_stats') }).toString())],
        ['/v0/sql raw body', await call('POST', '/v0/sql', ADMIN_TOKEN, q.replace(/\b_\b/g, 'campaign_stats'), 'text/plain')],
      ] as const) {
        expect([400, 403], `${where}: ${q} -> ${r.status} ${r.text.slice(0, 200)}`).toContain(r.status);
        expect(() => JSON.parse(r.text)).not.toThrow();
      }
    }
    // A pipe-scoped token cannot reach a datasource it may not read through a comma after a subquery, IN, or a
    // bracket after a keyword.
    for (const q of [
      "SELECT campaign_id FROM (SELECT 1) AS a, email_events WHERE campaign_id != 'camp_1' LIMIT 2",
      'SELECT 1 IN email_events FROM campaign_timeline',
      'SELECT DISTINCT (SELECT count() FROM email_events) FROM campaign_timeline',
    ]) {
      const r = await call('POST', '/v0/sql', tokens.otherPipe, new URLSearchParams({ q }).toString(), 'application/x-www-form-urlencoded');
      expect(r.status, `${q} -> ${r.text.slice(0, 200)}`).toBe(403);
      expect(r.text).toContain("the token cannot read 'email_events'");
    }
    // Ordinary functions and qualified columns still work.
    const legit = await admin('POST', '/v0/sql', new URLSearchParams({ q: "SELECT format('{}-{}', e.campaign_id, 'x') AS s FROM email_events AS e WHERE e.campaign_id = 'camp_1' LIMIT 1 FORMAT JSON" }).toString());
    expect(legit.status, legit.text).toBe(200);
    expect((JSON.parse(legit.text) as { data: { s: string }[] }).data[0].s).toBe('camp_1-x');
    // A template query cannot smuggle SQL through its parameters either.
    const t = await admin('POST', '/v0/sql', new URLSearchParams({ q: "% SELECT {{String(x)}} AS v FORMAT JSON", x: "a' ; DROP TABLE email_events --" }).toString());
    expect(t.status, t.text).toBe(200);
    expect((JSON.parse(t.text) as { data: { v: string }[] }).data[0].v).toBe("a' ; DROP TABLE email_events --");
  });

  it('reads escaped and quoted names as ClickHouse does, and keeps tables that are not datasources out of request SQL', async () => {
    // Found by review: the guard read `\x5f` as `x5f` where ClickHouse reads `_`, and let tables through that are
    // neither datasources nor pipes (a materialized pipe's view, a service table's view) where its scan did not look.
    const attacks = [
      "SELECT * FROM 'email\\x5fevents'",
      'SELECT * FROM `email\\x5fevents`',
      "SELECT count() AS c FROM (SELECT 1) AS a, 'email\\x5fevents'",
      'SELECT name FROM (SELECT 1) AS a, `sys\\x74em`.databases',
      "SELECT * FROM 'tinybird_pipe_stats_mv'",
      'SELECT * FROM (SELECT 1) AS a, tinybird_pipe_stats_mv',
      'SELECT 1 IN tinybird_pipe_stats_mv',
      "SELECT * FROM 'campaign_timeline'",
    ];
    for (const q of attacks) {
      for (const [where, r] of [
        ['q', await call('GET', `/v0/pipes/campaign_timeline.json?${new URLSearchParams({ q: q.replace('FROM (SELECT 1)', 'FROM _'), campaign_id: 'camp_1' })}`, tokens.otherPipe)],
        ['/v0/sql', await call('POST', '/v0/sql', tokens.otherPipe, new URLSearchParams({ q }).toString())],
      ] as const) {
        expect([400, 403], `${where}: ${q} -> ${r.status} ${r.text.slice(0, 200)}`).toContain(r.status);
        expect((JSON.parse(r.text) as { error: string }).error).toMatch(/quoted|backslash|not a datasource|cannot read|unknown/);
      }
    }
    // A token that may read a materialized pipe reads its query, not its view's target table: the name after a
    // subquery of the FROM list is expanded like any other, and after IN (where it would open the view) refused.
    const create = await admin('POST', `/v0/tokens?${new URLSearchParams({ name: 'mv_pipe_reader', scope: 'PIPES:READ:email_campaign_counts_mv' })}`);
    expect(create.status, create.text).toBe(200);
    const mvReader = (JSON.parse(create.text) as { token: string }).token;
    const listed = await call('POST', '/v0/sql', mvReader, new URLSearchParams({ q: 'SELECT count() AS n FROM (SELECT 1) AS a, email_campaign_counts_mv FORMAT JSON' }).toString());
    expect(listed.status, listed.text).toBe(200);
    const inView = await call('POST', '/v0/sql', mvReader, new URLSearchParams({ q: "SELECT 'camp_1' IN email_campaign_counts_mv AS x" }).toString());
    expect(inView.status, inView.text).toBe(403);
    expect(inView.text).toContain('not a datasource');
  });

  it('refuses an answer over 100 MiB with a 400 that says what to do, and goes on serving', async () => {
    // Found by review: rows were capped, bytes were not; a JSON row repeats its column names, so 60,000 rows of one
    // byte under a 2,000-character name are ~120 MB of JSON.
    const q = `SELECT 0 AS ${'a'.repeat(2000)} FROM campaign_timeline, numbers(60000) LIMIT 60000 FORMAT JSON`;
    const r = await call('POST', '/v0/sql', tokens.otherPipe, new URLSearchParams({ q, campaign_id: 'camp_1' }).toString());
    expect(r.status, r.text.slice(0, 300)).toBe(400);
    expect((JSON.parse(r.text) as { error: string }).error).toMatch(/^the answer is larger than 100 MiB: ask for fewer rows or columns/);
    const after = await call('GET', '/v0/pipes/campaign_timeline.json?campaign_id=camp_1', tokens.otherPipe);
    expect(after.status, after.text.slice(0, 200)).toBe(200);
  });

  it('answers malformed paths with 400 and keeps /tokens to local names (no DNS rebinding, no //host/tokens)', async () => {
    for (const p of ['/v0/pipes/%E0%A4%A.json', '/v0/tokens/%E0%A4%A', '/v0/datasources/%ZZ']) {
      const r = await call('GET', p, ADMIN_TOKEN);
      expect(r.status, `${p} -> ${r.text}`).toBe(400);
      expect(r.text).toContain('malformed percent-encoding');
    }
    const rebound = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: new URL(dev.url).port, path: '/tokens', headers: { host: 'attacker.example:7181' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(rebound.status).toBe(403);
    expect(rebound.text).not.toContain(ADMIN_TOKEN);
    const doubleSlash = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: new URL(dev.url).port, path: '//anything/tokens' }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    expect(doubleSlash).toBe(404);
    expect((await call('GET', '/tokens')).text).toContain(ADMIN_TOKEN); // the local name still works
  });

  it('the Token API refuses scopes that would widen a token or crash it', async () => {
    const empty = await admin('POST', '/v0/tokens?name=trail&scope=PIPES:READ:');
    expect(empty.status, empty.text).toBe(400);
    expect(empty.text).toContain("names no resource after the ':'");
    const exp = Math.floor(Date.now() / 1000) + 600;
    const jwt = await call('POST', `/v0/tokens?name=jw&expiration_time=${exp}`, ADMIN_TOKEN, JSON.stringify({ scopes: [null] }), 'application/json');
    expect(jwt.status, jwt.text).toBe(400);
    expect(jwt.text).toContain('each JWT scope must be an object');
    // A row filter is refused, not dropped: the JWT would otherwise read every row of the datasource.
    const filtered = await call('POST', `/v0/tokens?name=jf&expiration_time=${exp}`, ADMIN_TOKEN, JSON.stringify({ scopes: [{ type: 'DATASOURCES:READ', resource: 'email_events', filter: "campaign_id = 'camp_1'" }] }), 'application/json');
    expect(filtered.status, filtered.text).toBe(400);
    expect(filtered.text).toMatch(/SQL 'filter' are not supported/);
    // Found by review: fixed_params on a datasource scope filtered nothing, an empty resource read as "all of them",
    // a fraction of a request per second locked the token out for good, and a list became "a,b".
    const jwtWith = (scope: object, limits?: object) =>
      call('POST', `/v0/tokens?name=jx&expiration_time=${exp}`, ADMIN_TOKEN, JSON.stringify({ scopes: [scope], ...(limits ? { limits } : {}) }), 'application/json');
    const dsFixed = await jwtWith({ type: 'DATASOURCES:READ', resource: 'email_events', fixed_params: { campaign_id: 'camp_1' } });
    expect(dsFixed.status, dsFixed.text).toBe(400);
    expect(dsFixed.text).toContain('fixed_params on a DATASOURCES:READ scope are not applied');
    const listed = await jwtWith({ type: 'PIPES:READ', resource: 'campaign_stats', fixed_params: { campaign_id: ['camp_1', 'camp_2'] } });
    expect(listed.status, listed.text).toBe(400);
    expect(listed.text).toContain("fixed_params value of 'campaign_id' in scope PIPES:READ:campaign_stats must be a string, number or boolean");
    const slow = await jwtWith({ type: 'PIPES:READ', resource: 'campaign_stats' }, { rps: 0.5 });
    expect(slow.status, slow.text).toBe(400);
    expect(slow.text).toContain('rps must be a number of requests per second of at least 1');
    const blank = await call('POST', '/v0/tokens?name=blank', ADMIN_TOKEN, JSON.stringify({ scopes: [{ type: 'DATASOURCES:APPEND', resource: '' }] }), 'application/json');
    expect(blank.status, blank.text).toBe(400);
    expect(blank.text).toContain('names an empty resource');
    // A JWT signed elsewhere with such claims is refused where it is presented.
    const signed = signJwt({ name: 'elsewhere', exp, scopes: [{ type: 'DATASOURCES:READ', resource: 'email_events', fixed_params: { campaign_id: 'camp_1' } }] }, ADMIN_TOKEN);
    const presented = await call('POST', '/v0/sql', signed, new URLSearchParams({ q: 'SELECT count() FROM email_events' }).toString());
    expect(presented.status, presented.text).toBe(403);
    expect(presented.text).toContain('fixed_params on a DATASOURCES:READ scope are not applied');
  });

  it('keeps one rate limit per JWT name: two limits under one name do not reset each other', async () => {
    const now = Math.floor(Date.now() / 1000);
    const one = signJwt({ name: 'plan', exp: now + 600, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats' }], limits: { rps: 1 } }, ADMIN_TOKEN);
    const two = signJwt({ name: 'plan', exp: now + 600, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats' }], limits: { rps: 2 } }, ADMIN_TOKEN);
    // Sent at once, alternating: each switch used to refill the name's bucket, so all 20 passed. Now the one bucket
    // holds at most 2 requests, plus what refills while the 20 arrive.
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => call('GET', '/v0/pipes/campaign_stats.json?campaign_id=camp_1', i % 2 ? two : one).then((r) => r.status)));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(10);
  });

  it("a query that fails part-way never hands its rows to the next request (another token's)", async () => {
    const failing = await admin('POST', '/v0/sql', new URLSearchParams({ q: 'SELECT recipient_email, campaign_id FROM email_events, numbers(40) AS n FORMAT JSON' }).toString());
    expect(failing.status, failing.text.slice(0, 200)).toBe(400);
    expect(failing.text).toMatch(/Limit for result exceeded/);
    const next = await call('GET', '/v0/pipes/campaign_timeline.json?campaign_id=camp_1', tokens.otherPipe);
    expect(next.status, next.text.slice(0, 200)).toBe(200);
    expect(next.text.length).toBeLessThan(200_000);
    const body = JSON.parse(next.text) as { meta: { name: string }[] };
    expect(body.meta.map((m) => m.name)).not.toContain('recipient_email');
  });

  it('never logs tokens: not in dev output, not in the request log', async () => {
    await admin('GET', `/v0/pipes/campaign_stats.json?token=${ADMIN_TOKEN}&campaign_id=camp_1`);
    await call('GET', `/v0/pipes/campaign_timeline.json?token=${tokens.otherPipe}`);
    const r = await admin('POST', '/v0/sql', new URLSearchParams({ q: 'SELECT url, token_name, status_code FROM tinybird.pipe_stats_rt FORMAT JSON' }).toString());
    expect(r.status, r.text).toBe(200);
    const rows = (JSON.parse(r.text) as { data: { url: string; token_name: string; status_code: number }[] }).data;
    expect(rows.length).toBeGreaterThan(50);
    expect(rows.some((x) => x.token_name === 'other_pipe')).toBe(true);
    for (const row of rows) {
      expect(row.url).not.toMatch(/token=/);
      expect(row.url).not.toContain(ADMIN_TOKEN);
    }
    for (const t of [tokens.otherPipe, tokens.otherDatasource, tokens.expired, tokens.tampered, tokens.readOnAppend, tokens.wrong]) expect(dev.output()).not.toContain(t!);
  });

  it('no table was changed by any of the requests', async () => {
    await dev.stop();
    const after = await snapshot();
    const strip = (s: Snapshot) => s.map((t) => (t.name.startsWith('tinybird_') ? { ...t, rows: null } : t));
    expect(strip(after)).toEqual(strip(before));
    expect(after.map((t) => t.name)).toContain('email_events');
  }, 60_000);
});
