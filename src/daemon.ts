/**
 * Starts the daemon as a list of parts, top to bottom: host set-up (bridge, forwarding, NAT), the lease store, DHCP
 * (the bridge's packet socket, the prober and server on it, then the transport between them), DNS on the bridge
 * address, housekeeping, and the operator's extras (control socket, metrics, resolved). Each builder returns what it
 * started and registers its undo on one DisposerStack, so a failed start and a stop unwind the same steps: the parts
 * last started first, the host set-up last of all.
 */
import { readFileSync } from 'node:fs';
import type { StaticRecord } from './config/dns-records.ts';
import type { DaemonIpv6, Ipv6Flags } from './config/ipv6.ts';
import { type AddressRange, checkRangeInSubnet } from './config/range.ts';
import {
  checkReservationConflicts,
  formatReservation,
  type HostEntry,
  type NameReservation,
  parseHostsFile,
  type Reservation,
  type ReservationContext,
  reservationProblem,
  splitHostEntries,
} from './config/reservations.ts';
import { startControlServer } from './control/server.ts';
import type { ClusterConfig, ClusterPart } from './daemon-cluster.ts';
import { type Ipv6Part, type Ipv6PartDeps, resolveIpv6, startIpv6Parts } from './daemon6.ts';
import { MAX_FAIR_SHARE_SOURCES } from './dhcp/fair-share.ts';
import { AddressProber } from './dhcp/probe.ts';
import { checkRoutesOnLink, type StaticRoute } from './dhcp/routes.ts';
import { DhcpServer } from './dhcp/server.ts';
import { BridgePort, DhcpTransport, formatLeaseEvent } from './dhcp/transport.ts';
import type { RecursorObserver } from './dns/recursor.ts';
import { type RemoteNames, RemoteNameZone, RemoteReverseZone } from './dns/remote-zone.ts';
import { type DnsAnswerSource, DnsServer, type Recursor } from './dns/server.ts';
import { LocalZones, reverseZoneName, type Zone } from './dns/zone.ts';
import { bridgeAddress } from './host/bridge-address.ts';
import { manualResolverHint, registerWithResolved, resolvedRunning } from './host/resolved.ts';
import type { HostSetup } from './host/setup.ts';
import { DnsmasqLeaseFile, dnsmasqRecordToLease, parseDnsmasqLeases } from './leases/dnsmasq-format.ts';
import { Learned6 } from './leases/learned6.ts';
import type { Lease6Store } from './leases/lease6.ts';
import { HostNames, unclaimableNames } from './leases/names.ts';
import { AddressPool } from './leases/pool.ts';
import { LeaseStore } from './leases/store.ts';
import { LeaseTable } from './leases/table.ts';
import { type Logger, RateLimitedCounter } from './log.ts';
import type { DnsZoneKind, Metrics } from './metrics.ts';
import { formatIPv4, type IPv4, inSubnet } from './net/address.ts';
import { formatIPv6 } from './net/address6.ts';
import { controlHandlers, effectiveReservations, type ReservationBook } from './operator.ts';
import { DisposerStack, drainDecided } from './shutdown.ts';

const METRIC_ZONE: Record<DnsAnswerSource, DnsZoneKind> = {
  local: 'local',
  cache: 'cached',
  upstream: 'forwarded',
  refused: 'refused',
  error: 'forwarded',
};

/** Negative-caching TTL and SOA/NS TTL of our zones. */
const DNS_SOA_TTL = 30;
/** Upper bound of lease A/PTR TTLs (also capped by the lease's remaining time). */
const DNS_RECORD_TTL = 30;
/**
 * At a stop, how long replies already decided may take to leave while the socket is still open: an OFFER whose ARP
 * probe the stop ended, an ACK waiting for its group commit (an fdatasync: milliseconds). Past it they are dropped.
 */
const STOP_DRAIN_MS = 1000;
/** Lease table slots whose names are registered per event-loop turn at start (a few ms each at 100 000 leases). */
const NAME_REGISTRATION_BATCH = 4096;

