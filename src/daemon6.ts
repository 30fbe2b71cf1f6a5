/**
 * The daemon's IPv6 parts, started when the bridge has an IPv6 /64 (host set-up's address, or with --no-host-setup the
 * one the bridge already has): the bridge-port packet sockets (Ipv6Port) that router advertisements (RaService) and
 * DHCPv6 (Dhcp6Server, with the Address6Book when --range6 is set, its bindings in the same lease store and group
 * commit as DHCPv4's) are served on, then the containers' addresses as the kernel's neighbour table shows them
 * (NeighbourWatcher feeding Learned6, which DNS answers AAAA from). Like daemon.ts's builders, each returns what it
 * started and registers its undo on the DisposerStack; the final RA (router lifetime 0) leaves before the socket closes.
 */
import { type DaemonIpv6, daemonIpv6 } from './config/ipv6.ts';
import type { Reservation } from './config/reservations.ts';
import { TokenBuckets } from './dhcp/fair-share.ts';
import { serverDuidFromMac } from './dhcp6/duid.ts';
import { Dhcp6Server, type Lease6Event } from './dhcp6/server.ts';
import { Dhcp6Transport } from './dhcp6/transport.ts';
import { bridgeAddress6 } from './host/bridge-address.ts';
import { linkLocalSource } from './host/link-local.ts';
import { NeighbourWatcher, neighbourFeed } from './host/neighbours.ts';
import type { HostSetup } from './host/setup.ts';
import { Address6Book } from './leases/address6-book.ts';
import type { Learned6 } from './leases/learned6.ts';
import type { Lease6Store, StoredLease6 } from './leases/lease6.ts';
import type { HostNames } from './leases/names.ts';
import type { CommitDone } from './leases/store-contract.ts';
import { type Logger, quote, RateLimitedCounter } from './log.ts';
import type { Metrics } from './metrics.ts';
import { formatIPv6 } from './net/address6.ts';
import { type RaConfig, RaService } from './ra/service.ts';
import type { Checked } from './result.ts';
import type { DisposerStack } from './shutdown.ts';
import { Ipv6Port } from './wire/ipv6-port.ts';

/** Options of the IPv6 part that come from the command line. */
export interface Ipv6Settings {
  bridge: string;
  domain: string;
  leaseSeconds: number;
  rapidCommit: boolean;
  /** New DHCPv6 addresses per bridge port per hour (--port-lease-limit, shared meaning with DHCPv4); 0: no limit. */
  portLeaseLimit: number;
}

/**
 * The /64 RA, DHCPv6 and DNS serve: the address host set-up put on the bridge, or (--no-host-setup with auto) the one
 * it has; null when IPv6 is off. An error when --range6 does not fit the /64.
 */
export function resolveIpv6(flags: Parameters<typeof daemonIpv6>[0], bridge: string, host: HostSetup | null, log: Logger): Checked<DaemonIpv6 | null> {
  if (flags.mode.kind === 'none') return daemonIpv6(flags, null);
  if (host !== null) return daemonIpv6(flags, host.ipv6?.address ?? null);
  const found = bridgeAddress6(bridge);
  if (!found.ok) {
    log.warn(found.warning);
    return daemonIpv6(flags, null);
  }
  return daemonIpv6(flags, found.address.address);
}

/** The neighbour table of the bridge, learned into `learned6` until the stop. */
async function startNeighbours(ifindex: () => number, learned6: Learned6, log: Logger, stack: DisposerStack): Promise<NeighbourWatcher> {
  const watcher = await NeighbourWatcher.start({ ifindex, ...neighbourFeed(learned6), onError: (e) => log.warn(`neighbour table: ${e.message}`) });
  stack.defer(['neighbour watcher', () => watcher.close()]);
  return watcher;
}

export interface Ipv6PartDeps {
  settings: Ipv6Settings;
  v6: DaemonIpv6;
  log: Logger;
  stack: DisposerStack;
  store: Lease6Store;
  commitThen: (done: CommitDone) => void;
  reservations: readonly Reservation[];
  names: HostNames;
  deniedNames: ReadonlySet<string>;
  learned6: Learned6;
  metrics: Metrics | null;
}

