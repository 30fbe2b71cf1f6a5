/**
 * The one owner of "who holds which IPv6 address" in the --range6 range (DHCPv6 IA_NA bindings, RFC 8415 §6.2):
 * offers, bindings, renewals, releases, declines on probation, expiry and reservations by MAC, behind intention-level
 * methods. A binding's owner is (frame MAC, DUID, IAID): the MAC is the Ethernet source of the frame, so two cloned
 * containers with one DUID get two addresses, and the DUID tells apart clients behind one MAC (perfdhcp -6 sends
 * thousands from one interface). A message only ever reaches bindings of its own frame MAC: a sender-written DUID can
 * split its own identity, never reach another MAC's binding. A range may hold 2^64 addresses: it is never
 * materialised; a free address is found lazily by linear probing from a hash of the owner over the held set, which
 * also gives a returning client the address it had before when it is still free. Every change is staged through the
 * Lease6Store; the caller commits (store.commitThen) before it tells the client. Like the rest of leases/, it knows
 * nothing of packets.
 */
import { createHash } from 'node:crypto';
import { canonicalIPv6, formatIPv6, parseIPv6 } from './ipv6-number.ts';
import type { Lease6Store, StoredLease6 } from './lease6.ts';

/**
 * Bindings and probation records kept at once. 65 536 is a /112's worth of containers — far beyond one host's bridge
 * (the DHCPv4 side serves a /16 at most) — and bounds the memory one flood of forged MACs or DUIDs can take: measured
 * (heap after gc, 65 536 bindings) at about 760 bytes a binding with a 14-byte DUID and 1 000 with a 130-byte one, the
 * DUID being part of the owner keys: 65 MB at most. Beyond it new clients get NoAddrsAvail (counted as 'table-full').
 */
const MAX_LEASES6 = 65_536;
/** Offers (Advertise without a Request yet) kept at once: a client holds one per IA for OFFER6_HOLD_MS. */
const MAX_OFFERS6 = 4_096;
/** How long an advertised address is kept for its client: RFC 8415 §7.6 gives a client at most ~2 min (SOL_MAX_RT). */
export const OFFER6_HOLD_MS = 60_000;
/**
 * Addresses (bindings plus offers) one client — one (frame MAC, DUID) — may hold. The IAID is the client's choice, so
 * without this bound one client could take the whole table with made-up IAIDs; a container has one IA_NA per
 * interface and rarely more than one interface on a bridge, so 4 never touches a normal one. The DUID is the client's
 * choice too, so this does not bound one container forging DUIDs: what does is the per-bridge-port new-address bucket
 * the daemon passes as the server's takeNewAddress (--port-lease-limit, 16 new addresses an hour per port by default),
 * then MAX_OFFERS6 and MAX_LEASES6 for the whole table.
 */
export const MAX_BINDINGS_PER_CLIENT = 4;
/** Kea's decline-probation-period default (86 400 s): a declined address sits out a day before it is given again. */
export const DECLINE_PROBATION_MS = 86_400_000;

export interface Range6 {
  first: string;
  last: string;
}

export interface Reservation6 {
  mac: string;
  /** An IPv6 address on the bridge's /64 (inside the range or not). */
  ip: string;
}

interface Address6BookOptions {
  range: Range6;
  store: Lease6Store;
  now: () => number;
  /** Default DECLINE_PROBATION_MS. */
  probationMs?: number;
  /** Default OFFER6_HOLD_MS. */
  offerHoldMs?: number;
}

type AllocationFailure = 'range-full' | 'table-full' | 'client-limit';
type OfferResult = { ok: true; ip: string } | { ok: false; reason: AllocationFailure };
type BindResult = { ok: true; lease: StoredLease6; isNew: boolean } | { ok: false; reason: AllocationFailure };

/** Who holds a binding: the frame's source MAC (from the wire), the client's DUID (lower-case hex) and the IAID. */
export interface Owner6 {
  mac: string;
  duidHex: string;
  iaid: number;
}

