/**
 * The one rule for turning what a client calls itself (DHCPv4 option 81 or 12, DHCPv6 option 39: hostile bytes) into
 * a DNS label: one RFC 1123 label of letters, digits and hyphen, at most 63 characters, no leading/trailing hyphen,
 * lower case, or null. It lives with the names (leases/) so the DHCPv4 and DHCPv6 servers, which never import each
 * other, apply the same validation.
 */

export function toHostLabel(raw: string): string | null {
  const first = raw.split('.')[0] ?? '';
  const mapped = first
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return mapped === '' ? null : mapped;
}
