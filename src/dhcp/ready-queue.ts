/**
 * The probe-ahead ready queue: never-used addresses taken from the pool and ARP-probed before any client asks, so a
 * new client is offered an address without waiting for a probe. It grows with the observed rate of new clients (three
 * probe times' worth, at most MAX_READY), hands addresses out oldest first, returns stale ones to the pool, and reports
 * an address that answered its probe. It knows the pool and the prober only through the two small interfaces below,
 * so it is tested with fakes (test/unit/dhcp/ready-queue-unit.test.ts).
 */
import type { IPv4 } from '../net/address.ts';
import type { ProbeResult } from './probe.ts';

/**
 * The most addresses kept probed ahead, whatever the observed demand (unchanged from when the queue lived in
 * server.ts; docs/dhcp.md "Probing"): it bounds what one burst of new clients takes out of the pool ahead of need.
 * With a horizon of 1.5 s (three probe times of 500 ms, see goal()) it is reached at ~2700 new clients a second.
 */
export const MAX_READY = 4096;

/** Where ready addresses come from and go back to (the AddressPool). */
export interface ReadyPool {
  allocate(): IPv4 | null;
  release(ip: IPv4): void;
}

export interface ReadyProber {
  probe(ip: IPv4): Promise<ProbeResult>;
}

export interface ReadyQueueOptions {
  pool: ReadyPool;
  /** Null turns the queue off. */
  prober: ReadyProber | null;
  /** An address we leased before: not probed ahead, it stays free for its old owner. */
  wasLeased: (ip: IPv4) => boolean;
  /** The least number of addresses kept ready. */
  target: number;
  /** The prober's timeout: how far ahead the queue must look. */
  probeTimeoutMs?: number;
  /** How long a probe result is trusted. */
  freshMs: number;
  now: () => number;
  /** An address answered its probe (it is already out of the queue; the owner quarantines it). */
  onInUse: (ip: IPv4) => void;
}

/** A never-used address taken ahead of demand, with its probe (finished or still running). */
interface ReadyAddress {
  ip: IPv4;
  /** When the probe finished; null while it runs. */
  probedAt: number | null;
  probe: Promise<ProbeResult>;
}

export class ReadyQueue {
  private readonly entries: ReadyAddress[] = [];
  private readonly ips = new Set<IPv4>();
  /** New addresses handed out in the current and the previous second: the demand the queue must cover. */
  private demand = { since: 0, current: 0, previous: 0 };

  constructor(private readonly o: ReadyQueueOptions) {}

  get size(): number {
    return this.entries.length;
  }

  has(ip: IPv4): boolean {
    return this.ips.has(ip);
  }

  /** Takes ip out of the queue (it was bound or reserved); the address stays taken from the pool. */
  remove(ip: IPv4): void {
    if (!this.ips.delete(ip)) return;
    const i = this.entries.findIndex((r) => r.ip === ip);
    if (i >= 0) this.entries.splice(i, 1);
  }

  /** The oldest ready address: probed and fresh, or with its probe still running (so addresses go out in order). */
  take(): ReadyAddress | null {
    const now = this.o.now();
    this.noteDemand(now);
    while (this.entries.length > 0) {
      const entry = this.entries.shift() as ReadyAddress;
      this.ips.delete(entry.ip);
      if (!this.isStale(entry, now)) return entry;
      this.o.pool.release(entry.ip);
    }
    return null;
  }

  /** Returns addresses whose probe result is too old to the pool (oldest first; call about once a second). */
  dropStale(): void {
    const now = this.o.now();
    while (this.entries.length > 0 && this.isStale(this.entries[0] as ReadyAddress, now)) {
      const stale = this.entries.shift() as ReadyAddress;
      this.ips.delete(stale.ip);
      this.o.pool.release(stale.ip);
    }
  }

  /** Keeps the goal of never-used addresses probed ahead of demand, in the background. */
  refill(): void {
    const prober = this.o.prober;
    if (prober === null || this.o.target <= 0) return;
    const goal = this.goal();
    while (this.entries.length < goal) {
      const ip = this.o.pool.allocate();
      if (ip === null) return;
      if (this.o.wasLeased(ip)) {
        // Previously leased by us: no probe needed, and it should stay free for its old owner; give it back.
        this.o.pool.release(ip);
        return;
      }
      const entry: ReadyAddress = { ip, probedAt: null, probe: prober.probe(ip) };
      this.entries.push(entry);
      this.ips.add(ip);
      void entry.probe.then((result) => {
        entry.probedAt = this.o.now();
        if (result === 'in-use') {
          this.remove(ip);
          this.o.onInUse(ip);
        }
      });
    }
  }

  private isStale(entry: ReadyAddress, now: number): boolean {
    return entry.probedAt !== null && now - entry.probedAt > this.o.freshMs;
  }

  private noteDemand(now: number): void {
    if (now - this.demand.since >= 1000) {
      this.demand = { since: now, current: 0, previous: now - this.demand.since < 2000 ? this.demand.current : 0 };
    }
    this.demand.current++;
  }

  private goal(): number {
    const perSecond = Math.max(this.demand.current, this.demand.previous);
    const horizon = ((this.o.probeTimeoutMs ?? 500) / 1000) * 3;
    return Math.min(MAX_READY, Math.max(this.o.target, Math.ceil(perSecond * horizon)));
  }
}