interface BindRequest6 extends Owner6 {
  hostname: string | null;
  validMs: number;
}

interface Offer6 {
  ip: string;
  expiresAt: number;
  /** clientKey of its owner, whose count it is in. */
  client: string;
}

/** The client part of an owner (what MAX_BINDINGS_PER_CLIENT counts); neither a MAC nor hex holds a '/'. */
const clientKey = (o: Owner6): string => `${o.mac}/${o.duidHex}`;
const ownerKey = (o: Owner6): string => `${clientKey(o)}/${o.iaid >>> 0}`;

export class Address6Book {
  private readonly first: bigint;
  private readonly size: bigint;
  /** Bound and declined records, by address text. */
  private readonly byIp = new Map<string, StoredLease6>();
  private readonly byOwner = new Map<string, StoredLease6>();
  private readonly offers = new Map<string, Offer6>();
  private readonly offeredIps = new Set<string>();
  /** Addresses held (bindings plus offers) by clientKey. */
  private readonly perClient = new Map<string, number>();
  private readonly reservedByMac = new Map<string, string>();
  private readonly reservedIps = new Set<string>();
  private nextExpiry = Number.POSITIVE_INFINITY;
  /** Times a limit refused someone: what the lead counts in metrics. */
  readonly refusals: Record<AllocationFailure, number> = { 'range-full': 0, 'table-full': 0, 'client-limit': 0 };

  constructor(private readonly o: Address6BookOptions) {
    const first = parseIPv6(o.range.first);
    const last = parseIPv6(o.range.last);
    if (first === null || last === null || last < first) throw new RangeError(`bad IPv6 range ${o.range.first}-${o.range.last}`);
    this.first = first;
    this.size = last - first + 1n;
  }

  /**
   * Takes in the durable leases (at start); a binding's owner is its row's (mac, duidHex, iaid). Records of other
   * shapes (unparseable addresses) are left out.
   */
  load(): number {
    for (const stored of this.o.store.loadLeases6()) {
      const ip = canonicalIPv6(stored.ip);
      if (ip === null) continue;
      this.put({ ...stored, ip });
    }
    return this.byIp.size;
  }

  /** Replaces the reservations (MAC → address); bindings are kept. */
  reserve(list: readonly Reservation6[]): void {
    this.reservedByMac.clear();
    this.reservedIps.clear();
    for (const r of list) {
      const ip = canonicalIPv6(r.ip);
      if (ip === null) throw new RangeError(`bad IPv6 reservation ${r.ip} for ${r.mac}`);
      this.reservedByMac.set(r.mac, ip);
      this.reservedIps.add(ip);
    }
  }

  inRange(ip: string): boolean {
    const v = parseIPv6(ip);
    return v !== null && v >= this.first && v - this.first < this.size;
  }

  /** The live binding of owner. */
  bindingOf(owner: Owner6): StoredLease6 | undefined {
    const lease = this.byOwner.get(ownerKey(owner));
    return lease !== undefined && lease.expiresAt > this.o.now() ? lease : undefined;
  }

  /** Whether owner holds a live binding or a pending offer: asking again takes nothing new from the range. */
  holds(owner: Owner6): boolean {
    return this.bindingOf(owner) !== undefined || this.offers.has(ownerKey(owner));
  }

  /** The record (bound or declined) of an address. */
  leaseAt(ip: string): StoredLease6 | undefined {
    const key = canonicalIPv6(ip);
    return key === null ? undefined : this.byIp.get(key);
  }

  leases(): StoredLease6[] {
    return [...this.byIp.values()];
  }

  get offerCount(): number {
    return this.offers.size;
  }

