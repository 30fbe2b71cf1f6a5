/**
 * What the cluster routes should be, as pure functions: which peers (other hosts' bridge subnets, read from etcd and
 * so hostile input) may get a route and a place in the nf_tables set, and the difference between those and the routes
 * the kernel holds with our protocol number. cluster-routes.ts does the netlink I/O.
 */

import { type IPv4, networkOf } from '../net/address.ts';

export interface PeerRoute {
  readonly host: string;
  readonly network: IPv4;
  readonly prefixLength: number;
  readonly via: IPv4;
}

/**
 * At most this many peers get a route; the rest are dropped and counted. The same bound as the cluster view's
 * CLUSTER_MAX_HOSTS (1024, the lead's contract): the view never holds more hosts, so hitting it means a bug or hostile
 * input, and 1024 routes and 2049 set elements are still a small kernel table.
 */
export const CLUSTER_ROUTES_MAX_PEERS = 1024;
/**
 * The shortest prefix a peer may announce: 10.0.0.0/8 is the largest private block (RFC 1918 §3); a shorter one
 * would send a slice of the public address space to that peer.
 */
const MIN_PEER_PREFIX_LENGTH = 8;
/** The longest: a /31 or /32 leaves no room for a bridge address and containers (RFC 3021 is for links). */
const MAX_PEER_PREFIX_LENGTH = 30;

export type PeerDropReason = 'invalid' | 'overlaps-own' | 'overlaps-peer' | 'over-limit';

interface DroppedPeer {
  peer: PeerRoute;
  reason: PeerDropReason;
}

interface PeerSelection {
  accepted: PeerRoute[];
  dropped: DroppedPeer[];
}

export interface OwnSubnet {
  network: IPv4;
  prefixLength: number;
}

function overlaps(a: OwnSubnet, b: OwnSubnet): boolean {
  const shorter = Math.min(a.prefixLength, b.prefixLength);
  return networkOf(a.network, shorter) === networkOf(b.network, shorter);
}

const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

/** 0/8 ("this network"), 127/8 (loopback), 224/4 and above (multicast, reserved, broadcast): never a next hop (RFC 1122 §3.2.1.3). */
function usableNextHop(via: IPv4): boolean {
  const first = via >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}

/** A peer that cannot have a route at all: malformed fields, or a next hop that could never be right. */
function invalidPeer(peer: PeerRoute, own: OwnSubnet): boolean {
  if (typeof peer.host !== 'string' || peer.host.length === 0) return true;
  if (!Number.isInteger(peer.prefixLength) || peer.prefixLength < MIN_PEER_PREFIX_LENGTH || peer.prefixLength > MAX_PEER_PREFIX_LENGTH) return true;
  if (!isU32(peer.network) || !isU32(peer.via) || networkOf(peer.network, peer.prefixLength) !== peer.network) return true;
  if (!usableNextHop(peer.via)) return true;
  // A next hop inside the destination itself, or inside our bridge subnet, is a loop or a hijack of our containers.
  const self = { network: peer.network, prefixLength: peer.prefixLength };
  return overlaps({ network: peer.via, prefixLength: 32 }, self) || overlaps({ network: peer.via, prefixLength: 32 }, own);
}

/**
 * The peers that get a route: valid ones, not overlapping our subnet, not overlapping a peer taken before them (peers
 * are taken in host-name order, so every host decides the same way), at most `max`. One host name counts once.
 */
export function selectPeers(peers: readonly PeerRoute[], own: OwnSubnet, max: number = CLUSTER_ROUTES_MAX_PEERS): PeerSelection {
  const accepted: PeerRoute[] = [];
  const dropped: DroppedPeer[] = [];
  const seenHosts = new Set<string>();
  const ordered = [...peers].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  for (const peer of ordered) {
    if (invalidPeer(peer, own) || seenHosts.has(peer.host)) {
      dropped.push({ peer, reason: 'invalid' });
      continue;
    }
    seenHosts.add(peer.host);
    const subnet = { network: peer.network, prefixLength: peer.prefixLength };
    if (overlaps(subnet, own)) dropped.push({ peer, reason: 'overlaps-own' });
    else if (accepted.some((taken) => overlaps(taken, subnet))) dropped.push({ peer, reason: 'overlaps-peer' });
    else if (accepted.length >= max) dropped.push({ peer, reason: 'over-limit' });
    else accepted.push(peer);
  }
  return { accepted, dropped };
}

/** A route of the main table as read from the kernel (IPv4, unicast). */
export interface KernelRoute {
  network: IPv4;
  prefixLength: number;
  /** The gateway; null for a directly connected route. */
  via: IPv4 | null;
  protocol: number;
}

interface RoutePlan {
  /** New routes, or ours whose next hop changed (installed with NLM_F_REPLACE). */
  install: PeerRoute[];
  /** Ours (by protocol) that no accepted peer wants any more. */
  remove: KernelRoute[];
  /** Peers whose destination already has a route someone else installed: we leave it alone. */
  blocked: PeerRoute[];
}

const routeKey = (network: IPv4, prefixLength: number): string => `${network >>> 0}/${prefixLength}`;

/** What to change so that the routes with `protocol` are exactly the accepted peers'. */
export function planRoutes(accepted: readonly PeerRoute[], kernel: readonly KernelRoute[], protocol: number): RoutePlan {
  const ours = new Map<string, KernelRoute>();
  const foreign = new Set<string>();
  for (const route of kernel) {
    const key = routeKey(route.network, route.prefixLength);
    if (route.protocol === protocol) ours.set(key, route);
    else foreign.add(key);
  }
  const plan: RoutePlan = { install: [], remove: [], blocked: [] };
  const wanted = new Set<string>();
  for (const peer of accepted) {
    const key = routeKey(peer.network, peer.prefixLength);
    const existing = ours.get(key);
    if (foreign.has(key) && existing === undefined) {
      plan.blocked.push(peer);
      continue;
    }
    wanted.add(key);
    if (existing?.via !== peer.via) plan.install.push(peer);
  }
  for (const [key, route] of ours) if (!wanted.has(key)) plan.remove.push(route);
  return plan;
}
