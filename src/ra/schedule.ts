/**
 * When router advertisements go out (RFC 4861 §6.2.4, §6.2.6), as a pure state machine: the clock and the random
 * source are injected, nothing here sends or sets timers. Unsolicited multicast RAs come every random interval in
 * [MinRtrAdvInterval, MaxRtrAdvInterval], the first few at most MAX_INITIAL_RTR_ADVERT_INTERVAL apart; a solicitation
 * from an address is answered at once by unicast, one from the unspecified address by an early multicast RA no sooner
 * than MIN_DELAY_BETWEEN_RAS after the last one; per-source and global token buckets bound what a flood of
 * solicitations can make us send.
 */

/**
 * MaxRtrAdvInterval and MinRtrAdvInterval in ms: systemd-networkd's defaults (600 s and 200 s; radvd's are 600 s and
 * 198 s). RFC 4861 §6.2.1 allows 4-1800 s and 3 s-0.75*Max; a quiet link is fine with the slow end because every host
 * that joins solicits and is answered at once.
 */
export const MAX_RTR_ADV_INTERVAL_MS = 600_000;
export const MIN_RTR_ADV_INTERVAL_MS = 200_000;
/** RFC 4861 §10: the first MAX_INITIAL_RTR_ADVERTISEMENTS RAs are at most MAX_INITIAL_RTR_ADVERT_INTERVAL apart. */
export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
export const MAX_INITIAL_RTR_ADVERT_INTERVAL_MS = 16_000;
/** RFC 4861 §10 and §6.2.6: multicast RAs at most one per this many ms. */
export const MIN_DELAY_BETWEEN_RAS_MS = 3_000;
/** RFC 4861 §10 and §6.2.6: a multicast answer to a solicitation waits a random 0..this many ms. */
export const MAX_RA_DELAY_TIME_MS = 500;
/**
 * Unicast answers per soliciting source (frame source MAC): a bucket of MAX_RTR_SOLICITATIONS (3, RFC 4861 §10, what
 * a host sends when its interface comes up) refilled at one a second, four times the pace of a host's own
 * retransmissions (RTR_SOLICITATION_INTERVAL, 4 s), so a well-behaved host is never refused.
 */
export const RS_PER_SOURCE_BURST = 3;
export const RS_PER_SOURCE_REFILL_MS = 1_000;
/**
 * Sources remembered for the per-source bucket; the oldest is forgotten first. Forgetting a source only gives it a full
 * bucket again (more answers, not fewer), and the global bucket still bounds the total, so this limits memory only.
 */
export const RS_MAX_TRACKED_SOURCES = 4_096;
/**
 * Unicast answers in all: bursts of 256, refilled at 1000 a second. A thousand containers starting together are all
 * answered within a second; a solicitation flood from random MACs makes at most 1000 RAs (~150 kB) a second.
 */
export const RS_GLOBAL_BURST = 256;
export const RS_GLOBAL_PER_SECOND = 1_000;

type SolicitationDecision =
  /** Answer now, by unicast to the solicitation's source. */
  | 'unicast'
  /** A multicast RA is due by nextDueAt() (brought forward if need be): nothing to send now. */
  | 'multicast-scheduled'
  | 'rate-limited-source'
  | 'rate-limited-global';

