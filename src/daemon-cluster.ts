/**
 * The cluster part of the daemon (issue 16, docs/cluster.md), started like the IPv6 part (daemon6.ts) by one builder:
 * `startCluster` connects to etcd (--cluster-etcd, TLS from --etcd-*), joins (refusing a subnet that overlaps another
 * host's), and registers its undo on the DisposerStack (the lease revoked, so this host's names vanish from the others
 * at once). daemon.ts imports this file only when --cluster-etcd is given: etcd3 and gRPC load with it, never otherwise.
 *
 * What it hands back: the view (DNS answers remote names from it through src/dns/remote-zone.ts), `namesMayHaveChanged`
 * (the daemon calls it on DHCP traffic and every housekeeping tick; it publishes only when the names' serial moved),
 * the control socket's report, and `onPeersChanged` for the routes part (src/host/cluster-routes.ts).
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { Cluster, type ClusterMetricsSink, ClusterStartError } from './cluster/cluster.ts';
import { EtcdClient, type EtcdTls } from './cluster/etcd.ts';
import { formatSubnet4, type HostRecord, isLabel, type NameRecord, parseSubnet4 } from './cluster/records.ts';
import type { ClusterReport } from './cluster/report.ts';
import type { ClusterView, PeerRoute } from './cluster/view.ts';
import { startClusterRoutes } from './host/cluster-routes.ts';
import type { Learned6 } from './leases/learned6.ts';
import type { HostNames } from './leases/names.ts';
import type { LeaseTable } from './leases/table.ts';
import type { Logger } from './log.ts';
import { formatIPv4, type IPv4, networkOf, parseIPv4 } from './net/address.ts';
import { formatIPv6 } from './net/address6.ts';
import type { DisposerStack } from './shutdown.ts';

/** How often names are compared with what was published, besides every DHCP message: the housekeeping's pace. */
const NAMES_CHECK_MS = 1000;

/** --cluster-* and --etcd-* as parsed (cli.ts). */
export interface ClusterConfig {
  endpoints: string[];
  /** Paths of --etcd-cacert, --etcd-cert, --etcd-key; null: plain http endpoints. */
  tls: { cacert: string; cert: string | null; key: string | null } | null;
  /** --cluster-host: a DNS label. */
  host: string;
  /** --cluster-address; null: the address this host reaches etcd from (its uplink address). */
  address: IPv4 | null;
  ttlSeconds: number;
  /** --no-cluster-routes: false. */
  routes: boolean;
}

interface ClusterDeps {
  config: ClusterConfig;
  bridge: string;
  domain: string;
  log: Logger;
  stack: DisposerStack;
  net: { serverIp: IPv4; prefixLength: number };
  /** The bridge's IPv6 /64; null without IPv6. */
  prefix6: Buffer | null;
  names: HostNames;
  leases: LeaseTable;
  learned6: Learned6;
  /** The names of the reservations in force (by MAC and by name). */
  reservedNames: () => Iterable<string>;
  metrics: ClusterMetricsSink | null;
}

export interface ClusterPart {
  view: ClusterView;
  /** Cheap: publishes when the daemon's names or IPv6 addresses changed since the last call. */
  namesMayHaveChanged(): void;
  report(): ClusterReport;
  /** Called with the peers now and whenever a host comes, goes or changes (the routes part). */
  onPeersChanged(listener: (peers: readonly PeerRoute[]) => void): void;
}

function readTls(config: ClusterConfig): EtcdTls | null {
  const tls = config.tls;
  if (tls === null) return null;
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new ClusterStartError(`cannot read ${flag} ${path}: ${(e as Error).message}`);
    }
  };
  return {
    ca: read('--etcd-cacert', tls.cacert),
    ...(tls.cert !== null ? { cert: read('--etcd-cert', tls.cert) } : {}),
    ...(tls.key !== null ? { key: read('--etcd-key', tls.key) } : {}),
  };
}

/** The local address the kernel would use to reach the first etcd endpoint (a connected UDP socket sends nothing). */
async function uplinkAddress(endpoint: string): Promise<IPv4> {
  const url = new URL(endpoint);
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(Number(url.port || 2379), url.hostname.replace(/^\[|\]$/g, ''), () => resolve());
    });
    const ip = parseIPv4(socket.address().address);
    if (ip === null || ip === 0) throw new Error('no IPv4 address');
    return ip;
  } catch (e) {
    throw new ClusterStartError(`cannot tell this host's address from the route to ${endpoint} (${(e as Error).message}): give --cluster-address`);
  } finally {
    socket.close();
  }
}