  /**
   * The address owner would get, held for it for the offer time (an Advertise): its binding, its pending offer, its
   * MAC's reservation, else a free address of the range.
   */
  offer(owner: Owner6): OfferResult {
    const key = ownerKey(owner);
    const bound = this.bindingOf(owner);
    if (bound) return { ok: true, ip: bound.ip };
    const pending = this.offers.get(key);
    if (pending) {
      pending.expiresAt = this.o.now() + (this.o.offerHoldMs ?? OFFER6_HOLD_MS);
      return { ok: true, ip: pending.ip };
    }
    const refused = this.limitFor(owner);
    if (refused !== null) return this.refuse(refused);
    const ip = this.reservedFor(owner.mac) ?? this.allocate(key);
    if (ip === null) return this.refuse('range-full');
    const client = clientKey(owner);
    this.offers.set(key, { ip, expiresAt: this.o.now() + (this.o.offerHoldMs ?? OFFER6_HOLD_MS), client });
    this.offeredIps.add(ip);
    this.count(client, 1);
    return { ok: true, ip };
  }

  /** Binds the request's owner to its offered, held or new address and stages it; extends an existing binding. */
  bind(req: BindRequest6): BindResult {
    const existing = this.bindingOf(req);
    let ip = existing?.ip;
    if (ip === undefined) {
      const offered = this.offer(req);
      if (!offered.ok) return offered;
      ip = offered.ip;
      this.dropOffer(ownerKey(req));
    }
    const now = this.o.now();
    const lease: StoredLease6 = {
      ip,
      mac: req.mac,
      iaid: req.iaid >>> 0,
      duidHex: req.duidHex,
      hostname: req.hostname,
      state: 'bound',
      expiresAt: now + req.validMs,
      updatedAt: now,
    };
    if (existing === undefined) this.evictStale(ip);
    this.put(lease);
    this.o.store.stage6(lease);
    return { ok: true, lease, isNew: existing === undefined };
  }

  /** Extends the live binding of owner (Renew, Rebind); undefined when there is none. */
  renew(owner: Owner6, validMs: number, hostname?: string | null): StoredLease6 | undefined {
    const lease = this.bindingOf(owner);
    if (lease === undefined) return undefined;
    const now = this.o.now();
    const next: StoredLease6 = { ...lease, expiresAt: now + validMs, updatedAt: now, hostname: hostname === undefined ? lease.hostname : hostname };
    this.put(next);
    this.o.store.stage6(next);
    return next;
  }

  /** Ends owner's binding of ip (Release); undefined when it holds no such binding. */
  release(owner: Owner6, ip: string): StoredLease6 | undefined {
    const lease = this.ownBinding(owner, ip);
    if (lease === undefined) return undefined;
    this.remove(lease);
    this.o.store.stageDelete6(lease.ip);
    return lease;
  }

  /**
   * Puts ip on probation (Decline, RFC 8415 §18.3.8: "the server ... marks the addresses as declined"): no owner, not
   * given out until the probation ends. A reserved address is not put on probation: it stays its owner's.
   */
  decline(owner: Owner6, ip: string): StoredLease6 | undefined {
    const lease = this.ownBinding(owner, ip);
    if (lease === undefined) return undefined;
    this.remove(lease);
    if (this.reservedIps.has(lease.ip)) {
      this.o.store.stageDelete6(lease.ip);
      return lease;
    }
    const now = this.o.now();
    const declined: StoredLease6 = {
      ...lease,
      mac: '',
      hostname: null,
      state: 'declined',
      expiresAt: now + (this.o.probationMs ?? DECLINE_PROBATION_MS),
      updatedAt: now,
    };
    this.put(declined);
    this.o.store.stage6(declined);
    return lease;
  }

  /** Ends what is due (bindings past their valid lifetime, probations, offers); returns the ended records. */
  expireDue(): StoredLease6[] {
    const now = this.o.now();
    for (const [key, offer] of this.offers) if (offer.expiresAt <= now) this.dropOffer(key);
    if (now < this.nextExpiry) return [];
    const ended: StoredLease6[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const lease of this.byIp.values()) {
      if (lease.expiresAt <= now) ended.push(lease);
      else next = Math.min(next, lease.expiresAt);
    }
    this.nextExpiry = next;
    for (const lease of ended) {
      this.remove(lease);
      this.o.store.stageDelete6(lease.ip);
    }
    return ended;
  }

  // ---- inside ----

