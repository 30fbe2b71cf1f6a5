/**
 * Static reservations: `--host MAC,IP[,[IP6]][,NAME]` or `--host NAME,IP` (by host name, dnsmasq's
 * `--dhcp-host=NAME,IP`) and `--hosts-file FILE` (one per line, `#` comments); the MAC shape is also what
 * `lxc-dhcpd reserve` sends. The IPv6 address is written in square brackets, as dnsmasq's
 * `--dhcp-host=MAC,IP,[IP6],NAME` writes it, so `--host` lines copied from a dnsmasq configuration keep working.
 * Parsing checks what the text alone can tell (a unicast MAC, an address, a label); reservationProblem() checks the
 * rest once the bridge subnet, its IPv6 prefix and the domain are known.
 */

import { toHostLabel } from '../leases/host-label.ts';
import { broadcastOf, formatIPv4, type IPv4, inSubnet, networkOf, parseIPv4, parseMac } from '../net/address.ts';
import { canonicalIPv6, ipv6SortKey } from '../net/address6.ts';
import { isDnsLabel } from '../net/dns-name.ts';
import type { Checked } from '../result.ts';

export interface Reservation {
  mac: string;
  ip: IPv4;
  name: string | null;
  /** The IPv6 address (RFC 5952 text) the MAC's DHCPv6 IA_NA gets; absent for an IPv4-only reservation. */
  ip6?: string;
}

/**
 * A reservation by host name (`--host NAME,IP`): the first client calling itself NAME (option 81 or 12) gets IP while
 * nobody else holds it; the lease then follows that client's MAC until it ends. IPv4 only (IPv6 is reserved by MAC).
 */
export interface NameReservation {
  name: string;
  ip: IPv4;
}

/** One `--host` or hosts-file line: by MAC or by host name. */
export type HostEntry = Reservation | NameReservation;

/** What an operator names a lease or reservation by (release, unreserve): a MAC, an address, or a host name. */
export type OperatorTarget = { kind: 'mac'; mac: string } | { kind: 'ip'; ip: IPv4 } | { kind: 'name'; name: string };

const SHAPE = 'MAC,IP[,[IP6]][,NAME] (e.g. 02:1a:b0:00:00:05,10.0.0.5,[fd00::5],web)';

const NAME_SHAPE = 'NAME,IP (e.g. web,10.0.0.5)';

/** A `--host` or hosts-file line: MAC,IP[,[IP6]][,NAME] when the first field is a MAC, else NAME,IP. */
export function parseHostEntry(text: string): Checked<HostEntry> {
  const fields = text.split(',').map((f) => f.trim());
  const first = fields[0] as string;
  if (parseMac(first) !== null) return parseReservation(text);
  if (/^id:/i.test(first))
    return { ok: false, error: `${JSON.stringify(first)}: reservations by client identifier are not supported: reserve by MAC or host name` };
  // The rule client names are held to (leases/host-label.ts): one label, already in its canonical form.
  if (!isDnsLabel(first) || toHostLabel(first) !== first.toLowerCase()) {
    return {
      ok: false,
      error: `${JSON.stringify(first)} is neither a MAC address like 02:1a:b0:00:00:05 nor a host name (one label: letters, digits, hyphens, at most 63)`,
    };
  }
  if (fields.length > 2) {
    const what = fields.slice(2).some((f) => f.startsWith('[')) ? 'IPv6 address (IPv6 is reserved by MAC)' : 'third field';
    return { ok: false, error: `${JSON.stringify(text)}: a reservation by host name takes no ${what}; write ${NAME_SHAPE}, or reserve by MAC (${SHAPE})` };
  }
  const ip = parseIPv4(fields[1] ?? '');
  if (ip === null) return { ok: false, error: `${JSON.stringify(text)} is not ${SHAPE} or ${NAME_SHAPE}` };
  return { ok: true, value: { name: first.toLowerCase(), ip } };
}

export function parseReservation(text: string): Checked<Reservation> {
  const fields = text.split(',').map((f) => f.trim());
  if (fields.length < 2 || fields.length > 4) return { ok: false, error: `${JSON.stringify(text)} is not ${SHAPE}` };
  const mac = parseMac(fields[0] as string);
  if (!mac) return { ok: false, error: `${JSON.stringify(fields[0])} is not a MAC address like 02:1a:b0:00:00:05` };
  const macError = unicastMacProblem(mac);
  if (macError !== null) return { ok: false, error: macError };
  const ip = parseIPv4(fields[1] as string);
  if (ip === null) return { ok: false, error: `${JSON.stringify(fields[1])} is not an IPv4 address` };
  const rest = optionalFields(fields.slice(2), text);
  if (!rest.ok) return rest;
  const { name, ip6 } = rest.value;
  return { ok: true, value: { mac, ip, name, ...(ip6 === null ? {} : { ip6 }) } };
}

