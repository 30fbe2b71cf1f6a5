/**
 * IPv6 addresses as 128-bit numbers (bigint) for the DHCPv6 address book's range arithmetic, and their RFC 5952 text
 * (the form stored in StoredLease6.ip). A private copy: issue 13 gives src/net/address6.ts to the `ra` helper, which
 * did not exist when this was written; the lead may fold the two together. Only node:net's isIPv6 decides what text
 * is an address; the rest is the RFC 4291 §2.2 / RFC 5952 §4 rules.
 */
import { isIPv6 } from 'node:net';

const IPV6_LENGTH = 16;
const GROUPS = 8;
const MAX_128 = (1n << 128n) - 1n;

/** The number of an address in RFC 4291 text (embedded IPv4 and zone-less forms), or null for anything else. */
export function parseIPv6(text: string): bigint | null {
  // node:net accepts a zone (fe80::1%eth0); an address in a lease or a range has none.
  if (!isIPv6(text) || text.includes('%')) return null;
  let body = text.toLowerCase();
  const tail: number[] = [];
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(body);
  if (v4) {
    const octets = v4.slice(1).map(Number);
    tail.push(((octets[0] as number) << 8) | (octets[1] as number), ((octets[2] as number) << 8) | (octets[3] as number));
    body = body.slice(0, v4.index);
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const halves = body.split('::');
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':');
  const rest = halves.length > 1 ? (halves[1] === '' ? [] : (halves[1] as string).split(':')) : [];
  const explicit = head.length + rest.length + tail.length;
  const zeros = halves.length > 1 ? GROUPS - explicit : 0;
  const groups = [...head.map((g) => Number.parseInt(g, 16)), ...new Array<number>(zeros).fill(0), ...rest.map((g) => Number.parseInt(g, 16)), ...tail];
  if (groups.length !== GROUPS) return null;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** RFC 5952 §4 text: lower case, no leading zeros, the longest run (first if tied) of two or more zero groups as '::'. */
export function formatIPv6(value: bigint): string {
  const v = value & MAX_128;
  const groups: number[] = [];
  for (let i = GROUPS - 1; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < GROUPS; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < GROUPS && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** The number of 16 bytes of an address as they are on the wire; null unless exactly 16 bytes. */
export function ipv6FromBytes(bytes: Uint8Array): bigint | null {
  if (bytes.length !== IPV6_LENGTH) return null;
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return value;
}

export function ipv6ToBytes(value: bigint): Buffer {
  const out = Buffer.alloc(IPV6_LENGTH);
  let v = value & MAX_128;
  for (let i = IPV6_LENGTH - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Canonical RFC 5952 text of any accepted text form, or null. */
export function canonicalIPv6(text: string): string | null {
  const value = parseIPv6(text);
  return value === null ? null : formatIPv6(value);
}

/** True when a and b share their first `prefixLength` bits. */
export function samePrefix(a: bigint, b: bigint, prefixLength: number): boolean {
  const shift = BigInt(128 - prefixLength);
  return a >> shift === b >> shift;
}
