/**
 * One call that prepares the host for the containers: the bridge with its address, IPv4 forwarding, and our nf_tables
 * table (NAT + accept rules), then the IPv6 side (setup6.ts: the bridge's /64 address, forwarding, accept_ra, the ip6
 * table). Whatever this start created is rolled back if a later step fails, and torn down at exit.
 */

import type { Ipv6Mode } from '../config/ipv6.ts';
import { formatIPv4, type IPv4 } from '../net/address.ts';
import { type BridgeSetup, ensureBridge, removeBridgeIfOurs } from './bridge.ts';
import { runDiagnostics } from './diagnostics.ts';
import { enableForwarding, type ForwardingChange, restoreForwarding } from './forwarding.ts';
import { deleteTable, installRules } from './nftables.ts';
import { type BridgeIpv6, type HostSetup6, type HostSetup6Options, setupHost6 } from './setup6.ts';

export type { BridgeIpv6 };

/** --ipv6 and --nat6 as parsed (src/config/ipv6.ts), plus the files tests replace. */
interface HostIpv6Options extends Pick<HostSetup6Options, 'machineIdPath' | 'sysctlRoot' | 'routeTable'> {
  mode: Ipv6Mode;
  nat6: boolean | null;
}

interface HostSetupOptions {
  bridge: string;
  address: { ip: IPv4; prefixLength: number };
  uplink?: string;
  nat: boolean;
  firewall: boolean;
  /** The MAC of a bridge this start creates (--bridge-mac); absent: the kernel's choice. */
  bridgeMac?: string;
  /** Absent or mode none: IPv4 only. */
  ipv6?: HostIpv6Options;
}

export interface HostSetup {
  bridge: BridgeSetup;
  forwarding: ForwardingChange;
  rulesInstalled: boolean;
  /** The bridge's IPv6 address and /64 for RA, DHCPv6 and DNS; null: IPv6 off (--ipv6 none, or off here with a warning). */
  ipv6: BridgeIpv6 | null;
  warnings: string[];
  /**
   * After the bridge was deleted and re-created under the same name while we run: puts our addresses back on it
   * (IPv6 enabled again) and brings it up (the nftables rules match the bridge by name and need nothing). Teardown then undoes this instead.
   */
  restoreBridge(): Promise<BridgeSetup>;
  /**
   * Undoes the IPv6 side (ip6 table, forwarding, accept_ra, the address, disable_ipv6), deletes our ip table, restores
   * forwarding if we changed it, removes the bridge if we created it and it has no ports.
   */
  teardown(log: { info(m: string): void; warn(m: string): void }): Promise<void>;
}

export class HostSetupError extends Error {}

export async function setupHost(o: HostSetupOptions, log: { info(m: string): void }): Promise<HostSetup> {
  const where = `${formatIPv4(o.address.ip)}/${o.address.prefixLength}`;
  let bridge: BridgeSetup;
  try {
    bridge = await ensureBridge(o.bridge, o.address, o.bridgeMac);
  } catch (e) {
    throw new HostSetupError(`cannot set up bridge ${o.bridge} with ${where}: ${(e as Error).message}`);
  }
  log.info(`bridge ${o.bridge}: ${bridge.created ? 'created' : 'reused'}, address ${where} ${bridge.addedAddress ? 'added' : 'already present'}, up`);
  const warnings: string[] = [];
  const { forwarding, rulesInstalled, host6 } = await applyChanges(o, bridge, log, warnings);
  const diagnosed = await runDiagnostics({
    bridge: o.bridge,
    bridgeAddress: o.address.ip,
    ...(o.uplink !== undefined ? { uplink: o.uplink } : {}),
    excludePids: [process.pid],
  }).catch((e: unknown) => [`diagnostics failed: ${(e as Error).message}`]);
  warnings.push(...diagnosed);
  const setup: HostSetup = {
    bridge,
    forwarding,
    rulesInstalled,
    ipv6: host6?.ipv6 ?? null,
    warnings,
    async restoreBridge() {
      const again = await ensureBridge(o.bridge, o.address, o.bridgeMac);
      // Someone else created this bridge: at exit we take back only our address (created stays false).
      bridge = { ...again, created: false };
      setup.bridge = bridge;
      await host6?.restoreBridge();
      return bridge;
    },
    async teardown(tlog) {
      await host6?.teardown(tlog);
      await teardownIpv4(o.bridge, where, { bridge, forwarding, rulesInstalled }, tlog);
    },
  };
  return setup;
}

