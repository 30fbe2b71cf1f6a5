/**
 * The IPv6 sysctls a router on SLAAC needs, per network namespace: IPv6 enabled on the bridge
 * (conf/BRIDGE/disable_ipv6), forwarding (conf/all/forwarding) and accept_ra=2 on the uplink, which the kernel
 * otherwise ignores once forwarding is on (RFC 4861 §6.2.1: a router does not take routers' advertisements; Linux's
 * accept_ra=2 takes them anyway). Each change records the value it replaced so exit puts it back. The root directory
 * is a parameter so unit tests run on a temporary tree.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseSysctlFlag } from './forwarding.ts';

export const IPV6_SYSCTL_ROOT = '/proc/sys/net/ipv6';
export const IPV6_ROUTE_TABLE = '/proc/net/ipv6_route';

export interface SysctlChange {
  path: string;
  /** The value before we wrote (trimmed file text). */
  previous: string;
  written: string;
}

function errnoOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

function readSysctl(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new Error(`cannot read ${path}: ${errnoOf(error)}`);
  }
}

/** Writes `value` when the file holds `from` (or, with from null, anything else); null when nothing was written. */
export function changeSysctl(path: string, value: string, from: string | null = null): SysctlChange | null {
  const previous = readSysctl(path);
  if (previous === value || (from !== null && previous !== from)) return null;
  try {
    writeFileSync(path, `${value}\n`);
  } catch (error) {
    throw new Error(`cannot write ${value} to ${path}: ${errnoOf(error)}`);
  }
  return { path, previous, written: value };
}

/** Puts the recorded value back; a file that is gone (its interface was deleted) needs nothing. */
export function restoreSysctl(change: SysctlChange): boolean {
  if (!existsSync(change.path)) return false;
  writeFileSync(change.path, `${change.previous}\n`);
  return true;
}

/** Why IPv6 cannot be used in this network namespace, or null: no IPv6 in the kernel, or disabled by the admin. */
export function ipv6Unavailable(root: string = IPV6_SYSCTL_ROOT): string | null {
  if (!existsSync(`${root}/conf/all/disable_ipv6`)) return `the kernel has no IPv6 here (${root} is missing; booted with ipv6.disable=1?)`;
  if (parseSysctlFlag(readSysctl(`${root}/conf/all/disable_ipv6`))) {
    return 'IPv6 is disabled in this network namespace (net.ipv6.conf.all.disable_ipv6=1)';
  }
  return null;
}

export function confPath(root: string, ifname: string, key: 'disable_ipv6' | 'accept_ra' | 'forwarding'): string {
  return `${root}/conf/${ifname}/${key}`;
}

/**
 * Interfaces holding an IPv6 default route, from /proc/net/ipv6_route (fields: destination, its prefix length in hex,
 * source, its length, next hop, metric, refcount, use, flags, device). Routes through lo (unreachable/prohibit
 * routes) and through `exclude` (the bridge) are left out.
 */
export function defaultRouteInterfaces(table: string, exclude: string): string[] {
  const names = new Set<string>();
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10 || fields[0] !== '0'.repeat(32) || fields[1] !== '00') continue;
    const device = fields[9] as string;
    if (device !== 'lo' && device !== exclude) names.add(device);
  }
  return [...names].sort();
}

/** The uplinks whose accept_ra must be 2: --uplink when given, else the interfaces holding a default route now. */
export function uplinksOf(bridge: string, uplink: string | undefined, routeTable: string = IPV6_ROUTE_TABLE): string[] {
  if (uplink !== undefined) return [uplink];
  let table: string;
  try {
    table = readFileSync(routeTable, 'utf8');
  } catch {
    return [];
  }
  return defaultRouteInterfaces(table, bridge);
}

/**
 * accept_ra 1 → 2 on each uplink, in order; before forwarding is turned on, since turning it on drops the default
 * routes learned by RA on every interface whose accept_ra is not 2 (the kernel's rt6_purge_dflt_routers).
 */
export function keepAcceptingRouterAdvertisements(uplinks: readonly string[], root: string = IPV6_SYSCTL_ROOT): SysctlChange[] {
  const changes: SysctlChange[] = [];
  try {
    for (const name of uplinks) {
      const path = confPath(root, name, 'accept_ra');
      if (!existsSync(path)) continue;
      const change = changeSysctl(path, '2', '1');
      if (change) changes.push(change);
    }
  } catch (error) {
    for (const change of changes.reverse()) restoreSysctl(change);
    throw error;
  }
  return changes;
}
