/**
 * When the DHCP transport may make a batch durable on the event loop (write + fdatasync before it returns) instead of
 * through the group commit's thread-pool fdatasync. Each hand-off to the thread pool and back costs two cross-CPU
 * wake-ups (a futex for the worker, an eventfd for the loop), which on this project's VM cost more CPU than the sync
 * itself: under perfdhcp at 300 exchanges/s, 622 and 682 µs of server CPU per exchange through the thread pool against
 * 398 and 365 µs with the fdatasync on the loop (docs/performance.md, "CPU per exchange and per answer"). But a sync on
 * the loop stops everything else for its duration, and under load the group commit's overlap of parsing with syncing
 * is what keeps the rate up: so the loop may spend at most a share of its time in such syncs, from a small budget
 * (a token bucket of milliseconds), and the transport goes back to the group commit as soon as it is spent.
 */

/** Share of wall-clock time the event loop may spend blocked in synchronous commits. */
export const INLINE_SYNC_SHARE = 0.2;
/**
 * Most milliseconds of blocking saved up while idle: a burst after a quiet spell takes at most this long in syncs on
 * the loop before the group commit takes over (an fdatasync takes 0.2-0.7 ms here, p99 11 ms under load).
 */
export const INLINE_SYNC_BURST_MS = 20;

export class InlineSyncBudget {
  private budgetMs = INLINE_SYNC_BURST_MS;
  private refilledAt: number;

  constructor(private readonly now: () => number) {
    this.refilledAt = now();
  }

  /** True while syncs on the loop have used less than their share; a slow one leaves the budget negative for a while. */
  allowed(): boolean {
    const t = this.now();
    this.budgetMs = Math.min(INLINE_SYNC_BURST_MS, this.budgetMs + (t - this.refilledAt) * INLINE_SYNC_SHARE);
    this.refilledAt = t;
    return this.budgetMs > 0;
  }

  /** Charges a sync on the loop that took `ms`. */
  spent(ms: number): void {
    this.budgetMs -= Math.max(0, ms);
  }
}
