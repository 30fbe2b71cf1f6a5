/**
 * Which host name belongs to which address: the source of the authoritative DNS zone. Names come from static
 * reservations (they always win) and from active leases (first holder keeps it: a newcomer claiming a held name gets
 * its lease but no name, unlike dnsmasq where the last claimant wins). Names are single lowercase labels.
 */
import type { IPv4 } from '../net/address.ts';
import { ByteColumn } from './byte-column.ts';
import { macKey, macText } from './mac-key.ts';
import { hashOfText, numberKeys, SlotIndex, textKeys } from './slot-index.ts';
import type { LeaseTable } from './table.ts';

/**
 * Labels no client and no reservation may hold, because resolvers and the programs behind them give them a meaning
 * of their own: a container answering to one of them would be trusted for something else.
 * - `localhost` (RFC 6761 section 6.3), `ip6-localhost`, `ip6-loopback` (Debian's /etc/hosts names of ::1) and
 *   `broadcasthost` (macOS's name of 255.255.255.255): loopback and broadcast names; with the search list `lxc` a
 *   lookup that misses /etc/hosts would reach the container.
 * - `wpad`: browsers fetch a proxy configuration from `http://wpad.<search domain>/wpad.dat` (Web Proxy
 *   Auto-Discovery): whoever holds the name sees and changes their web traffic. Windows' DNS server blocks it (and
 *   `isatap`) by default for this reason (its "global query block list").
 * - `isatap`: ISATAP clients look up `isatap.<domain>` to find their IPv6 router.
 * - `proxy`: the short name that proxy auto-configuration files and hand-written client settings point at
 *   (`http://proxy:3128`); whoever takes it receives that traffic.
 * - `ns`: the name server of our own zone (the NS record's target, dns/zone.ts NAME_SERVER_LABEL).
 * `unclaimableNames()` adds the first label of the domain itself (`lxc` for `lxc`): `lxc.lxc` would make a lookup
 * of the bare domain name through the search list answer with a container.
 * Left out: `local` (mDNS's `.local` is a top-level domain, never a label under ours), `gateway` (systemd-resolved's
 * `_gateway` is synthesised locally, never asked of a DNS server).
 */
export const RESOLVER_NAMES: readonly string[] = ['localhost', 'ip6-localhost', 'ip6-loopback', 'broadcasthost', 'wpad', 'isatap', 'proxy', 'ns'];

/** The labels of RESOLVER_NAMES plus the domain's own first label: what DhcpServer and reservations refuse. */
export function unclaimableNames(domain: string): ReadonlySet<string> {
  const apex = domain.toLowerCase().split('.')[0] ?? '';
  return new Set(apex === '' ? RESOLVER_NAMES : [...RESOLVER_NAMES, apex]);
}

interface NameEntry {
  name: string;
  ip: IPv4;
  mac: string;
  source: 'reservation' | 'lease';
  /** For lease names: when the lease ends (epoch ms); reservations never expire. */
  expiresAt: number | null;
}

interface ReservedName {
  mac: string;
  ip: IPv4;
  name: string | null;
}

type ClaimResult = { granted: true } | { granted: false; heldBy: NameEntry };

/**
 * The names of leases, one entry per MAC, as columns (there can be one per lease: 100 000 of them). Entry slots are
 * reused once their entry is gone; NameEntry objects are made only for callers.
 */
/** Room made for a label at first (bytes): most container names are short. */
const NAME_BYTES_PER_ENTRY = 8;

class LeasedNames {
  /** The label as bytes (ASCII after toHostLabel; UTF-8 for whatever else a stored lease carried). */
  readonly name: ByteColumn;
  /** hashOfText() of the label: the name index reads it instead of hashing the bytes again. */
  nameHash: Uint32Array;
  ip: Uint32Array;
  mac: Float64Array;
  expiresAt: Float64Array;
  private used = 0;
  private readonly free: number[] = [];

  constructor(capacity: number) {
    const size = Math.max(64, capacity);
    this.name = new ByteColumn(size, NAME_BYTES_PER_ENTRY);
    this.nameHash = new Uint32Array(size);
    this.ip = new Uint32Array(size);
    this.mac = new Float64Array(size);
    this.expiresAt = new Float64Array(size);
  }

