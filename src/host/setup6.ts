/**
 * The IPv6 half of the host set-up, run by setupHost after the bridge exists: IPv6 enabled on the bridge, its /64
 * address (the stable ULA of src/host/ula.ts, or --ipv6 ADDR/64), accept_ra=2 on the uplink, IPv6 forwarding, and our
 * `ip6 lxc-dhcpd` table. Each step records what it changed; a failed step undoes the earlier ones, and teardown undoes
 * them all in reverse. When IPv6 is off in this namespace, or `auto` finds no machine id, the default (`--ipv6` not
 * given) turns IPv6 off with a warning, so the default command keeps working; an explicit --ipv6 makes it an error.
 */

import { IPV6_PREFIX_LENGTH, type Ipv6Mode, isUniqueLocal, nat6Enabled } from '../config/ipv6.ts';
import { formatIPv6, prefixOf } from '../net/address6.ts';
import { type BridgeAddress6, ensureBridgeAddress6, removeBridgeAddress6 } from './bridge6.ts';
import { deleteTable6, installRules6, TABLE6_NAME } from './nftables6.ts';
import {
  changeSysctl,
  confPath,
  IPV6_ROUTE_TABLE,
  IPV6_SYSCTL_ROOT,
  ipv6Unavailable,
  keepAcceptingRouterAdvertisements,
  restoreSysctl,
  type SysctlChange,
  uplinksOf,
} from './sysctl6.ts';
import { MACHINE_ID_PATH, readMachineId, ulaFor } from './ula.ts';

export interface HostSetup6Options {
  bridge: string;
  mode: Exclude<Ipv6Mode, { kind: 'none' }>;
  /** --nat6 / --no-nat6; null: on for a ULA prefix. */
  nat6: boolean | null;
  uplink?: string;
  firewall: boolean;
  /** Tests point these at their own files. */
  machineIdPath?: string;
  sysctlRoot?: string;
  routeTable?: string;
}

/** The bridge's IPv6 side as set up: what RA, DHCPv6 and DNS use. */
export interface BridgeIpv6 {
  /** The bridge's address (PREFIX::1 for auto), 16 bytes; also the RDNSS and DNS listening address. */
  address: Buffer;
  /** The /64 the address is in (bits after 64 zero), 16 bytes: the RA prefix information and the ip6.arpa zone. */
  prefix: Buffer;
  prefixLength: typeof IPV6_PREFIX_LENGTH;
  /** fc00::/7 (RFC 4193). */
  uniqueLocal: boolean;
  /** NAT66 masquerade installed. */
  nat6: boolean;
}

export interface HostSetup6 {
  ipv6: BridgeIpv6;
  /** Re-applies IPv6 on a bridge that was deleted and re-created under the same name. */
  restoreBridge(): Promise<void>;
  teardown(log: { info(m: string): void; warn(m: string): void }): Promise<void>;
}

export class HostSetup6Error extends Error {}

/** IPv6 off, with the warning to log (only when --ipv6 was not given). */
interface Ipv6Off {
  off: string;
}

/** The address to put on the bridge, or why there is none. */
function chooseAddress(o: HostSetup6Options): { address: Buffer } | { problem: string } {
  if (o.mode.kind === 'static') return { address: o.mode.address.address };
  const id = readMachineId(o.machineIdPath ?? MACHINE_ID_PATH);
  return id.ok ? { address: ulaFor(id.value, o.bridge).address } : { problem: id.error };
}

interface Changes {
  bridgeIpv6: SysctlChange | null;
  address: BridgeAddress6 | null;
  acceptRa: SysctlChange[];
  forwarding: SysctlChange | null;
  table: boolean;
}