/** What the IPv6 part started. */
export interface Ipv6Part {
  port: Ipv6Port;
  ra: RaService;
  server: Dhcp6Server;
  book: Address6Book | null;
  serverDuid: Buffer;
  /** The durable DHCPv6 leases (bound and declined), for the lease file and `lxc-dhcpd leases`. */
  leases6(): StoredLease6[];
  /** Once a second: DHCPv6 bindings that ended leave the names, the learned addresses are swept. */
  tick(): void;
  /** Follows a re-created bridge or a new MTU (RA's MTU option too); 'reopened' when the socket was opened anew. */
  checkBridge(): 'same' | 'gone' | 'reopened';
  setReservations(list: readonly Reservation[]): void;
}

const reservations6 = (list: readonly Reservation[]): { mac: string; ip: string }[] =>
  list.flatMap((r) => (r.ip6 === undefined ? [] : [{ mac: r.mac.toLowerCase(), ip: r.ip6 }]));

function formatLease6Event(e: Lease6Event): string {
  const iaid = e.iaid === null ? '' : ` iaid ${e.iaid}`;
  const detail = e.detail === undefined ? '' : ` (${quote(e.detail)})`;
  return `DHCPv6 ${e.type} ${e.ip ?? '-'} ${e.mac}${iaid}${e.hostname === null ? '' : ` ${quote(e.hostname)}`}${detail}`;
}

/** Binding changes reach the learned addresses (so NAME AAAA answers the DHCPv6 address too) and the log. */
function applyLease6Events(events: readonly Lease6Event[], learned6: Learned6, log: Logger): void {
  for (const e of events) {
    if (e.ip !== null && (e.type === 'BIND' || e.type === 'RENEW' || e.type === 'REBIND')) learned6.bind(e.mac, e.ip);
    if (e.ip !== null && (e.type === 'RELEASE' || e.type === 'DECLINE' || e.type === 'EXPIRE')) learned6.unbind(e.mac, e.ip);
    if (e.type === 'ADVERTISE') continue;
    log.info(formatLease6Event(e));
  }
}

function openIpv6Port(d: Ipv6PartDeps, handlers: { ra: () => RaService; dhcp6: () => Dhcp6Transport }, drops: RateLimitedCounter): Ipv6Port {
  const metrics = d.metrics;
  return new Ipv6Port({
    bridge: d.settings.bridge,
    drops,
    log: d.log,
    onRouterSolicitation: (packet, from) => handlers.ra().handleSolicitation(packet, from),
    onDhcp6: (packet, from) => handlers.dhcp6().receive(packet, from),
    onWakeupEnd: () => handlers.dhcp6().endOfWakeup(),
    ...(metrics ? { onDrop: (reason: string) => metrics.dhcp6Dropped(reason) } : {}),
  });
}

function newBook(d: Ipv6PartDeps): Address6Book | null {
  if (d.v6.range6 === null) return null;
  const book = new Address6Book({ range: { first: formatIPv6(d.v6.range6.first), last: formatIPv6(d.v6.range6.last) }, store: d.store, now: Date.now });
  book.load();
  book.reserve(reservations6(d.reservations));
  return book;
}

function startRa(d: Ipv6PartDeps, port: Ipv6Port, linkLocal: () => Buffer | null, drops: RateLimitedCounter): { service: RaService; config: () => RaConfig } {
  const { settings, v6, metrics } = d;
  const config = (): RaConfig => ({
    prefix: v6.prefix,
    mtu: port.mtu,
    dnsServers: [v6.address],
    domains: [settings.domain],
    mode: v6.range6 ? 'stateful' : 'stateless',
  });
  const service = new RaService({
    config: config(),
    mac: () => port.mac,
    linkLocal,
    send: (f) => port.send(f),
    log: d.log,
    drops,
    ...(metrics
      ? {
          onMessage: (direction: 'received' | 'sent', kind: 'rs' | 'ra-solicited' | 'ra-unsolicited' | 'ra-final') =>
            direction === 'received'
              ? metrics.raSolicitation()
              : metrics.raSent(kind === 'ra-solicited' ? 'solicited' : kind === 'ra-final' ? 'final' : 'unsolicited'),
        }
      : {}),
  });
  d.stack.defer(['router advertisements (final RA)', () => service.close()]);
  return { service, config };
}

interface Dhcp6Part {
  server: Dhcp6Server;
  transport: Dhcp6Transport;
  book: Address6Book | null;
  serverDuid: Buffer;
  newAddresses: TokenBuckets;
}

