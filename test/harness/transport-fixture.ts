/**
 * A DhcpTransport wired to the real DhcpServer and LeaseTable on a given store and pool, with its packet socket
 * replaced by `port` (no network): for the transport's unit tests and bench/dhcp-cpu.ts. The server's settings are
 * those of the bench network (10.0.0.1/8, domain lxc, 1 h leases, rapid commit, relay 10.0.0.2 allowed).
 */
import type { AddressProber } from '../../src/dhcp/probe.ts';
import { DhcpServer } from '../../src/dhcp/server.ts';
import { BridgePort, DhcpTransport, type FramePort } from '../../src/dhcp/transport.ts';
import { HostNames } from '../../src/leases/names.ts';
import type { AddressPool } from '../../src/leases/pool.ts';
import type { LeaseStore } from '../../src/leases/store.ts';
import { LeaseTable } from '../../src/leases/table.ts';
import { createLogger, RateLimitedCounter } from '../../src/log.ts';
import { parseIPv4 } from '../../src/net/address.ts';
import type { ReceivedFrame } from '../../src/wire/packet-socket.ts';

export const FIXTURE_SERVER_IP = parseIPv4('10.0.0.1') as number;
/** The relay the fixture's server accepts (--relay), as perfdhcp's address in the bench. */
export const FIXTURE_RELAY_IP = parseIPv4('10.0.0.2') as number;
/** The bridge port frames handed to the fixture come in on (ReceivedFrame.ifindex); ports say it is one. */
export const FIXTURE_PORT_IFINDEX = 3;

export interface TransportFixtureOptions {
  store: LeaseStore;
  pool: AddressPool;
  port: FramePort;
  /** Builds the ARP prober on the bridge port (it sends the probes); none by default. */
  prober?: (port: BridgePort) => AddressProber;
  /** The relay pacer's clock (ms). */
  now?: () => number;
  /** Relays the server accepts; [FIXTURE_RELAY_IP] by default. */
  relays?: number[];
  /**
   * Wires commitNow/commitInFlight as the daemon does (syncs on the loop while lightly loaded): `wrap` gets the table's
   * commit() and returns what the transport calls. Without it only the group commit is used.
   */
  inlineCommit?: (commit: () => void) => () => void;
}

export interface TransportFixture {
  transport: DhcpTransport;
  server: DhcpServer;
  leases: LeaseTable;
  prober: AddressProber | null;
  /** Hands frames to the transport as one wakeup of its packet socket would. */
  deliver(frames: ReceivedFrame[]): void;
}

export function transportFixture(o: TransportFixtureOptions): TransportFixture {
  const leases = new LeaseTable({ store: o.store, pool: o.pool });
  leases.load();
  let onFrames: (frames: ReceivedFrame[]) => void = () => undefined;
  const drops = new RateLimitedCounter();
  const log = createLogger('warn');
  // In the daemon's order: the port, the prober on it, the server, then the transport between them.
  const port = new BridgePort({
    bridge: 'none',
    serverIp: FIXTURE_SERVER_IP,
    drops,
    log,
    openPort: (deliver) => {
      onFrames = deliver;
      return o.port;
    },
  });
  const prober = o.prober ? o.prober(port) : null;
  const server = new DhcpServer({
    names: new HostNames(),
    network: { serverIp: FIXTURE_SERVER_IP, prefixLength: 8, routers: [FIXTURE_SERVER_IP], dnsServers: [FIXTURE_SERVER_IP], domain: 'lxc', mtu: port.mtu },
    leaseSeconds: 3600,
    rapidCommit: true,
    offerHoldMs: 60_000,
    declineQuarantineMs: 600_000,
    leases,
    pool: o.pool,
    reservations: [],
    prober,
    readyTarget: prober ? 16 : 0,
    probeTimeoutMs: 200,
    readyFreshMs: 60_000,
    now: Date.now,
    relays: new Set(o.relays ?? [FIXTURE_RELAY_IP]),
    portExists: (i) => port.isBridgePort(i),
  });
  const transport = new DhcpTransport({
    port,
    server,
    serverIp: FIXTURE_SERVER_IP,
    commit: (done) => void leases.commitThen(done),
    ...(o.inlineCommit ? { commitNow: o.inlineCommit(() => void leases.commit()), commitInFlight: () => o.store.syncInFlight } : {}),
    drops,
    log,
    ...(o.now ? { now: o.now } : {}),
  });
  return { transport, server, leases, prober, deliver: (frames) => onFrames(frames) };
}
