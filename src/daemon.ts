/**
 * Wires the parts together: packet socket → frame/DHCP decoding → DhcpServer → lease commit → reply frames.
 * Every binding made while handling one socket wakeup is committed in one transaction before any of its ACKs is sent.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { formatIPv4, type IPv4 } from './net/address.ts';
import { bridgeAddress } from './host/bridge-address.ts';
import { HostSetupError, setupHost, type HostSetup } from './host/setup.ts';
import { checkRangeInSubnet, type AddressRange } from './config/range.ts';
import { checkReservationConflicts, parseHostsFile, type Reservation } from './config/reservations.ts';
import { AddressPool } from './leases/pool.ts';
import { LeaseStore } from './leases/store.ts';
import { LeaseTable } from './leases/table.ts';
import { DHCP_SERVER_PORT, messageTypeName } from './dhcp/constants.ts';
import { parseDhcpMessage, serializeDhcpMessage, type DhcpMessage } from './dhcp/message.ts';
import { AddressProber } from './dhcp/probe.ts';
import { ESSENTIAL_OPTIONS, replySizeLimit } from './dhcp/reply.ts';
import { DhcpServer, type Decision, type LeaseEvent } from './dhcp/server.ts';
import { dhcpServerFilter } from './wire/bpf.ts';
import {
  ARP_REQUEST,
  buildArpFrame,
  buildUdpFrame,
  ETHERTYPE_ARP,
  parseArpFrame,
  parseUdpFrame,
  BROADCAST_MAC,
} from './wire/frame.ts';
import { PacketSocket, type ReceivedFrame } from './wire/packet-socket.ts';
import { quote, RateLimitedCounter, type Logger } from './log.ts';
import { HostNames } from './leases/names.ts';
import { DnsServer, type Recursor } from './dns/server.ts';
import { LocalZones, NAME_SERVER_LABEL, reverseZoneName } from './dns/zone.ts';

/** Negative-caching TTL and SOA/NS TTL of our zones. */
const DNS_SOA_TTL = 30;
/** Upper bound of lease A/PTR TTLs (also capped by the lease's remaining time). */
const DNS_RECORD_TTL = 30;

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
  dns: DnsConfig | null;
  /** Option 6 when our DNS is off: the host's own upstream servers (IPv4, not loopback). */
  dnsServersWhenOff: IPv4[];
  /** Create/reuse the bridge, forwarding, NAT; null: serve on an existing, configured bridge only. */
  hostSetup: HostSetupConfig | null;
}

export interface HostSetupConfig {
  address: { ip: IPv4; prefixLength: number };
  uplink?: string;
  nat: boolean;
  firewall: boolean;
}

export interface DnsConfig {
  port: number;
  /** Builds the forwarder once the bridge address is known (so our own address is never used as an upstream). */
  recursor: ((ownAddresses: string[]) => Recursor) | null;
}

export class StartupError extends Error {}

export interface RunningDaemon {
  server: DhcpServer;
  dns: DnsServer | null;
  host: HostSetup | null;
  drops: RateLimitedCounter;
  reload(): void;
  close(): Promise<void>;
}

const PACKET_OUTGOING = 4;

function loadReservations(config: DaemonConfig): Reservation[] {
  const list = [...config.hosts];
  if (config.hostsFile !== null) {
    let text: string;
    try {
      text = readFileSync(config.hostsFile, 'utf8');
    } catch (e) {
      throw new StartupError(`cannot read --hosts-file ${config.hostsFile}: ${(e as Error).message}`);
    }
    const parsed = parseHostsFile(text, config.hostsFile);
    if (!parsed.ok) throw new StartupError(parsed.error);
    list.push(...parsed.value);
  }
  const conflict = checkReservationConflicts(list);
  if (conflict !== null) throw new StartupError(conflict);
  return list;
}

function formatEvent(e: LeaseEvent): string {
  const detail = e.detail ? ` (${e.detail})` : '';
  return `DHCP${e.type} ${formatIPv4(e.ip)} ${e.mac || '-'} ${quote(e.hostname)}${detail}`;
}