export interface DaemonConfig {
  bridge: string;
  range: AddressRange;
  leaseSeconds: number;
  domain: string;
  leaseDb: string;
  hosts: HostEntry[];
  hostsFile: string | null;
  rapidCommit: boolean;
  probe: boolean;
  probeTimeoutMs: number;
  declineQuarantineSeconds: number;
  /** Relay agents whose relayed requests are served (--relay); empty: relayed requests are dropped. */
  relays: IPv4[];
  /** Classless static routes for options 121/249 (--route); gateways are checked on-link at start. */
  routes: StaticRoute[];
  /** New leases per bridge port per hour, and the burst (--port-lease-limit); 0: no limit. */
  portLeaseLimit: number;
  dns: DnsConfig | null;
  /** Option 6 when our DNS is off: the host's own upstream servers (IPv4, not loopback). */
  dnsServersWhenOff: IPv4[];
  /** Create/reuse the bridge, forwarding, NAT; null: serve on an existing, configured bridge only. */
  hostSetup: HostSetupConfig | null;
  /**
   * --ipv6 / --range6 / --nat6 as parsed. With host set-up, setupHost applies mode and nat6 and returns the bridge's
   * address (HostSetup.ipv6); with --no-host-setup, auto means the /64 address the bridge already has.
   */
  ipv6: Ipv6Flags;
  /** Root-only control socket for `lxc-dhcpd leases/release/reserve/unreserve`; null: none. */
  controlSocket: string | null;
  /** Prometheus endpoint; null: none. */
  metrics: { address: string; port: number } | null;
  /** Said once at start (warn): what --lxc-net and --dnsmasq-conf serve differently, and conf lines not served. */
  notices: string[];
  /**
   * A dnsmasq lease file imported at the first start (--lxc-net: lxc-net's own, /var/lib/misc/dnsmasq.BRIDGE.leases),
   * when the database holds no lease yet, so containers keep their addresses across the switch; null: none.
   */
  importLeasesFrom: string | null;
  /** Keep a lease file in dnsmasq's format here; null: none. */
  dnsmasqLeaseFile: string | null;
  /** Register the bridge with systemd-resolved: true, false, or 'auto' (when resolved runs). */
  resolved: boolean | 'auto';
  /** --cluster-etcd and the other cluster flags (docs/cluster.md); null: no cluster (etcd3 is never loaded). */
  cluster?: ClusterConfig | null;
}

export interface HostSetupConfig {
  address: { ip: IPv4; prefixLength: number };
  /** MAC of a bridge we create (--bridge-mac). */
  bridgeMac?: string;
  uplink?: string;
  nat: boolean;
  firewall: boolean;
}

export interface DnsConfig {
  port: number;
  /** Static records (--dns-record), answered where no container holds the name. */
  records: StaticRecord[];
  /** UDP answers a second per /24 to untrusted sources (--dns-rate-limit; 0: no limit). */
  rateLimit: number;
  /**
   * --bare-names: answer a container's single-label name as NAME.<domain>, other single-label A/AAAA with NXDOMAIN
   * (src/dns/bare-name-zone.ts). --lxc-net turns it on unless the command line says --no-bare-names.
   */
  bareNames: boolean;
  /**
   * Builds the forwarder once the bridge address is known (so our own address is never used as an upstream); the
   * observer receives cache and upstream events for metrics.
   */
  recursor: ((ownAddresses: string[], observer: RecursorObserver | undefined, log: Logger) => Recursor) | null;
}

export class StartupError extends Error {}

export interface RunningDaemon {
  server: DhcpServer;
  dns: DnsServer | null;
  host: HostSetup | null;
  drops: RateLimitedCounter;
  metrics: Metrics | null;
  /** The metrics endpoint's bound port (useful when 0 was asked for). */
  metricsPort: number | null;
  /** One line for systemd's STATUS= and the start-up log. */
  summary: string;
  reload(): void;
  /** Stops everything and undoes the host set-up; every step runs, rejects afterwards if one failed. Idempotent. */
  close(): Promise<void>;
}

/** --host and --hosts-file, checked: the book's reservations by MAC (fromConfig) and by host name (byName). */
function loadReservations(config: DaemonConfig, context: ReservationContext): Pick<ReservationBook, 'fromConfig' | 'byName'> {
  const list = [...config.hosts];
  for (const r of list) {
    const problem = reservationProblem(r, context);
    if (problem !== null) throw new StartupError(`--host ${formatReservation(r)}: ${problem}`);
  }
  if (config.hostsFile !== null) {
    let text: string;
    try {
      text = readFileSync(config.hostsFile, 'utf8');
    } catch (e) {
      throw new StartupError(`cannot read --hosts-file ${config.hostsFile}: ${(e as Error).message}`);
    }
    const parsed = parseHostsFile(text, config.hostsFile, context);
    if (!parsed.ok) throw new StartupError(parsed.error);
    list.push(...parsed.value);
  }
  const conflict = checkReservationConflicts(list);
  if (conflict !== null) throw new StartupError(conflict);
  const { byMac, byName } = splitHostEntries(list);
  return { fromConfig: byMac, byName };
}

/** The bridge's address, from --address (host set-up) or from the bridge itself. */
interface BridgeNet {
  serverIp: IPv4;
  prefixLength: number;
}