  add(name: string, ip: IPv4, mac: number, expiresAt: number): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      slot = this.used++;
      if (slot === this.ip.length) this.grow(slot * 2);
    }
    this.name.setText(slot, name);
    this.nameHash[slot] = hashOfText(name);
    this.ip[slot] = ip;
    this.mac[slot] = mac;
    this.expiresAt[slot] = expiresAt;
    return slot;
  }

  remove(slot: number): void {
    this.name.setNull(slot);
    this.free.push(slot);
  }

  nameOf(slot: number): string {
    return this.name.text(slot) as string;
  }

  entry(slot: number, name = this.nameOf(slot)): NameEntry {
    return {
      name,
      ip: this.ip[slot] as number,
      mac: macText(this.mac[slot] as number),
      source: 'lease',
      expiresAt: this.expiresAt[slot] as number,
    };
  }

  private grow(capacity: number): void {
    this.name.growSlots(capacity);
    const nameHash = new Uint32Array(capacity);
    nameHash.set(this.nameHash);
    this.nameHash = nameHash;
    const ip = new Uint32Array(capacity);
    ip.set(this.ip);
    this.ip = ip;
    for (const column of ['mac', 'expiresAt'] as const) {
      const wider = new Float64Array(capacity);
      wider.set(this[column]);
      this[column] = wider;
    }
  }
}

export class HostNames {
  private readonly reserved = new Map<string, NameEntry>();
  private readonly reservedByIp = new Map<IPv4, NameEntry>();
  private readonly reservedByMac = new Map<number, NameEntry>();
  private readonly leases: LeasedNames;
  /** Entry slots by their label, MAC and address: indexes of slots that read the keys from the entry columns. */
  private readonly leasedByName: SlotIndex<string>;
  private readonly leasedByMac: SlotIndex<number>;
  private readonly leasedByIp: SlotIndex<IPv4>;
  /** Bumped on every change: the zone's SOA serial. */
  private version = 1;
  /** Leases handed to claimActiveLeases() whose names are not registered yet, from this slot of the table on. */
  private pending: { leases: LeaseTable; nextSlot: number } | null = null;

  /** `expectedLeaseNames`: how many lease names to make room for at once (the daemon passes the loaded leases). */
  constructor(expectedLeaseNames = 0) {
    this.leases = new LeasedNames(expectedLeaseNames);
    const leases = this.leases;
    this.leasedByName = new SlotIndex(
      textKeys(
        (slot) => leases.nameHash[slot] as number,
        (slot, label) => leases.name.equalsText(slot, label),
      ),
      expectedLeaseNames,
    );
    this.leasedByMac = new SlotIndex(
      numberKeys((slot) => leases.mac[slot] as number),
      expectedLeaseNames,
    );
    this.leasedByIp = new SlotIndex(
      numberKeys((slot) => leases.ip[slot] as number),
      expectedLeaseNames,
    );
  }

  get serial(): number {
    this.settle();
    return this.version;
  }

  setReservations(list: readonly ReservedName[]): void {
    this.settle();
    this.reserved.clear();
    this.reservedByIp.clear();
    this.reservedByMac.clear();
    for (const r of list) {
      if (r.name === null) continue;
      const entry: NameEntry = { name: r.name.toLowerCase(), ip: r.ip, mac: r.mac, source: 'reservation', expiresAt: null };
      this.reserved.set(entry.name, entry);
      this.reservedByIp.set(entry.ip, entry);
      if (!this.reservedByMac.has(macKey(r.mac))) this.reservedByMac.set(macKey(r.mac), entry);
    }
    this.version++;
  }

  /** Who holds `name` other than `mac`, if anyone: a reservation of another MAC, or another MAC's active lease. */
  heldByOther(name: string, mac: string): NameEntry | undefined {
    this.settle();
    return this.holderOtherThan(name.toLowerCase(), macKey(mac));
  }

  private holderOtherThan(label: string, owner: number): NameEntry | undefined {
    const reservation = this.reserved.get(label);
    if (reservation && macKey(reservation.mac) !== owner) return reservation;
    const slot = this.leasedByName.get(label);
    if (slot !== -1 && this.leases.mac[slot] !== owner) return this.leases.entry(slot, label);
    return undefined;
  }

  /** Records that `mac`'s active lease on `ip` carries `name` (or no name), replacing what that MAC had. */
  claim(mac: string, ip: IPv4, name: string | null, expiresAt: number): ClaimResult {
    const owner = macKey(mac);
    if (!(owner >= 0)) throw new RangeError(`${JSON.stringify(mac)} is not a MAC address`);
    this.settle();
    return this.claimFor(owner, ip, name === null ? null : name.toLowerCase(), expiresAt);
  }

