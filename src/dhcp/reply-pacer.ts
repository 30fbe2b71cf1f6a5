/**
 * Spreads replies to relays over time. A relay agent receives the replies for every client behind it on one socket;
 * when a slow disk sync releases hundreds of ACKs at once (fdatasync here: p90 3.7 ms, p99 11 ms, max 67 ms under
 * perfdhcp), they arrive faster than the relay reads them and its receive buffer (~150 replies at Linux's default)
 * drops the rest. Directly attached clients each have their own socket and are not paced.
 *
 * A token bucket: up to `burst` frames leave at once, then `perMs` per millisecond; what has to wait is sent, in order,
 * from a 1 ms timer. The queue is bounded: past `maxQueued` frames the newest are refused (the caller counts them).
 */
interface ReplyPacerOptions {
  burst: number;
  perMs: number;
  maxQueued: number;
  send: (frames: Buffer[]) => void;
  now?: () => number;
}

export class ReplyPacer {
  private readonly queue: Buffer[] = [];
  private tokens: number;
  private refilledAt: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly o: ReplyPacerOptions) {
    this.now = o.now ?? (() => performance.now());
    this.tokens = o.burst;
    this.refilledAt = this.now();
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Sends what the bucket allows now and queues the rest; returns how many frames were refused (queue full). */
  send(frames: Buffer[]): number {
    if (frames.length === 0) return 0;
    let refused = 0;
    if (this.queue.length === 0) {
      this.refill();
      const now = Math.min(Math.floor(this.tokens), frames.length);
      if (now > 0) {
        this.tokens -= now;
        this.o.send(now === frames.length ? frames : frames.slice(0, now));
      }
      for (let i = now; i < frames.length; i++) refused += this.enqueue(frames[i] as Buffer);
    } else {
      for (const f of frames) refused += this.enqueue(f);
    }
    if (this.queue.length > 0 && this.timer === null) this.timer = setTimeout(() => this.drain(), 1);
    return refused;
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }

  private enqueue(frame: Buffer): number {
    if (this.queue.length >= this.o.maxQueued) return 1;
    this.queue.push(frame);
    return 0;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.o.burst, this.tokens + (t - this.refilledAt) * this.o.perMs);
    this.refilledAt = t;
  }

  private drain(): void {
    this.timer = null;
    this.refill();
    const n = Math.min(Math.floor(this.tokens), this.queue.length);
    if (n > 0) {
      this.tokens -= n;
      this.o.send(this.queue.splice(0, n));
    }
    if (this.queue.length > 0) this.timer = setTimeout(() => this.drain(), 1);
  }
}
