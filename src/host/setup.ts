/**
 * One call that prepares the host for the containers: the bridge with its address, IPv4 forwarding, and our nf_tables
 * table (NAT + accept rules). Whatever this start created is rolled back if a later step fails, and torn down at exit.
 */
import { formatIPv4, type IPv4 } from '../net/address.ts';
import { type BridgeSetup, ensureBridge, removeBridgeIfOurs } from './bridge.ts';
import { runDiagnostics } from './diagnostics.ts';
import { enableForwarding, type ForwardingChange, restoreForwarding } from './forwarding.ts';
import { deleteTable, installRules } from './nftables.ts';

export interface HostSetupOptions {
  bridge: string;
  address: { ip: IPv4; prefixLength: number };
  uplink?: string;
  nat: boolean;
  firewall: boolean;
}

export interface HostSetup {
  bridge: BridgeSetup;
  forwarding: ForwardingChange;
  rulesInstalled: boolean;
  warnings: string[];
  /**
   * After the bridge was deleted and re-created under the same name while we run: puts our address back on it and
   * brings it up (the nftables rules match the bridge by name and need nothing). Teardown then undoes this instead.
   */
  restoreBridge(): Promise<BridgeSetup>;
  /** Deletes our table, restores forwarding if we changed it, removes the bridge if we created it and it has no ports. */
  teardown(log: { info(m: string): void; warn(m: string): void }): Promise<void>;
}

export class HostSetupError extends Error {}

export async function setupHost(o: HostSetupOptions, log: { info(m: string): void }): Promise<HostSetup> {
  const where = `${formatIPv4(o.address.ip)}/${o.address.prefixLength}`;
  let bridge: BridgeSetup;
  try {
    bridge = await ensureBridge(o.bridge, o.address);
  } catch (e) {
    throw new HostSetupError(`cannot set up bridge ${o.bridge} with ${where}: ${(e as Error).message}`);
  }
  log.info(`bridge ${o.bridge}: ${bridge.created ? 'created' : 'reused'}, address ${where} ${bridge.addedAddress ? 'added' : 'already present'}, up`);
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
  } catch (e) {
    if (rulesInstalled) await deleteTable().catch(() => undefined);
    if (forwarding) restoreForwarding(forwarding);
    await removeBridgeIfOurs(bridge).catch(() => undefined);
    throw new HostSetupError(`host setup failed, changes rolled back: ${(e as Error).message}`);
  }
  const warnings = await runDiagnostics({
    bridge: o.bridge,
    bridgeAddress: o.address.ip,
    ...(o.uplink !== undefined ? { uplink: o.uplink } : {}),
    excludePids: [process.pid],
  }).catch((e: unknown) => [`diagnostics failed: ${(e as Error).message}`]);
  const fwd = forwarding;
  const setup: HostSetup = {
    bridge,
    forwarding: fwd,
    rulesInstalled,
    warnings,
    async restoreBridge() {
      const again = await ensureBridge(o.bridge, o.address);
      // Someone else created this bridge: at exit we take back only our address (created stays false).
      bridge = { ...again, created: false };
      setup.bridge = bridge;
      return bridge;
    },
    async teardown(tlog) {
      if (rulesInstalled) {
        await deleteTable().then(
          () => tlog.info('nftables table ip lxc-dhcpd deleted'),
          (e: unknown) => tlog.warn(`could not delete nftables table ip lxc-dhcpd: ${(e as Error).message}`),
        );
      }
      try {
        if (restoreForwarding(fwd)) tlog.info('IPv4 forwarding restored to its previous value');
      } catch (e) {
        // Logged and passed over: the bridge below is still ours to remove.
        tlog.warn(`could not restore IPv4 forwarding: ${(e as Error).message}`);
      }
      const removal = await removeBridgeIfOurs(bridge).catch((e: unknown) => {
        tlog.warn(`could not clean up bridge ${o.bridge}: ${(e as Error).message}`);
        return null;
      });
      if (removal?.removedBridge) tlog.info(`bridge ${o.bridge} removed`);
      else if (removal?.removedAddress)
        tlog.info(`address ${where} removed from ${o.bridge}${removal.keptBecause ? ` (bridge kept: ${removal.keptBecause})` : ''}`);
    },
  };
  return setup;
}
