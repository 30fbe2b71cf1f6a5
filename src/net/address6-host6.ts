/**
 * A private copy of the few IPv6 text helpers the host set-up and the --ipv6 flags need (16-byte Buffer <-> RFC 5952
 * text, prefix membership), with the same names and signatures as src/net/address6.ts, which the RA helper owns and
 * which was not on this branch yet. When both are merged, import from address6.ts instead and delete this file.
 */
import { isIPv6 } from 'node:net';

export const IPV6_LENGTH = 16;

/** A 16-byte Buffer for IPv6 text (any form node:net accepts, an embedded IPv4 tail included); null otherwise. */
export function parseIPv6(text: string): Buffer | null {
  if (!isIPv6(text) || text.includes('%')) return null;
  const double = text.indexOf('::');
  const head = groupsOf(double < 0 ? text : text.slice(0, double));
  const tail = groupsOf(double < 0 ? '' : text.slice(double + 2));
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (double < 0 && missing !== 0)) return null;
  const out = Buffer.alloc(IPV6_LENGTH);
  for (const [i, g] of [...head, ...new Array<number>(missing).fill(0), ...tail].entries()) out.writeUInt16BE(g, i * 2);
  return out;
}

/** The 16-bit groups of one side of "::" (a dotted IPv4 tail counts as two groups). */
function groupsOf(part: string): number[] | null {
  if (part === '') return [];
  const groups: number[] = [];
  for (const piece of part.split(':')) {
    if (!piece.includes('.')) {
      groups.push(Number.parseInt(piece, 16));
      continue;
    }
    const octets = piece.split('.').map(Number);
    if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return null;
    groups.push(((octets[0] as number) << 8) | (octets[1] as number), ((octets[2] as number) << 8) | (octets[3] as number));
  }
  return groups;
}

/** RFC 5952 text: lowercase hex, no leading zeros (§4.1), "::" for the first longest run of two or more zero groups (§4.2). */
export function formatIPv6(address: Uint8Array): string {
  if (address.length !== IPV6_LENGTH) throw new RangeError(`an IPv6 address has 16 bytes, not ${address.length}`);
  const groups: number[] = [];
  for (let i = 0; i < IPV6_LENGTH; i += 2) groups.push(((address[i] as number) << 8) | (address[i + 1] as number));
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
  const hex = groups.map((g) => g.toString(16));
  if (best[1] < 2) return hex.join(':');
  return `${hex.slice(0, best[0]).join(':')}::${hex.slice(best[0] + best[1]).join(':')}`;
}

/** A copy of `address` with every bit after the first `prefixLength` cleared. */
export function prefixOf(address: Uint8Array, prefixLength: number): Buffer {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 128) throw new RangeError(`prefix length ${prefixLength}`);
  const out = Buffer.from(address);
  for (let bit = prefixLength; bit < 128; bit++) out[bit >> 3] = (out[bit >> 3] as number) & ~(0x80 >> (bit & 7));
  return out;
}

/** True when the first `prefixLength` bits of `address` and `prefix` agree. */
export function inPrefix(address: Uint8Array, prefix: Uint8Array, prefixLength: number): boolean {
  return prefixOf(address, prefixLength).equals(prefixOf(prefix, prefixLength));
}