/** The bridge address, checked against what must fit in its subnet (relays, the range) before anything starts. */
function bridgeNetwork(config: DaemonConfig): BridgeNet {
  let net: BridgeNet;
  if (config.hostSetup) {
    net = { serverIp: config.hostSetup.address.ip, prefixLength: config.hostSetup.address.prefixLength };
  } else {
    const found = bridgeAddress(config.bridge);
    if (!found.ok) throw new StartupError(found.error);
    net = { serverIp: found.address.ip, prefixLength: found.address.prefixLength };
  }
  for (const relay of config.relays) {
    if (!inSubnet(relay, net.serverIp, net.prefixLength)) {
      throw new StartupError(`--relay ${formatIPv4(relay)} is outside the bridge subnet ${formatIPv4(net.serverIp)}/${net.prefixLength}`);
    }
  }
  const offLink = checkRoutesOnLink(config.routes, net.serverIp, net.prefixLength);
  if (offLink !== null) throw new StartupError(offLink);
  const rangeError = checkRangeInSubnet(config.range, net.serverIp, net.prefixLength);
  if (rangeError !== null) throw new StartupError(rangeError);
  return net;
}

/** prom-client is loaded only with --metrics: importing it costs start-up time for nothing otherwise. */
async function loadMetrics(config: DaemonConfig): Promise<{ module: typeof import('./metrics.ts'); metrics: Metrics } | null> {
  if (!config.metrics) return null;
  const module = await import('./metrics.ts');
  return { module, metrics: new module.Metrics({ range: `${formatIPv4(config.range.first)}-${formatIPv4(config.range.last)}` }) };
}

/** Creates or reuses the bridge, forwarding and NAT; its undo is registered first, so it runs last. */
async function startHost(config: DaemonConfig, log: Logger, stack: DisposerStack): Promise<HostSetup | null> {
  if (!config.hostSetup) return null;
  // Loaded only when used: its netlink modules take a good part of start-up, and --no-host-setup needs none.
  const { setupHost, HostSetupError } = await import('./host/setup.ts');
  let host: HostSetup;
  try {
    host = await setupHost({ bridge: config.bridge, ...config.hostSetup, ipv6: config.ipv6 }, log);
  } catch (e) {
    throw e instanceof HostSetupError ? new StartupError(e.message) : e;
  }
  // A failed start undoes what it changed on the host quietly (only warnings), before the error is reported.
  stack.defer(['host set-up', (why) => host.teardown(why === 'rollback' ? { info: () => undefined, warn: (m) => log.warn(m) } : log)]);
  for (const warning of host.warnings) log.warn(warning);
  return host;
}

/** The lease side: store, pool and table, the reservations in force, and what mirrors the table (lease file, metrics). */
interface LeasePart {
  /** IPv4 and IPv6 leases, one group commit for both. */
  store: LeaseStore & Lease6Store;
  pool: AddressPool;
  leases: LeaseTable;
  leaseFile: DnsmasqLeaseFile | null;
  /** Makes staged bindings durable now (housekeeping, operator requests, shutdown). */
  commit(): void;
  /** The reply path: ACKs go out from `done`, once the batch is on disk (group commit). */
  commitThen(done: (error: Error | null) => void): void;
}

/**
 * With an empty database, the leases of the dnsmasq lease file at `path` (if there is one) become ours before the
 * table loads them, as `lxc-dhcpd import-dnsmasq` does: switching from lxc-net, every container keeps its address.
 */
function importAtFirstStart(store: LeaseStore, path: string, log: Logger): void {
  // A count, not a load: the table reads the leases right after, once.
  if (store.leaseCount() > 0) return;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return; // no lease file: nothing to keep
  }
  const parsed = parseDnsmasqLeases(text);
  for (const e of parsed.errors.slice(0, 3)) log.warn(`${path}:${e.line}: ${e.message} (line not imported)`);
  const now = Date.now();
  for (const record of parsed.records) store.stage(dnsmasqRecordToLease(record, now));
  store.commit();
  log.info(`imported ${parsed.records.length} leases from ${path} (first start: the lease database was empty)`);
}

