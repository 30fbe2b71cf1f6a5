/**
 * Response rate limiting for UDP answers to sources off the bridge (in the spirit of BIND's `rate-limit`, RFC-less but
 * described in ISC's RRL technical note): each source network (/24 for IPv4: one spoofer rarely owns more; /48 for
 * IPv6, the usual site allocation, RFC 6177) gets a budget of responses per second, as a token bucket holding at most
 * one second's worth. Over budget, every `slip`-th response goes out as a minimal truncated answer (TC=1: a real client retries over TCP, which proves its address),
 * the others are dropped, so a forged source gains no amplification and a real one still gets through. The table of
 * sources is bounded; the least recently seen is evicted. Pure: the caller passes the time.
 */

type RateDecision = 'send' | 'slip' | 'drop';

interface RateLimitOptions {
  /** Responses per second per source network. */
  responsesPerSecond: number;
  /** Every slip-th limited response is sent truncated (0: none, 1: all). */
  slip: number;
  /** Sources remembered at most. */
  maxSources: number;
}

interface Bucket {
  tokens: number;
  at: number;
  /** Limited responses since the last slip. */
  limited: number;
}

/** The /24 holding an IPv4 address: the unit of accounting. */
export function sourceNetwork(ip: number): number {
  return ip >>> 8;
}

/** IPv6 source networks are /48s: its 48 bits above 2^32, so they never meet an IPv4 /24's key. */
export function sourceNetwork6(address: Uint8Array): number {
  let key = 0;
  for (let i = 0; i < 6; i++) key = key * 256 + (address[i] as number);
  return 2 ** 32 + key;
}

export class ResponseRateLimiter {
  /** Insertion order = recency (a hit re-inserts), so the first key is the least recently seen. */
  private readonly buckets = new Map<number, Bucket>();
  evictions = 0;

  constructor(private readonly o: RateLimitOptions) {}

  /** Whether a response to `ip` at `nowMs` may go out, go out truncated, or must be dropped. */
  check(ip: number, nowMs: number): RateDecision {
    return this.checkNetwork(sourceNetwork(ip), nowMs);
  }

  /** The same for a source network's key (sourceNetwork / sourceNetwork6). */
  checkNetwork(key: number, nowMs: number): RateDecision {
    const rate = this.o.responsesPerSecond;
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.o.maxSources) {
        const oldest = this.buckets.keys().next().value as number;
        this.buckets.delete(oldest);
        this.evictions++;
      }
      b = { tokens: rate, at: nowMs, limited: 0 };
    } else {
      this.buckets.delete(key);
      const elapsed = Math.max(0, nowMs - b.at);
      b.tokens = Math.min(rate, b.tokens + (elapsed * rate) / 1000);
      b.at = nowMs;
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'send';
    }
    const slip = this.o.slip;
    if (slip <= 0) return 'drop';
    b.limited++;
    if (b.limited >= slip) {
      b.limited = 0;
      return 'slip';
    }
    return 'drop';
  }

  get size(): number {
    return this.buckets.size;
  }
}