function startDhcp6(d: Ipv6PartDeps, port: Ipv6Port, linkLocal: () => Buffer | null, drops: RateLimitedCounter): Dhcp6Part {
  const { settings, v6, log, metrics } = d;
  const book = newBook(d);
  const serverDuid = serverDuidFromMac(port.mac);
  const newAddresses = new TokenBuckets({ burst: settings.portLeaseLimit, perHour: settings.portLeaseLimit }, Date.now);
  const server = new Dhcp6Server({
    serverDuid,
    bridgeAddress: formatIPv6(v6.address),
    domain: settings.domain,
    leaseSeconds: settings.leaseSeconds,
    rapidCommit: settings.rapidCommit,
    book,
    unclaimableNames: d.deniedNames,
    nameHeldByOther: (name, mac) => d.names.heldByOther(name, mac) !== undefined,
    // A container's forged DUIDs all come in on its own bridge port; with the port unknown (0), its frame MAC stands in.
    takeNewAddress: (wire) => !newAddresses.enabled || newAddresses.take(wire.port ? `port ${wire.port}` : `mac ${wire.srcMac}`),
  });
  const transport = new Dhcp6Transport({
    handle: (payload, wire) => server.handle(payload, wire),
    send: (f) => port.send(f),
    mac: () => port.mac,
    source: () => linkLocal() ?? v6.address,
    commit: d.commitThen,
    onEvents: (events) => applyLease6Events(events, d.learned6, log),
    log,
    drops,
    ...(metrics
      ? {
          onMessage: (direction: 'received' | 'sent', type: string) => (direction === 'received' ? metrics.dhcp6Received(type) : metrics.dhcp6Sent(type)),
          onDrop: (reason: string) => metrics.dhcp6Dropped(reason),
        }
      : {}),
  });
  d.stack.defer(['DHCPv6 transport', () => transport.close()]);
  return { server, transport, book, serverDuid, newAddresses };
}

/** RA and DHCPv6 on one IPv6 socket of the bridge's ports; the socket first, the services on it, the transport last. */
function startIpv6(d: Ipv6PartDeps): Ipv6Part {
  const drops = new RateLimitedCounter();
  let ra: RaService | null = null;
  let dhcp6: Dhcp6Transport | null = null;
  // The socket delivers only after this function returns (its first wakeup is a later turn), when both are set.
  const port = openIpv6Port(d, { ra: () => ra as RaService, dhcp6: () => dhcp6 as Dhcp6Transport }, drops);
  d.stack.defer(['IPv6 packet socket', () => port.close()]);
  const linkLocal = linkLocalSource(d.settings.bridge);
  const router = startRa(d, port, linkLocal, drops);
  ra = router.service;
  const v6 = startDhcp6(d, port, linkLocal, drops);
  dhcp6 = v6.transport;
  router.service.start();
  const { book, server, metrics } = { book: v6.book, server: v6.server, metrics: d.metrics };
  return {
    port,
    ra: router.service,
    server,
    book,
    serverDuid: v6.serverDuid,
    leases6: () => book?.leases() ?? [],
    tick: () => {
      applyLease6Events(server.tick(), d.learned6, d.log);
      d.learned6.sweep();
      v6.newAddresses.sweep();
      metrics?.setLeases6(book?.leases().filter((l) => l.state === 'bound').length ?? 0);
      metrics?.setLearned6(d.learned6.size);
    },
    checkBridge: () => {
      const state = port.checkBridge();
      if (state === 'reopened') router.service.setConfig(router.config());
      return state;
    },
    setReservations: (list) => book?.reserve(reservations6(list)),
  };
}

/** RA and DHCPv6 on the bridge, then the neighbour table (the daemon calls this only when IPv6 is on). */
export async function startIpv6Parts(d: Ipv6PartDeps): Promise<{ part: Ipv6Part; resyncNeighbours: () => void }> {
  const part = startIpv6(d);
  const neighbours = await startNeighbours(() => part.port.ifindex, d.learned6, d.log, d.stack);
  const resyncNeighbours = (): void => void neighbours.resync().catch((e: unknown) => d.log.warn(`neighbour table: ${(e as Error).message}`));
  return { part, resyncNeighbours };
}
