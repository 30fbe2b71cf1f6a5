/**
 * Routes to the other cluster hosts' bridge subnets, and the nf_tables set that exempts them from masquerade (issue 16
 * item 3). The cluster view hands `sync` the peers; each gets a route in the main table via its host address, over
 * rtnetlink (netlink@0.3.0), tagged with our own routing protocol number so that we can find, replace and remove
 * exactly our routes and never anyone else's. The peers' subnets go into the `cluster_peers` set of our own `ip
 * lxc-dhcpd` table (nftables-sets.ts). `close` removes our routes and empties the set. Runs in the network namespace of
 * the calling process; one daemon per namespace owns the protocol number.
 */

import { createRtNetlink, FlagsNew, type RtNetlinkSocket, type rt } from 'netlink';
import { formatIPv4, type IPv4 } from '../net/address.ts';
import { rtnetlinkErrorCode } from './bridge.ts';
import { bridgeAddress } from './bridge-address.ts';
import { type KernelRoute, type OwnSubnet, type PeerDropReason, type PeerRoute, planRoutes, selectPeers } from './cluster-route-plan.ts';
import { allocateSeqs, withNfnetlinkSocket } from './nfnetlink-socket.ts';
import { listChains } from './nftables.ts';
import { LXC_DHCPD_TABLE, NFPROTO_IPV4 } from './nftables-messages.ts';
import { buildClusterSetBatch, buildPeerSetBatch, type ClusterChains, clusterRuleTexts } from './nftables-sets.ts';

/**
 * Our routing protocol number (rtm_protocol). The kernel passes values above RTPROT_STATIC (4) through untouched
 * (linux/rtnetlink.h); 213 is assigned neither there nor in iproute2's rt_protos (which lists 0-18, 42, 99, 186-192),
 * and lies outside FRR's 186-199 block and the small numbers other daemons took (Calico 80, BIRD 12). `ip route show
 * proto 213` lists our routes; a line `213 lxc-dhcpd` in /etc/iproute2/rt_protos.d/lxc-dhcpd.conf names them.
 */
export const RTPROT_LXC_DHCPD = 213;
const AF_INET = 2;
const RT_TABLE_MAIN = 254;
const RTN_UNICAST = 1;
const RT_SCOPE_UNIVERSE = 0;

interface ClusterRoutes {
  /** Makes our routes and the set exactly the (accepted) peers'. Calls are serialized; the latest peers win. */
  sync(peers: readonly PeerRoute[]): Promise<void>;
  /** Removes every route with our protocol and empties the set; later syncs do nothing. */
  close(): Promise<void>;
  /** Peers dropped so far, by reason (hostile or conflicting input; the cluster's metrics read it). */
  readonly dropped: Readonly<Record<PeerDropReason | 'route-exists' | 'kernel-refused', number>>;
}

interface Log {
  info(message: string): void;
  warn(message: string): void;
}

interface ClusterRoutesOptions {
  /** Our bridge: its subnet is never routed away, and the forward rule lets peers' traffic out onto it. */
  bridge: string;
  /** Our bridge subnet; read from the bridge's address when absent. */
  subnet?: OwnSubnet;
  log?: Log;
}

const prefixText = (network: IPv4, prefixLength: number): string => `${formatIPv4(network)}/${prefixLength}`;

function ipv4Bytes(ip: IPv4): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(ip >>> 0);
  return out;
}

const readIpv4 = (bytes: Buffer | undefined): IPv4 | null => (bytes !== undefined && bytes.length === 4 ? bytes.readUInt32BE(0) : null);

/** Main-table IPv4 unicast routes, as planRoutes reads them. */
async function mainTableRoutes(socket: RtNetlinkSocket): Promise<KernelRoute[]> {
  const messages = await socket.getRoutes({ family: AF_INET });
  const routes: KernelRoute[] = [];
  for (const message of messages) {
    const table = message.attrs.table ?? message.data.table;
    if (table !== RT_TABLE_MAIN || message.data.family !== AF_INET) continue;
    const network = message.attrs.dst === undefined ? 0 : readIpv4(message.attrs.dst);
    if (network === null) continue;
    // netlink@0.3.0 turns the protocol numbers it knows into names ("KERNEL"): those are never ours.
    const protocol = typeof message.data.protocol === 'number' ? message.data.protocol : -1;
    routes.push({ network, prefixLength: message.data.dstLen ?? 0, via: readIpv4(message.attrs.gateway), protocol });
  }
  return routes;
}

function routeHeader(prefixLength: number): rt.Route {
  // A number the library's enum does not name is passed through as is (netlink@0.3.0 putEnum).
  return {
    family: AF_INET,
    dstLen: prefixLength,
    table: RT_TABLE_MAIN,
    protocol: RTPROT_LXC_DHCPD as rt.RouteProtocol,
    scope: RT_SCOPE_UNIVERSE,
    type: RTN_UNICAST,
  };
}

async function installRoute(socket: RtNetlinkSocket, peer: PeerRoute): Promise<void> {
  await socket.newRoute(
    routeHeader(peer.prefixLength),
    { dst: ipv4Bytes(peer.network), gateway: ipv4Bytes(peer.via) },
    { flags: FlagsNew.CREATE | FlagsNew.REPLACE },
  );
}

/** Deletes one of our routes; the protocol in the request makes the kernel match only ours. Gone already: fine. */
async function removeRoute(socket: RtNetlinkSocket, route: KernelRoute): Promise<void> {
  try {
    await socket.delRoute(routeHeader(route.prefixLength), { dst: ipv4Bytes(route.network) });
  } catch (error) {
    if (rtnetlinkErrorCode(error) !== 'ESRCH') throw error;
  }
}

