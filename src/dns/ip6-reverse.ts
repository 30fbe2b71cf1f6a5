/**
 * IPv6 reverse names in nibble format (RFC 3596 §2.5): each of an address's 32 hex digits is one label, least
 * significant first, under ip6.arpa. The reverse zone of the bridge's /64 is the 16 nibbles of the prefix; a PTR
 * owner is 16 more. Pure text functions; the zone itself is in zone.ts.
 */
import { IPV6_LENGTH, prefix64 } from '../net/address6.ts';

const IP6_ARPA = 'ip6.arpa';
/** Nibble labels of a whole address (RFC 3596 §2.5: 32). */
const ADDRESS_NIBBLES = 32;
/** Nibble labels of a /64. */
export const PREFIX64_NIBBLES = 16;

function nibbles(address: Uint8Array, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const byte = address[i >> 1] as number;
    out.push(((i & 1) === 0 ? byte >> 4 : byte & 15).toString(16));
  }
  return out.reverse();
}

/** The reverse zone of `address`'s /64, e.g. fd00:1:2:3::1 → 3.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa. */
export function ip6ArpaZone(address: Uint8Array): string {
  return `${nibbles(prefix64(address), PREFIX64_NIBBLES).join('.')}.${IP6_ARPA}`;
}

/** The PTR owner of `address` (32 nibbles). */
export function ip6ArpaName(address: Uint8Array): string {
  return `${nibbles(address, ADDRESS_NIBBLES).join('.')}.${IP6_ARPA}`;
}

/**
 * The labels of a lower-cased name below `apex` (its nibbles, most significant first) when each is one hex digit;
 * null when one is not (not a nibble name at all).
 */
export function nibblesBelow(name: string, apex: string): string[] | null {
  if (name === apex) return [];
  const below = name.slice(0, name.length - apex.length - 1).split('.');
  if (!below.every((label) => /^[0-9a-f]$/.test(label))) return null;
  return below.reverse();
}

/** ORs hex digits into `out`, nibble `from` onwards (nibble 0 is the high half of byte 0). */
function setNibbles(out: Buffer, from: number, digits: readonly string[]): void {
  for (let i = 0; i < digits.length; i++) {
    const nibble = from + i;
    const value = Number.parseInt(digits[i] as string, 16);
    const at = nibble >> 1;
    out[at] = (out[at] as number) | ((nibble & 1) === 0 ? value << 4 : value);
  }
}

/** The address a full nibble name (prefix nibbles from the apex + those below it) spells. */
export function addressFromNibbles(prefix: Uint8Array, below: readonly string[]): Buffer | null {
  if (below.length !== ADDRESS_NIBBLES - PREFIX64_NIBBLES) return null;
  const out = Buffer.alloc(IPV6_LENGTH);
  out.set(prefix.subarray(0, 8), 0);
  setNibbles(out, PREFIX64_NIBBLES, below);
  return out;
}

/** The address a whole lower-cased PTR owner under ip6.arpa spells (32 nibble labels), or null for any other name. */
export function addressFromPtrName(name: string): Buffer | null {
  if (!name.endsWith(`.${IP6_ARPA}`)) return null;
  const digits = nibblesBelow(name, IP6_ARPA);
  if (digits === null || digits.length !== ADDRESS_NIBBLES) return null;
  const out = Buffer.alloc(IPV6_LENGTH);
  setNibbles(out, 0, digits);
  return out;
}