/** Undoes `changes` in reverse order; every step runs, failures are reported to `warn`. */
async function undo(changes: Changes, bridge: string, log: { info(m: string): void; warn(m: string): void }): Promise<void> {
  const step = async (what: string, fn: () => Promise<unknown> | unknown): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      log.warn(`could not ${what}: ${(e as Error).message}`);
    }
  };
  if (changes.table) {
    await step(`delete nftables table ${TABLE6_NAME}`, async () => {
      await deleteTable6();
      log.info(`nftables table ${TABLE6_NAME} deleted`);
    });
  }
  const forwarding = changes.forwarding;
  if (forwarding) await step('restore IPv6 forwarding', () => restoreSysctl(forwarding) && log.info('IPv6 forwarding restored to its previous value'));
  for (const change of [...changes.acceptRa].reverse()) await step(`restore ${change.path}`, () => restoreSysctl(change));
  const address = changes.address;
  if (address) {
    await step(`remove ${formatIPv6(address.address)} from ${bridge}`, async () => {
      if (await removeBridgeAddress6(address)) log.info(`address ${formatIPv6(address.address)}/64 removed from ${bridge}`);
    });
  }
  const bridgeIpv6 = changes.bridgeIpv6;
  if (bridgeIpv6) await step(`restore ${bridgeIpv6.path}`, () => restoreSysctl(bridgeIpv6));
}

/** IPv6 on the bridge and its address: the part restoreBridge repeats on a re-created bridge. */
async function enableOnBridge(o: HostSetup6Options, root: string, address: Buffer, changes: Changes): Promise<void> {
  changes.bridgeIpv6 = changeSysctl(confPath(root, o.bridge, 'disable_ipv6'), '0');
  changes.address = await ensureBridgeAddress6(o.bridge, address);
}

/**
 * Sets up IPv6 for the bridge (which must exist). Returns Ipv6Off when the default `auto` cannot work here; throws a
 * HostSetup6Error (after undoing its own changes) when a step fails or an explicit --ipv6 cannot be honoured.
 */
export async function setupHost6(o: HostSetup6Options, log: { info(m: string): void }): Promise<HostSetup6 | Ipv6Off> {
  const explicit = o.mode.kind === 'static' || o.mode.explicit;
  const root = o.sysctlRoot ?? IPV6_SYSCTL_ROOT;
  const unavailable = ipv6Unavailable(root);
  const chosen = unavailable === null ? chooseAddress(o) : { problem: `${unavailable}: enable it, or pass --ipv6 none` };
  if ('problem' in chosen) {
    if (explicit) throw new HostSetup6Error(chosen.problem);
    return { off: `IPv6 off: ${chosen.problem}` };
  }
  const address = chosen.address;
  const prefix = prefixOf(address, IPV6_PREFIX_LENGTH);
  const nat6 = nat6Enabled(o.nat6, address);
  const changes: Changes = { bridgeIpv6: null, address: null, acceptRa: [], forwarding: null, table: false };
  const quiet = { info: () => undefined, warn: () => undefined };
  try {
    await enableOnBridge(o, root, address, changes);
    log.info(`bridge ${o.bridge}: IPv6 address ${formatIPv6(address)}/64 ${changes.address?.added ? 'added' : 'already present'}`);
    changes.acceptRa = keepAcceptingRouterAdvertisements(uplinksOf(o.bridge, o.uplink, o.routeTable ?? IPV6_ROUTE_TABLE), root);
    for (const change of changes.acceptRa) log.info(`${change.path}: 1 -> 2 (keeps taking router advertisements with forwarding on)`);
    changes.forwarding = changeSysctl(confPath(root, 'all', 'forwarding'), '1');
    log.info(changes.forwarding ? 'IPv6 forwarding enabled (net.ipv6.conf.all.forwarding=1)' : 'IPv6 forwarding already on');
    if (nat6 || o.firewall) {
      const rules = await installRules6({ bridge: o.bridge, prefix, nat6, firewall: o.firewall, ...(o.uplink !== undefined ? { uplink: o.uplink } : {}) });
      changes.table = true;
      log.info(`nftables table ${TABLE6_NAME}: ${rules.length} rules (${[nat6 ? 'NAT66' : '', o.firewall ? 'accept rules' : ''].filter(Boolean).join(' + ')})`);
    }
  } catch (e) {
    await undo(changes, o.bridge, quiet);
    throw new HostSetup6Error(`IPv6: ${(e as Error).message}`);
  }
  return {
    ipv6: { address, prefix, prefixLength: IPV6_PREFIX_LENGTH, uniqueLocal: isUniqueLocal(address), nat6 },
    async restoreBridge() {
      // The new bridge's own disable_ipv6 (from conf/default) is what exit must put back now.
      await enableOnBridge(o, root, address, changes);
    },
    teardown: (tlog) => undo(changes, o.bridge, tlog),
  };
}
