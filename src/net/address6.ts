/**
 * IPv6 addresses as 16-byte Buffers: parsing any text form node:net accepts, formatting in the one canonical text form
 * of RFC 5952, and the prefix arithmetic the RA, DHCPv6 and DNS code share (an address's /64, membership of a prefix,
 * the EUI-64 interface identifier of a MAC, and the multicast group and Ethernet addresses of neighbour discovery).
 * Pure: no sockets, no I/O.
 */
import { isIPv6 } from 'node:net';
import { writeMac } from './address.ts';

export const IPV6_LENGTH = 16;
/** The prefix length SLAAC and this project work with (RFC 4291 §2.5.1: interface identifiers are 64 bits). */
const SLAAC_PREFIX_LENGTH = 64;

/** ff02::1, all nodes on the link (RFC 4291 §2.7.1). */
export const ALL_NODES = Buffer.from('ff020000000000000000000000000001', 'hex');
/** ff02::2, all routers on the link (RFC 4291 §2.7.1). */
export const ALL_ROUTERS = Buffer.from('ff020000000000000000000000000002', 'hex');
/** ::, the unspecified address (RFC 4291 §2.5.2). */
export const UNSPECIFIED = Buffer.alloc(IPV6_LENGTH);

/** A 16-byte Buffer for IPv6 text (any form node:net accepts, an embedded IPv4 tail included); null otherwise. */
export function parseIPv6(text: string): Buffer | null {
  if (!isIPv6(text) || text.includes('%')) return null;
  const double = text.indexOf('::');
  const head = double < 0 ? text : text.slice(0, double);
  const tail = double < 0 ? '' : text.slice(double + 2);
  const headGroups = groupsOf(head);
  const tailGroups = groupsOf(tail);
  if (headGroups === null || tailGroups === null) return null;
  const missing = 8 - headGroups.length - tailGroups.length;
  if (missing < 0 || (double < 0 && missing !== 0)) return null;
  const groups = [...headGroups, ...new Array<number>(missing).fill(0), ...tailGroups];
  const out = Buffer.alloc(IPV6_LENGTH);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i] as number, i * 2);
  return out;
}

/** The 16-bit groups of one side of "::" (a dotted IPv4 tail counts as two groups). */
function groupsOf(part: string): number[] | null {
  if (part === '') return [];
  const groups: number[] = [];
  for (const piece of part.split(':')) {
    if (piece.includes('.')) {
      const octets = piece.split('.').map(Number);
      if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return null;
      groups.push(((octets[0] as number) << 8) | (octets[1] as number), ((octets[2] as number) << 8) | (octets[3] as number));
    } else {
      groups.push(Number.parseInt(piece, 16));
    }
  }
  return groups;
}

/**
 * RFC 5952 text: lowercase hex without leading zeros (§4.1, §4.3), "::" for the longest run of two or more zero groups,
 * the first of equal runs (§4.2), and no dotted IPv4 tail (§5 recommends it only for IPv4-mapped addresses; we print
 * those as ::ffff:a.b.c.d).
 */
export function formatIPv6(address: Uint8Array): string {
  if (address.length !== IPV6_LENGTH) throw new RangeError(`an IPv6 address has 16 bytes, not ${address.length}`);
  const groups: number[] = [];
  for (let i = 0; i < IPV6_LENGTH; i += 2) groups.push(((address[i] as number) << 8) | (address[i + 1] as number));
  if (isIPv4Mapped(groups)) return `::ffff:${address[12]}.${address[13]}.${address[14]}.${address[15]}`;
  const [start, length] = longestZeroRun(groups);
  const hex = groups.map((g) => g.toString(16));
  if (length < 2) return hex.join(':');
  return `${hex.slice(0, start).join(':')}::${hex.slice(start + length).join(':')}`;
}

function isIPv4Mapped(groups: readonly number[]): boolean {
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
}

/** [start, length] of the first longest run of zero groups. */
function longestZeroRun(groups: readonly number[]): [number, number] {
  let best: [number, number] = [-1, 0];
  let runStart = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (runStart < 0) runStart = i;
      continue;
    }
    if (runStart >= 0 && i - runStart > best[1]) best = [runStart, i - runStart];
    runStart = -1;
  }
  return best;
}

