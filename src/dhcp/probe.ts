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
  timer: NodeJS.Timeout;
}

export class AddressProber {
  private readonly pending = new Map<IPv4, PendingProbe>();

  constructor(
    private readonly sendProbe: (ip: IPv4) => void,
    private readonly timeoutMs: number,
    private readonly onResult?: (result: ProbeResult) => void,
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  probe(ip: IPv4): Promise<ProbeResult> {
    const existing = this.pending.get(ip);
    if (existing) return existing.promise;
    let resolve!: (r: ProbeResult) => void;
    const promise = new Promise<ProbeResult>((r) => (resolve = r));
    const timer = setTimeout(() => this.finish(ip, 'free'), this.timeoutMs);
    this.pending.set(ip, { promise, resolve, timer });
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
    for (const ip of [...this.pending.keys()]) this.finish(ip, 'free');
  }

  private finish(ip: IPv4, result: ProbeResult): void {
    const p = this.pending.get(ip);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(ip);
    this.onResult?.(result);
    p.resolve(result);
  }
}
