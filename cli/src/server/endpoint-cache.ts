// Endpoint answers kept for the seconds a pipe asks for (`CACHE <seconds>` in the .pipe file, or
// `{{ cache_ttl('1m') }}` in its SQL), as Tinybird does. The key is the query that would run (rendered SQL,
// format, settings, parameters): request parameters, JWT fixed parameters and `q` all change the SQL, so two
// requests share an answer only when they would have run the same query. Answers are not invalidated by new
// events: within its TTL an answer may miss rows ingested after it ran, which is what the pipe opted into. Rows
// taken away or rewritten by this process (a truncate, a delete, a replace, a replace-mode copy) empty the cache,
// so that deleted rows are not served from it. A new build (dev) or deployment (serve) is a new Project, and so
// starts with an empty cache.
import { createHash } from 'node:crypto';
import type { Project } from '../project/model.js';
import type { ResponseBody } from './output-formats.js';

/** What a cached endpoint answer holds. */
interface Entry {
  body: ResponseBody;
  bytes: number;
  storedAt: number;
  expiresAt: number;
}

export interface CacheAnswer {
  body: ResponseBody;
  /** True when no query ran for this request: the answer was stored, or another request's run was shared. */
  hit: boolean;
  /** Whole seconds since the answer was computed (the HTTP `Age` header). */
  ageSeconds: number;
}

/** Default bytes of answers one project's cache keeps (`--endpoint-cache-bytes`). */
export const DEFAULT_ENDPOINT_CACHE_BYTES = 64 * 1024 * 1024;

/** One answer may take at most this share of the budget, so that one large answer cannot evict all others. */
const MAX_ENTRY_SHARE = 4;

/** What an entry costs besides its body (key, record, map slot), so that many small answers stay within budget. */
export const ENTRY_OVERHEAD_BYTES = 256;

/** Expired entries are swept out at most this often; in between they go when read or when eviction reaches them. */
const SWEEP_INTERVAL_MS = 1000;

/**
 * A bounded TTL cache with least-recently-used eviction and one run per key and lane at a time: requests that
 * arrive while the same query runs for the same token wait for its answer instead of running it again (a cold
 * popular endpoint would otherwise send every concurrent caller to the engine). Another token's requests run
 * their own query rather than wait in that token's lane of the engine's fair share. Failed runs are not stored.
 */
export class EndpointCache {
  /** Map order is recency order: a hit moves its entry to the end, eviction takes from the front. */
  private readonly entries = new Map<string, Entry>();
  private readonly running = new Map<string, Promise<{ body: ResponseBody; storedAt: number }>>();
  private bytes = 0;
  private sweptAt = 0;

  constructor(
    readonly budgetBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes of answers held, with their overhead. */
  get size(): number {
    return this.bytes;
  }

  /** `lane`: whose share of the engine a run takes (the token); runs are shared within a lane only. */
  async answer(key: string, ttlSeconds: number, run: () => Promise<ResponseBody>, lane = ''): Promise<CacheAnswer> {
    const at = this.now();
    const stored = this.entries.get(key);
    // Fresh for this request too: a template may ask for a shorter TTL than the one the answer was stored with.
    if (stored && stored.expiresAt > at && at - stored.storedAt < ttlSeconds * 1000) {
      this.entries.delete(key);
      this.entries.set(key, stored);
      return { body: stored.body, hit: true, ageSeconds: ageOf(stored.storedAt, at) };
    }
    if (stored) this.remove(key, stored);
    const runKey = `${lane}\u0000${key}`;
    const pending = this.running.get(runKey);
    if (pending) {
      const shared = await pending;
      return { body: shared.body, hit: true, ageSeconds: ageOf(shared.storedAt, this.now()) };
    }
    // The answer's age counts from when its query started: rows that arrived while it ran may be missing from it.
    const started = run().then((body) => {
      this.store(key, body, at, at + ttlSeconds * 1000);
      return { body, storedAt: at };
    });
    this.running.set(runKey, started);
    try {
      return { body: (await started).body, hit: false, ageSeconds: 0 };
    } finally {
      this.running.delete(runKey);
    }
  }

  private store(key: string, body: ResponseBody, storedAt: number, expiresAt: number): void {
    const now = this.now();
    const bytes = Buffer.byteLength(body) + ENTRY_OVERHEAD_BYTES;
    if (expiresAt <= now || bytes > this.budgetBytes / MAX_ENTRY_SHARE) return;
    const old = this.entries.get(key);
    if (old) this.remove(key, old);
    if (now - this.sweptAt >= SWEEP_INTERVAL_MS) {
      this.sweptAt = now;
      for (const [k, e] of this.entries) if (e.expiresAt <= now) this.remove(k, e);
    }
    for (const [k, e] of this.entries) {
      if (this.bytes + bytes <= this.budgetBytes) break;
      this.remove(k, e);
    }
    this.entries.set(key, { body, bytes, storedAt, expiresAt });
    this.bytes += bytes;
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}

function ageOf(storedAt: number, now: number): number {
  return Math.max(0, Math.floor((now - storedAt) / 1000));
}

/**
 * The cache key of a pipe's query: a digest, so that secrets bound as query parameters are not kept in memory
 * as keys. The pipe is part of it: two pipes with the same SQL may ask for different TTLs.
 */
export function endpointCacheKey(pipe: string, sql: string, format: string, settings: Record<string, string | number>, queryParams: Record<string, string>): string {
  const sorted = (o: Record<string, unknown>): [string, unknown][] => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify([pipe, sql, format, sorted(settings), sorted(queryParams)])).digest('base64url');
}

const caches = new WeakMap<Project, EndpointCache>();

/** The cache of the project being served; a rebuild or a new deployment brings a new Project, hence a new cache. */
export function endpointCacheFor(project: Project, budgetBytes: number): EndpointCache {
  let cache = caches.get(project);
  if (!cache || cache.budgetBytes !== budgetBytes) {
    cache = new EndpointCache(budgetBytes);
    caches.set(project, cache);
  }
  return cache;
}

/** Drops every answer kept for `project`: its data was rewritten or had rows deleted. */
export function forgetEndpointAnswers(project: Project): void {
  caches.delete(project);
}
