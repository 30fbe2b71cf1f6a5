/**
 * The IPv6 addresses each container really uses, by MAC: learned from the bridge's neighbour table (the daemon feeds
 * in what src/host/neighbours.ts reports) and from DHCPv6 bindings (fed in with the `dhcpv6` source). DNS answers
 * `NAME.lxc AAAA` and ip6.arpa PTRs from it. Knows nothing of packets or netlink; bounded per MAC and in total.
 *
 * When a learned address leaves:
 * - neighbour unreachability detection FAILED (RFC 4861 §7.3.3): at once — nobody answers for it any more;
 * - the neighbour entry was deleted without failing: the kernel garbage-collects idle STALE entries (gc_stale_time,
 *   60 s, once the table holds gc_thresh1 = 128 entries), so a living but quiet container would lose its AAAA every
 *   minute. Such an address stays, marked unconfirmed, for LEARNED6_UNCONFIRMED_MS, or until the MAC's IPv4 lease
 *   ends (`forgetMac`), whichever comes first; any sighting confirms it again;
 * - it shows up at another MAC: it moves (the latest wins, as in the kernel's own table);
 * - a DHCPv6 binding holds it until `unbind`, whatever the neighbour table says.
 */
import { parseMac } from '../net/address.ts';
import { formatIPv6, parseIPv6 } from '../net/address6.ts';

/**
 * Addresses kept per MAC. A SLAAC container has one stable address (RFC 8064) and, with privacy extensions, one new
 * temporary address a day kept for up to a week (RFC 8981 §3.8: TEMP_PREFERRED_LIFETIME 1 day, TEMP_VALID_LIFETIME
 * 7 days; Linux's temp_prefered_lft/temp_valid_lft defaults), of which only the newest is used for new connections;
 * plus a DHCPv6 address. 8 holds the stable, the DHCPv6 and the recently used temporaries; beyond it the least
 * recently seen unconfirmed (then least recently seen) address goes. Also the cap of one MAC claiming addresses.
 */
export const LEARNED6_MAX_ADDRESSES_PER_MAC = 8;
/**
 * MACs kept. The kernel's neighbour table holds at most gc_thresh3 = 1024 entries per table by default, so 16 384
 * is 16 times what it can report at once; at ~150 bytes an address this bounds the registry to ~20 MB at 8 addresses
 * each. Beyond it the least recently seen MAC is evicted (counted).
 */
const LEARNED6_MAX_MACS = 16_384;
/**
 * How long an address whose neighbour entry was deleted (not failed) is still answered: a day, the lifetime after
 * which a temporary address is no longer used for new connections (RFC 8981 §3.8), so a retired privacy address
 * does not linger, while a quiet container keeps its name through the kernel's 60 s garbage collection of idle
 * entries; any traffic of the container re-learns it at once.
 */
export const LEARNED6_UNCONFIRMED_MS = 24 * 60 * 60 * 1000;

type Learned6Source = 'neighbour' | 'dhcpv6';

export interface Learned6Change {
  kind: 'added' | 'removed';
  mac: string;
  address: string;
  /** Why: a sighting, a binding, `failed`, `expired` (unconfirmed too long), `moved`, `evicted`, `lease-ended`, `unbound`. */
  reason: string;
}

/** One address as `list()` shows it (for `lxc-dhcpd leases`). */
interface Learned6Entry {
  mac: string;
  address: string;
  /** Seen in the neighbour table (present / deleted and waiting), and/or bound by DHCPv6. */
  neighbour: 'present' | 'unconfirmed' | 'none';
  dhcpv6: boolean;
  /** Epoch ms of the last sighting or binding. */
  seenAt: number;
}

interface Entry {
  mac: string;
  address: string;
  neighbour: 'present' | 'unconfirmed' | 'none';
  /** When the neighbour entry was deleted (neighbour 'unconfirmed'). */
  unconfirmedSince: number;
  dhcpv6: boolean;
  seenAt: number;
}

