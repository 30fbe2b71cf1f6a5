/**
 * Wires the parts together: host set-up (bridge, forwarding, NAT), the lease store, the DHCP server on the bridge's
 * packet socket (src/dhcp/transport.ts), the DNS server on the bridge address, housekeeping and shutdown.
 */
import { readFileSync } from 'node:fs';
import { formatIPv4, inSubnet, type IPv4 } from './net/address.ts';
import { bridgeAddress } from './host/bridge-address.ts';
import type { HostSetup } from './host/setup.ts';
import { checkRangeInSubnet, type AddressRange } from './config/range.ts';
import {
  checkReservationConflicts,
  formatReservation,
  parseHostsFile,
  reservationProblem,
  type Reservation,
  type ReservationContext,
} from './config/reservations.ts';
import { AddressPool } from './leases/pool.ts';
import { LeaseStore } from './leases/store.ts';
import { LeaseTable } from './leases/table.ts';
import { HostNames, unclaimableNames } from './leases/names.ts';
import { AddressProber } from './dhcp/probe.ts';
import { DhcpServer } from './dhcp/server.ts';
import { MAX_FAIR_SHARE_SOURCES } from './dhcp/fair-share.ts';
import { DhcpTransport, formatLeaseEvent } from './dhcp/transport.ts';
import { DnsServer, type DnsAnswerSource, type Recursor } from './dns/server.ts';
import type { RecursorObserver } from './dns/recursor.ts';
import { LocalZones, reverseZoneName } from './dns/zone.ts';
import { RateLimitedCounter, type Logger } from './log.ts';
import { drainDecided, runSteps } from './shutdown.ts';
import type { DnsZoneKind, Metrics, MetricsServer } from './metrics.ts';
import { DnsmasqLeaseFile } from './leases/dnsmasq-format.ts';
import { startControlServer, type ControlServer } from './control/server.ts';
import { controlHandlers, effectiveReservations, type ReservationBook } from './operator.ts';
import { manualResolverHint, registerWithResolved, resolvedRunning, type ResolvedRegistration } from './host/resolved.ts';

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
  hosts: Reservation[];
  hostsFile: string | null;
  rapidCommit: boolean;
  probe: boolean;
  probeTimeoutMs: number;
  declineQuarantineSeconds: number;
  /** Relay agents whose relayed requests are served (--relay); empty: relayed requests are dropped. */
  relays: IPv4[];
  /** New leases per bridge port per hour, and the burst (--port-lease-limit); 0: no limit. */
  portLeaseLimit: number;
  dns: DnsConfig | null;
  /** Option 6 when our DNS is off: the host's own upstream servers (IPv4, not loopback). */
  dnsServersWhenOff: IPv4[];
  /** Create/reuse the bridge, forwarding, NAT; null: serve on an existing, configured bridge only. */
  hostSetup: HostSetupConfig | null;
  /** Root-only control socket for `lxc-dhcpd leases/release/reserve/unreserve`; null: none. */
  controlSocket: string | null;
  /** Prometheus endpoint; null: none. */
  metrics: { address: string; port: number } | null;
  /** Keep a lease file in dnsmasq's format here; null: none. */
  dnsmasqLeaseFile: string | null;
  /** Register the bridge with systemd-resolved: true, false, or 'auto' (when resolved runs). */
  resolved: boolean | 'auto';
}

export interface HostSetupConfig {
  address: { ip: IPv4; prefixLength: number };
  uplink?: string;
  nat: boolean;
  firewall: boolean;
}