export async function startDaemon(config: DaemonConfig, log: Logger): Promise<RunningDaemon> {
  let host: HostSetup | null = null;
  try {
    return await startServices(config, log, async () => {
      if (!config.hostSetup) return null;
      host = await setupHost({ bridge: config.bridge, ...config.hostSetup }, log);
      for (const warning of host.warnings) log.warn(warning);
      return host;
    });
  } catch (e) {
    // Whatever this start changed on the host is undone before the error is reported.
    if (host) await (host as HostSetup).teardown({ info: () => undefined, warn: (m) => log.warn(m) });
    if (e instanceof HostSetupError) throw new StartupError(e.message);
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
  const rangeError = checkRangeInSubnet(config.range, serverIp, prefixLength);
  if (rangeError !== null) throw new StartupError(rangeError);
  let reservations = loadReservations(config);
  const host = await prepareHost();

  let store: LeaseStore;
  try {
    store = LeaseStore.open(config.leaseDb);
  } catch (e) {
    throw new StartupError(`cannot open lease database ${config.leaseDb}: ${(e as Error).message} (choose another path with --lease-db)`);
  }
  const pool = new AddressPool(config.range.first, config.range.last);
  const leases = new LeaseTable({ store, pool });
  leases.load();

  const drops = new RateLimitedCounter();
  const countDrop = (reason: string, detail: string): void => {
    if (drops.hit(reason)) log.warn(`dropped DHCP packet: ${reason}: ${detail}`);
  };

  let socket: PacketSocket | null = null;
  const prober = config.probe
    ? new AddressProber((ip: IPv4) => {
        if (!socket) return;
        socket.send(
          buildArpFrame(
            { operation: ARP_REQUEST, senderMac: socket.mac, senderIp: serverIp, targetMac: '00:00:00:00:00:00', targetIp: ip },
            BROADCAST_MAC,
          ),
        );
      }, config.probeTimeoutMs)
    : null;

  const openSocket = (onFrames: (frames: ReceivedFrame[]) => void): PacketSocket => {
    try {
      return PacketSocket.open({ ifname: config.bridge, filter: dhcpServerFilter(), onFrames, onError: (e) => log.error(`packet socket: ${e.message}`) });
    } catch (e) {
      throw new StartupError(`${(e as Error).message} (lxc-dhcpd needs root or CAP_NET_RAW)`);
    }
  };

  let server!: DhcpServer;
  const toFrame = (d: Extract<Decision, { kind: 'reply' }>, request: DhcpMessage): Buffer => {
    const s = socket as PacketSocket;
    const encoded = serializeDhcpMessage(d.reply, { maxLength: replySizeLimit(request, s.mtu), essential: ESSENTIAL_OPTIONS });
    if (encoded.omitted.length > 0) log.debug(`reply to ${d.event.mac} left out options ${encoded.omitted.join(',')} to fit`);
    return buildUdpFrame({
      srcMac: s.mac,
      dstMac: d.destination.mac,
      srcIp: serverIp,
      dstIp: d.destination.ip,
      srcPort: DHCP_SERVER_PORT,
      dstPort: d.destination.port,
      ttl: 64,
      payload: encoded.data,
    });
  };

  /** Commits once for the whole batch, then sends every reply: no ACK leaves before its binding is on disk. */
  const deliver = (batch: { decision: Decision; request: DhcpMessage }[]): void => {
    try {
      leases.commit();
    } catch (e) {
      log.error(`lease database commit failed, replies withheld: ${(e as Error).message}`);
      return;
    }
    const frames: Buffer[] = [];
    for (const { decision, request } of batch) {
      if (decision.kind === 'drop') {
        if (decision.reason === 'not-for-us' || decision.reason === 'probe-pending') log.debug(`ignored: ${decision.detail}`);
        else countDrop(decision.reason, decision.detail);
        continue;
      }
      if (decision.event) log.info(formatEvent(decision.event));
      if (decision.kind === 'reply') {
        frames.push(toFrame(decision, request));
      }
    }
    for (const c of server.conflicts.splice(0)) log.warn(formatEvent(c));
    if (frames.length > 0 && socket) {
      const sent = socket.sendMany(frames);
      if (sent < frames.length) countDrop('send-queue-full', `${frames.length - sent} replies not sent`);
    }
  };

  const onFrames = (frames: ReceivedFrame[]): void => {
    const batch: { decision: Decision; request: DhcpMessage }[] = [];
    for (const frame of frames) {
      if (frame.pktType === PACKET_OUTGOING) continue;
      try {
        if (frame.data.length >= 14 && frame.data.readUInt16BE(12) === ETHERTYPE_ARP) {
          const arp = parseArpFrame(frame.data);
          if (arp && prober) prober.onArpFrom(arp.senderIp);
          continue;
        }
        const udp = parseUdpFrame(frame.data);
        if (!udp.ok) {
          countDrop(udp.reason, udp.detail);
          continue;
        }
        if (udp.datagram.dstPort !== DHCP_SERVER_PORT) continue;
        const parsed = parseDhcpMessage(udp.datagram.payload);
        if (!parsed.ok) {
          countDrop(parsed.reason, `${parsed.detail} from ${udp.datagram.srcMac}`);
          continue;
        }
        const request = parsed.message;
        log.debug(`received DHCP${messageTypeName(request.options.messageType)} xid 0x${request.xid.toString(16)} from ${udp.datagram.srcMac}`);
        const result = server.handle({ message: request, frameSrcMac: udp.datagram.srcMac });
        if (result instanceof Promise) {
          result.then(
            (decision) => deliver([{ decision, request }]),
            (e: unknown) => countDrop('internal-error', (e as Error).message),
          );
        } else {
          batch.push({ decision: result, request });
        }
      } catch (e) {
        countDrop('internal-error', (e as Error).stack ?? String(e));
      }
    }
    if (batch.length > 0) deliver(batch);
  };

  socket = openSocket(onFrames);
  const network = {
    serverIp,
    prefixLength,
    routers: [serverIp],
    dnsServers: config.dns ? [serverIp] : config.dnsServersWhenOff,
    domain: config.domain,
    mtu: socket.mtu,
  };
  const names = new HostNames();
  server = new DhcpServer({
    names,
    unclaimableNames: new Set([NAME_SERVER_LABEL]),
    network,
    leaseSeconds: config.leaseSeconds,
    rapidCommit: config.rapidCommit,
    offerHoldMs: 60_000,
    declineQuarantineMs: config.declineQuarantineSeconds * 1000,
    leases,
    pool,
    reservations,
    prober,
    readyTarget: 16,
    readyFreshMs: 60_000,
    now: Date.now,
  });

  // A kernel socket on bridge-ip:67 keeps the kernel from answering unicast requests (renewals, relays) with ICMP
  // port-unreachable; everything it receives is also seen, and answered, through the packet socket.
  let icmpGuard: Socket | null = createSocket({ type: 'udp4' });
  icmpGuard.on('error', (e) => {
    log.warn(`could not bind ${formatIPv4(serverIp)}:67 (${e.message}); unicast renewals may see ICMP port unreachable`);
    icmpGuard?.close();
    icmpGuard = null;
  });
  icmpGuard.on('message', () => undefined);
  icmpGuard.bind({ address: formatIPv4(serverIp), port: DHCP_SERVER_PORT, exclusive: true });

  server.loadNames();
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
      subnet: { ip: serverIp, prefixLength },
      zones,
      recursor: config.dns.recursor ? config.dns.recursor([formatIPv4(serverIp)]) : null,
      log,
    });
    try {
      await dns.listen();
    } catch (e) {
      socket.close();
      icmpGuard?.close();
      store.close();
      throw new StartupError((e as Error).message);
    }
  }
  const tick = setInterval(() => {
    try {
      for (const e of server.tick()) log.info(formatEvent(e));
      for (const c of server.conflicts.splice(0)) log.warn(formatEvent(c));
      leases.commit();
    } catch (e) {
      log.error(`housekeeping failed: ${(e as Error).message}`);
    }
  }, 1000);

  log.info(
    `serving DHCP on ${config.bridge} (${formatIPv4(serverIp)}/${prefixLength}, mtu ${socket.mtu}), range ${formatIPv4(config.range.first)}-${formatIPv4(config.range.last)}, ` +
      `lease ${config.leaseSeconds}s, domain ${config.domain}, ${leases.activeCount} active leases in ${config.leaseDb}, ` +
      `probe ${config.probe ? `on (${config.probeTimeoutMs} ms)` : 'off'}, rapid commit ${config.rapidCommit ? 'on' : 'off'}, ` +
      `DNS ${dns ? `on ${formatIPv4(serverIp)}:${dns.port} (zones ${config.domain}, ${reverseZoneName(serverIp, prefixLength)})` : 'off'}`,
  );

  let closed = false;
  return {
    server,
    dns,
    host,
    drops,
    reload() {
      try {
        reservations = loadReservations(config);
        server.setReservations(reservations);
        log.info(`reloaded ${reservations.length} reservations`);
      } catch (e) {
        log.error(`reload failed, keeping the old reservations: ${(e as Error).message}`);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(tick);
      prober?.close();
      dns?.close();
      socket?.close();
      icmpGuard?.close();
      store.close();
      await host?.teardown(log);
    },
  };
}
