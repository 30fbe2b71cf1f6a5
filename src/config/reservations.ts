/**
 * Static reservations: `--host MAC,IP[,NAME]` and `--hosts-file FILE` (one per line, `#` comments), also the shape
 * `lxc-dhcpd reserve` sends. Parsing checks what the text alone can tell (a unicast MAC, an address, a label);
 * reservationProblem() checks the rest once the bridge subnet and the domain are known.
 */
import { broadcastOf, formatIPv4, type IPv4, inSubnet, networkOf, parseIPv4, parseMac } from '../net/address.ts';
import type { Checked } from '../result.ts';

export interface Reservation {
  mac: string;
  ip: IPv4;
  name: string | null;
}

/** What an operator names a lease or reservation by (release, unreserve): a MAC, an address, or a host name. */
export type OperatorTarget = { kind: 'mac'; mac: string } | { kind: 'ip'; ip: IPv4 } | { kind: 'name'; name: string };

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

export function parseReservation(text: string): Checked<Reservation> {
  const fields = text.split(',').map((f) => f.trim());
  if (fields.length < 2 || fields.length > 3) {
    return { ok: false, error: `${JSON.stringify(text)} is not MAC,IP[,NAME] (e.g. 02:1a:b0:00:00:05,10.0.0.5,web)` };
  }
  const mac = parseMac(fields[0] as string);
  if (!mac) return { ok: false, error: `${JSON.stringify(fields[0])} is not a MAC address like 02:1a:b0:00:00:05` };
  const macError = unicastMacProblem(mac);
  if (macError !== null) return { ok: false, error: macError };
  const ip = parseIPv4(fields[1] as string);
  if (ip === null) return { ok: false, error: `${JSON.stringify(fields[1])} is not an IPv4 address` };
  const name = fields[2] ?? null;
  if (name !== null && !LABEL.test(name)) {
    return { ok: false, error: `${JSON.stringify(name)} is not a host name (letters, digits, hyphens, at most 63)` };
  }
  return { ok: true, value: { mac, ip, name: name === null ? null : name.toLowerCase() } };
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
}

/** Why `r` cannot be served on this bridge (one line naming the fix), or null. */
export function reservationProblem(r: Reservation, c: ReservationContext): string | null {
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
  return null;
}

/** MAC,IP[,NAME] as --host takes it (for error messages about a reservation). */
export function formatReservation(r: Reservation): string {
  return `${r.mac},${formatIPv4(r.ip)}${r.name === null ? '' : `,${r.name}`}`;
}

/** Parses a hosts file; with `context`, each line is also checked against the bridge (errors carry file and line). */
export function parseHostsFile(text: string, source: string, context?: ReservationContext): Checked<Reservation[]> {
  const out: Reservation[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/#.*/, '').trim();
    if (line === '') continue;
    const parsed = parseReservation(line);
    if (!parsed.ok) return { ok: false, error: `${source}:${i + 1}: ${parsed.error}` };
    const problem = context ? reservationProblem(parsed.value, context) : null;
    if (problem !== null) return { ok: false, error: `${source}:${i + 1}: ${problem}` };
    out.push(parsed.value);
  }
  return { ok: true, value: out };
}

/** Rejects two reservations of one MAC, of one IP, or of one name. */
export function checkReservationConflicts(list: readonly Reservation[]): string | null {
  const macs = new Map<string, Reservation>();
  const ips = new Map<IPv4, Reservation>();
  const names = new Map<string, Reservation>();
  for (const r of list) {
    if (macs.has(r.mac)) return `MAC ${r.mac} is reserved twice: keep one reservation per MAC`;
    const other = ips.get(r.ip);
    if (other) return `IP ${formatIPv4(r.ip)} is reserved for both ${other.mac} and ${r.mac}: give each its own address`;
    if (r.name !== null && names.has(r.name)) return `name ${r.name} is reserved twice: names must be unique`;
    macs.set(r.mac, r);
    ips.set(r.ip, r);
    if (r.name !== null) names.set(r.name, r);
  }
  return null;
}
