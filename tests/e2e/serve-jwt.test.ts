// JWTs under `serve`: a deployment holds token digests only, so serve verifies JWTs when it is started with the
// admin token (the signing key) and otherwise says why it refuses them.
import { describe, expect, it } from 'vitest';
import { signJwt } from '../../cli/src/server/jwt.js';
import { currentDeployment, eventually, startServe, useDeployedProject, PROD_TOKEN } from '../helpers/serve.js';

const DB = 'jwt';

describe('JWTs under serve', () => {
  const env = useDeployedProject(DB);
  const jwt = () =>
    signJwt({ name: 'tenant', exp: Math.floor(Date.now() / 1000) + 600, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats', fixed_params: { campaign_id: 'camp_2' } }] }, PROD_TOKEN);
  const read = (base: string) => fetch(`${base}/v0/pipes/campaign_stats.json?campaign_id=camp_1`, { headers: { authorization: `Bearer ${jwt()}` } });

  it('verifies JWTs signed with the admin token when serve has it, fixed params applied', async () => {
    const s = await startServe(env.ch().url, DB, 300, { EMAILSTATS_ADMIN_TOKEN: PROD_TOKEN });
    env.serves.push(s);
    await eventually(async () => currentDeployment(s.output()) === 1, 10_000, 'serve to load deployment #1');
    const events = ['camp_1', 'camp_2'].map((c, i) => JSON.stringify({ event_id: `j${i}`, timestamp: '2025-03-01 10:00:00', event_type: 'open', campaign_id: c, email_id: 'e', recipient_id: 'u', recipient_email: 'u@example.com', link_url: '', metadata: '{}', user_agent: '' }));
    const posted = await fetch(`${s.url}/v0/events?name=email_events&wait=true`, { method: 'POST', headers: { authorization: `Bearer ${PROD_TOKEN}` }, body: events.join('\n') });
    expect(posted.status).toBe(200);
    const res = await read(s.url);
    const body = (await res.json()) as { data: { campaign_id: string }[] };
    expect(res.status).toBe(200);
    expect(body.data.map((r) => r.campaign_id)).toEqual(['camp_2']);
  }, 30_000);

  it('refuses them without the admin token, saying how to enable them', async () => {
    const s = await startServe(env.ch().url, DB, 300);
    env.serves.push(s);
    await eventually(async () => currentDeployment(s.output()) === 1, 10_000, 'serve to load deployment #1');
    const res = await read(s.url);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toMatch(/JWTs are not accepted here: .*EMAILSTATS_ADMIN_TOKEN/);
  }, 30_000);
});
