/**
 * Fair shares of the address pool between DHCP sources (a bridge port, or a frame MAC when the port is unknown): a
 * token bucket per source for each thing one container must not be able to do without end (new bindings, declines).
 * A bucket holds up to `burst` tokens and gains `perHour` tokens an hour; an action takes one token or is refused.
 * Pure: no sockets, the clock is passed in, so the limits are unit-tested without a server.
 *
 * The table of sources is bounded: a bucket that has refilled to full says nothing a missing bucket would not, so
 * full buckets are dropped (at each sweep, and first when the table is full); only if every bucket is still partly
 * spent is the least recently used one evicted, which gives that source a fresh burst (counted in `evictions`).
 */

/**
 * Sources a table keeps. A Linux bridge has at most 1024 ports (BR_MAX_PORTS in net/bridge/br_private.h); the rest
 * leaves room for port-less sources (keyed by frame MAC) while keeping a sweep of the whole table in the microseconds.
 */
export const MAX_FAIR_SHARE_SOURCES = 4096;

const HOUR_MS = 3_600_000;

export interface BucketSpec {
  /** Tokens a fresh source has, and the most a source can save up. 0 turns the limit off. */
  burst: number;
  /** Tokens a source regains per hour. */
  perHour: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  /** Partly spent buckets evicted because the table was full (each gave a source a fresh burst). */
  evictions = 0;

  constructor(
    private readonly spec: BucketSpec,
    private readonly now: () => number,
    private readonly maxSources = MAX_FAIR_SHARE_SOURCES,
    /** Told when a partly spent bucket was evicted (the daemon logs it, rate-limited). */
    private readonly onEvict?: () => void,
  ) {
    if (!(spec.burst >= 0) || !(spec.perHour >= 0)) throw new RangeError('token bucket burst and rate must be >= 0');
    if (!(maxSources >= 1)) throw new RangeError('a token bucket table needs room for at least one source');
    this.perMs = spec.perHour / HOUR_MS;
  }

  get enabled(): boolean {
    return this.spec.burst > 0;
  }

  /** Sources with a partly spent bucket (at most maxSources). */
  get size(): number {
    return this.buckets.size;
  }

  /** Whole tokens `key` could spend now (Infinity when the limit is off). */
  available(key: string): number {
    if (!this.enabled) return Number.POSITIVE_INFINITY;
    const bucket = this.buckets.get(key);
    return Math.floor(bucket === undefined ? this.spec.burst : this.refilled(bucket, this.now()));
  }

  /** Spends one token of `key`; false (nothing spent) when it has none. */
  take(key: string): boolean {
    if (!this.enabled) return true;
    const now = this.now();
    const bucket = this.buckets.get(key);
    const tokens = bucket === undefined ? this.spec.burst : this.refilled(bucket, now);
    if (tokens < 1) return false;
    if (bucket === undefined) this.makeRoom();
    else this.buckets.delete(key); // re-inserted below: the map's order is least recently used first
    this.buckets.set(key, { tokens: tokens - 1, at: now });
    return true;
  }

  /** Drops buckets that have refilled to full; call now and then (the server does once a second). */
  sweep(): void {
    const now = this.now();
    for (const [key, bucket] of this.buckets) if (this.refilled(bucket, now) >= this.spec.burst) this.buckets.delete(key);
  }

  private refilled(bucket: Bucket, now: number): number {
    return Math.min(this.spec.burst, bucket.tokens + Math.max(0, now - bucket.at) * this.perMs);
  }

  private makeRoom(): void {
    if (this.buckets.size < this.maxSources) return;
    this.sweep();
    if (this.buckets.size < this.maxSources) return;
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
    this.evictions++;
    this.onEvict?.();
  }
}