  /**
   * Registers the names of the active leases (at start, after the lease table was loaded), in the table's order: a
   * name two leases carry goes to the first, as claim() would decide. Reads the table's columns: no Lease objects.
   *
   * The work is done by registerPending() in batches, or all at once before any other use of this index: a daemon can
   * answer its first DHCP requests before it has gone through 100 000 names, and still never decides on a name
   * without all of them. (A lease that ended or changed meanwhile is registered as it is then, as if its change had
   * come after.)
   */
  claimActiveLeases(leases: LeaseTable): void {
    this.settle();
    this.pending = { leases, nextSlot: 0 };
  }

  /** Registers up to `batch` table slots' worth of the pending names (all by default); true when none are left. */
  registerPending(batch = Number.POSITIVE_INFINITY): boolean {
    const pending = this.pending;
    if (pending === null) return true;
    pending.nextSlot = pending.leases.forEachActiveHostname(
      (owner, ip, hostname, expiresAt) => {
        this.claimFor(owner, ip, hostname.toLowerCase(), expiresAt);
      },
      pending.nextSlot,
      batch,
    );
    if (pending.nextSlot >= 0) return false;
    this.pending = null;
    return true;
  }

  private settle(): void {
    if (this.pending !== null) this.registerPending();
  }

  private claimFor(owner: number, ip: IPv4, label: string | null, expiresAt: number): ClaimResult {
    if (label !== null) {
      const holder = this.holderOtherThan(label, owner);
      if (holder) {
        this.removeFor(owner);
        return { granted: false, heldBy: holder };
      }
    }
    const previous = this.leasedByMac.get(owner);
    if (previous !== -1) {
      if (label !== null && this.leases.name.equalsText(previous, label) && this.leases.ip[previous] === ip) {
        // The same name on the same address again (a renewal): it points at this entry, whoever claimed it since.
        this.leases.expiresAt[previous] = expiresAt;
        this.leasedByName.set(label, previous);
        this.leasedByIp.set(ip, previous);
        this.version++;
        return { granted: true };
      }
      this.removeFor(owner);
    }
    if (label !== null) {
      const slot = this.leases.add(label, ip, owner, expiresAt);
      this.leasedByName.set(label, slot);
      this.leasedByMac.set(owner, slot);
      this.leasedByIp.set(ip, slot);
    }
    this.version++;
    return { granted: true };
  }

  /** The lease of `mac` (on `ip`, when given) ended: release, expiry, decline. Its name disappears. */
  removeLease(mac: string, ip?: IPv4): void {
    this.settle();
    this.removeFor(macKey(mac), ip);
  }

  private removeFor(owner: number, ip?: IPv4): void {
    const slot = this.leasedByMac.get(owner);
    if (slot === -1 || (ip !== undefined && this.leases.ip[slot] !== ip)) return;
    this.leasedByMac.delete(owner);
    // Another MAC's entry may be the one indexed under this name or address (a renewal re-points them): deleteSlot
    // removes this slot only where it is the one indexed.
    this.leasedByName.deleteSlot(slot);
    this.leasedByIp.deleteSlot(slot);
    this.leases.remove(slot);
    this.version++;
  }

  /** The address for a name: reservations first. */
  lookup(name: string): NameEntry | undefined {
    this.settle();
    const key = name.toLowerCase();
    const reservation = this.reserved.get(key);
    if (reservation) return reservation;
    const slot = this.leasedByName.get(key);
    return slot === -1 ? undefined : this.leases.entry(slot, key);
  }

  /** The name for an address (PTR): a reservation's, else a lease's whose name no reservation has taken over. */
  reverse(ip: IPv4): NameEntry | undefined {
    this.settle();
    const reserved = this.reservedByIp.get(ip);
    if (reserved) return reserved;
    const slot = this.leasedByIp.get(ip);
    if (slot === -1) return undefined;
    const entry = this.leases.entry(slot);
    return this.reserved.has(entry.name) ? undefined : entry;
  }

  /**
   * The name `mac` answers to (the PTR of its IPv6 addresses): its reservation's, else its lease's; only while that
   * name still leads back to `mac` (lookup), so AAAA and PTR never disagree.
   */
  nameOfMac(mac: string): NameEntry | undefined {
    this.settle();
    const owner = macKey(mac);
    const reserved = this.reservedByMac.get(owner);
    const slot = this.leasedByMac.get(owner);
    const entry = reserved ?? (slot === -1 ? undefined : this.leases.entry(slot));
    if (entry === undefined || macKey(this.lookup(entry.name)?.mac ?? '') !== owner) return undefined;
    return entry;
  }

  get size(): number {
    this.settle();
    return this.reserved.size + this.leasedByName.size;
  }
}