interface RaScheduleOptions {
  /** Monotonic clock in ms. */
  now: () => number;
  /** Uniform in [0, 1). */
  random: () => number;
  minIntervalMs?: number;
  maxIntervalMs?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Takes a token from `bucket` after refilling it for the time since it was last used; false when it is empty. */
function take(bucket: Bucket, now: number, burst: number, perMs: number): boolean {
  bucket.tokens = Math.min(burst, bucket.tokens + Math.max(0, now - bucket.at) * perMs);
  bucket.at = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

export class RaSchedule {
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #minMs: number;
  readonly #maxMs: number;
  /** Multicast RAs sent so far (the initial ones are closer together). */
  #multicastCount = 0;
  #lastMulticastAt = Number.NEGATIVE_INFINITY;
  #dueAt: number;
  readonly #global: Bucket;
  readonly #sources = new Map<string, Bucket>();

  constructor(o: RaScheduleOptions) {
    this.#now = o.now;
    this.#random = o.random;
    this.#minMs = o.minIntervalMs ?? MIN_RTR_ADV_INTERVAL_MS;
    this.#maxMs = o.maxIntervalMs ?? MAX_RTR_ADV_INTERVAL_MS;
    if (!(this.#minMs > 0 && this.#minMs <= this.#maxMs)) throw new RangeError(`RA interval ${this.#minMs}-${this.#maxMs} ms`);
    // The first RA goes out as soon as the service starts (§6.2.4: when the interface becomes an advertising one).
    this.#dueAt = this.#now();
    this.#global = { tokens: RS_GLOBAL_BURST, at: this.#now() };
  }

  /** When the next multicast RA is due (ms on the injected clock). */
  nextDueAt(): number {
    return this.#dueAt;
  }

  /** Sources remembered now (tests, metrics). */
  get trackedSources(): number {
    return this.#sources.size;
  }

  /** True when a multicast RA is due now; then it counts as sent and the next one is scheduled. */
  takeDue(): boolean {
    const now = this.#now();
    if (now < this.#dueAt) return false;
    this.#multicastCount++;
    this.#lastMulticastAt = now;
    this.#dueAt = now + this.#interval();
    return true;
  }

  /**
   * A multicast RA that was due could not be sent (no link-local address yet): try again after `retryMs`, without
   * counting it as one of the initial RAs.
   */
  postpone(retryMs: number): void {
    this.#dueAt = this.#now() + retryMs;
  }

  /** RFC 4861 §6.2.4: random in [Min, Max], capped at MAX_INITIAL_RTR_ADVERT_INTERVAL for the first RAs. */
  #interval(): number {
    const interval = this.#minMs + this.#random() * (this.#maxMs - this.#minMs);
    return this.#multicastCount < MAX_INITIAL_RTR_ADVERTISEMENTS ? Math.min(interval, MAX_INITIAL_RTR_ADVERT_INTERVAL_MS) : interval;
  }

  /**
   * A valid solicitation from `source` (the frame's source MAC). From an address: unicast at once (RFC 4861 §6.2.6
   * allows it, RFC 7772 §5.1 recommends it; §6.2.6's random delay exists to keep several routers' multicast answers
   * apart and is not applied, as systemd-networkd does not), within both buckets. From the unspecified address: the next
   * multicast RA is brought forward to a random 0..MAX_RA_DELAY_TIME from now, but no sooner than
   * MIN_DELAY_BETWEEN_RAS after the last; solicitations meanwhile share that one RA.
   */
  onSolicitation(source: string, unspecifiedSource: boolean): SolicitationDecision {
    const now = this.#now();
    if (unspecifiedSource) {
      const at = Math.max(now + this.#random() * MAX_RA_DELAY_TIME_MS, this.#lastMulticastAt + MIN_DELAY_BETWEEN_RAS_MS);
      this.#dueAt = Math.min(this.#dueAt, at);
      return 'multicast-scheduled';
    }
    let bucket = this.#sources.get(source);
    if (bucket === undefined) {
      if (this.#sources.size >= RS_MAX_TRACKED_SOURCES) {
        const oldest = this.#sources.keys().next();
        if (!oldest.done) this.#sources.delete(oldest.value);
      }
      bucket = { tokens: RS_PER_SOURCE_BURST, at: now };
      this.#sources.set(source, bucket);
    }
    if (!take(bucket, now, RS_PER_SOURCE_BURST, 1 / RS_PER_SOURCE_REFILL_MS)) return 'rate-limited-source';
    if (!take(this.#global, now, RS_GLOBAL_BURST, RS_GLOBAL_PER_SECOND / 1000)) return 'rate-limited-global';
    return 'unicast';
  }
}