interface Learned6Counters {
  /** MACs evicted for LEARNED6_MAX_MACS. */
  macsEvicted: number;
  /** Addresses evicted for LEARNED6_MAX_ADDRESSES_PER_MAC. */
  addressesEvicted: number;
  /** Addresses that moved to another MAC. */
  moved: number;
}

interface Learned6Options {
  now?: () => number;
  onChange?: (change: Learned6Change) => void;
  maxAddressesPerMac?: number;
  maxMacs?: number;
  unconfirmedMs?: number;
}

/** RFC 5952 text of any IPv6 text form; null when it is not one. */
function canonical(address: string): string | null {
  const bytes = parseIPv6(address);
  return bytes === null ? null : formatIPv6(bytes);
}

export class Learned6 {
  readonly counters: Learned6Counters = { macsEvicted: 0, addressesEvicted: 0, moved: 0 };
  private readonly byAddress = new Map<string, Entry>();
  /** Insertion order = recency (a sighting re-inserts), so the first key is the least recently seen MAC. */
  private readonly byMac = new Map<string, Entry[]>();
  private changes = 0;
  private readonly now: () => number;
  private readonly maxPerMac: number;
  private readonly maxMacs: number;
  private readonly unconfirmedMs: number;

  constructor(private readonly o: Learned6Options = {}) {
    this.now = o.now ?? Date.now;
    this.maxPerMac = o.maxAddressesPerMac ?? LEARNED6_MAX_ADDRESSES_PER_MAC;
    this.maxMacs = o.maxMacs ?? LEARNED6_MAX_MACS;
    this.unconfirmedMs = o.unconfirmedMs ?? LEARNED6_UNCONFIRMED_MS;
  }

  /** Bumped on every change (DNS adds it to the SOA serial). */
  get version(): number {
    return this.changes;
  }

  get size(): number {
    return this.byAddress.size;
  }

  /** The neighbour table has `address` at `mac` in a usable state. */
  seen(mac: string, address: string): void {
    this.learn(mac, address, 'neighbour');
  }

  /** A DHCPv6 binding of `address` to `mac` (held until `unbind`). */
  bind(mac: string, address: string): void {
    this.learn(mac, address, 'dhcpv6');
  }

  unbind(mac: string, address: string): void {
    const entry = this.entryOf(address);
    if (entry === undefined || entry.mac !== mac.toLowerCase()) return;
    entry.dhcpv6 = false;
    if (entry.neighbour === 'none') this.remove(entry, 'unbound');
  }

  /** Neighbour unreachability detection failed for `address`: its neighbour sighting ends now. */
  failed(address: string): void {
    const entry = this.entryOf(address);
    if (entry === undefined || entry.neighbour === 'none') return;
    entry.neighbour = 'none';
    if (!entry.dhcpv6) this.remove(entry, 'failed');
  }

  /** The neighbour entry of `address` was deleted without failing: kept for LEARNED6_UNCONFIRMED_MS. */
  unconfirmed(address: string): void {
    const entry = this.entryOf(address);
    if (entry === undefined || entry.neighbour !== 'present') return;
    entry.neighbour = 'unconfirmed';
    entry.unconfirmedSince = this.now();
  }

  /** Every usable neighbour entry now (a dump): each is seen; present ones missing from it become unconfirmed. */
  snapshot(present: readonly { mac: string; address: string }[]): void {
    const listed = new Set<string>();
    for (const p of present) {
      const address = canonical(p.address);
      if (address === null) continue;
      listed.add(address);
      this.learn(p.mac, address, 'neighbour');
    }
    for (const entry of [...this.byAddress.values()]) {
      if (entry.neighbour === 'present' && !listed.has(entry.address)) this.unconfirmed(entry.address);
    }
  }

  /**
   * The MAC's IPv4 lease ended (released or expired): its unconfirmed addresses go now. Present ones stay: the
   * kernel still sees them, and a STALE entry sends no further event that would bring them back.
   */
  forgetMac(mac: string): void {
    for (const entry of [...(this.byMac.get(mac.toLowerCase()) ?? [])]) {
      if (entry.neighbour === 'unconfirmed' && !entry.dhcpv6) this.remove(entry, 'lease-ended');
    }
  }

