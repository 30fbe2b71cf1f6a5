/**
 * `--ipv6 auto|none|ADDR/64`, `--range6 FIRST-LAST` and `--nat6`/`--no-nat6`: parsing and the checks that need only the
 * flags, as pure functions returning Checked. The auto prefix (src/host/ula.ts) is known only once the machine id is
 * read, so a range may also be written relative to the /64 (`::100-::1ff`, as dnsmasq's `constructor:`) and is placed
 * into the bridge's prefix by resolveRange6. Only /64 prefixes are accepted: SLAAC forms addresses from a 64-bit
 * interface identifier (RFC 4862 §5.5.3 with RFC 4291 §2.5.1 and RFC 7421), so any other length leaves SLAAC clients
 * without an address.
 */
import { formatIPv6, inPrefix, parseIPv6, prefixOf } from '../net/address6.ts';
import { type Checked, fail, ok } from '../result.ts';

/** The one prefix length SLAAC works with (RFC 4862 §5.5.3, RFC 7421). */
export const IPV6_PREFIX_LENGTH = 64;

/** An IPv6 interface address with its /64. */
export interface Ipv6Interface {
  address: Buffer;
  prefixLength: typeof IPV6_PREFIX_LENGTH;
}

/** What --ipv6 asked for: nothing, the machine's stable ULA (default, or explicit `auto`), or a given address. */
export type Ipv6Mode = { kind: 'none' } | { kind: 'auto'; explicit: boolean } | { kind: 'static'; address: Ipv6Interface };

/** --range6 as written: absolute addresses, or interface identifiers within the bridge's /64 (`relative`). */
export interface Range6Spec {
  first: Buffer;
  last: Buffer;
  relative: boolean;
}

/** A DHCPv6 range placed in the bridge's /64 (first <= last). */
export interface Range6 {
  first: Buffer;
  last: Buffer;
}

export interface Ipv6Flags {
  mode: Ipv6Mode;
  /** null: stateless DHCPv6 only (addresses by SLAAC). */
  range6: Range6Spec | null;
  /** --nat6 / --no-nat6; null: on for a ULA prefix, off for a global one (nat6Enabled). */
  nat6: boolean | null;
}

const IPV6_USAGE = 'use --ipv6 auto, --ipv6 none or --ipv6 ADDR/64 (e.g. fd12:3456:789a::1/64)';
const RANGE6_USAGE = 'use --range6 FIRST-LAST inside the bridge /64, e.g. fd12:3456:789a::100-fd12:3456:789a::1ff or ::100-::1ff';

/** --ipv6's value; undefined (not given) is auto, not explicit. */
export function parseIpv6Mode(text: string | undefined): Checked<Ipv6Mode> {
  if (text === undefined) return ok({ kind: 'auto', explicit: false });
  const trimmed = text.trim().toLowerCase();
  if (trimmed === 'auto') return ok({ kind: 'auto', explicit: true });
  if (trimmed === 'none') return ok({ kind: 'none' });
  const match = /^([0-9a-f:.]+)\/(\d{1,3})$/.exec(trimmed);
  const address = match ? parseIPv6(match[1] as string) : null;
  if (match === null || address === null) return fail(`--ipv6 ${JSON.stringify(text)} is not auto, none or an IPv6 address with /64: ${IPV6_USAGE}`);
  if (Number(match[2]) !== IPV6_PREFIX_LENGTH) {
    return fail(
      `--ipv6 ${trimmed}: only /64 prefixes work, SLAAC needs a 64-bit interface identifier (RFC 4862 §5.5.3, RFC 7421): give ADDR/64 or --ipv6 auto`,
    );
  }
  const problem = unusableBridgeAddress(address);
  if (problem !== null) return fail(`--ipv6 ${trimmed}: ${problem}`);
  return ok({ kind: 'static', address: { address, prefixLength: IPV6_PREFIX_LENGTH } });
}

/** Why an address cannot be the bridge's (router's) address, or null. */
function unusableBridgeAddress(address: Buffer): string | null {
  if (address[0] === 0xff) return 'is a multicast address: give a unicast address of the /64 (e.g. PREFIX::1/64)';
  if (address[0] === 0xfe && ((address[1] as number) & 0xc0) === 0x80) {
    return 'is link-local (fe80::/10): give a global or unique local (fd00::/8) address, or --ipv6 auto';
  }
  if (address.subarray(0, 8).every((b) => b === 0)) return 'is not in a routable /64 (::/64): give a global or unique local address, or --ipv6 auto';
  // RFC 4291 §2.6.1: interface identifier 0 is the Subnet-Router anycast address.
  if (address.subarray(8).every((b) => b === 0)) return 'is the subnet-router anycast address (interface identifier 0): use PREFIX::1/64';
  return null;
}

/** --range6's value: two IPv6 addresses joined by "-". Both within ::/64 means "interface identifiers of the bridge's /64". */
export function parseRange6(text: string): Checked<Range6Spec> {
  const parts = text.split('-');
  if (parts.length !== 2) return fail(`--range6 ${JSON.stringify(text)} is not a range: ${RANGE6_USAGE}`);
  const first = parseIPv6((parts[0] as string).trim());
  const last = parseIPv6((parts[1] as string).trim());
  if (first === null || last === null) return fail(`--range6: ${JSON.stringify(first === null ? parts[0] : parts[1])} is not an IPv6 address: ${RANGE6_USAGE}`);
  const relative = isInterfaceIdOnly(first) && isInterfaceIdOnly(last);
  if (!relative && !inPrefix(first, last, IPV6_PREFIX_LENGTH)) {
    return fail(`--range6 ${formatIPv6(first)}-${formatIPv6(last)} spans more than one /64: ${RANGE6_USAGE}`);
  }
  if (Buffer.compare(first, last) > 0) return fail(`--range6 ${formatIPv6(first)}-${formatIPv6(last)} is reversed: put the lower address first`);
  return ok({ first, last, relative });
}