/** Every name the daemon gives out now, as the records to publish (host = `self`). */
function localNames(d: ClusterDeps, self: string): Map<string, NameRecord> {
  const labels = new Set<string>(d.reservedNames());
  d.leases.forEachActiveHostname((_owner, _ip, hostname) => labels.add(hostname.toLowerCase()));
  const out = new Map<string, NameRecord>();
  for (const label of labels) {
    const entry = isLabel(label) ? d.names.lookup(label) : undefined;
    if (entry === undefined) continue;
    out.set(label, { name: label, host: self, kind: entry.source, a: [entry.ip], aaaa: d.prefix6 ? d.learned6.addressesOf(entry.mac) : [] });
  }
  return out;
}

function hostRecord(d: ClusterDeps, address: IPv4): HostRecord {
  const network = networkOf(d.net.serverIp, d.net.prefixLength);
  const subnet = parseSubnet4(formatSubnet4(network, d.net.prefixLength));
  if (subnet === null) throw new ClusterStartError(`bridge subnet ${formatIPv4(network)}/${d.net.prefixLength} cannot be published (prefix 1-30)`);
  return {
    host: d.config.host,
    bridge: d.bridge,
    ...subnet,
    prefix6: d.prefix6 ? { network: formatIPv6(d.prefix6), prefixLength: 64 } : null,
    address,
    domain: d.domain,
  };
}

/**
 * Routes to the peers' subnets and the nf_tables set that keeps them out of masquerade (src/host/cluster-routes.ts),
 * following the view; undone before the etcd lease is revoked (the stack runs backwards), so our routes go first.
 */
async function startRoutes(d: ClusterDeps, view: ClusterView): Promise<void> {
  const subnet = { network: networkOf(d.net.serverIp, d.net.prefixLength), prefixLength: d.net.prefixLength };
  const routes = await startClusterRoutes({ bridge: d.bridge, subnet, log: d.log });
  d.stack.defer(['cluster routes (ours removed, peer set emptied)', () => routes.close()]);
  const apply = (peers: readonly PeerRoute[]): void => {
    routes.sync(peers).catch((e: unknown) => d.log.warn(`cluster routes: ${(e as Error).message}`));
  };
  view.onPeersChanged(apply);
  apply(view.peers());
}

export async function startCluster(d: ClusterDeps): Promise<ClusterPart> {
  const { config, log } = d;
  const tls = readTls(config);
  const address = config.address ?? (await uplinkAddress(config.endpoints[0] as string));
  let cluster: Cluster | null = null;
  const client = new EtcdClient(
    { endpoints: config.endpoints, tls },
    { onRoundTrip: (s) => d.metrics?.clusterRoundTrip(s), onReachable: (ok) => cluster?.reachable(ok) },
  );
  const self = hostRecord(d, address);
  const started = new Cluster({ client, self, ttlSeconds: config.ttlSeconds, log, localNames: () => localNames(d, self.host), metrics: d.metrics });
  cluster = started;
  try {
    await started.start();
  } catch (e) {
    await started.close();
    throw e;
  }
  d.stack.defer(['cluster (etcd lease revoked)', () => started.close()]);
  if (config.routes) await startRoutes(d, started.view);
  log.info(
    `cluster: host ${self.host} (${formatSubnet4(self.network, self.prefixLength)} via ${formatIPv4(address)}) in etcd ${config.endpoints.join(',')}` +
      `, ${started.view.hostCount} hosts, ${started.view.nameCount} names`,
  );
  let serial = -1;
  const namesMayHaveChanged = (): void => {
    const now = d.names.serial + d.learned6.version;
    if (now === serial) return;
    serial = now;
    started.namesChanged();
  };
  // Lease expiry (housekeeping) and IPv6 addresses learned from the neighbour table change names without DHCP traffic.
  const check = setInterval(namesMayHaveChanged, NAMES_CHECK_MS);
  check.unref();
  d.stack.defer(['cluster names check', () => clearInterval(check)]);
  return {
    view: started.view,
    namesMayHaveChanged,
    report: () => started.report(),
    onPeersChanged(listener) {
      started.view.onPeersChanged(listener);
      listener(started.view.peers());
    },
  };
}
