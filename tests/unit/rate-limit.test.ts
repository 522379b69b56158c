// The token bucket: burst, refill, headers, and independence of keys.
import { describe, expect, it } from 'vitest';
import { RateLimiter, rateLimitHeaders } from '../../cli/src/server/rate-limit.js';

describe('RateLimiter', () => {
  it('allows a burst of rps, then refuses with Retry-After until the bucket refills', () => {
    let t = 0;
    const rl = new RateLimiter(() => t);
    const results = Array.from({ length: 4 }, () => rl.take('a', 3));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results[2].remaining).toBe(0);
    const refused = results[3];
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(rateLimitHeaders(refused)).toMatchObject({ 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '0', 'retry-after': '1' });
    t = 0.34; // one token back after 1/3 s
    expect(rl.take('a', 3).allowed).toBe(true);
    expect(rl.take('a', 3).allowed).toBe(false);
    t = 10; // never more than the burst
    expect(rl.take('a', 3).remaining).toBe(2);
  });

  it('keeps keys apart, and a bucket whose rate changed keeps what is left (alternating two rates is no way around it)', () => {
    let t = 0;
    const rl = new RateLimiter(() => t);
    expect(rl.take('a', 1).allowed).toBe(true);
    expect(rl.take('a', 1).allowed).toBe(false);
    expect(rl.take('b', 1).allowed).toBe(true);
    // Found by review: a new rate used to start a full bucket, so JWTs of one name with rps 1 and 2 were unlimited.
    expect(rl.take('a', 5).allowed).toBe(false);
    expect(rl.take('a', 1).allowed).toBe(false);
    t = 1; // refilled at the rate of the last request (1 per second), then the new limit applies
    expect(rl.take('a', 5).allowed).toBe(true);
    t = 2; // 5 per second now: after a second the bucket holds 5
    expect(rl.take('a', 5).remaining).toBe(4);
  });

  it('holds a bounded number of keys', () => {
    const rl = new RateLimiter(() => 0, 10);
    for (let i = 0; i < 100; i++) expect(rl.take(`k${i}`, 1).allowed).toBe(true);
  });

  it('is O(1): one clock read per decision, and a bounded map whatever the number of distinct names', () => {
    let reads = 0;
    const rl = new RateLimiter(() => (reads++, reads / 1000), 50);
    for (let i = 0; i < 100_000; i++) rl.take('hot', 1e9);
    expect(reads).toBe(100_000); // no scan, no timer: constant work per request
    for (let i = 0; i < 1_000; i++) rl.take(`jwt-${i}`, 10);
    expect((rl as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(50);
  });
});