export interface DnsConfig {
  port: number;
  /** UDP answers a second per /24 to untrusted sources (--dns-rate-limit; 0: no limit). */
  rateLimit: number;
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

function loadReservations(config: DaemonConfig, context: ReservationContext): Reservation[] {
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
  return list;
}


export async function startDaemon(config: DaemonConfig, log: Logger): Promise<RunningDaemon> {
  let host: HostSetup | null = null;
  try {
    return await startServices(config, log, async () => {
      if (!config.hostSetup) return null;
      // Loaded only when used: its netlink modules take a good part of start-up, and --no-host-setup needs none.
      const { setupHost, HostSetupError } = await import('./host/setup.ts');
      try {
        host = await setupHost({ bridge: config.bridge, ...config.hostSetup }, log);
      } catch (e) {
        throw e instanceof HostSetupError ? new StartupError(e.message) : e;
      }
      for (const warning of host.warnings) log.warn(warning);
      return host;
    });
  } catch (e) {
    // Whatever this start changed on the host is undone before the error is reported.
    if (host) await (host as HostSetup).teardown({ info: () => undefined, warn: (m) => log.warn(m) });
    throw e;
  }
}

async function startServices(
  config: DaemonConfig,
  log: Logger,
  prepareHost: () => Promise<HostSetup | null>,
): Promise<RunningDaemon> {
  let serverIp: IPv4;
  let prefixLength: number;
  if (config.hostSetup) {
    ({ ip: serverIp, prefixLength } = config.hostSetup.address);
  } else {
    const found = bridgeAddress(config.bridge);
    if (!found.ok) throw new StartupError(found.error);
    ({ ip: serverIp, prefixLength } = found.address);
  }
  for (const relay of config.relays) {
    if (!inSubnet(relay, serverIp, prefixLength)) {
      throw new StartupError(`--relay ${formatIPv4(relay)} is outside the bridge subnet ${formatIPv4(serverIp)}/${prefixLength}`);
    }
  }
  const rangeError = checkRangeInSubnet(config.range, serverIp, prefixLength);
  if (rangeError !== null) throw new StartupError(rangeError);
  const deniedNames = unclaimableNames(config.domain);
  const reservationContext: ReservationContext = { serverIp, prefixLength, deniedNames };
  const book: ReservationBook = { fromConfig: loadReservations(config, reservationContext), stored: [] };
  const host = await prepareHost();

  let store: LeaseStore;
  try {
    store = LeaseStore.open(config.leaseDb, { groupCommit: true, onNotice: (m) => log.warn(`lease database: ${m}`) });
  } catch (e) {
    throw new StartupError(`cannot open lease database ${config.leaseDb}: ${(e as Error).message} (choose another path with --lease-db)`);
  }
  const pool = new AddressPool(config.range.first, config.range.last);
  const leases = new LeaseTable({ store, pool });
  leases.load();
  book.stored = store.loadReservations();
  const reservations = effectiveReservations(book, log, reservationContext);

  // prom-client is loaded only with --metrics: importing it costs start-up time for nothing otherwise.
  const metricsModule = config.metrics ? await import('./metrics.ts') : null;
  const metrics = metricsModule ? new metricsModule.Metrics({ range: `${formatIPv4(config.range.first)}-${formatIPv4(config.range.last)}` }) : null;
  const leaseFile = config.dnsmasqLeaseFile
    ? new DnsmasqLeaseFile({
        path: config.dnsmasqLeaseFile,
        leases: () => leases.active(),
        onError: (e) => log.warn(`dnsmasq lease file ${config.dnsmasqLeaseFile}: ${e.message}`),
      })
    : null;
  /** Refreshes what mirrors the lease table after rows were written. */
  const mirror = (written: number): void => {
    if (written > 0) leaseFile?.schedule();
    metrics?.setLeases(leases.activeCount, pool.freeCount);
  };
  /** Makes staged bindings durable now (housekeeping, operator requests, shutdown). */
  const commit = (): void => mirror(leases.commit());
  /** The reply path: ACKs go out from `done`, once the batch is on disk (group commit). */
  const commitThen = (done: (error: Error | null) => void): void => mirror(leases.commitThen(done));

  const drops = new RateLimitedCounter();
  let prober: AddressProber | null = null;
  let transport: DhcpTransport;
  try {
    transport = new DhcpTransport({
      bridge: config.bridge,
      serverIp,
      commit: commitThen,
      drops,
      log,
      onArpSender: (ip) => prober?.onArpFrom(ip),
      ...(metrics
        ? {
            onMessage: (direction: 'received' | 'sent', type: string) =>
              direction === 'received' ? metrics.dhcpReceived(type) : metrics.dhcpSent(type),
            onDrop: (reason: string) => metrics.dhcpDropped(reason),
          }
        : {}),
    });
  } catch (e) {
    store.close();
    throw new StartupError(`${(e as Error).message} (lxc-dhcpd needs root or CAP_NET_RAW)`);
  }
  if (config.probe) {
    prober = new AddressProber((ip) => transport.sendArpProbe(ip), config.probeTimeoutMs, (result) => metrics?.probe(result));
  }

  const names = new HostNames(leases.activeCount);
  const server = new DhcpServer({
    names,
    unclaimableNames: deniedNames,
    network: {
      serverIp,
      prefixLength,
      routers: [serverIp],
      dnsServers: config.dns ? [serverIp] : config.dnsServersWhenOff,
      domain: config.domain,
      mtu: transport.mtu,
    },
    leaseSeconds: config.leaseSeconds,
    rapidCommit: config.rapidCommit,
    offerHoldMs: 60_000,
    declineQuarantineMs: config.declineQuarantineSeconds * 1000,
    leases,
    pool,
    reservations,
    prober,
    readyTarget: 16,
    probeTimeoutMs: config.probeTimeoutMs,
    readyFreshMs: 60_000,
    now: Date.now,
    relays: new Set(config.relays),
    portExists: (ifindex) => transport.isBridgePort(ifindex),
    portLeaseLimit: config.portLeaseLimit,
    onConflict: (e) => log.warn(formatLeaseEvent(e)),
    onSourceEvicted: () => {
      if (drops.hit('fair-share-table-full')) log.warn(`fair-share table full (${MAX_FAIR_SHARE_SOURCES} sources): a partly spent source was forgotten`);
    },
  });
  transport.attach(server);
  server.loadNames();
  // The loaded leases' names are registered a batch per turn of the event loop, so DHCP is answered meanwhile;
  // anything that needs a name (a binding, a DNS query) first finishes the registration itself.
  const registerNames = (): void => {
    if (!names.registerPending(NAME_REGISTRATION_BATCH)) setImmediate(registerNames);
  };
  setImmediate(registerNames);
  server.tick(); // starts probing the first never-used addresses right away

  let dns: DnsServer | null = null;
  if (config.dns) {
    const zones = new LocalZones(
      { domain: config.domain, serverIp, prefixLength, soaTtl: DNS_SOA_TTL, recordTtl: DNS_RECORD_TTL },
      names,
    );
    dns = new DnsServer({
      address: serverIp,
      port: config.dns.port,
      limits: { rrlResponsesPerSecond: config.dns.rateLimit },
      subnet: { ip: serverIp, prefixLength },
      zones,
      recursor: config.dns.recursor ? config.dns.recursor([formatIPv4(serverIp)], metrics ?? undefined, log) : null,
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
      transport.close();
      store.close();
      throw new StartupError((e as Error).message);
    }
  }

  /** Set while host set-up re-applies itself to a re-created bridge, so that ticks do not start it twice. */
  let restoringBridge = false;
  const watchBridge = (): void => {
    const change = transport.checkBridge();
    if (change === 'mtu' || change === 'recreated') server.setMtu(transport.mtu);
    if (change !== 'recreated' || !host || restoringBridge) return;
    restoringBridge = true;
    host
      .restoreBridge()
      .then(
        (b) => log.info(`bridge ${config.bridge}: address ${formatIPv4(serverIp)}/${prefixLength} ${b.addedAddress ? 'put back' : 'already present'}, up`),
        (e: unknown) => log.error(`could not restore bridge ${config.bridge}: ${(e as Error).message}`),
      )
      .finally(() => (restoringBridge = false));
  };

  const tick = setInterval(() => {
    try {
      // First, so a bridge that was deleted, re-created or given another MTU is served again within a second.
      watchBridge();
      for (const e of server.tick()) log.info(formatLeaseEvent(e));
      commit();
    } catch (e) {
      log.error(`housekeeping failed: ${(e as Error).message}`);
    }
  }, 1000);

  const applyReservations = (): void => server.setReservations(effectiveReservations(book, log, reservationContext));
  let control: ControlServer | null = null;
  let metricsServer: MetricsServer | null = null;
  const stopExtras = async (): Promise<void> => {
    await control?.close();
    await metricsServer?.close();
    await leaseFile?.close();
  };
  try {
    if (config.controlSocket) {
      control = await startControlServer(
        config.controlSocket,
        controlHandlers({ server, leases, store, book, reservationContext, apply: applyReservations, commit, log }),
        { onError: (e) => log.error(`control socket: ${e.message}`) },
      );
    }
    if (metricsModule && metrics && config.metrics) metricsServer = await metricsModule.serveMetrics(metrics, config.metrics.address, config.metrics.port);
  } catch (e) {
    clearInterval(tick);
    await stopExtras();
    dns?.close();
    transport.close();
    store.close();
    throw new StartupError((e as Error).message);
  }
  commit();
  if (leaseFile) await leaseFile.flush();

  let resolvedLink: ResolvedRegistration | null = null;
  if (dns && config.dns?.port === 53) {
    const wanted = config.resolved === 'auto' ? resolvedRunning() : config.resolved;
    if (wanted) {
      try {
        resolvedLink = await registerWithResolved(config.bridge, serverIp, config.domain);
        log.info(`systemd-resolved: ${config.bridge} uses ${formatIPv4(serverIp)} for *.${config.domain}`);
      } catch (e) {
        log.warn(`could not register with systemd-resolved: ${(e as Error).message}; ${manualResolverHint(config.bridge, serverIp, config.domain)}`);
      }
    } else {
      log.info(manualResolverHint(config.bridge, serverIp, config.domain));
    }
  }

  const summary =
    `bridge ${config.bridge} ${formatIPv4(serverIp)}/${prefixLength}, range ${formatIPv4(config.range.first)}-${formatIPv4(config.range.last)}, ` +
    `domain ${config.domain}, ${leases.activeCount} leases in ${config.leaseDb}, ` +
    `NAT ${config.hostSetup?.nat ? 'on' : 'off'}, DNS ${dns ? `on :${dns.port}` : 'off'}, ` +
    `metrics ${metricsServer ? `${metricsServer.address}:${metricsServer.port}` : 'off'}`;
  log.info(
    `serving DHCP on ${config.bridge} (${formatIPv4(serverIp)}/${prefixLength}, mtu ${transport.mtu}), range ${formatIPv4(config.range.first)}-${formatIPv4(config.range.last)}, ` +
      `lease ${config.leaseSeconds}s, domain ${config.domain}, ${leases.activeCount} active leases in ${config.leaseDb}, ` +
      `probe ${config.probe ? `on (${config.probeTimeoutMs} ms)` : 'off'}, rapid commit ${config.rapidCommit ? 'on' : 'off'}, ` +
      `DNS ${dns ? `on ${formatIPv4(serverIp)}:${dns.port} (zones ${config.domain}, ${reverseZoneName(serverIp, prefixLength)})` : 'off'}, ` +
      `NAT ${config.hostSetup?.nat ? 'on' : 'off'}, metrics ${metricsServer ? `http://${metricsServer.address}:${metricsServer.port}/metrics` : 'off'}`,
  );

  let closing: Promise<void> | null = null;
  return {
    server,
    dns,
    host,
    drops,
    metrics,
    metricsPort: metricsServer?.port ?? null,
    summary,
    reload() {
      try {
        book.fromConfig = loadReservations(config, reservationContext);
        applyReservations();
        log.info(`reloaded ${book.fromConfig.length} reservations`);
      } catch (e) {
        log.error(`reload failed, keeping the old reservations: ${(e as Error).message}`);
      }
    },
    close() {
      // Every step runs even when one before it failed, so the host set-up is undone whatever else went wrong.
      closing ??= runSteps(
        [
          ['housekeeping timer', () => clearInterval(tick)],
          ['DNS server', () => dns?.close()],
          ['ARP probes', () => prober?.close()],
          ['replies decided before the stop', async () => {
            if (!(await drainDecided(() => store.syncInFlight, STOP_DRAIN_MS))) {
              log.warn(`shutdown: the lease commit did not finish within ${STOP_DRAIN_MS} ms; ACKs waiting on it are not sent`);
            }
          }],
          ['DHCP transport', () => transport.close()],
          ['lease commit', () => commit()],
          ['systemd-resolved registration', () => resolvedLink?.revert()],
          ['control socket', () => control?.close()],
          ['metrics endpoint', () => metricsServer?.close()],
          ['dnsmasq lease file', () => leaseFile?.close()],
          ['lease database', () => store.close()],
          ['host set-up', () => host?.teardown(log)],
        ],
        log,
      );
      return closing;
    },
  };
}