/** The fields after MAC,IP: at most one `[IP6]` and one NAME, in either order (dnsmasq's --dhcp-host takes both). */
function optionalFields(fields: readonly string[], text: string): Checked<{ name: string | null; ip6: string | null }> {
  let name: string | null = null;
  let ip6: string | null = null;
  for (const field of fields) {
    if (field.startsWith('[')) {
      const parsed = parseBracketedIPv6(field);
      if (!parsed.ok) return parsed;
      if (ip6 !== null) return { ok: false, error: `${JSON.stringify(text)} names two IPv6 addresses: a MAC has one reservation (${SHAPE})` };
      ip6 = parsed.value;
      continue;
    }
    if (!isDnsLabel(field)) {
      const hint = canonicalIPv6(field) === null ? '' : `; an IPv6 address goes in brackets: [${field}]`;
      return { ok: false, error: `${JSON.stringify(field)} is not a host name (letters, digits, hyphens, at most 63)${hint}` };
    }
    if (name !== null) return { ok: false, error: `${JSON.stringify(text)} names two host names (${SHAPE})` };
    name = field.toLowerCase();
  }
  return { ok: true, value: { name, ip6 } };
}

/** `[fd00::5]` → 'fd00::5' (RFC 5952 text). dnsmasq's `[::5]` (only the host part) is not taken: give the address. */
function parseBracketedIPv6(field: string): Checked<string> {
  const inner = field.endsWith(']') ? field.slice(1, -1) : null;
  const ip6 = inner === null ? null : canonicalIPv6(inner);
  if (ip6 === null) return { ok: false, error: `${JSON.stringify(field)} is not an IPv6 address in brackets like [fd00::5]` };
  const key = ipv6SortKey(ip6);
  if (key.startsWith('ff') || /^fe[89ab]/.test(key) || /^0{31}[01]$/.test(key)) {
    return { ok: false, error: `${ip6} is not a unicast address a container can hold (multicast, link-local, :: or ::1): reserve one of the bridge's /64` };
  }
  return { ok: true, value: ip6 };
}

/** A DHCP client's MAC is a unicast address (RFC 7042 section 2.1: bit 0 of the first octet clear), and not all zero. */
function unicastMacProblem(mac: string): string | null {
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    return `${mac} is a multicast or broadcast MAC (bit 0 of the first octet set), never a container's: give the container's own MAC`;
  }
  if (mac === '00:00:00:00:00:00') return `${mac} is not a usable MAC: give the container's own MAC`;
  return null;
}

/** What a reservation is checked against once known: the bridge's address and prefix, the names nobody may take. */
export interface ReservationContext {
  serverIp: IPv4;
  prefixLength: number;
  /** leases/names.ts unclaimableNames() of the domain. */
  deniedNames: ReadonlySet<string>;
  /**
   * The bridge's IPv6 address (RFC 5952 text) in its /64; null when IPv6 is off (--ipv6 none: a reservation naming an
   * IPv6 address is refused); absent: IPv6 reservations are not checked against the bridge.
   */
  serverIp6?: string | null;
}

/** Why `r` cannot be served on this bridge (one line naming the fix), or null. */
export function reservationProblem(r: HostEntry, c: ReservationContext): string | null {
  const ip = formatIPv4(r.ip);
  const subnet = `${formatIPv4(networkOf(c.serverIp, c.prefixLength))}/${c.prefixLength}`;
  if (!inSubnet(r.ip, c.serverIp, c.prefixLength)) return `${ip} is outside the bridge subnet ${subnet}: reserve an address inside it`;
  if (r.ip === c.serverIp) return `${ip} is the bridge's own address: reserve another address of ${subnet}`;
  // A /31 (RFC 3021) has neither network nor broadcast address.
  if (c.prefixLength <= 30 && r.ip === networkOf(c.serverIp, c.prefixLength)) {
    return `${ip} is the network address of ${subnet}, not a host address: reserve another`;
  }
  if (c.prefixLength <= 30 && r.ip === broadcastOf(c.serverIp, c.prefixLength)) {
    return `${ip} is the broadcast address of ${subnet}, not a host address: reserve another`;
  }
  if (r.name !== null && c.deniedNames.has(r.name)) {
    return `name ${JSON.stringify(r.name)} means something to resolvers (one of ${[...c.deniedNames].join(', ')}): choose another name`;
  }
  return !('mac' in r) || r.ip6 === undefined ? null : ip6Problem(r.ip6, c.serverIp6);
}

