/**
 * Building reply messages. Options are filled in by a chain of small functions, each owning one concern (the shape of
 * CoreDHCP's handler chain, without its global state): a filler reads the request and settings and sets options.
 */
import { broadcastOf, type IPv4, prefixToMask } from '../net/address.ts';
import { BOOTREPLY, BROADCAST_FLAG, MessageType, Option } from './constants.ts';
import { encodeDomainSearchList } from './domain-name.ts';
import type { DhcpMessage } from './message.ts';
import { DhcpOptions } from './options.ts';
import { fillStaticRoutes, type StaticRoute } from './routes.ts';

export interface NetworkSettings {
  readonly serverIp: IPv4;
  readonly prefixLength: number;
  readonly routers: readonly IPv4[];
  readonly dnsServers: readonly IPv4[];
  readonly domain: string;
  readonly mtu: number;
  /** Classless static routes (--route) for options 121/249; none: only option 3 routes. */
  readonly routes?: readonly StaticRoute[];
}

/**
 * The option values every reply of one server carries, encoded once per NetworkSettings rather than per reply (this
 * runs for every OFFER and ACK). Shared buffers are safe because reply option values are only ever read (serialized).
 */
interface EncodedNetwork {
  serverIdentifier: Buffer;
  subnetMask: Buffer;
  broadcast: Buffer;
  routers: Buffer | null;
  dnsServers: Buffer | null;
  domainName: Buffer | null;
  domainSearch: Buffer | null;
  mtu: Buffer | null;
}

const encodedNetworks = new WeakMap<NetworkSettings, EncodedNetwork>();

function uint32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

function ipv4List(ips: readonly IPv4[]): Buffer {
  const b = Buffer.alloc(ips.length * 4);
  for (const [i, ip] of ips.entries()) b.writeUInt32BE(ip >>> 0, i * 4);
  return b;
}

function encodedNetwork(n: NetworkSettings): EncodedNetwork {
  let e = encodedNetworks.get(n);
  if (e === undefined) {
    const mtu = Buffer.alloc(2);
    mtu.writeUInt16BE(n.mtu & 0xffff, 0);
    e = {
      serverIdentifier: uint32(n.serverIp),
      subnetMask: uint32(prefixToMask(n.prefixLength)),
      broadcast: uint32(broadcastOf(n.serverIp, n.prefixLength)),
      routers: n.routers.length > 0 ? ipv4List(n.routers) : null,
      dnsServers: n.dnsServers.length > 0 ? ipv4List(n.dnsServers) : null,
      domainName: n.domain !== '' ? Buffer.from(n.domain, 'latin1') : null,
      domainSearch: n.domain !== '' ? encodeDomainSearchList([n.domain]) : null,
      mtu: n.mtu >= 68 ? mtu : null,
    };
    encodedNetworks.set(n, e);
  }
  return e;
}

const MESSAGE_TYPE_VALUES: readonly Buffer[] = Array.from({ length: 9 }, (_, t) => Buffer.from([t]));
const EMPTY = Buffer.alloc(0);

/** Lease, renewal (T1 = ½) and rebinding (T2 = ⅞) times for one lease length, encoded once per length. */
const encodedLeaseTimes = new Map<number, { lease: Buffer; renewal: Buffer; rebinding: Buffer }>();

function leaseTimeValues(seconds: number): { lease: Buffer; renewal: Buffer; rebinding: Buffer } {
  let v = encodedLeaseTimes.get(seconds);
  if (v === undefined) {
    v = { lease: uint32(seconds), renewal: uint32(Math.floor(seconds / 2)), rebinding: uint32(Math.floor((seconds * 7) / 8)) };
    if (encodedLeaseTimes.size < 64) encodedLeaseTimes.set(seconds, v);
  }
  return v;
}

interface ReplyContext {
  request: DhcpMessage;
  /** The client's parameter request list (option 55), or null when it sent none. */
  wanted: Buffer | null;
  type: MessageType;
  reply: DhcpMessage;
  network: NetworkSettings;
  /** Lease length in seconds for OFFER/ACK of an address; null for INFORM and NAK. */
  leaseSeconds: number | null;
  rapidCommit: boolean;
  nakMessage: string | null;
}

type OptionFiller = (ctx: ReplyContext) => void;

const carriesConfiguration = (ctx: ReplyContext): boolean => ctx.type !== MessageType.Nak;

/**
 * RFC 2132 §9.8: a client that lists the options it wants (55) gets those, not every option we could give, as with
 * dnsmasq and Kea; a client that sends no list gets everything configured. Only the fillers of optional configuration
 * (28, 6, 15, 119, 26) ask: the message's own options (53, 54, 56), the lease (51, 58, 59, mask 1, router 3 — a
 * container without them is broken even if its client forgot to ask) and the echoes (61, 80, 82) always go. Static
 * routes (121, 249: routes.ts) go only when listed, since 121 makes the client ignore option 3.
 */
const askedFor = (ctx: ReplyContext, code: number): boolean => ctx.wanted === null || ctx.wanted.includes(code);

const fillIdentity: OptionFiller = (ctx) => {
  ctx.reply.options.set(Option.MessageType, MESSAGE_TYPE_VALUES[ctx.type] as Buffer);
  ctx.reply.options.set(Option.ServerIdentifier, encodedNetwork(ctx.network).serverIdentifier);
};

const fillLeaseTimes: OptionFiller = (ctx) => {
  if (ctx.leaseSeconds === null) return;
  const o = ctx.reply.options;
  const v = leaseTimeValues(ctx.leaseSeconds);
  o.set(Option.LeaseTime, v.lease);
  o.set(Option.RenewalTime, v.renewal);
  o.set(Option.RebindingTime, v.rebinding);
};

