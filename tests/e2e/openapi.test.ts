// The OpenAPI document of the endpoints: valid OpenAPI 3.1 (checked by a validator library), parameters
// discovered across referenced pipes, only the pipes the token can read, and every operation callable
// with a request built from the document alone. Also the /docs page and `emailstats endpoint stats`.
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signJwt } from '../../cli/src/server/jwt.js';
import { ADMIN_TOKEN, copyProject, removeDir, runCli, startDev, type DevServer } from '../helpers/cli.js';

interface Param { name: string; in: string; required: boolean; example?: string; schema: { type: string | string[]; default?: unknown; enum?: string[] } }
interface Doc {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, { get: { operationId: string; parameters: Param[]; responses: Record<string, { content: Record<string, { schema: { $ref?: string } }> }> } }>;
  components: { schemas: Record<string, { properties: Record<string, { type: string | string[] }>; required: string[] }>; securitySchemes: Record<string, unknown> };
}

describe('OpenAPI and docs', () => {
  let project: string;
  let dev: DevServer;
  const fetchDoc = async (token: string) => {
    const res = await fetch(`${dev.url}/v0/pipes/openapi.json`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as Doc;
  };

  beforeAll(async () => {
    project = copyProject();
    dev = await startDev(project, ['--no-watch']);
  });
  afterAll(async () => {
    await dev?.stop();
    if (project) removeDir(project);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const doc = await fetchDoc(ADMIN_TOKEN);
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['bearerAuth', 'tokenQuery']);
  });

  it('has one operation per endpoint and format, with parameters from referenced pipes', async () => {
    const doc = await fetchDoc(ADMIN_TOKEN);
    for (const pipe of ['campaign_stats', 'campaign_timeline', 'recipient_activity']) for (const f of ['json', 'csv', 'ndjson', 'parquet']) expect(doc.paths[`/v0/pipes/${pipe}.${f}`]?.get.operationId).toBe(`${pipe}_${f}`);
    expect(Object.keys(doc.paths['/v0/pipes/campaign_stats.parquet'].get.responses['200'].content)).toEqual(['application/vnd.apache.parquet']);
    // Non-endpoint pipes are not documented.
    expect(Object.keys(doc.paths).some((p) => p.includes('email_activity'))).toBe(false);
    // campaign_stats's own nodes have no template: its parameters live in pipes/email_activity.pipe.
    const params = doc.paths['/v0/pipes/campaign_stats.json'].get.parameters;
    const campaign = params.find((p) => p.name === 'campaign_id')!;
    expect(campaign).toMatchObject({ in: 'query', required: false, example: 'camp_1', schema: { type: 'string' } });
    expect(params.map((p) => p.name)).toEqual(expect.arrayContaining(['campaign_id', 'start_date', 'end_date']));
    // Response schema from the engine's output columns; Nullable columns allow null.
    const row = doc.components.schemas.campaign_stats;
    expect(row.required).toContain('open_rate');
    expect(row.properties.open_rate.type).toEqual(['number', 'null']);
  });

  it('calls every operation with requests built from the document', async () => {
    const doc = await fetchDoc(ADMIN_TOKEN);
    for (const [path, item] of Object.entries(doc.paths)) {
      const qs = new URLSearchParams({ token: ADMIN_TOKEN });
      for (const p of item.get.parameters) {
        const value = p.example ?? p.schema.enum?.[0] ?? (p.schema.default !== undefined ? String(p.schema.default) : undefined);
        if (value !== undefined && p.name !== 'q') qs.set(p.name, value);
        else if (p.required) throw new Error(`${path}: required parameter ${p.name} has no example`);
      }
      const res = await fetch(`${doc.servers[0].url}${path}?${qs}`);
      const text = await res.text();
      expect(res.status, `${path}?${qs}: ${text.slice(0, 200)}`).toBe(200);
      const [type] = Object.keys(item.get.responses['200'].content);
      expect(res.headers.get('content-type')).toContain(type);
      if (path.endsWith('.json')) {
        const body = JSON.parse(text) as { data: Record<string, unknown>[] };
        const schema = doc.components.schemas[path.slice('/v0/pipes/'.length, -'.json'.length)];
        for (const r of body.data) expect(Object.keys(r).sort()).toEqual([...schema.required].sort());
      }
    }
  });

  it('shows only the pipes the token can read, without parameters a JWT fixes', async () => {
    const jwt = signJwt({ name: 'tenant', exp: Math.floor(Date.now() / 1000) + 600, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats', fixed_params: { campaign_id: 'camp_1' } }] }, ADMIN_TOKEN);
    const doc = await fetchDoc(jwt);
    expect(Object.keys(doc.paths).sort()).toEqual(['/v0/pipes/campaign_stats.csv', '/v0/pipes/campaign_stats.json', '/v0/pipes/campaign_stats.ndjson', '/v0/pipes/campaign_stats.parquet']);
    expect(doc.paths['/v0/pipes/campaign_stats.json'].get.parameters.map((p) => p.name)).not.toContain('campaign_id');
    expect((await new Validator().validate(doc as never)).valid).toBe(true);
  });

  it('renders a self-contained /docs page', async () => {
    const res = await fetch(`${dev.url}/docs?token=${ADMIN_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    for (const pipe of ['campaign_stats', 'campaign_timeline', 'recipient_activity']) expect(html).toContain(`id="${pipe}"`);
    expect(html).toContain('campaign_id');
    // The formats the document offers for the pipe, Parquet included (chDB writes it), Prometheus only for metrics.
    expect(html).toContain('/v0/pipes/campaign_stats.json</code> · <code>.csv</code> · <code>.ndjson</code> · <code>.parquet</code></p>');
    expect(html).toContain('/v0/pipes/email_metrics.json</code> · <code>.csv</code> · <code>.ndjson</code> · <code>.parquet</code> · <code>.prometheus</code></p>');
    expect(html).not.toMatch(/<script|https?:\/\/(?!127\.0\.0\.1)/);
    expect(html).not.toContain(ADMIN_TOKEN);
     // Opened with a token in its address: no cache keeps it, no Referer carries it, no other site frames it.
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const tokens = await fetch(`${dev.url}/tokens`);
    expect(tokens.headers.get('cache-control')).toBe('no-store');
    // Every answer, an endpoint's CSV included, says nosniff.
    const csv = await fetch(`${dev.url}/v0/pipes/campaign_stats.csv?token=${ADMIN_TOKEN}`);
    expect(csv.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('reports endpoint stats from the request log, and Prometheus metrics', async () => {
    for (let i = 0; i < 5; i++) await fetch(`${dev.url}/v0/pipes/campaign_stats.json?token=${ADMIN_TOKEN}&campaign_id=camp_${i}`);
    await fetch(`${dev.url}/v0/pipes/campaign_stats.json?token=${ADMIN_TOKEN}&start_date=not-a-date`);
    const r = await runCli(['endpoint', 'stats', 'campaign_stats', '--window', '1h', '--format', 'json', '--project', project]);
    expect(r.exitCode, r.all).toBe(0);
    const stats = JSON.parse(r.stdout) as { requests: number; errors: number; error_rate: number; p50_ms: number; p99_ms: number };
    expect(stats.requests).toBeGreaterThanOrEqual(6);
    expect(stats.errors).toBeGreaterThanOrEqual(1);
    expect(stats.error_rate).toBeGreaterThan(0);
    expect(stats.p99_ms).toBeGreaterThanOrEqual(stats.p50_ms);
    const metrics = await (await fetch(`${dev.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    expect(metrics).toMatch(/emailstats_requests_total\{pipe="campaign_stats",status="200"\} \d+/);
    expect(metrics).toMatch(/emailstats_requests_total\{pipe="campaign_stats",status="400"\} 1/);
    expect(metrics).toMatch(/emailstats_request_duration_seconds_bucket\{pipe="campaign_stats",status="200",le="\+Inf"\}/);
    expect(metrics).toContain('emailstats_wal_bytes');
    expect(metrics).toContain('emailstats_events_quarantined_total');
  });

  it('manages tokens from the CLI: create static and jwt, ls, refresh, rm', async () => {
    const cli = (...args: string[]) => runCli([...args, '--project', project]);
    const created = await cli('token', 'create', 'static', 'cli_reader', '--scope', 'PIPES:READ:campaign_stats', '--rps', '50');
    expect(created.exitCode, created.all).toBe(0);
    const secret = created.stdout.trim();
    expect((await fetch(`${dev.url}/v0/pipes/campaign_stats.json?token=${secret}`)).status).toBe(200);
    const ls = await cli('token', 'ls');
    expect(ls.stdout).toMatch(/cli_reader\tapi\tPIPES:READ:campaign_stats\t50 rps/);
    expect(ls.stdout).not.toContain(secret);
    const refreshed = (await cli('token', 'refresh', 'cli_reader')).stdout.trim();
    expect((await fetch(`${dev.url}/v0/pipes/campaign_stats.json?token=${secret}`)).status).toBe(403);
    expect((await fetch(`${dev.url}/v0/pipes/campaign_stats.json?token=${refreshed}`)).status).toBe(200);
    expect((await cli('token', 'rm', 'cli_reader')).exitCode).toBe(0);
    expect((await fetch(`${dev.url}/v0/pipes/campaign_stats.json?token=${refreshed}`)).status).toBe(403);
    const jwt = (await cli('token', 'create', 'jwt', 'tenant', '--ttl', '1h', '--scope', 'PIPES:READ', '--resource', 'campaign_stats', '--fixed-params', 'campaign_id=camp_2')).stdout.trim();
    const body = (await (await fetch(`${dev.url}/v0/pipes/campaign_stats.json?campaign_id=camp_1`, { headers: { authorization: `Bearer ${jwt}` } })).json()) as { data: { campaign_id: string }[] };
    expect(body.data.map((r) => r.campaign_id)).toEqual(['camp_2']);
    // Two resources and one --fixed-params: which one the filter was for cannot be told, so nothing is made.
    const ambiguous = await cli('token', 'create', 'jwt', 'tenant2', '--ttl', '1h', '--scope', 'PIPES:READ', '--resource', 'campaign_stats', '--scope', 'PIPES:READ', '--resource', 'campaign_timeline', '--fixed-params', 'campaign_id=camp_2');
    expect(ambiguous.exitCode).not.toBe(0);
    expect(ambiguous.all).toContain("give one --fixed-params per --resource, in the same order (2 resources, 1 --fixed-params); --fixed-params '' for a resource without");
    const paired = await cli('token', 'create', 'jwt', 'tenant2', '--ttl', '1h', '--scope', 'PIPES:READ', '--resource', 'campaign_stats', '--scope', 'PIPES:READ', '--resource', 'campaign_timeline', '--fixed-params', '', '--fixed-params', 'campaign_id=camp_2');
    expect(paired.exitCode, paired.all).toBe(0);
    const [, payload] = paired.stdout.trim().split('.');
    expect((JSON.parse(Buffer.from(payload, 'base64url').toString()) as { scopes: unknown[] }).scopes).toEqual([
      { type: 'PIPES:READ', resource: 'campaign_stats' },
      { type: 'PIPES:READ', resource: 'campaign_timeline', fixed_params: { campaign_id: 'camp_2' } },
    ]);
    const bad = await cli('token', 'create', 'static', 'x', '--scope', 'PIPES:WRITE:campaign_stats');
    expect(bad.exitCode).not.toBe(0);
    expect(bad.all).toMatch(/unknown scope/);
  });
});