/** Which of our base chains exist (our table holds postrouting with NAT on, forward with the firewall rules on). */
async function ourChains(): Promise<ClusterChains> {
  const chains = (await listChains()).filter((c) => c.family === NFPROTO_IPV4 && c.table === LXC_DHCPD_TABLE);
  return { postrouting: chains.some((c) => c.name === 'postrouting'), forward: chains.some((c) => c.name === 'forward') };
}

async function sendBatch(build: (firstSeq: number) => ReturnType<typeof buildPeerSetBatch>): Promise<void> {
  const count = build(1).length;
  const batch = build(allocateSeqs(count));
  await withNfnetlinkSocket((socket) => socket.sendBatch(batch));
}

function ownSubnet(opts: ClusterRoutesOptions): OwnSubnet {
  if (opts.subnet !== undefined) return opts.subnet;
  const found = bridgeAddress(opts.bridge);
  if (!found.ok) throw new Error(`cluster routes: ${found.error}`);
  return { network: found.address.ip, prefixLength: found.address.prefixLength };
}

/**
 * Creates the set and its two rules in our table (when the table has the chains: with --no-nat and no firewall rules
 * there is nothing to exempt), and returns the object that keeps routes and set in step with the peers.
 */
export async function startClusterRoutes(opts: ClusterRoutesOptions): Promise<ClusterRoutes> {
  const own = ownSubnet(opts);
  const chains = await ourChains();
  const withSet = chains.postrouting || chains.forward;
  if (withSet) {
    await sendBatch((seq) => buildClusterSetBatch(opts.bridge, chains, seq));
    opts.log?.info(`cluster routes: nftables set ip ${LXC_DHCPD_TABLE} cluster_peers with ${clusterRuleTexts(opts.bridge, chains).join('; ')}`);
  }
  return new ClusterRoutesImpl(own, withSet, opts.log);
}

type Counted = PeerDropReason | 'route-exists' | 'kernel-refused';

class ClusterRoutesImpl implements ClusterRoutes {
  readonly dropped: Record<Counted, number> = { invalid: 0, 'overlaps-own': 0, 'overlaps-peer': 0, 'over-limit': 0, 'route-exists': 0, 'kernel-refused': 0 };
  private latest: readonly PeerRoute[] | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  /** The last warning per host, so a peer that stays wrong is logged once, not at every sync. */
  private readonly warned = new Map<string, string>();

  constructor(
    private readonly own: OwnSubnet,
    private readonly withSet: boolean,
    private readonly log: Log | undefined,
  ) {}

  sync(peers: readonly PeerRoute[]): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.latest = peers;
    this.running ??= this.drain();
    return this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.latest !== null && !this.closed) {
        const peers = this.latest;
        this.latest = null;
        await this.apply(peers);
      }
    } finally {
      this.running = null;
    }
  }

  private async apply(peers: readonly PeerRoute[]): Promise<void> {
    const selection = selectPeers(peers, this.own);
    const problems = new Map<string, string>();
    for (const { peer, reason } of selection.dropped) {
      this.dropped[reason] += 1;
      problems.set(peer.host, `${reason} (${prefixText(peer.network, peer.prefixLength)} via ${formatIPv4(peer.via)})`);
    }
    const routed = await withRouteSocket(async (socket) => {
      const plan = planRoutes(selection.accepted, await mainTableRoutes(socket), RTPROT_LXC_DHCPD);
      for (const route of plan.remove) await removeRoute(socket, route);
      for (const peer of plan.blocked) {
        this.dropped['route-exists'] += 1;
        problems.set(peer.host, `route-exists (${prefixText(peer.network, peer.prefixLength)} already has a route we did not install)`);
      }
      const refused = new Set<PeerRoute>();
      for (const peer of plan.install) {
        await installRoute(socket, peer).catch((error: unknown) => {
          this.dropped['kernel-refused'] += 1;
          refused.add(peer);
          problems.set(
            peer.host,
            `kernel-refused (${prefixText(peer.network, peer.prefixLength)} via ${formatIPv4(peer.via)}: ${rtnetlinkErrorCode(error) ?? String(error)})`,
          );
        });
      }
      return selection.accepted.filter((peer) => !plan.blocked.includes(peer) && !refused.has(peer));
    });
    if (this.withSet) await sendBatch((seq) => buildPeerSetBatch(routed, seq));
    this.report(problems);
  }

  private report(problems: Map<string, string>): void {
    for (const [host, problem] of problems) {
      if (this.warned.get(host) !== problem) this.log?.warn(`cluster routes: host ${host} not routed: ${problem}`);
    }
    this.warned.clear();
    for (const [host, problem] of problems) this.warned.set(host, problem);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => undefined);
    await withRouteSocket(async (socket) => {
      for (const route of await mainTableRoutes(socket)) if (route.protocol === RTPROT_LXC_DHCPD) await removeRoute(socket, route);
    });
    if (this.withSet) {
      await sendBatch((seq) => buildPeerSetBatch([], seq)).catch((error: unknown) => {
        // Our table may already be gone (the host teardown deletes it): then so is the set.
        if (!/ENOENT/.test(String(error))) throw error;
      });
    }
  }
}

async function withRouteSocket<T>(fn: (socket: RtNetlinkSocket) => Promise<T>): Promise<T> {
  const socket = createRtNetlink();
  try {
    return await fn(socket);
  } finally {
    socket.socket.close();
  }
}
