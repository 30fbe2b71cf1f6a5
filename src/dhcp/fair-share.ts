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
 * leaves room for port-less sources (keyed by frame MAC) while a sweep of the whole table stays well under a millisecond.
 */
export const MAX_FAIR_SHARE_SOURCES = 4096;

const HOUR_MS = 3_600_000;

interface BucketSpec {
  /** Tokens a fresh source has, and the most a source can save up. 0 turns the limit off. */
  burst: number;
  /** Tokens a source regains per hour. */
  perHour: number;
}

export class TokenBuckets {
  /**
   * Per source, the time at which its bucket is full again (GCRA's "theoretical arrival time"): one number instead of
   * a count and a timestamp, and exact in whole milliseconds. A source whose time has passed has a full bucket.
   */
  private readonly fullAt = new Map<string, number>();
  /** Milliseconds one token takes to come back. */
  private readonly interval: number;
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
    if (spec.burst > 0 && !(spec.perHour > 0)) throw new RangeError('a token bucket with a burst needs a rate > 0');
    if (!(maxSources >= 1)) throw new RangeError('a token bucket table needs room for at least one source');
    this.interval = spec.burst > 0 ? HOUR_MS / spec.perHour : 0;
  }

  get enabled(): boolean {
    return this.spec.burst > 0;
  }

  /** Sources with a partly spent bucket (at most maxSources). */
  get size(): number {
    return this.fullAt.size;
  }

  /** Whole tokens `key` could spend now (Infinity when the limit is off). */
  available(key: string): number {
    if (!this.enabled) return Number.POSITIVE_INFINITY;
    const now = this.now();
    const owed = Math.max(0, (this.fullAt.get(key) ?? now) - now);
    return Math.floor((this.spec.burst * this.interval - owed) / this.interval);
  }

  /** Spends one token of `key`; false (nothing spent) when it has none. */
  take(key: string): boolean {
    if (!this.enabled) return true;
    const now = this.now();
    const previous = this.fullAt.get(key);
    const next = Math.max(previous ?? now, now) + this.interval;
    if (next - now > this.spec.burst * this.interval) return false;
    if (previous === undefined) this.makeRoom();
    else this.fullAt.delete(key); // re-inserted below: the map's order is least recently used first
    this.fullAt.set(key, next);
    return true;
  }

  /** Drops buckets that have refilled to full; call now and then (the server does once a second). */
  sweep(): void {
    const now = this.now();
    for (const [key, fullAt] of this.fullAt) if (fullAt <= now) this.fullAt.delete(key);
  }

  private makeRoom(): void {
    if (this.fullAt.size < this.maxSources) return;
    this.sweep();
    if (this.fullAt.size < this.maxSources) return;
    const oldest = this.fullAt.keys().next();
    if (!oldest.done) this.fullAt.delete(oldest.value);
    this.evictions++;
    this.onEvict?.();
  }
}