/** Why `ip6` cannot be served on this bridge, or null; `serverIp6` as in ReservationContext. */
function ip6Problem(ip6: string, serverIp6: string | null | undefined): string | null {
  if (serverIp6 === undefined) return null;
  if (serverIp6 === null) return `${ip6}: IPv6 is off on this bridge (--ipv6 none): drop the IPv6 address or turn IPv6 on`;
  // The first 16 hex digits of the sort key are the /64.
  const prefix = ipv6SortKey(serverIp6).slice(0, 16);
  if (ipv6SortKey(ip6).slice(0, 16) !== prefix) return `${ip6} is outside the bridge's IPv6 /64 (${serverIp6}/64): reserve an address inside it`;
  if (ip6 === serverIp6) return `${ip6} is the bridge's own IPv6 address: reserve another address of its /64`;
  return null;
}

/** MAC,IP[,[IP6]][,NAME] or NAME,IP as --host takes it (for error messages about a reservation). */
export function formatReservation(r: HostEntry): string {
  if (!('mac' in r)) return `${r.name},${formatIPv4(r.ip)}`;
  return `${r.mac},${formatIPv4(r.ip)}${r.ip6 === undefined ? '' : `,[${r.ip6}]`}${r.name === null ? '' : `,${r.name}`}`;
}

/** Parses a hosts file; with `context`, each line is also checked against the bridge (errors carry file and line). */
export function parseHostsFile(text: string, source: string, context?: ReservationContext): Checked<HostEntry[]> {
  const out: HostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/#.*/, '').trim();
    if (line === '') continue;
    const parsed = parseHostEntry(line);
    if (!parsed.ok) return { ok: false, error: `${source}:${i + 1}: ${parsed.error}` };
    const problem = context ? reservationProblem(parsed.value, context) : null;
    if (problem !== null) return { ok: false, error: `${source}:${i + 1}: ${problem}` };
    out.push(parsed.value);
  }
  return { ok: true, value: out };
}

/** Rejects two reservations of one MAC, of one IP (IPv4 or IPv6), or of one name (by MAC or by name alike). */
export function checkReservationConflicts(list: readonly HostEntry[]): string | null {
  const macs = new Set<string>();
  const ips = new Map<IPv4, HostEntry>();
  const ips6 = new Map<string, Reservation>();
  const names = new Set<string>();
  for (const r of list) {
    const mac = 'mac' in r ? r.mac : null;
    if (mac !== null && macs.has(mac)) return `MAC ${mac} is reserved twice: keep one reservation per MAC`;
    const other = ips.get(r.ip);
    if (other) return `IP ${formatIPv4(r.ip)} is reserved for both ${ownerOf(other)} and ${ownerOf(r)}: give each its own address`;
    const other6 = 'mac' in r && r.ip6 !== undefined ? ips6.get(r.ip6) : undefined;
    if (other6) return `IP ${other6.ip6} is reserved for both ${other6.mac} and ${mac}: give each its own address`;
    if (r.name !== null && names.has(r.name)) return `name ${r.name} is reserved twice: names must be unique`;
    if (mac !== null) macs.add(mac);
    ips.set(r.ip, r);
    if ('mac' in r && r.ip6 !== undefined) ips6.set(r.ip6, r);
    if (r.name !== null) names.add(r.name);
  }
  return null;
}

function ownerOf(r: HostEntry): string {
  return 'mac' in r ? r.mac : `host name ${r.name}`;
}

/** Splits --host/--hosts-file entries into those by MAC and those by host name. */
export function splitHostEntries(list: readonly HostEntry[]): { byMac: Reservation[]; byName: NameReservation[] } {
  const byMac: Reservation[] = [];
  const byName: NameReservation[] = [];
  for (const r of list) {
    if ('mac' in r) byMac.push(r);
    else byName.push(r);
  }
  return { byMac, byName };
}