interface AppliedChanges {
  forwarding: ForwardingChange;
  rulesInstalled: boolean;
  host6: HostSetup6 | null;
}

/** Forwarding, our ip table and the IPv6 side; on a failure everything so far (the bridge included) is rolled back. */
async function applyChanges(o: HostSetupOptions, bridge: BridgeSetup, log: { info(m: string): void }, warnings: string[]): Promise<AppliedChanges> {
  let forwarding: ForwardingChange | null = null;
  let rulesInstalled = false;
  try {
    forwarding = enableForwarding();
    log.info(forwarding.changed ? 'IPv4 forwarding enabled (net.ipv4.ip_forward=1)' : 'IPv4 forwarding already on');
    if (o.nat || o.firewall) {
      const installed = await installRules({
        bridge: o.bridge,
        subnet: o.address.ip,
        prefixLength: o.address.prefixLength,
        ...(o.uplink !== undefined ? { uplink: o.uplink } : {}),
        nat: o.nat,
        firewall: o.firewall,
      });
      rulesInstalled = true;
      log.info(
        `nftables table ${installed.table}: ${installed.rules.length} rules (${[o.nat ? 'NAT' : '', o.firewall ? 'accept rules' : ''].filter(Boolean).join(' + ')})`,
      );
    }
    const host6 = await ipv6Part(o, log, warnings);
    return { forwarding, rulesInstalled, host6 };
  } catch (e) {
    if (rulesInstalled) await deleteTable().catch(() => undefined);
    if (forwarding) restoreForwarding(forwarding);
    await removeBridgeIfOurs(bridge).catch(() => undefined);
    throw new HostSetupError(`host setup failed, changes rolled back: ${(e as Error).message}`);
  }
}

/** The IPv4 side's teardown: our ip table, forwarding, then the bridge (or only our address on it). */
async function teardownIpv4(
  name: string,
  where: string,
  state: { bridge: BridgeSetup; forwarding: ForwardingChange; rulesInstalled: boolean },
  tlog: { info(m: string): void; warn(m: string): void },
): Promise<void> {
  if (state.rulesInstalled) {
    await deleteTable().then(
      () => tlog.info('nftables table ip lxc-dhcpd deleted'),
      (e: unknown) => tlog.warn(`could not delete nftables table ip lxc-dhcpd: ${(e as Error).message}`),
    );
  }
  try {
    if (restoreForwarding(state.forwarding)) tlog.info('IPv4 forwarding restored to its previous value');
  } catch (e) {
    // Logged and passed over: the bridge below is still ours to remove.
    tlog.warn(`could not restore IPv4 forwarding: ${(e as Error).message}`);
  }
  const removal = await removeBridgeIfOurs(state.bridge).catch((e: unknown) => {
    tlog.warn(`could not clean up bridge ${name}: ${(e as Error).message}`);
    return null;
  });
  if (removal?.removedBridge) tlog.info(`bridge ${name} removed`);
  else if (removal?.removedAddress) tlog.info(`address ${where} removed from ${name}${removal.keptBecause ? ` (bridge kept: ${removal.keptBecause})` : ''}`);
}

/** The IPv6 side, when asked for; IPv6 that the default `auto` cannot use here adds a warning instead. */
async function ipv6Part(o: HostSetupOptions, log: { info(m: string): void }, warnings: string[]): Promise<HostSetup6 | null> {
  const ipv6 = o.ipv6;
  if (ipv6 === undefined || ipv6.mode.kind === 'none') return null;
  const result = await setupHost6(
    {
      bridge: o.bridge,
      mode: ipv6.mode,
      nat6: ipv6.nat6,
      firewall: o.firewall,
      ...(o.uplink !== undefined ? { uplink: o.uplink } : {}),
      ...(ipv6.machineIdPath !== undefined ? { machineIdPath: ipv6.machineIdPath } : {}),
      ...(ipv6.sysctlRoot !== undefined ? { sysctlRoot: ipv6.sysctlRoot } : {}),
      ...(ipv6.routeTable !== undefined ? { routeTable: ipv6.routeTable } : {}),
    },
    log,
  );
  if ('off' in result) {
    warnings.push(result.off);
    return null;
  }
  return result;
}