  private ownBinding(owner: Owner6, ip: string): StoredLease6 | undefined {
    const lease = this.bindingOf(owner);
    return lease !== undefined && lease.ip === canonicalIPv6(ip) ? lease : undefined;
  }

  private limitFor(owner: Owner6): AllocationFailure | null {
    if ((this.perClient.get(clientKey(owner)) ?? 0) >= MAX_BINDINGS_PER_CLIENT) return 'client-limit';
    if (this.byIp.size + this.offers.size >= MAX_LEASES6 || this.offers.size >= MAX_OFFERS6) return 'table-full';
    return null;
  }

  private refuse(reason: AllocationFailure): { ok: false; reason: AllocationFailure } {
    this.refusals[reason]++;
    return { ok: false, reason };
  }

  /** mac's reserved address, when nobody (not even mac under another DUID or IAID) holds or was offered it. */
  private reservedFor(mac: string): string | null {
    const ip = this.reservedByMac.get(mac);
    if (ip === undefined || this.offeredIps.has(ip)) return null;
    const holder = this.byIp.get(ip);
    if (holder === undefined) return ip;
    return holder.expiresAt <= this.o.now() ? ip : null;
  }

  /**
   * A free address of the range: linear probing from a hash of the owner. The first free address is at most
   * (held addresses + 1) steps away, and the held set is bounded by MAX_LEASES6 + MAX_OFFERS6 + reservations, so
   * the walk is bounded and finds a free address whenever one exists.
   */
  private allocate(key: string): string | null {
    const held = BigInt(this.byIp.size + this.offeredIps.size + this.reservedIps.size);
    const steps = held + 1n < this.size ? held + 1n : this.size;
    const start = BigInt(`0x${createHash('sha256').update(key).digest('hex').slice(0, 16)}`) % this.size;
    for (let i = 0n; i < steps; i++) {
      const ip = formatIPv6(this.first + ((start + i) % this.size));
      if (this.isFree(ip)) return ip;
    }
    return null;
  }

  private isFree(ip: string): boolean {
    if (this.offeredIps.has(ip) || this.reservedIps.has(ip)) return false;
    const lease = this.byIp.get(ip);
    return lease === undefined || lease.expiresAt <= this.o.now();
  }

  /** An expired record still in the maps (expireDue has not run yet) gives way to a new binding of its address. */
  private evictStale(ip: string): void {
    const stale = this.byIp.get(ip);
    if (stale !== undefined && stale.expiresAt <= this.o.now()) this.remove(stale);
  }

  private put(lease: StoredLease6): void {
    const old = this.byIp.get(lease.ip);
    if (old !== undefined) this.remove(old);
    this.byIp.set(lease.ip, lease);
    if (lease.state === 'bound') {
      const key = ownerKey(lease);
      const previous = this.byOwner.get(key);
      if (previous !== undefined && previous.ip !== lease.ip) {
        // An ended binding of the same IA that expireDue has not reached yet: its address is free again.
        this.remove(previous);
        this.o.store.stageDelete6(previous.ip);
      }
      this.byOwner.set(key, lease);
      this.count(clientKey(lease), 1);
    }
    this.nextExpiry = Math.min(this.nextExpiry, lease.expiresAt);
  }

  private remove(lease: StoredLease6): void {
    if (this.byIp.get(lease.ip) === lease) this.byIp.delete(lease.ip);
    if (lease.state !== 'bound') return;
    const key = ownerKey(lease);
    if (this.byOwner.get(key) === lease) {
      this.byOwner.delete(key);
      this.count(clientKey(lease), -1);
    }
  }

  private dropOffer(key: string): void {
    const offer = this.offers.get(key);
    if (offer === undefined) return;
    this.offers.delete(key);
    this.offeredIps.delete(offer.ip);
    this.count(offer.client, -1);
  }

  private count(client: string, delta: number): void {
    const n = (this.perClient.get(client) ?? 0) + delta;
    if (n > 0) this.perClient.set(client, n);
    else this.perClient.delete(client);
  }
}
