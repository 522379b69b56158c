// Seeded PRNG for mock data: sfc32 (fast, 128-bit state, passes PractRand to 2^40+) seeded via cyrb128.
// Only 32-bit integer ops (Math.imul, >>>, |0), so output is identical on every platform and Node version.

/** Hashes a string to four 32-bit words (cyrb128); used to seed sfc32 and to derive per-entity hashes. */
export function hash128(str: string): [number, number, number, number] {
  let h1 = 1779033703,
    h2 = 3144134277,
    h3 = 1013904242,
    h4 = 2773480762;
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** Stateless 32-bit integer mixer (lowbias32): a cheap, well-distributed hash of an integer and a salt. */
export function mix32(x: number, salt = 0): number {
  let h = (x ^ salt) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | undefined;

  constructor(seed: string | number) {
    // Numbers and their decimal strings seed alike, so `--seed 1` on the command line equals `seed: 1` in code.
    [this.a, this.b, this.c, this.d] = hash128(`seed:${String(seed)}`);
    // Discard the first outputs: sfc32 needs a few rounds to decorrelate from the seed words.
    for (let i = 0; i < 15; i++) this.u32();
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** A child generator with its own stream, derived from this one's state and a label (stable regardless of later use). */
  fork(label: string | number): Rng {
    return new Rng(`${this.u32()}:${this.u32()}:${label}`);
  }

  /** Integer in [min, max] (inclusive); exact for spans up to 2^53. */
  int(min: number, max: number): number {
    const span = max - min + 1;
    if (span <= 4294967296) return min + Math.floor(this.next() * span);
    const hi = this.u32() * 4294967296 + this.u32();
    return min + (hi % span);
  }

  /** Float in [min, max). */
  float(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Index chosen with probability proportional to weights[i]. */
  weightedIndex(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let r = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i];
      if (r < 0) return i;
    }
    return weights.length - 1;
  }

  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    return items[this.weightedIndex(weights)];
  }

  /** Standard normal (Box-Muller, caching the second value). */
  normal(mean = 0, sd = 1): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return mean + sd * s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return mean + sd * r * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median and shape (sigma of the underlying normal). */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(this.normal(0, sigma));
  }

  /** Exponential with the given mean. */
  exp(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  /** Number of failures before the first success with probability p (0, 1, 2, ...). */
  geometric(p: number, cap = 1000): number {
    let n = 0;
    while (n < cap && this.next() >= p) n++;
    return n;
  }

  /** Zipf-like skewed rank in [0, n): rank 0 is the most likely (weight 1/(k+1)^s). O(log n) via a cached CDF. */
  zipf(n: number, s = 1): number {
    return zipfTable(n, s).sample(this);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }
}

class ZipfTable {
  private readonly cdf: Float64Array;
  constructor(n: number, s: number) {
    this.cdf = new Float64Array(n);
    let acc = 0;
    for (let k = 0; k < n; k++) {
      acc += 1 / Math.pow(k + 1, s);
      this.cdf[k] = acc;
    }
    for (let k = 0; k < n; k++) this.cdf[k] /= acc;
  }
  sample(rng: Rng): number {
    const r = rng.next();
    let lo = 0,
      hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

const zipfCache = new Map<string, ZipfTable>();
function zipfTable(n: number, s: number): ZipfTable {
  const key = `${n}:${s}`;
  let t = zipfCache.get(key);
  if (!t) {
    if (zipfCache.size > 64) zipfCache.clear();
    t = new ZipfTable(n, s);
    zipfCache.set(key, t);
  }
  return t;
}

/** Zipf weights 1/(k+1)^s for k in [0, n), normalised to sum 1. */
export function zipfWeights(n: number, s = 1): number[] {
  const w: number[] = [];
  let total = 0;
  for (let k = 0; k < n; k++) {
    const x = 1 / Math.pow(k + 1, s);
    w.push(x);
    total += x;
  }
  return w.map((x) => x / total);
}
