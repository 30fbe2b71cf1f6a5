/**
 * The one owner of "who holds which address": the pool of free addresses, the lease table and the static
 * reservations (by MAC, and by host name: dnsmasq's `dhcp-host=NAME,IP`), behind intention-level methods (claim, allocate, bind, release, decline, expire, abandon, reserve).
 * The invariants between them live here — a reserved address is out of the pool even while another client's lease
 * holds it; an address a lease or a quarantine still holds never goes back to the pool — so the DHCP server decides
 * RFC 2131 questions and asks this object, without patching the pool from outside. Like the rest of leases/, it knows
 * nothing of packets.
 */
import type { IPv4 } from '../net/address.ts';
import type { Lease } from './lease.ts';
import type { AddressPool } from './pool.ts';
import type { BindRequest, LeaseTable } from './table.ts';

/** What a reservation must say for the address book (config/reservations.ts's Reservation is one). */
interface ReservedAddress {
  mac: string;
  ip: IPv4;
}

/** A reservation by host name (config/reservations.ts's NameReservation is one). */
interface NamedAddress {
  name: string;
  ip: IPv4;
}

export class AddressBook<R extends ReservedAddress = ReservedAddress> {
  private readonly byMac = new Map<string, R>();
  private readonly byIp = new Map<IPv4, R>();
  /** Host name (lower case) → its reserved address, and back. */
  private readonly ipOfName = new Map<string, IPv4>();
  private readonly nameOfIp = new Map<IPv4, string>();

  constructor(
    private readonly pool: AddressPool,
    private readonly table: LeaseTable,
  ) {}

  // ---- reservations ----

  /**
   * Replaces the reservations, by MAC and by host name; leases are kept. A reserved address leaves the pool even while
   * someone holds it.
   */
  reserve(list: readonly R[], byName: readonly NamedAddress[] = []): void {
    for (const ip of [...this.byIp.keys(), ...this.nameOfIp.keys()]) this.unreserve(ip);
    this.byMac.clear();
    this.byIp.clear();
    this.ipOfName.clear();
    this.nameOfIp.clear();
    for (const r of byName) {
      this.ipOfName.set(r.name.toLowerCase(), r.ip);
      this.nameOfIp.set(r.ip, r.name.toLowerCase());
      // Never from the pool: only a client calling itself the name gets it (DhcpServer.nameReservedAddress).
      this.pool.exclude(r.ip);
    }
    for (const r of list) {
      this.byMac.set(r.mac, r);
      this.byIp.set(r.ip, r);
      // Excluded even while another client's lease holds it: that lease cannot be renewed, and when it ends the
      // address does not go back to the pool.
      this.pool.exclude(r.ip);
    }
  }

  private unreserve(ip: IPv4): void {
    if (!this.pool.contains(ip)) return;
    this.pool.unexclude(ip);
    // unexclude frees the address; a lease or a quarantine that still holds it keeps it taken.
    if (this.isHeld(ip)) this.pool.take(ip);
  }

  reservations(): R[] {
    return [...this.byMac.values()];
  }

  reservationOf(mac: string): R | undefined {
    return this.byMac.get(mac);
  }

  /** Reserved by MAC or by host name. */
  isReserved(ip: IPv4): boolean {
    return this.byIp.has(ip) || this.nameOfIp.has(ip);
  }

  /** The address reserved for host name `label` (lower case), if any. */
  addressOfName(label: string): IPv4 | undefined {
    return this.ipOfName.get(label);
  }

  /** The host name `ip` is reserved for, if it is reserved by name. */
  nameReservedAt(ip: IPv4): string | undefined {
    return this.nameOfIp.get(ip);
  }

  // ---- who holds what ----

  /** The latest record of ip (active, ended or quarantined). */
  leaseAt(ip: IPv4): Lease | undefined {
    return this.table.byIp(ip);
  }

  /** The latest record of mac. */
  leaseOf(mac: string): Lease | undefined {
    return this.table.byMac(mac);
  }

  isActive(lease: Lease): boolean {
    return this.table.isActive(lease);
  }

  /** mac's active lease, if it has one. */
  activeLeaseOf(mac: string): Lease | undefined {
    const lease = this.table.byMac(mac);
    return lease !== undefined && lease.mac === mac && this.table.isActive(lease) ? lease : undefined;
  }

  /** The active lease of ip when it belongs to someone other than mac. */
  heldByOther(ip: IPv4, mac: string): Lease | undefined {
    const holder = this.table.byIp(ip);
    return holder !== undefined && this.table.isActive(holder) && holder.mac !== mac ? holder : undefined;
  }

  /** Held by an active lease or a quarantine: not the pool's to give out. */
  private isHeld(ip: IPv4): boolean {
    const lease = this.table.byIp(ip);
    return lease !== undefined && (this.table.isActive(lease) || lease.state === 'declined');
  }

  inRange(ip: IPv4): boolean {
    return this.pool.contains(ip);
  }

  isFree(ip: IPv4): boolean {
    return this.pool.isFree(ip);
  }

  // ---- taking and giving back ----

  /** Takes ip out of the pool if it is free (for a client with a claim on it). */
  claim(ip: IPv4): boolean {
    return this.pool.isFree(ip) && this.pool.take(ip);
  }

  /** Takes ip out of the pool if it is free and nobody's reservation (a client asking for it by option 50). */
  claimUnreserved(ip: IPv4): boolean {
    return !this.isReserved(ip) && this.claim(ip);
  }

  /** The next free address (never-used ones first), taken out of the pool. */
  allocate(): IPv4 | null {
    return this.pool.allocate();
  }

  /** Gives an address taken but never bound back to the pool (a stale probe, an address not handed out). */
  giveBack(ip: IPv4): void {
    this.pool.release(ip);
  }

  /**
   * An address taken for mac (offer, probe) that it will not get: back to the pool unless a lease or a quarantine
   * holds it, or it is mac's own reservation.
   */
  abandon(ip: IPv4, mac: string): void {
    if (this.isHeld(ip)) return;
    if (this.byIp.get(ip)?.mac === mac) return;
    if (this.pool.contains(ip) && !this.pool.isFree(ip)) this.pool.release(ip);
  }

  // ---- lease life ----

  bind(req: BindRequest): Lease {
    return this.table.bind(req);
  }

  release(ip: IPv4): Lease | undefined {
    return this.table.release(ip);
  }

  /** Quarantines ip (a DECLINE, or an address that answered an ARP probe). */
  decline(ip: IPv4, quarantineMs: number): Lease {
    return this.table.decline(ip, quarantineMs);
  }

  /** Ends the leases whose time is up; returns them. */
  expireDue(): Lease[] {
    return this.table.expireDue();
  }
}
