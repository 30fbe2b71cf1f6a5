/** Offers made and not yet requested: the address is held for the client for a short while, then returned. */
import type { IPv4 } from '../net/address.ts';

export interface PendingOffer {
  mac: string;
  ip: IPv4;
  expiresAt: number;
}

export class PendingOffers {
  // Insertion order equals expiry order because every offer lives equally long: expiry pops from the front, O(1).
  private readonly byMac = new Map<string, PendingOffer>();
  private readonly byIpIndex = new Map<IPv4, PendingOffer>();

  constructor(private readonly holdMs: number) {}

  get size(): number {
    return this.byMac.size;
  }

  forMac(mac: string): PendingOffer | undefined {
    return this.byMac.get(mac);
  }

  forIp(ip: IPv4): PendingOffer | undefined {
    return this.byIpIndex.get(ip);
  }

  add(mac: string, ip: IPv4, now: number): void {
    this.remove(mac);
    const offer = { mac, ip, expiresAt: now + this.holdMs };
    this.byMac.set(mac, offer);
    this.byIpIndex.set(ip, offer);
  }

  remove(mac: string): PendingOffer | undefined {
    const offer = this.byMac.get(mac);
    if (!offer) return undefined;
    this.byMac.delete(mac);
    this.byIpIndex.delete(offer.ip);
    return offer;
  }

  /** Removes and returns offers whose hold time is over. */
  expire(now: number): PendingOffer[] {
    const out: PendingOffer[] = [];
    for (const offer of this.byMac.values()) {
      if (offer.expiresAt > now) break;
      out.push(offer);
    }
    for (const offer of out) this.remove(offer.mac);
    return out;
  }
}