/** A copy of `address` with every bit after the first `prefixLength` cleared. */
export function prefixOf(address: Uint8Array, prefixLength: number): Buffer {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 128) throw new RangeError(`prefix length ${prefixLength}`);
  const out = Buffer.from(address);
  for (let bit = prefixLength; bit < 128; bit++) out[bit >> 3] = (out[bit >> 3] as number) & ~(0x80 >> (bit & 7));
  return out;
}

/** The /64 an address belongs to (its first 8 bytes, the rest zero). */
export function prefix64(address: Uint8Array): Buffer {
  return prefixOf(address, SLAAC_PREFIX_LENGTH);
}

/** True when the first `prefixLength` bits of `address` and `prefix` agree. */
export function inPrefix(address: Uint8Array, prefix: Uint8Array, prefixLength: number): boolean {
  return prefixOf(address, prefixLength).equals(prefixOf(prefix, prefixLength));
}

/** RFC 4291 Appendix A: the modified EUI-64 interface identifier (8 bytes) of a MAC: ff:fe in the middle, U/L bit flipped. */
export function eui64InterfaceId(mac: string): Buffer {
  const bytes = Buffer.alloc(6);
  writeMac(bytes, 0, mac);
  const id = Buffer.from([bytes[0] as number, bytes[1] as number, bytes[2] as number, 0xff, 0xfe, bytes[3] as number, bytes[4] as number, bytes[5] as number]);
  id[0] = (id[0] as number) ^ 0x02;
  return id;
}

/** The address made of a /64 prefix's first 8 bytes and an 8-byte interface identifier. */
export function withInterfaceId(prefix: Uint8Array, interfaceId: Uint8Array): Buffer {
  if (interfaceId.length !== 8) throw new RangeError(`an interface identifier has 8 bytes, not ${interfaceId.length}`);
  const out = Buffer.alloc(IPV6_LENGTH);
  out.set(prefix.subarray(0, 8), 0);
  out.set(interfaceId, 8);
  return out;
}

/** fe80::/64 with the MAC's EUI-64 identifier: the link-local address the kernel gives an interface by default. */
export function linkLocalFromMac(mac: string): Buffer {
  return withInterfaceId(Buffer.from('fe80000000000000', 'hex'), eui64InterfaceId(mac));
}

/** ff02::1:ffXX:XXXX, the solicited-node group of an address (RFC 4291 §2.7.1: its low 24 bits). */
export function solicitedNodeAddress(address: Uint8Array): Buffer {
  const out = Buffer.from('ff0200000000000000000001ff000000', 'hex');
  out.set(address.subarray(13, 16), 13);
  return out;
}

/** RFC 2464 §7: the Ethernet address of an IPv6 multicast group, 33:33 and the group's low 32 bits. */
export function multicastMac(group: Uint8Array): string {
  const hex = (i: number): string => (group[i] as number).toString(16).padStart(2, '0');
  return `33:33:${hex(12)}:${hex(13)}:${hex(14)}:${hex(15)}`;
}

export function isMulticast(address: Uint8Array): boolean {
  return address[0] === 0xff;
}

/** fe80::/10 (RFC 4291 §2.5.6). */
export function isLinkLocal(address: Uint8Array): boolean {
  return address[0] === 0xfe && ((address[1] as number) & 0xc0) === 0x80;
}

export function isUnspecified(address: Uint8Array): boolean {
  return address.length === IPV6_LENGTH && address.every((b) => b === 0);
}

/**
 * RFC 5952 text of an IPv6 address written in hex groups (the one key for an address in stores, ranges and
 * reservations); null otherwise, a dotted IPv4 tail included: no address we lease or reserve is IPv4-mapped.
 */
export function canonicalIPv6(text: string): string | null {
  if (text.includes('.')) return null;
  const address = parseIPv6(text);
  return address === null ? null : formatIPv6(address);
}

/** Address order (numeric) of two IPv6 texts; a text that is no address sorts first. */
export function compareIPv6(a: string, b: string): number {
  const x = parseIPv6(a) ?? UNSPECIFIED;
  const y = parseIPv6(b) ?? UNSPECIFIED;
  return Buffer.compare(x, y);
}

/** 32 hex digits of the address ('' for a text that is no address): sorts and compares as the address does. */
export function ipv6SortKey(text: string): string {
  return parseIPv6(text)?.toString('hex') ?? '';
}
