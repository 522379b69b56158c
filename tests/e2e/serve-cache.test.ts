// Endpoint caching under `serve` on a ClickHouse server (18.16): a deployed pipe with `CACHE` answers from
// memory within its TTL, a new live deployment empties the cache as serve switches to it, and
// EMAILSTATS_ENDPOINT_CACHE_BYTES=0 turns caching off (a bad value stops serve before it opens anything).
import { appendFileSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { currentDeployment, deployCli, eventually, startServe, targetEnv, useDeployedProject, PROD_TOKEN } from '../helpers/serve.js';

const DB = 'cache';
const URL_PATH = '/v0/pipes/campaign_stats.json?campaign_id=camp_c';

describe('endpoint caching under serve', () => {
  const env = useDeployedProject(DB);

  const read = async (base: string): Promise<{ sends: number | undefined; cache: string | null }> => {
    const res = await fetch(`${base}${URL_PATH}`, { headers: { authorization: `Bearer ${PROD_TOKEN}` } });
    const body = (await res.json()) as { data?: { sends: number }[]; error?: string };
    expect(res.status, body.error).toBe(200);
    return { sends: body.data?.[0]?.sends ?? 0, cache: res.headers.get('x-cache') };
  };
  const send = async (base: string, id: string): Promise<void> => {
    const event = { event_id: id, timestamp: '2025-03-01 10:00:00', event_type: 'send', campaign_id: 'camp_c', email_id: `m_${id}`, recipient_id: `r_${id}`, recipient_email: 'r@example.com', link_url: '', metadata: '{}', user_agent: '' };
    const res = await fetch(`${base}/v0/events?name=email_events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` }, body: JSON.stringify(event) });
    expect(res.status, await res.text()).toBe(200);
  };

  it('serves cached answers within the TTL and starts over when a new deployment goes live', async () => {
    const pipeFile = path.join(env.project(), 'pipes/campaign_stats.pipe');
    appendFileSync(pipeFile, '\nCACHE 60\n');
    const deployed = await deployCli(env.project(), env.ch().url, DB);
    expect(deployed.exitCode, deployed.all).toBe(0);
    const s = await startServe(env.ch().url, DB, 300, { EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN });
    env.serves.push(s);
    await eventually(async () => currentDeployment(s.output()) === 2, 15_000, 'serve to load deployment #2');

    await send(s.url, 'c1');
    expect(await read(s.url)).toEqual({ sends: 1, cache: 'MISS' });
    await send(s.url, 'c2');
    expect(await read(s.url)).toEqual({ sends: 1, cache: 'HIT' });

    writeFileSync(pipeFile, `DESCRIPTION >\n    Campaign metrics, cached for a minute\n\n${readFileSync(pipeFile, 'utf8')}`);
    const redeployed = await deployCli(env.project(), env.ch().url, DB);
    expect(redeployed.exitCode, redeployed.all).toBe(0);
    await eventually(async () => currentDeployment(s.output()) === 3, 15_000, 'serve to switch to deployment #3');
    expect(await read(s.url)).toEqual({ sends: 2, cache: 'MISS' });
    expect(await read(s.url)).toEqual({ sends: 2, cache: 'HIT' });
  }, 120_000);

  it('caches nothing with EMAILSTATS_ENDPOINT_CACHE_BYTES=0', async () => {
    const s = await startServe(env.ch().url, DB, 300, { EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN, EMAILSTATS_ENDPOINT_CACHE_BYTES: '0' });
    env.serves.push(s);
    await eventually(async () => currentDeployment(s.output()) === 3, 15_000, 'serve to load deployment #3');
    const before = await read(s.url);
    expect(before.cache).toBeNull();
    await send(s.url, 'c3');
    expect(await read(s.url)).toEqual({ sends: before.sends! + 1, cache: null });
  }, 60_000);

  it('refuses a cache size that is not a whole number of bytes, naming the option', async () => {
    const r = await runCli(['serve', '--port', '0', '--endpoint-cache-bytes', '64MB'], { env: targetEnv(env.ch().url, DB), reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--endpoint-cache-bytes must be a whole number of bytes \(0 or more\), got '64MB'/);
  });
});
