/**
 * Reads the bridge's IPv4 address (and, for --no-host-setup with IPv6, its /64 address) from the kernel; creating the
 * bridge is src/host's later job, through netlink.
 */
import { existsSync } from 'node:fs';
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { IPV6_PREFIX_LENGTH, type Ipv6Interface } from '../config/ipv6.ts';
import { type IPv4, parseIPv4 } from '../net/address.ts';
import { parseIPv6 } from '../net/address6.ts';

interface InterfaceAddress {
  ip: IPv4;
  prefixLength: number;
}

type BridgeLookup = { ok: true; address: InterfaceAddress } | { ok: false; error: string };

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;

export function bridgeAddress(name: string): BridgeLookup {
  if (!IFNAME.test(name) || name === '.' || name === '..') {
    return { ok: false, error: `--bridge ${JSON.stringify(name)} is not an interface name (1-15 letters, digits, . _ - :)` };
  }
  if (existsSync(`/sys/class/net/${name}`) && !existsSync(`/sys/class/net/${name}/bridge`)) {
    return { ok: false, error: `${name} exists but is not a bridge: name a bridge with --bridge` };
  }
  const addresses = networkInterfaces()[name];
  if (!addresses && existsSync(`/sys/class/net/${name}`)) {
    return { ok: false, error: `bridge ${name} has no IPv4 address: add one (ip addr add 10.0.0.1/24 dev ${name})` };
  }
  if (!addresses) {
    return {
      ok: false,
      error: `bridge ${name} does not exist: create it first (ip link add ${name} type bridge; ip addr add 10.0.0.1/24 dev ${name}; ip link set ${name} up) or name an existing bridge with --bridge`,
    };
  }
  const v4 = addresses.find((a) => a.family === 'IPv4' && !a.internal);
  if (!v4?.cidr) {
    return { ok: false, error: `bridge ${name} has no IPv4 address: add one (ip addr add 10.0.0.1/24 dev ${name})` };
  }
  const ip = parseIPv4(v4.address);
  const prefixLength = Number(v4.cidr.split('/')[1]);
  if (ip === null || !Number.isInteger(prefixLength)) return { ok: false, error: `bridge ${name}: unreadable address ${v4.cidr}` };
  return { ok: true, address: { ip, prefixLength } };
}

type BridgeLookup6 = { ok: true; address: Ipv6Interface } | { ok: false; warning: string };

/**
 * With --no-host-setup and --ipv6 auto: the bridge's first global or unique local address with a /64 (what RA can
 * announce for SLAAC, RFC 4862 §5.5.3). None: IPv6 is off, and the warning says how to turn it on.
 */
export function bridgeAddress6(name: string, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): BridgeLookup6 {
  for (const entry of interfaces[name] ?? []) {
    if (entry.family !== 'IPv6' || entry.internal || entry.cidr === null || !entry.cidr.endsWith(`/${IPV6_PREFIX_LENGTH}`)) continue;
    const address = parseIPv6(entry.address);
    if (address === null || address[0] === 0xff || (address[0] === 0xfe && ((address[1] as number) & 0xc0) === 0x80)) continue;
    return { ok: true, address: { address, prefixLength: IPV6_PREFIX_LENGTH } };
  }
  return {
    ok: false,
    warning: `IPv6 off: bridge ${name} has no global or unique local /64 address (with --no-host-setup add one, e.g. ip addr add fd12:3456:789a::1/64 dev ${name}, or pass --ipv6 none)`,
  };
}
