/**
 * Value syntaxes dnsmasq shares between its options and that lxc-net passes straight to it: the lease time
 * (`45m`, `1h`, `infinite`) and an IPv4 `--dhcp-range` (`FIRST,LAST[,NETMASK[,BROADCAST]][,LEASE]`). Read by both
 * lxc-net.ts (LXC_DHCP_RANGE becomes `--dhcp-range $LXC_DHCP_RANGE`) and dnsmasq-conf.ts, so the two agree.
 */
import { formatIPv4, type IPv4, parseIPv4 } from '../net/address.ts';
import { type Checked, fail, ok } from '../result.ts';

/** dnsmasq raises any shorter lease to two minutes (dnsmasq(8), --dhcp-range): we serve what it served. */
const DNSMASQ_MIN_LEASE_SECONDS = 120;
/** The longest lease we take (one year), so a typo such as `99999999w` is refused instead of overflowing option 51. */
const MAX_LEASE_SECONDS = 365 * 24 * 3600;

const UNIT_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** True when `text` has the shape of a dnsmasq lease time (a number with an optional unit, or `infinite`). */
export function isLeaseTime(text: string): boolean {
  return /^(\d{1,9}[smhdw]?|infinite)$/i.test(text);
}

/** A dnsmasq lease time in seconds, raised to dnsmasq's two-minute minimum. */
export function parseLeaseTime(text: string): Checked<number> {
  const m = /^(\d{1,9})([smhdw]?)$/i.exec(text);
  if (text.toLowerCase() === 'infinite') {
    return fail(`lease time "infinite" is not supported: lxc-dhcpd leases end (give e.g. 1d, or leave it out for --lease-time)`);
  }
  if (m === null) return fail(`${JSON.stringify(text)} is not a lease time (seconds, or with m, h, d, w: e.g. 1h)`);
  const seconds = Number(m[1]) * (UNIT_SECONDS[(m[2] as string).toLowerCase()] as number);
  if (seconds > MAX_LEASE_SECONDS) return fail(`lease time ${text} is longer than a year: give a shorter one`);
  return ok(Math.max(seconds, DNSMASQ_MIN_LEASE_SECONDS));
}

/** An IPv4 --dhcp-range as dnsmasq reads it; netmask and lease time are null when not written. */
export interface DhcpRange {
  first: IPv4;
  last: IPv4;
  netmask: IPv4 | null;
  leaseSeconds: number | null;
}

/**
 * `FIRST,LAST[,NETMASK[,BROADCAST]][,LEASE]`. Tags (`tag:`, `set:`), modes (`static`, `proxy`) and IPv6 ranges are
 * refused with a sentence saying so; the caller decides whether that is an error or an unsupported line.
 */
export function parseDhcpRange(text: string): Checked<DhcpRange> {
  const fields = text.split(',').map((f) => f.trim());
  const shape = `${JSON.stringify(text)} is not FIRST,LAST[,NETMASK][,LEASE-TIME] (e.g. 10.0.3.2,10.0.3.254,1h)`;
  if (fields.some((f) => /^(tag|set):/i.test(f))) return fail(`${JSON.stringify(text)}: tags (tag:, set:) are not supported`);
  if (fields.some((f) => f.includes(':'))) return fail(`${JSON.stringify(text)}: IPv6 ranges are not read here (use --ipv6 and --range6)`);
  const first = parseIPv4(fields[0] ?? '');
  const last = parseIPv4(fields[1] ?? '');
  if (first === null || fields.length < 2) return fail(shape);
  if (last === null) {
    const mode = (fields[1] as string).toLowerCase();
    if (mode === 'static' || mode === 'proxy') return fail(`${JSON.stringify(text)}: the ${mode} mode is not supported (give FIRST,LAST)`);
    return fail(shape);
  }
  if (first > last) return fail(`${JSON.stringify(text)}: ${formatIPv4(first)} is above ${formatIPv4(last)}: put the lower address first`);
  let rest = fields.slice(2);
  let leaseSeconds: number | null = null;
  const tail = rest[rest.length - 1];
  if (tail !== undefined && isLeaseTime(tail)) {
    const lease = parseLeaseTime(tail);
    if (!lease.ok) return fail(`${JSON.stringify(text)}: ${lease.error}`);
    leaseSeconds = lease.value;
    rest = rest.slice(0, -1);
  }
  if (rest.length > 2 || rest.some((f) => parseIPv4(f) === null)) return fail(shape);
  return ok({ first, last, netmask: rest[0] === undefined ? null : (parseIPv4(rest[0]) as IPv4), leaseSeconds });
}

/** The prefix length of a contiguous dotted netmask (255.255.255.0 → 24), or null when the ones are not contiguous. */
export function netmaskPrefixLength(mask: IPv4): number | null {
  const inverted = ~mask >>> 0;
  if ((inverted & (inverted + 1)) !== 0) return null;
  return 32 - Math.log2(inverted + 1);
}