function startLeases(config: DaemonConfig, log: Logger, stack: DisposerStack, book: ReservationBook, metrics: Metrics | null): LeasePart {
  let store: LeaseStore & Lease6Store;
  try {
    store = LeaseStore.open(config.leaseDb, { groupCommit: true, onNotice: (m) => log.warn(`lease database: ${m}`) });
  } catch (e) {
    throw new StartupError(`cannot open lease database ${config.leaseDb}: ${(e as Error).message} (choose another path with --lease-db)`);
  }
  stack.defer(['lease database', () => store.close()]);
  if (config.importLeasesFrom !== null) importAtFirstStart(store, config.importLeasesFrom, log);
  const pool = new AddressPool(config.range.first, config.range.last);
  const leases = new LeaseTable({ store, pool });
  leases.load();
  book.stored = store.loadReservations();
  const path = config.dnsmasqLeaseFile;
  const leaseFile = path
    ? new DnsmasqLeaseFile({ path, leases: () => leases.active(), onError: (e) => log.warn(`dnsmasq lease file ${path}: ${e.message}`) })
    : null;
  if (leaseFile) stack.defer(['dnsmasq lease file', () => leaseFile.close()]);
  /** Refreshes what mirrors the lease table after rows were written. */
  const mirror = (written: number): void => {
    if (written > 0) leaseFile?.schedule();
    metrics?.setLeases(leases.activeCount, pool.freeCount);
  };
  const commit = (): void => mirror(leases.commit());
  // The last bindings are written once nothing can stage more (a start that failed staged nothing to keep).
  stack.defer(['lease commit', (why) => why === 'stop' && commit()]);
  return { store, pool, leases, leaseFile, commit, commitThen: (done) => mirror(leases.commitThen(done)) };
}

/** What the DHCP part started: the bridge port, the server deciding, the transport between them. */
interface DhcpPart {
  port: BridgePort;
  server: DhcpServer;
  names: HostNames;
  drops: RateLimitedCounter;
}

/** The bridge's packet socket; throws StartupError without the privilege to open it. */
function openBridgePort(config: DaemonConfig, net: BridgeNet, drops: RateLimitedCounter, log: Logger, metrics: Metrics | null): BridgePort {
  try {
    return new BridgePort({
      bridge: config.bridge,
      serverIp: net.serverIp,
      drops,
      log,
      ...(metrics ? { onDrop: (reason: string) => metrics.dhcpDropped(reason) } : {}),
    });
  } catch (e) {
    throw new StartupError(`${(e as Error).message} (lxc-dhcpd needs root or CAP_NET_RAW)`);
  }
}

interface DhcpDeps {
  config: DaemonConfig;
  log: Logger;
  stack: DisposerStack;
  net: BridgeNet;
  lease: LeasePart;
  reservations: Reservation[];
  nameReservations: NameReservation[];
  deniedNames: ReadonlySet<string>;
  metrics: Metrics | null;
  /** Told about every DHCP message (the cluster publishes names that changed); a no-op without a cluster. */
  namesTouched: () => void;
}

/** Construction follows data: the port (MTU, MAC, ports), the prober sending on it, the server, then the transport. */
function startDhcp({ config, log, stack, net, lease, reservations, nameReservations, deniedNames, metrics, namesTouched }: DhcpDeps): DhcpPart {
  const drops = new RateLimitedCounter();
  const port = openBridgePort(config, net, drops, log, metrics);
  stack.defer(['DHCP packet socket', () => port.close()]);
  const prober = config.probe
    ? new AddressProber(
        (ip) => port.sendArpProbe(ip),
        config.probeTimeoutMs,
        (result) => metrics?.probe(result),
      )
    : null;
  const names = new HostNames(lease.leases.activeCount);
  const server = new DhcpServer({
    names,
    unclaimableNames: deniedNames,
    network: {
      serverIp: net.serverIp,
      prefixLength: net.prefixLength,
      routers: [net.serverIp],
      dnsServers: config.dns ? [net.serverIp] : config.dnsServersWhenOff,
      domain: config.domain,
      mtu: port.mtu,
      routes: config.routes,
    },
    leaseSeconds: config.leaseSeconds,
    rapidCommit: config.rapidCommit,
    offerHoldMs: 60_000,
    declineQuarantineMs: config.declineQuarantineSeconds * 1000,
    leases: lease.leases,
    pool: lease.pool,
    reservations,
    nameReservations,
    prober,
    readyTarget: 16,
    probeTimeoutMs: config.probeTimeoutMs,
    readyFreshMs: 60_000,
    now: Date.now,
    relays: new Set(config.relays),
    portExists: (ifindex) => port.isBridgePort(ifindex),
    portLeaseLimit: config.portLeaseLimit,
    onConflict: (e) => log.warn(formatLeaseEvent(e)),
    onSourceEvicted: () => {
      if (drops.hit('fair-share-table-full')) log.warn(`fair-share table full (${MAX_FAIR_SHARE_SOURCES} sources): a partly spent source was forgotten`);
    },
  });
  const transport = new DhcpTransport({
    port,
    server,
    serverIp: net.serverIp,
    commit: lease.commitThen,
    // a lightly loaded server syncs on the loop: cheaper than the thread pool's hand-offs (src/dhcp/inline-sync.ts)
    commitNow: lease.commit,
    commitInFlight: () => lease.store.syncInFlight,
    drops,
    log,
    ...(prober ? { onArpSender: (ip: IPv4) => prober.onArpFrom(ip) } : {}),
    onMessage: (direction: 'received' | 'sent', type: string) => {
      if (metrics) direction === 'received' ? metrics.dhcpReceived(type) : metrics.dhcpSent(type);
      namesTouched();
    },
    ...(metrics ? { onDrop: (reason: string) => metrics.dhcpDropped(reason) } : {}),
  });
  stack.defer(
    ['ARP probes', () => prober?.close()],
    [
      'replies decided before the stop',
      async () => {
        if (!(await drainDecided(() => lease.store.syncInFlight, STOP_DRAIN_MS))) {
          log.warn(`shutdown: the lease commit did not finish within ${STOP_DRAIN_MS} ms; ACKs waiting on it are not sent`);
        }
      },
    ],
    ['DHCP transport', () => transport.close()],
  );
  loadNames(server, names);
  server.tick(); // starts probing the first never-used addresses right away
  return { port, server, names, drops };
}