const fillSubnet: OptionFiller = (ctx) => {
  if (!carriesConfiguration(ctx)) return;
  const e = encodedNetwork(ctx.network);
  ctx.reply.options.set(Option.SubnetMask, e.subnetMask);
  if (askedFor(ctx, Option.BroadcastAddress)) ctx.reply.options.set(Option.BroadcastAddress, e.broadcast);
};

const fillRouters: OptionFiller = (ctx) => {
  const routers = encodedNetwork(ctx.network).routers;
  if (carriesConfiguration(ctx) && routers) ctx.reply.options.set(Option.Router, routers);
};

const fillDns: OptionFiller = (ctx) => {
  if (!carriesConfiguration(ctx)) return;
  const e = encodedNetwork(ctx.network);
  if (e.dnsServers && askedFor(ctx, Option.DomainNameServer)) ctx.reply.options.set(Option.DomainNameServer, e.dnsServers);
  if (e.domainName && askedFor(ctx, Option.DomainName)) ctx.reply.options.set(Option.DomainName, e.domainName);
  if (e.domainSearch && askedFor(ctx, Option.DomainSearch)) ctx.reply.options.set(Option.DomainSearch, e.domainSearch);
};

const fillMtu: OptionFiller = (ctx) => {
  const mtu = encodedNetwork(ctx.network).mtu;
  if (carriesConfiguration(ctx) && mtu && askedFor(ctx, Option.InterfaceMtu)) ctx.reply.options.set(Option.InterfaceMtu, mtu);
};

const fillRapidCommit: OptionFiller = (ctx) => {
  if (ctx.rapidCommit && ctx.type === MessageType.Ack) ctx.reply.options.set(Option.RapidCommit, EMPTY);
};

const fillNakMessage: OptionFiller = (ctx) => {
  if (ctx.type === MessageType.Nak && ctx.nakMessage) ctx.reply.options.setText(Option.Message, ctx.nakMessage);
};

/** RFC 6842: a server returns the client identifier the client sent. */
const echoClientId: OptionFiller = (ctx) => {
  const id = ctx.request.options.get(Option.ClientIdentifier);
  if (id) ctx.reply.options.set(Option.ClientIdentifier, id);
};

/** RFC 3046: relay agent information goes back to the relay unchanged, as the last option. */
const echoRelayAgentInfo: OptionFiller = (ctx) => {
  const info = ctx.request.options.get(Option.RelayAgentInformation);
  if (info && ctx.request.giaddr !== 0) ctx.reply.options.set(Option.RelayAgentInformation, info);
};

const DEFAULT_FILLERS: readonly OptionFiller[] = [
  fillIdentity,
  fillLeaseTimes,
  fillSubnet,
  fillRouters,
  fillStaticRoutes,
  fillDns,
  fillMtu,
  fillRapidCommit,
  fillNakMessage,
  echoClientId,
  echoRelayAgentInfo,
];

/** Options whose absence would make the reply wrong rather than merely less useful. */
export const ESSENTIAL_OPTIONS: ReadonlySet<number> = new Set<number>([
  Option.MessageType,
  Option.ServerIdentifier,
  Option.LeaseTime,
  Option.SubnetMask,
  Option.Router,
  Option.RapidCommit,
  Option.RelayAgentInformation,
]);

interface ReplySpec {
  request: DhcpMessage;
  type: MessageType;
  yiaddr: IPv4;
  network: NetworkSettings;
  leaseSeconds: number | null;
  rapidCommit?: boolean;
  nakMessage?: string | null;
}

/** RFC 2131 table 3: the header fields of a server reply. */
export function buildReply(spec: ReplySpec, fillers: readonly OptionFiller[] = DEFAULT_FILLERS): DhcpMessage {
  const { request } = spec;
  const reply: DhcpMessage = {
    op: BOOTREPLY,
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    // RFC 2131 §4.3.2: a NAK through a relay MUST carry the broadcast bit, so the relay broadcasts it to the client.
    flags: spec.type === MessageType.Nak && request.giaddr !== 0 ? request.flags | BROADCAST_FLAG : request.flags,
    // ciaddr is echoed in an ACK to a client that already has its address (renewing, rebinding, informing).
    ciaddr: spec.type === MessageType.Ack ? request.ciaddr : 0,
    yiaddr: spec.type === MessageType.Nak ? 0 : spec.yiaddr,
    siaddr: 0,
    giaddr: request.giaddr,
    // A copy: the request's bytes belong to a receive buffer that is reused.
    chaddr: Buffer.from(request.chaddr),
    sname: EMPTY,
    file: EMPTY,
    options: new DhcpOptions(),
  };
  const wanted = request.options.get(Option.ParameterRequestList);
  const ctx: ReplyContext = {
    request,
    wanted: wanted !== undefined && wanted.length > 0 ? wanted : null,
    type: spec.type,
    reply,
    network: spec.network,
    leaseSeconds: spec.type === MessageType.Nak ? null : spec.leaseSeconds,
    rapidCommit: spec.rapidCommit ?? false,
    nakMessage: spec.nakMessage ?? null,
  };
  for (const fill of fillers) fill(ctx);
  return reply;
}

/** The largest reply the client accepts (option 57), bounded by our MTU; at least the RFC minimum. */
export function replySizeLimit(request: DhcpMessage, mtu: number): number {
  const fromMtu = mtu - 28;
  const asked = request.options.maxMessageSize;
  const fromClient = asked !== undefined && asked >= 576 ? asked - 28 : 576 - 28;
  return Math.min(fromMtu, fromClient);
}
