// Per-token rate limits: one token bucket per token name, refilled continuously at `rps` tokens per second
// with a burst of `rps`. O(1) per request: a map lookup and a little arithmetic, no timers.

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the bucket is full again (X-RateLimit-Reset). */
  resetSeconds: number;
  /** Seconds to wait before the next request can pass (Retry-After), when refused. */
  retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  updated: number;
  rps: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly now: () => number = () => performance.now() / 1000,
    private readonly maxKeys = 100_000,
  ) {}

  take(key: string, rps: number): RateDecision {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      // A bounded map: a flood of distinct JWT names cannot grow memory without limit.
      if (this.buckets.size >= this.maxKeys) this.buckets.clear();
      b = { tokens: rps, updated: now, rps };
      this.buckets.set(key, b);
    } else {
      // One bucket per name, as Tinybird keeps it: a JWT of the same name with another limit refills at its own
      // rate from what is left, and does not start from a full bucket (alternating two limits would be unlimited).
      b.tokens = Math.min(rps, b.tokens + (now - b.updated) * b.rps);
      b.updated = now;
      b.rps = rps;
    }
    const allowed = b.tokens >= 1;
    if (allowed) b.tokens -= 1;
    return {
      allowed,
      limit: rps,
      remaining: Math.floor(b.tokens),
      resetSeconds: Math.ceil((rps - b.tokens) / rps),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - b.tokens) / rps)),
    };
  }
}

export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  const h: Record<string, string> = { 'x-ratelimit-limit': String(d.limit), 'x-ratelimit-remaining': String(d.remaining), 'x-ratelimit-reset': String(d.resetSeconds) };
  if (!d.allowed) h['retry-after'] = String(d.retryAfterSeconds);
  return h;
}
