/**
 * IPv6 addresses as text, for the code that stores and shows them (leases, reservations): the one canonical form of
 * RFC 5952 §4 and an order that is the addresses' numeric order. A private copy made while the `ra` part's
 * src/net/address6.ts (16-byte Buffers, the full prefix arithmetic) was not in this branch yet: once it is, these two
 * functions become formatIPv6(parseIPv6(text)) and a Buffer compare.
 */
import { isIPv6 } from 'node:net';

/** The eight 16-bit groups of an address in any text form node:net accepts (no zone, no dotted tail); null otherwise. */
function groupsOf(text: string): number[] | null {
  if (!isIPv6(text) || text.includes('%') || text.includes('.')) return null;
  const double = text.indexOf('::');
  const side = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const head = side(double < 0 ? text : text.slice(0, double));
  const tail = double < 0 ? [] : side(text.slice(double + 2));
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (double < 0 && missing !== 0)) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/**
 * RFC 5952 §4 text (lower case, no leading zeros, "::" for the first longest run of two or more zero groups), or null
 * when `text` is not an IPv6 address. Forms with a dotted IPv4 tail are refused: no container lease or reservation
 * is an IPv4-mapped address.
 */
export function canonicalIPv6(text: string): string | null {
  const groups = groupsOf(text);
  if (groups === null) return null;
  let best = [-1, 0];
  let start = -1;
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && groups[i] === 0) {
      if (start < 0) start = i;
      continue;
    }
    if (start >= 0 && i - start > (best[1] as number)) best = [start, i - start];
    start = -1;
  }
  const hex = groups.map((g) => g.toString(16));
  const [runStart, runLength] = best as [number, number];
  if (runLength < 2) return hex.join(':');
  return `${hex.slice(0, runStart).join(':')}::${hex.slice(runStart + runLength).join(':')}`;
}

/** 32 hex digits: sorting these as strings sorts the addresses numerically. '' for a text that is not IPv6. */
export function ipv6SortKey(text: string): string {
  const groups = groupsOf(text);
  return groups === null ? '' : groups.map((g) => g.toString(16).padStart(4, '0')).join('');
}

/** Compares two IPv6 texts by address value (for Array.sort). */
export function compareIPv6(a: string, b: string): number {
  const ka = ipv6SortKey(a);
  const kb = ipv6SortKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