function isInterfaceIdOnly(address: Buffer): boolean {
  return address.subarray(0, 8).every((b) => b === 0);
}

/** All three flags, with the checks that need only them (--range6 without IPv6; an absolute range outside ADDR/64). */
export function parseIpv6Flags(flags: { ipv6: string | undefined; range6: string | undefined; nat6: boolean | undefined }): Checked<Ipv6Flags> {
  const mode = parseIpv6Mode(flags.ipv6);
  if (!mode.ok) return mode;
  let range6: Range6Spec | null = null;
  if (flags.range6 !== undefined) {
    if (mode.value.kind === 'none') return fail('--range6 hands out IPv6 addresses, which --ipv6 none turns off: drop --range6 or give --ipv6 auto|ADDR/64');
    const parsed = parseRange6(flags.range6);
    if (!parsed.ok) return parsed;
    range6 = parsed.value;
    if (mode.value.kind === 'static') {
      const placed = resolveRange6(range6, mode.value.address.address);
      if (!placed.ok) return placed;
    }
  }
  if (flags.nat6 === true && mode.value.kind === 'none')
    return fail('--nat6 masquerades IPv6, which --ipv6 none turns off: drop --nat6 or give --ipv6 auto|ADDR/64');
  return ok({ mode: mode.value, range6, nat6: flags.nat6 ?? null });
}

/**
 * The range inside the bridge's /64 (a relative range takes the prefix's first 64 bits), checked like --range: inside
 * the /64, not holding the bridge address nor the subnet-router anycast address PREFIX::0 (RFC 4291 §2.6.1).
 */
export function resolveRange6(spec: Range6Spec, bridgeAddress: Buffer): Checked<Range6> {
  const prefix = prefixOf(bridgeAddress, IPV6_PREFIX_LENGTH);
  const place = (a: Buffer): Buffer => (spec.relative ? Buffer.concat([prefix.subarray(0, 8), a.subarray(8)]) : a);
  const first = place(spec.first);
  const last = place(spec.last);
  const text = `${formatIPv6(first)}-${formatIPv6(last)}`;
  const net = `${formatIPv6(prefix)}/${IPV6_PREFIX_LENGTH}`;
  if (!inPrefix(first, prefix, IPV6_PREFIX_LENGTH) || !inPrefix(last, prefix, IPV6_PREFIX_LENGTH)) {
    return fail(`--range6 ${text} is outside the bridge's ${net}: choose addresses inside it (or write it as ::100-::1ff)`);
  }
  if (Buffer.compare(first, bridgeAddress) <= 0 && Buffer.compare(bridgeAddress, last) <= 0) {
    return fail(`--range6 ${text} contains the bridge address ${formatIPv6(bridgeAddress)}: start the range above it`);
  }
  if (first.equals(prefix)) return fail(`--range6 ${text} starts at the subnet-router anycast address ${formatIPv6(prefix)}: start it above`);
  return ok({ first, last });
}

/** True for fc00::/7, the unique local addresses of RFC 4193. */
export function isUniqueLocal(address: Uint8Array): boolean {
  return ((address[0] as number) & 0xfe) === 0xfc;
}

/** --nat6 when given, else on exactly for a unique local prefix (RFC 4193 §4.1: not routed globally); a global one is routed as is. */
export function nat6Enabled(nat6: boolean | null, bridgeAddress: Uint8Array): boolean {
  return nat6 ?? isUniqueLocal(bridgeAddress);
}

/** What RA, DHCPv6 and DNS serve on: the bridge's IPv6 address, its /64, and the stateful range if any. */
export interface DaemonIpv6 {
  /** The bridge's address: RDNSS, the DHCPv6 server identifier's source, DNS on UDP/TCP 53. */
  address: Buffer;
  /** The /64 (bits after 64 zero): RA prefix information, ip6.arpa zone. */
  prefix: Buffer;
  prefixLength: typeof IPV6_PREFIX_LENGTH;
  /** --range6 placed in the /64; null: stateless only (RA O flag, not M). */
  range6: Range6 | null;
}

/**
 * The daemon's IPv6 once the bridge address is known (HostSetup.ipv6.address with host set-up, bridgeAddress6() with
 * --no-host-setup; null: IPv6 off): the /64 and --range6 placed in it, or the one-line error a --range6 that does not
 * fit gives.
 */
export function daemonIpv6(flags: Ipv6Flags, bridgeAddress: Buffer | null): Checked<DaemonIpv6 | null> {
  if (flags.mode.kind === 'none' || bridgeAddress === null) return ok(null);
  let range6: Range6 | null = null;
  if (flags.range6 !== null) {
    const placed = resolveRange6(flags.range6, bridgeAddress);
    if (!placed.ok) return placed;
    range6 = placed.value;
  }
  return ok({ address: bridgeAddress, prefix: prefixOf(bridgeAddress, IPV6_PREFIX_LENGTH), prefixLength: IPV6_PREFIX_LENGTH, range6 });
}