  /** Removes addresses unconfirmed for longer than LEARNED6_UNCONFIRMED_MS (the daemon calls it from its tick). */
  sweep(): void {
    const now = this.now();
    for (const entry of [...this.byAddress.values()]) {
      if (this.expired(entry, now)) this.remove(entry, 'expired');
    }
  }

  /** The addresses `mac` uses, RFC 5952 text, oldest learned first (what DNS answers for its name). */
  addressesOf(mac: string): readonly string[] {
    const list = this.byMac.get(mac.toLowerCase());
    if (list === undefined) return [];
    const now = this.now();
    return list.filter((e) => !this.expired(e, now)).map((e) => e.address);
  }

  /** Who uses `address` (RFC 5952 text), for PTR. */
  macOf(address: string): string | undefined {
    const entry = this.byAddress.get(address) ?? this.entryOf(address);
    return entry === undefined || this.expired(entry, this.now()) ? undefined : entry.mac;
  }

  list(): Learned6Entry[] {
    return [...this.byAddress.values()].map((e) => ({ mac: e.mac, address: e.address, neighbour: e.neighbour, dhcpv6: e.dhcpv6, seenAt: e.seenAt }));
  }

  private expired(entry: Entry, now: number): boolean {
    return !entry.dhcpv6 && entry.neighbour === 'unconfirmed' && now - entry.unconfirmedSince >= this.unconfirmedMs;
  }

  private entryOf(address: string): Entry | undefined {
    const key = canonical(address);
    return key === null ? undefined : this.byAddress.get(key);
  }

  private learn(macText: string, addressText: string, source: Learned6Source): void {
    const address = canonical(addressText);
    const mac = parseMac(macText);
    if (address === null || mac === null) return;
    let entry = this.byAddress.get(address);
    if (entry !== undefined && entry.mac !== mac) {
      this.counters.moved++;
      this.remove(entry, 'moved');
      entry = undefined;
    }
    const list = this.touchMac(mac);
    if (entry === undefined) {
      entry = { mac, address, neighbour: 'none', unconfirmedSince: 0, dhcpv6: false, seenAt: 0 };
      if (list.length >= this.maxPerMac) this.evictOneOf(list);
      list.push(entry);
      this.byAddress.set(address, entry);
      this.changed({ kind: 'added', mac, address, reason: source });
    }
    if (source === 'dhcpv6') entry.dhcpv6 = true;
    else entry.neighbour = 'present';
    entry.seenAt = this.now();
  }

  /** `mac`'s list, made most recently seen; a new MAC may evict the least recently seen one. */
  private touchMac(mac: string): Entry[] {
    let list = this.byMac.get(mac);
    if (list !== undefined) {
      this.byMac.delete(mac);
    } else {
      list = [];
      while (this.byMac.size >= this.maxMacs) {
        const oldest = this.byMac.keys().next().value as string;
        this.counters.macsEvicted++;
        for (const e of [...(this.byMac.get(oldest) ?? [])]) this.remove(e, 'evicted');
        this.byMac.delete(oldest);
      }
    }
    this.byMac.set(mac, list);
    return list;
  }

  /** Makes room in a full list: the least recently seen unconfirmed address, else the least recently seen one. */
  private evictOneOf(list: Entry[]): void {
    const byAge = [...list].sort((a, b) => a.seenAt - b.seenAt);
    const victim = byAge.find((e) => e.neighbour === 'unconfirmed' && !e.dhcpv6) ?? byAge.find((e) => !e.dhcpv6) ?? byAge[0];
    if (victim === undefined) return;
    this.counters.addressesEvicted++;
    this.remove(victim, 'evicted');
  }

  private remove(entry: Entry, reason: string): void {
    this.byAddress.delete(entry.address);
    const list = this.byMac.get(entry.mac);
    if (list !== undefined) {
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byMac.delete(entry.mac);
    }
    this.changed({ kind: 'removed', mac: entry.mac, address: entry.address, reason });
  }

  private changed(change: Learned6Change): void {
    this.changes++;
    this.o.onChange?.(change);
  }
}
