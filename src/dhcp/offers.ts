/**
 * Offers made and not yet requested: the address is held for the client for a short while, then returned. An offer
 * of a new address (the client holds no lease) is charged to its source (bridge port or frame MAC), so the server can
 * cap how many addresses one source holds in offers at a time.
 */
import type { IPv4 } from '../net/address.ts';

interface PendingOffer {
  mac: string;
  ip: IPv4;
  expiresAt: number;
  /** The fair-share source the offer counts against; null when it counts against none (a returning client, a relay). */
  source: string | null;
}

export class PendingOffers {
  // Insertion order equals expiry order because every offer lives equally long: expiry pops from the front, O(1).
  private readonly byMac = new Map<string, PendingOffer>();
  private readonly byIpIndex = new Map<IPv4, PendingOffer>();
  /** Offers per charged source; a key exists only while its count is above 0, so the map is bounded by the offers. */
  private readonly perSource = new Map<string, number>();

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

  /** Offers held now that were charged to `source`. */
  countFor(source: string): number {
    return this.perSource.get(source) ?? 0;
  }

  add(mac: string, ip: IPv4, now: number, source: string | null = null): void {
    this.remove(mac);
    const offer = { mac, ip, expiresAt: now + this.holdMs, source };
    this.byMac.set(mac, offer);
    this.byIpIndex.set(ip, offer);
    if (source !== null) this.perSource.set(source, this.countFor(source) + 1);
  }

  remove(mac: string): PendingOffer | undefined {
    const offer = this.byMac.get(mac);
    if (!offer) return undefined;
    this.byMac.delete(mac);
    // The address may since have been offered to another client (this offer's address went back to the pool): that
    // client's index entry stays.
    if (this.byIpIndex.get(offer.ip) === offer) this.byIpIndex.delete(offer.ip);
    if (offer.source !== null) {
      const left = this.countFor(offer.source) - 1;
      if (left > 0) this.perSource.set(offer.source, left);
      else this.perSource.delete(offer.source);
    }
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