/**
 * The loaded leases' names are registered a batch per turn of the event loop, so DHCP is answered meanwhile; anything
 * that needs a name (a binding, a DNS query) first finishes the registration itself.
 */
function loadNames(server: DhcpServer, names: HostNames): void {
  server.loadNames();
  const registerNames = (): void => {
    if (!names.registerPending(NAME_REGISTRATION_BATCH)) setImmediate(registerNames);
  };
  setImmediate(registerNames);
}

async function startDns(
  config: DaemonConfig,
  log: Logger,
  stack: DisposerStack,
  net: BridgeNet,
  names: HostNames,
  metrics: Metrics | null,
  ipv6: { v6: DaemonIpv6; learned6: Learned6 } | null,
  remote: RemoteNames | null,
): Promise<DnsServer | null> {
  if (!config.dns) return null;
  const { serverIp, prefixLength } = net;
  const serverIp6 = ipv6 ? formatIPv6(ipv6.v6.address) : null;
  // The cluster's names of other hosts, after every local zone (a local name wins); they need the domain's SOA.
  const domainSoa = () => zones.domainSoa();
  const more: Zone[] = remote
    ? [
        new RemoteNameZone(remote, config.domain, domainSoa),
        new RemoteReverseZone(remote, 4, config.domain, domainSoa),
        new RemoteReverseZone(remote, 6, config.domain, domainSoa),
      ]
    : [];
  const zones: LocalZones = new LocalZones(
    {
      domain: config.domain,
      serverIp,
      prefixLength,
      soaTtl: DNS_SOA_TTL,
      recordTtl: DNS_RECORD_TTL,
      records: config.dns.records,
      bareNames: config.dns.bareNames,
      ...(ipv6 && serverIp6 ? { ipv6: { serverIp: serverIp6, addresses: ipv6.learned6 } } : {}),
    },
    names,
    Date.now,
    more,
  );
  const dns = new DnsServer({
    address: serverIp,
    port: config.dns.port,
    limits: { rrlResponsesPerSecond: config.dns.rateLimit },
    subnet: { ip: serverIp, prefixLength },
    zones,
    recursor: config.dns.recursor ? config.dns.recursor([formatIPv4(serverIp), ...(serverIp6 ? [serverIp6] : [])], metrics ?? undefined, log) : null,
    ...(ipv6 && serverIp6
      ? { moreAddresses: [serverIp6], moreTrusted: [`${formatIPv6(ipv6.v6.prefix)}/${ipv6.v6.prefixLength}`], linkLocalInterface: config.bridge }
      : {}),
    log,
    ...(metrics
      ? {
          onAnswer: (rcode: string, source: DnsAnswerSource) => metrics.dnsQuery(rcode, METRIC_ZONE[source] ?? 'forwarded'),
          onLimit: (kind: string) => metrics.dnsLimit(kind),
        }
      : {}),
  });
  try {
    await dns.listen();
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
  stack.defer(['DNS server', () => dns.close()]);
  return dns;
}

/**
 * Once a second: the bridge watcher first (a bridge deleted, re-created or given another MTU is served again within
 * a second; host set-up is re-applied to a re-created one), then lease expiry, then a commit (probe conflicts are
 * logged as they happen, through the server's onConflict).
 */
function startHousekeeping(
  config: DaemonConfig,
  log: Logger,
  stack: DisposerStack,
  host: HostSetup | null,
  net: BridgeNet,
  dhcp: DhcpPart,
  commit: () => void,
  ipv6: { part: Ipv6Part | null; learned6: Learned6; resyncNeighbours: () => void },
): void {
  const { port, server } = dhcp;
  /** Set while host set-up re-applies itself to a re-created bridge, so that ticks do not start it twice. */
  let restoringBridge = false;
  const watchBridge = (): void => {
    const change = port.checkBridge();
    if (change === 'mtu' || change === 'recreated') server.setMtu(port.mtu);
    if (ipv6.part?.checkBridge() === 'reopened') ipv6.resyncNeighbours();
    if (change !== 'recreated' || !host || restoringBridge) return;
    restoringBridge = true;
    host
      .restoreBridge()
      .then(
        (b) =>
          log.info(`bridge ${config.bridge}: address ${formatIPv4(net.serverIp)}/${net.prefixLength} ${b.addedAddress ? 'put back' : 'already present'}, up`),
        (e: unknown) => log.error(`could not restore bridge ${config.bridge}: ${(e as Error).message}`),
      )
      .finally(() => (restoringBridge = false));
  };
  const tick = setInterval(() => {
    try {
      watchBridge();
      for (const e of server.tick()) {
        log.info(formatLeaseEvent(e));
        // The container left (its IPv4 lease ended): its learned IPv6 addresses go with its name.
        if (e.type === 'EXPIRE' || e.type === 'RELEASE') ipv6.learned6.forgetMac(e.mac);
      }
      ipv6.part?.tick();
      commit();
    } catch (e) {
      log.error(`housekeeping failed: ${(e as Error).message}`);
    }
  }, 1000);
  stack.defer(['housekeeping timer', () => clearInterval(tick)]);
}

interface OperatorDeps {
  config: DaemonConfig;
  log: Logger;
  stack: DisposerStack;
  server: DhcpServer;
  lease: LeasePart;
  book: ReservationBook;
  reservationContext: ReservationContext;
  applyReservations: () => void;
  metrics: Awaited<ReturnType<typeof loadMetrics>>;
  ipv6: Ipv6Part | null;
  learned6: Learned6;
  cluster: ClusterPart | null;
}

/** The control socket and the metrics endpoint; returns the endpoint's bound address, null without --metrics. */
async function startOperatorExtras(d: OperatorDeps): Promise<{ address: string; port: number } | null> {
  const { config, log, stack, lease } = d;
  try {
    if (config.controlSocket) {
      const control = await startControlServer(
        config.controlSocket,
        controlHandlers({
          server: d.server,
          leases: lease.leases,
          store: lease.store,
          book: d.book,
          reservationContext: d.reservationContext,
          apply: d.applyReservations,
          commit: lease.commit,
          log,
          leases6: () => d.ipv6?.leases6() ?? [],
          learned6: () => d.learned6.list().map((e) => ({ mac: e.mac, ip: e.address })),
          ...(d.cluster ? { cluster: d.cluster.report } : {}),
        }),
        { onError: (e) => log.error(`control socket: ${e.message}`) },
      );
      stack.defer(['control socket', () => control.close()]);
    }
    if (!d.metrics || !config.metrics) return null;
    const endpoint = await d.metrics.module.serveMetrics(d.metrics.metrics, config.metrics.address, config.metrics.port);
    stack.defer(['metrics endpoint', () => endpoint.close()]);
    return { address: endpoint.address, port: endpoint.port };
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
}

/** With DNS on port 53: registers the bridge with systemd-resolved (or says how to); reverted at the stop. */
async function startResolved(config: DaemonConfig, log: Logger, stack: DisposerStack, net: BridgeNet, dns: DnsServer | null): Promise<void> {
  if (!dns || config.dns?.port !== 53) return;
  const { serverIp } = net;
  const wanted = config.resolved === 'auto' ? resolvedRunning() : config.resolved;
  if (!wanted) {
    log.info(manualResolverHint(config.bridge, serverIp, config.domain));
    return;
  }
  try {
    const link = await registerWithResolved(config.bridge, serverIp, config.domain);
    stack.defer(['systemd-resolved registration', () => link.revert()]);
    log.info(`systemd-resolved: ${config.bridge} uses ${formatIPv4(serverIp)} for *.${config.domain}`);
  } catch (e) {
    log.warn(`could not register with systemd-resolved: ${(e as Error).message}; ${manualResolverHint(config.bridge, serverIp, config.domain)}`);
  }
}

/** What the IPv6 part is built from: the command line's settings, the /64, the lease side and the names. */
function ipv6Deps(
  config: DaemonConfig,
  v6: DaemonIpv6,
  log: Logger,
  stack: DisposerStack,
  lease: LeasePart,
  reservations: Reservation[],
  names: HostNames,
  deniedNames: ReadonlySet<string>,
  learned6: Learned6,
  metrics: Metrics | null,
): Ipv6PartDeps {
  const { bridge, domain, leaseSeconds, rapidCommit, portLeaseLimit } = config;
  return {
    settings: { bridge, domain, leaseSeconds, rapidCommit, portLeaseLimit },
    v6,
    log,
    stack,
    store: lease.store,
    commitThen: lease.commitThen,
    reservations,
    names,
    deniedNames,
    learned6,
    metrics,
  };
}

/**
 * The bridge's IPv6 /64 once host set-up has run (null: IPv6 off); IPv6 reservations are checked against it here,
 * which the first check (before the host was touched) could not do.
 */
function ipv6Network(config: DaemonConfig, host: HostSetup | null, log: Logger, context: ReservationContext, book: ReservationBook): DaemonIpv6 | null {
  const resolved = resolveIpv6(config.ipv6, config.bridge, host, log);
  if (!resolved.ok) throw new StartupError(resolved.error);
  context.serverIp6 = resolved.value ? formatIPv6(resolved.value.address) : null;
  if (book.fromConfig.some((r) => r.ip6 !== undefined)) Object.assign(book, loadReservations(config, context));
  return resolved.value;
}

/** What was started, in the two shapes it is told: systemd's STATUS= line and the start-up log line. */
function describeStart(
  config: DaemonConfig,
  net: BridgeNet,
  s: { mtu: number; activeLeases: number; dns: DnsServer | null; metricsAt: { address: string; port: number } | null },
): { summary: string; line: string } {
  const where = `${formatIPv4(net.serverIp)}/${net.prefixLength}`;
  const range = `${formatIPv4(config.range.first)}-${formatIPv4(config.range.last)}`;
  const nat = config.hostSetup?.nat ? 'on' : 'off';
  const summary =
    `bridge ${config.bridge} ${where}, range ${range}, ` +
    `domain ${config.domain}, ${s.activeLeases} leases in ${config.leaseDb}, ` +
    `NAT ${nat}, DNS ${s.dns ? `on :${s.dns.port}` : 'off'}, ` +
    `metrics ${s.metricsAt ? `${s.metricsAt.address}:${s.metricsAt.port}` : 'off'}`;
  const line =
    `serving DHCP on ${config.bridge} (${where}, mtu ${s.mtu}), range ${range}, ` +
    `lease ${config.leaseSeconds}s, domain ${config.domain}, ${s.activeLeases} active leases in ${config.leaseDb}, ` +
    `probe ${config.probe ? `on (${config.probeTimeoutMs} ms)` : 'off'}, rapid commit ${config.rapidCommit ? 'on' : 'off'}, ` +
    `DNS ${s.dns ? `on ${formatIPv4(net.serverIp)}:${s.dns.port} (zones ${config.domain}, ${reverseZoneName(net.serverIp, net.prefixLength)})` : 'off'}, ` +
    `NAT ${nat}, metrics ${s.metricsAt ? `http://${s.metricsAt.address}:${s.metricsAt.port}/metrics` : 'off'}`;
  return { summary, line };
}

/**
 * With --cluster-etcd: the cluster part (src/daemon-cluster.ts, loaded only then, so etcd3 and gRPC never load
 * otherwise). A subnet overlapping another host's ends the start with one line naming that host.
 */
async function startClusterPart(d: {
  config: DaemonConfig;
  log: Logger;
  stack: DisposerStack;
  net: BridgeNet;
  v6: DaemonIpv6 | null;
  dhcp: DhcpPart;
  lease: LeasePart;
  learned6: Learned6;
  book: ReservationBook;
  metrics: Metrics | null;
}): Promise<ClusterPart | null> {
  const config = d.config.cluster;
  if (!config) return null;
  const { startCluster } = await import('./daemon-cluster.ts').catch((e: unknown) => {
    // etcd3 is an optional peer dependency (package.json): a global install leaves it out unless asked for.
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes("'etcd3'"))
      throw new StartupError('--cluster-etcd needs the etcd3 package next to lxc-dhcpd: npm install -g etcd3@1.1.2');
    throw e;
  });
  const { ClusterStartError } = await import('./cluster/cluster.ts');
  d.metrics?.watchClusterNames(() => part?.view.namesPerHost() ?? new Map());
  let part: ClusterPart | null = null;
  try {
    part = await startCluster({
      config,
      bridge: d.config.bridge,
      domain: d.config.domain,
      log: d.log,
      stack: d.stack,
      net: d.net,
      prefix6: d.v6?.prefix ?? null,
      names: d.dhcp.names,
      leases: d.lease.leases,
      learned6: d.learned6,
      reservedNames: () => [...d.book.fromConfig, ...d.book.stored, ...d.book.byName].flatMap((r) => (r.name ? [r.name.toLowerCase()] : [])),
      metrics: d.metrics,
    });
    return part;
  } catch (e) {
    throw e instanceof ClusterStartError ? new StartupError(e.message) : e;
  }
}

/**
 * Starts every part in the order data flows; if one fails, everything already started is undone (the same steps a
 * stop runs) before the error is reported.
 */
export async function startDaemon(config: DaemonConfig, log: Logger): Promise<RunningDaemon> {
  const stack = new DisposerStack();
  try {
    return await startParts(config, log, stack);
  } catch (e) {
    // Whatever this start changed is undone before the error is reported; a step that fails is logged by runSteps.
    await stack.unwind('rollback', log).catch(() => undefined);
    throw e;
  }
}

async function startParts(config: DaemonConfig, log: Logger, stack: DisposerStack): Promise<RunningDaemon> {
  for (const notice of config.notices) log.warn(notice);
  const net = bridgeNetwork(config);
  const deniedNames = unclaimableNames(config.domain);
  const reservationContext: ReservationContext = { serverIp: net.serverIp, prefixLength: net.prefixLength, deniedNames };
  const book: ReservationBook = { ...loadReservations(config, reservationContext), stored: [] };
  const host = await startHost(config, log, stack);
  const v6 = ipv6Network(config, host, log, reservationContext, book);
  const metrics = await loadMetrics(config);
  const lease = startLeases(config, log, stack, book, metrics?.metrics ?? null);
  const reservations = effectiveReservations(book, log, reservationContext);
  const namesTouched = { hook: (): void => undefined }; // set once the cluster part runs
  const dhcpDeps = { config, log, stack, net, lease, reservations, nameReservations: book.byName, deniedNames, metrics: metrics?.metrics ?? null };
  const dhcp = startDhcp({ ...dhcpDeps, namesTouched: () => namesTouched.hook() });
  const learned6 = new Learned6();
  const started6 = v6
    ? await startIpv6Parts(ipv6Deps(config, v6, log, stack, lease, reservations, dhcp.names, deniedNames, learned6, metrics?.metrics ?? null))
    : null;
  const ipv6 = started6?.part ?? null;
  if (ipv6) lease.leaseFile?.setIpv6(ipv6.serverDuid, () => ipv6.leases6());
  const cluster = await startClusterPart({ config, log, stack, net, v6, dhcp, lease, learned6, book, metrics: metrics?.metrics ?? null });
  if (cluster) namesTouched.hook = () => cluster.namesMayHaveChanged();
  const dns = await startDns(config, log, stack, net, dhcp.names, metrics?.metrics ?? null, v6 ? { v6, learned6 } : null, cluster?.view ?? null);
  const resyncNeighbours = started6?.resyncNeighbours ?? ((): void => undefined);
  startHousekeeping(config, log, stack, host, net, dhcp, lease.commit, { part: ipv6, learned6, resyncNeighbours });
  const applyReservations = (): void => {
    const list = effectiveReservations(book, log, reservationContext);
    dhcp.server.setReservations(list, book.byName);
    ipv6?.setReservations(list);
    namesTouched.hook();
  };
  const metricsAt = await startOperatorExtras({
    config,
    log,
    stack,
    server: dhcp.server,
    lease,
    book,
    reservationContext,
    applyReservations,
    metrics,
    ipv6,
    learned6,
    cluster,
  });
  lease.commit();
  if (lease.leaseFile) await lease.leaseFile.flush();
  await startResolved(config, log, stack, net, dns);
  const { summary, line } = describeStart(config, net, { mtu: dhcp.port.mtu, activeLeases: lease.leases.activeCount, dns, metricsAt });
  log.info(line);

  let closing: Promise<void> | null = null;
  return {
    server: dhcp.server,
    dns,
    host,
    drops: dhcp.drops,
    metrics: metrics?.metrics ?? null,
    metricsPort: metricsAt?.port ?? null,
    summary,
    reload() {
      try {
        Object.assign(book, loadReservations(config, reservationContext));
        applyReservations();
        log.info(`reloaded ${book.fromConfig.length + book.byName.length} reservations`);
      } catch (e) {
        log.error(`reload failed, keeping the old reservations: ${(e as Error).message}`);
      }
    },
    close() {
      // Every step runs even when one before it failed, so the host set-up is undone whatever else went wrong.
      closing ??= stack.unwind('stop', log);
      return closing;
    },
  };
}
