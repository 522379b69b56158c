// The endpoint answer cache on its own: TTL, the byte budget, one run per key, failures not kept, and a
// model-based property test over random sequences of lookups, clock moves and answer sizes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EndpointCache, endpointCacheKey, ENTRY_OVERHEAD_BYTES } from '../../cli/src/server/endpoint-cache.js';

const OVERHEAD = ENTRY_OVERHEAD_BYTES;

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('EndpointCache', () => {
  it('serves a stored answer until its TTL ends, with its age, then runs the query again', async () => {
    const c = clock();
    const cache = new EndpointCache(4096, c.now);
    let runs = 0;
    const run = async (): Promise<string> => `answer ${++runs}`;
    expect(await cache.answer('k', 60, run)).toEqual({ body: 'answer 1', hit: false, ageSeconds: 0 });
    c.advance(2_500);
    expect(await cache.answer('k', 60, run)).toEqual({ body: 'answer 1', hit: true, ageSeconds: 2 });
    c.advance(57_499);
    expect((await cache.answer('k', 60, run)).body).toBe('answer 1');
    c.advance(1);
    expect(await cache.answer('k', 60, run)).toEqual({ body: 'answer 2', hit: false, ageSeconds: 0 });
    expect(runs).toBe(2);
  });

  it('serves a stored answer only to a request whose own TTL it is within', async () => {
    const c = clock();
    const cache = new EndpointCache(4096, c.now);
    await cache.answer('k', 300, async () => 'old');
    c.advance(6_000);
    expect(await cache.answer('k', 5, async () => 'new')).toMatchObject({ body: 'new', hit: false });
    expect(await cache.answer('k', 300, async () => 'not run')).toMatchObject({ body: 'new', hit: true });
  });

  it("counts an answer's age from when its query started", async () => {
    const c = clock();
    const cache = new EndpointCache(4096, c.now);
    await cache.answer('k', 3, async () => {
      c.advance(2_000);
      return 'slow';
    });
    c.advance(999);
    expect(await cache.answer('k', 3, async () => 'x')).toEqual({ body: 'slow', hit: true, ageSeconds: 2 });
    c.advance(1);
    expect((await cache.answer('k', 3, async () => 'again')).hit).toBe(false);
    // A query slower than its TTL leaves nothing behind.
    const slow = new EndpointCache(4096, c.now);
    await slow.answer('k', 1, async () => {
      c.advance(1_500);
      return 'late';
    });
    expect(slow.size).toBe(0);
  });

  it('shares a running query within a lane (one token) and not across lanes', async () => {
    const cache = new EndpointCache(4096);
    let runs = 0;
    const finishers: ((v: string) => void)[] = [];
    const run = (): Promise<string> => {
      runs++;
      return new Promise((resolve) => finishers.push(resolve));
    };
    const a1 = cache.answer('k', 60, run, 'token a');
    const a2 = cache.answer('k', 60, run, 'token a');
    const b1 = cache.answer('k', 60, run, 'token b');
    expect(runs).toBe(2);
    finishers.forEach((f, i) => f(`run ${i}`));
    expect(await a1).toMatchObject({ body: 'run 0', hit: false });
    expect(await a2).toMatchObject({ body: 'run 0', hit: true });
    expect(await b1).toMatchObject({ body: 'run 1', hit: false });
    // Once stored, the answer serves every lane.
    expect(await cache.answer('k', 60, run, 'token c')).toMatchObject({ hit: true });
  });

  it('keeps different keys apart', async () => {
    const cache = new EndpointCache(4096);
    expect((await cache.answer('a', 60, async () => 'A')).body).toBe('A');
    expect((await cache.answer('b', 60, async () => 'B')).body).toBe('B');
    expect(await cache.answer('a', 60, async () => 'not run')).toMatchObject({ body: 'A', hit: true });
  });

  it('runs a query once for requests that arrive while it runs, and shares its answer', async () => {
    const cache = new EndpointCache(4096);
    let runs = 0;
    let finish!: (v: string) => void;
    const run = (): Promise<string> => {
      runs++;
      return new Promise((resolve) => (finish = resolve));
    };
    const first = cache.answer('k', 60, run);
    const others = [cache.answer('k', 60, run), cache.answer('k', 60, run)];
    finish('shared');
    expect(await first).toMatchObject({ body: 'shared', hit: false });
    for (const o of others) expect(await o).toMatchObject({ body: 'shared', hit: true });
    expect(runs).toBe(1);
  });

  it('keeps no failed run: the error reaches every waiting request, and the next request runs again', async () => {
    const cache = new EndpointCache(4096);
    let fail!: (e: Error) => void;
    const failing = (): Promise<string> => new Promise((_, reject) => (fail = reject));
    const first = cache.answer('k', 60, failing);
    const waiting = cache.answer('k', 60, failing);
    fail(new Error('engine busy'));
    await expect(first).rejects.toThrow('engine busy');
    await expect(waiting).rejects.toThrow('engine busy');
    expect(await cache.answer('k', 60, async () => 'fine')).toMatchObject({ body: 'fine', hit: false });
    expect(cache.size).toBe(4 + OVERHEAD);
  });

  it('evicts the least recently used answers to stay within its budget, and does not keep an answer larger than a quarter of it', async () => {
    const cache = new EndpointCache(4 * (25 + OVERHEAD));
    const body = (ch: string): string => ch.repeat(25);
    await cache.answer('a', 60, async () => body('a'));
    await cache.answer('b', 60, async () => body('b'));
    await cache.answer('c', 60, async () => body('c'));
    await cache.answer('d', 60, async () => body('d'));
    await cache.answer('a', 60, async () => 'not run'); // a is now the most recently used
    await cache.answer('e', 60, async () => body('e')); // evicts b
    expect(cache.size).toBe(4 * (25 + OVERHEAD));
    expect((await cache.answer('a', 60, async () => 'x')).hit).toBe(true);
    expect((await cache.answer('b', 60, async () => body('b'))).hit).toBe(false);
    const big = await cache.answer('big', 60, async () => 'z'.repeat(26));
    expect(big).toMatchObject({ hit: false, body: 'z'.repeat(26) });
    expect((await cache.answer('big', 60, async () => 'ran again')).body).toBe('ran again');
  });

  it('counts bytes, not characters, and what each entry costs besides its body', async () => {
    const cache = new EndpointCache(4000);
    await cache.answer('k', 60, async () => 'é'.repeat(50));
    expect(cache.size).toBe(100 + OVERHEAD);
  });

  it('keeps nothing with a budget of 0', async () => {
    const cache = new EndpointCache(0);
    await cache.answer('k', 60, async () => 'x');
    expect(cache.size).toBe(0);
    expect((await cache.answer('k', 60, async () => 'y')).body).toBe('y');
  });

  it('agrees with a model for any sequence of lookups: never over budget, never an expired or wrong answer', async () => {
    type Op = { kind: 'get'; key: number; ttl: number; size: number } | { kind: 'wait'; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 6 }), ttl: fc.integer({ min: 1, max: 5 }), size: fc.integer({ min: 0, max: 400 }) }),
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), fc.integer({ min: 0, max: 4000 }), async (ops, budget) => {
        const c = clock();
        const cache = new EndpointCache(budget, c.now);
        // What the model knows: the last answer computed per key and when it expires.
        const computed = new Map<number, { body: string; at: number; expiresAt: number }>();
        let serial = 0;
        for (const o of ops) {
          if (o.kind === 'wait') {
            c.advance(o.ms);
            continue;
          }
          const fresh = `${serial++}:`.padEnd(o.size, '.');
          const got = await cache.answer(String(o.key), o.ttl, async () => fresh);
          const last = computed.get(o.key);
          if (got.hit) {
            // A hit is the key's latest computed answer, within the TTL it was stored with and this request's.
            expect(last).toBeDefined();
            expect(got.body).toBe(last!.body);
            expect(c.now()).toBeLessThan(last!.expiresAt);
            expect(c.now() - last!.at).toBeLessThan(o.ttl * 1000);
          } else {
            expect(got.body).toBe(fresh);
            computed.set(o.key, { body: fresh, at: c.now(), expiresAt: c.now() + o.ttl * 1000 });
          }
          expect(cache.size).toBeLessThanOrEqual(budget);
          expect(cache.size).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('endpointCacheKey', () => {
  it('differs when the SQL, the format, a setting or a parameter differs, and not for their order', () => {
    const base = endpointCacheKey('p', 'SELECT 1', 'JSON', { a: 1, b: '2' }, { p: 'x' });
    expect(endpointCacheKey('p', 'SELECT 1', 'JSON', { b: '2', a: 1 }, { p: 'x' })).toBe(base);
    expect(endpointCacheKey('p', 'SELECT 2', 'JSON', { a: 1, b: '2' }, { p: 'x' })).not.toBe(base);
    expect(endpointCacheKey('p', 'SELECT 1', 'CSVWithNames', { a: 1, b: '2' }, { p: 'x' })).not.toBe(base);
    expect(endpointCacheKey('p', 'SELECT 1', 'JSON', { a: 2, b: '2' }, { p: 'x' })).not.toBe(base);
    expect(endpointCacheKey('p', 'SELECT 1', 'JSON', { a: 1, b: '2' }, { p: 'y' })).not.toBe(base);
  });

  it('differs between pipes with the same SQL', () => {
    expect(endpointCacheKey('p', 'SELECT 1', 'JSON', {}, {})).not.toBe(endpointCacheKey('q', 'SELECT 1', 'JSON', {}, {}));
  });

  it('holds no parameter value in the clear (secrets are bound as parameters)', () => {
    expect(endpointCacheKey('p', 'SELECT {s:String}', 'JSON', {}, { s: 'sk_live_very_secret' })).not.toContain('secret');
  });

  it('gives distinct keys for distinct inputs whatever they hold (no separator confusion)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (a, b, c, d) => {
        fc.pre(a !== c || b !== d);
        expect(endpointCacheKey('p', a, 'JSON', {}, { p: b })).not.toBe(endpointCacheKey('p', c, 'JSON', {}, { p: d }));
      }),
    );
  });
});
