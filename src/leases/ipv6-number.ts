/**
 * IPv6 addresses as 128-bit numbers (bigint) for the DHCPv6 address book's range arithmetic, and their RFC 5952 text
 * (the form stored in StoredLease6.ip). A private copy: issue 13 gives src/net/address6.ts to the `ra` helper, which
 * did not exist when this was written; the lead may fold the two together. Only node:net's isIPv6 decides what text
 * is an address; the rest is the RFC 4291 §2.2 / RFC 5952 §4 rules.
 */
import { formatIPv6 as formatAddress6, parseIPv6 as parseAddress6 } from '../net/address6.ts';

const IPV6_LENGTH = 16;
const MAX_128 = (1n << 128n) - 1n;

/** The address as a 128-bit number (src/net/address6.ts reads the text); null when it is not one. */
export function parseIPv6(text: string): bigint | null {
  const bytes = parseAddress6(text);
  return bytes === null ? null : ipv6FromBytes(bytes);
}

/** RFC 5952 text of a 128-bit number (src/net/address6.ts writes it). */
export function formatIPv6(value: bigint): string {
  return formatAddress6(ipv6ToBytes(value));
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

export { canonicalIPv6 } from '../net/address6.ts';

/** True when a and b share their first `prefixLength` bits. */
export function samePrefix(a: bigint, b: bigint, prefixLength: number): boolean {
  const shift = BigInt(128 - prefixLength);
  return a >> shift === b >> shift;
}
