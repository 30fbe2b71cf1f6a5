/**
 * Conflict detection before an address is first offered: an ARP request for the address on the bridge; any ARP from
 * that address within the timeout means someone already uses it. Probes run concurrently and never hold up other
 * clients (dnsmasq stops all DHCP service for up to 3 s per ping; we don't).
 */
import type { IPv4 } from '../net/address.ts';

export type ProbeResult = 'free' | 'in-use';

interface PendingProbe {
  promise: Promise<ProbeResult>;
  resolve: (r: ProbeResult) => void;
  deadline: number;
}

/**
 * Every probe has the same timeout, so deadlines come in the order probes start: one FIFO and one timer for the
 * earliest deadline cover them all (under a burst of new clients there are thousands in flight; a timer each cost
 * more than the probe).
 */
export class AddressProber {
  private readonly pending = new Map<IPv4, PendingProbe>();
  private readonly deadlines: { ip: IPv4; deadline: number }[] = [];
  private deadlinesHead = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly sendProbe: (ip: IPv4) => void,
    private readonly timeoutMs: number,
    private readonly onResult?: (result: ProbeResult) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  probe(ip: IPv4): Promise<ProbeResult> {
    // After close() nothing is sent and no timer starts (the daemon is stopping): as if nobody answered.
    if (this.closed) return Promise.resolve('free');
    const existing = this.pending.get(ip);
    if (existing) return existing.promise;
    let resolve!: (r: ProbeResult) => void;
    const promise = new Promise<ProbeResult>((r) => (resolve = r));
    const deadline = this.now() + this.timeoutMs;
    this.pending.set(ip, { promise, resolve, deadline });
    this.deadlines.push({ ip, deadline });
    this.timer ??= setTimeout(() => this.expire(), this.timeoutMs);
    try {
      this.sendProbe(ip);
    } catch {
      // If the probe can't be sent we learn nothing; the timeout then treats the address as free.
    }
    return promise;
  }

  /** Feed every ARP packet seen on the bridge: a sender address that is being probed is in use. */
  onArpFrom(senderIp: IPv4): void {
    if (this.pending.has(senderIp)) this.finish(senderIp, 'in-use');
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const ip of [...this.pending.keys()]) this.finish(ip, 'free');
    this.deadlines.length = 0;
    this.deadlinesHead = 0;
  }

  /** Probes whose timeout passed without an answer: the address is free. */
  private expire(): void {
    this.timer = null;
    const now = this.now();
    while (this.deadlinesHead < this.deadlines.length) {
      const head = this.deadlines[this.deadlinesHead] as { ip: IPv4; deadline: number };
      if (head.deadline > now) break;
      this.deadlinesHead++;
      // The entry may be for a probe already answered (and perhaps a newer probe of the same address).
      if (this.pending.get(head.ip)?.deadline === head.deadline) this.finish(head.ip, 'free');
    }
    if (this.deadlinesHead > 1024 && this.deadlinesHead * 2 > this.deadlines.length) {
      this.deadlines.splice(0, this.deadlinesHead);
      this.deadlinesHead = 0;
    }
    const next = this.deadlines[this.deadlinesHead];
    if (next) this.timer = setTimeout(() => this.expire(), Math.max(0, Math.ceil(next.deadline - now)));
  }

  private finish(ip: IPv4, result: ProbeResult): void {
    const p = this.pending.get(ip);
    if (!p) return;
    this.pending.delete(ip);
    this.onResult?.(result);
    p.resolve(result);
  }
}
