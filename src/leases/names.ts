/**
 * Which host name belongs to which address: the source of the authoritative DNS zone. Names come from static
 * reservations (they always win) and from active leases (first holder keeps it: a newcomer claiming a held name gets
 * its lease but no name, unlike dnsmasq where the last claimant wins). Names are single lowercase labels.
 */
import type { IPv4 } from '../net/address.ts';

export interface NameEntry {
  name: string;
  ip: IPv4;
  mac: string;
  source: 'reservation' | 'lease';
  /** For lease names: when the lease ends (epoch ms); reservations never expire. */
  expiresAt: number | null;
}

export interface ReservedName {
  mac: string;
  ip: IPv4;
  name: string | null;
}

export type ClaimResult = { granted: true } | { granted: false; heldBy: NameEntry };

export class HostNames {
  private readonly reserved = new Map<string, NameEntry>();
  private readonly leased = new Map<string, NameEntry>();
  private readonly leasedByMac = new Map<string, NameEntry>();
  private readonly reservedByIp = new Map<IPv4, NameEntry>();
  private readonly leasedByIp = new Map<IPv4, NameEntry>();
  /** Bumped on every change: the zone's SOA serial. */
  private version = 1;

  get serial(): number {
    return this.version;
  }

  setReservations(list: readonly ReservedName[]): void {
    this.reserved.clear();
    this.reservedByIp.clear();
    for (const r of list) {
      if (r.name === null) continue;
      const entry: NameEntry = { name: r.name.toLowerCase(), ip: r.ip, mac: r.mac, source: 'reservation', expiresAt: null };
      this.reserved.set(entry.name, entry);
      this.reservedByIp.set(entry.ip, entry);
    }
    this.version++;
  }

  /** Who holds `name` other than `mac`, if anyone: a reservation of another MAC, or another MAC's active lease. */
  heldByOther(name: string, mac: string): NameEntry | undefined {
    const key = name.toLowerCase();
    const reservation = this.reserved.get(key);
    if (reservation && reservation.mac !== mac) return reservation;
    const lease = this.leased.get(key);
    if (lease && lease.mac !== mac) return lease;
    return undefined;
  }

  /** Records that `mac`'s active lease on `ip` carries `name` (or no name), replacing what that MAC had. */
  claim(mac: string, ip: IPv4, name: string | null, expiresAt: number): ClaimResult {
    if (name !== null) {
      const holder = this.heldByOther(name, mac);
      if (holder) {
        this.removeLease(mac);
        return { granted: false, heldBy: holder };
      }
    }
    const previous = this.leasedByMac.get(mac);
    if (previous && (previous.name !== name?.toLowerCase() || previous.ip !== ip)) this.removeLease(mac);
    if (name !== null) {
      const entry: NameEntry = { name: name.toLowerCase(), ip, mac, source: 'lease', expiresAt };
      this.leased.set(entry.name, entry);
      this.leasedByMac.set(mac, entry);
      this.leasedByIp.set(ip, entry);
    }
    this.version++;
    return { granted: true };
  }

  /** The lease of `mac` (on `ip`, when given) ended: release, expiry, decline. Its name disappears. */
  removeLease(mac: string, ip?: IPv4): void {
    const entry = this.leasedByMac.get(mac);
    if (!entry || (ip !== undefined && entry.ip !== ip)) return;
    this.leasedByMac.delete(mac);
    if (this.leased.get(entry.name) === entry) this.leased.delete(entry.name);
    if (this.leasedByIp.get(entry.ip) === entry) this.leasedByIp.delete(entry.ip);
    this.version++;
  }

  /** The address for a name: reservations first. */
  lookup(name: string): NameEntry | undefined {
    const key = name.toLowerCase();
    return this.reserved.get(key) ?? this.leased.get(key);
  }

  /** The name for an address (PTR): a reservation's, else a lease's whose name no reservation has taken over. */
  reverse(ip: IPv4): NameEntry | undefined {
    const reserved = this.reservedByIp.get(ip);
    if (reserved) return reserved;
    const leased = this.leasedByIp.get(ip);
    return leased && !this.reserved.has(leased.name) ? leased : undefined;
  }

  get size(): number {
    return this.reserved.size + this.leased.size;
  }
}
