/** Reads the bridge's IPv4 address from the kernel (creating the bridge is src/host's later job, through netlink). */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { type IPv4, parseIPv4 } from '../net/address.ts';

export interface InterfaceAddress {
  ip: IPv4;
  prefixLength: number;
}

export type BridgeLookup = { ok: true; address: InterfaceAddress } | { ok: false; error: string };

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
