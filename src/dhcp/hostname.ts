/**
 * Turns what a client calls itself (option 81 or 12, hostile bytes) into one RFC 1123 label, or null.
 * Letters, digits and hyphen only, at most 63 characters, no leading/trailing hyphen, lowercase.
 */
import { toHostLabel } from '../leases/host-label.ts';
import type { DhcpOptions } from './options.ts';

/** Shared with the DHCPv6 server (leases/host-label.ts); re-exported for the DHCPv4 callers. */
export { toHostLabel };

interface ClientName {
  /** The label we will use, or null when nothing usable remains. */
  label: string | null;
  /** What the client sent, for logs (escape before printing). */
  raw: string | null;
  /** True when the label differs from the first label of what was sent (mapped or truncated). */
  changed: boolean;
}

export function clientName(options: DhcpOptions): ClientName {
  const fqdn = options.clientFqdn;
  const raw = fqdn && fqdn.name !== '' ? fqdn.name : (options.hostname ?? null);
  if (raw === null) return { label: null, raw: null, changed: false };
  const label = toHostLabel(raw);
  return { label, raw, changed: label !== (raw.split('.')[0] ?? '').toLowerCase() };
}
