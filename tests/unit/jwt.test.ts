// HS256 JWTs: round trip, expiry, tampering, algorithm pinning, and the token record they become.
import { describe, expect, it } from 'vitest';
import { jwtRecord, TokenStore } from '../../cli/src/server/auth.js';
import { JwtError, looksLikeJwt, signJwt, verifyJwt, type JwtPayload } from '../../cli/src/server/jwt.js';

const SECRET = 'es_admin_secret';
const now = Math.floor(Date.now() / 1000);
const payload: JwtPayload = { workspace_id: 'w', name: 'tenant_a', exp: now + 3600, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats', fixed_params: { campaign_id: 'camp_1' } }], limits: { rps: 5 } };

function b64(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

describe('jwt', () => {
  it('signs and verifies', () => {
    const t = signJwt(payload, SECRET);
    expect(looksLikeJwt(t)).toBe(true);
    expect(verifyJwt(t, SECRET)).toEqual(payload);
  });

  it('refuses a validly signed JWT whose name could forge log lines or drive a terminal', () => {
    for (const name of ['x\ninjected 200 GET /v0/pipes', 'a\u001b[2Jb', 'rtl\u202egnp']) {
      expect(() => verifyJwt(signJwt({ ...payload, name }, SECRET), SECRET)).toThrow(/'name' claim has U\+/);
    }
    expect(verifyJwt(signJwt({ ...payload, name: 'Zoë: tenant-1@acme.io' }, SECRET), SECRET).name).toBe('Zoë: tenant-1@acme.io');
  });

  it('refuses a wrong key, a tampered payload and a tampered signature', () => {
    const t = signJwt(payload, SECRET);
    expect(() => verifyJwt(t, 'other')).toThrow(JwtError);
    const [h, , s] = t.split('.');
    expect(() => verifyJwt(`${h}.${b64({ ...payload, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats' }] })}.${s}`, SECRET)).toThrow(/signature/);
    expect(() => verifyJwt(`${t.slice(0, -2)}AA`, SECRET)).toThrow(JwtError);
    expect(() => verifyJwt('a.b', SECRET)).toThrow(JwtError);
  });

  it('accepts one spelling of a signature only, and scopes of the right shape only', () => {
    const t = signJwt(payload, SECRET);
    // Node's base64url decoder skips padding and stray characters: the text itself must match.
    for (const variant of [`${t}=`, `${t.slice(0, -4)}!${t.slice(-4)}`, `${t.slice(0, -4)} ${t.slice(-4)}`]) {
      expect(() => verifyJwt(variant, SECRET), variant).toThrow(/signature/);
    }
    for (const scopes of [[null], ['PIPES:READ'], [{ resource: 'x' }], [{ type: 'PIPES:READ', resource: '' }]]) {
      expect(() => verifyJwt(signJwt({ ...payload, scopes } as unknown as JwtPayload, SECRET), SECRET)).toThrow(/each JWT scope must be an object/);
    }
  });

  it('refuses expired tokens', () => {
    expect(() => verifyJwt(signJwt({ ...payload, exp: now - 1 }, SECRET), SECRET)).toThrow(/expired/);
    expect(() => verifyJwt(signJwt({ ...payload, exp: now + 10 }, SECRET), SECRET, now + 11)).toThrow(/expired/);
  });

  it('pins the algorithm: alg none is refused even with an empty signature', () => {
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
    expect(() => verifyJwt(none, SECRET)).toThrow(JwtError);
  });

  it('becomes a read-only token record with fixed params and limits', () => {
    const rec = jwtRecord({ ...payload, scopes: [...payload.scopes, { type: 'ADMIN' }, { type: 'DATASOURCES:APPEND', resource: 'email_events' }] });
    expect(rec).toEqual({ name: 'tenant_a', origin: 'jwt', rps: 5, scopes: [{ type: 'PIPES:READ', resource: 'campaign_stats', fixedParams: { campaign_id: 'camp_1' } }] });
  });

  it("refuses a scope with a SQL 'filter' rather than ignore it (the rows it would hide would be served)", () => {
    const filtered = { ...payload, scopes: [{ type: 'DATASOURCES:READ', resource: 'email_events', filter: "campaign_id = 'camp_1'" }] };
    expect(() => jwtRecord(filtered)).toThrow(/SQL 'filter' are not supported .*fixed_params/);
    const store = new TokenStore();
    store.jwtSecret = SECRET;
    expect(() => store.find(signJwt(filtered, SECRET))).toThrow(JwtError);
    // Even an empty filter, or one on a scope a JWT does not honour, says so.
    expect(() => jwtRecord({ ...payload, scopes: [...payload.scopes, { type: 'ADMIN', filter: '' } as never] })).toThrow(JwtError);
  });

  it('is looked up by the token store with the admin token as key', () => {
    const store = new TokenStore();
    store.add(SECRET, { name: 'admin token', scopes: [{ type: 'ADMIN' }] });
    expect(store.find(signJwt(payload, SECRET))).toBeUndefined(); // no jwtSecret: JWTs are unknown tokens
    store.jwtSecret = SECRET;
    expect(store.find(signJwt(payload, SECRET))?.name).toBe('tenant_a');
    expect(() => store.find(signJwt(payload, 'wrong'))).toThrow(JwtError);
  });

  it('remembers a verified JWT only while it is valid and only for the key that verified it', async () => {
    const store = new TokenStore();
    store.jwtSecret = SECRET;
    const shortLived = signJwt({ ...payload, exp: Math.floor(Date.now() / 1000) + 1 }, SECRET);
    expect(store.find(shortLived)?.name).toBe('tenant_a');
    expect(store.find(shortLived)?.name).toBe('tenant_a'); // from the cache
    store.jwtSecret = 'rotated admin token';
    expect(() => store.find(shortLived)).toThrow(/signature/);
    store.jwtSecret = SECRET;
    await new Promise((r) => setTimeout(r, 1100));
    expect(() => store.find(shortLived)).toThrow(/expired/);
  });
});
