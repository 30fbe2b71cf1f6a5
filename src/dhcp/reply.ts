/**
 * Building reply messages. Options are filled in by a chain of small functions, each owning one concern (the shape of
 * CoreDHCP's handler chain, without its global state): a filler reads the request and settings and sets options.
 */
import { broadcastOf, prefixToMask, type IPv4 } from '../net/address.ts';
import { BOOTREPLY, BROADCAST_FLAG, MessageType, Option } from './constants.ts';
import { emptyMessage, type DhcpMessage } from './message.ts';

export interface NetworkSettings {
  serverIp: IPv4;
  prefixLength: number;
  routers: readonly IPv4[];
  dnsServers: readonly IPv4[];
  domain: string;
  mtu: number;
}

export interface ReplyContext {
  request: DhcpMessage;
  type: MessageType;
  reply: DhcpMessage;
  network: NetworkSettings;
  /** Lease length in seconds for OFFER/ACK of an address; null for INFORM and NAK. */
  leaseSeconds: number | null;
  rapidCommit: boolean;
  nakMessage: string | null;
}

export type OptionFiller = (ctx: ReplyContext) => void;

const carriesConfiguration = (ctx: ReplyContext): boolean => ctx.type !== MessageType.Nak;

export const fillIdentity: OptionFiller = (ctx) => {
  ctx.reply.options.setMessageType(ctx.type);
  ctx.reply.options.setIPv4(Option.ServerIdentifier, ctx.network.serverIp);
};

export const fillLeaseTimes: OptionFiller = (ctx) => {
  if (ctx.leaseSeconds === null) return;
  const o = ctx.reply.options;
  o.setUint32(Option.LeaseTime, ctx.leaseSeconds);
  o.setUint32(Option.RenewalTime, Math.floor(ctx.leaseSeconds / 2));
  o.setUint32(Option.RebindingTime, Math.floor((ctx.leaseSeconds * 7) / 8));
};

export const fillSubnet: OptionFiller = (ctx) => {
  if (!carriesConfiguration(ctx)) return;
  const { serverIp, prefixLength } = ctx.network;
  ctx.reply.options.setIPv4(Option.SubnetMask, prefixToMask(prefixLength));
  ctx.reply.options.setIPv4(Option.BroadcastAddress, broadcastOf(serverIp, prefixLength));
};

export const fillRouters: OptionFiller = (ctx) => {
  if (carriesConfiguration(ctx) && ctx.network.routers.length > 0) {
    ctx.reply.options.setIPv4List(Option.Router, ctx.network.routers);
  }
};

export const fillDns: OptionFiller = (ctx) => {
  if (!carriesConfiguration(ctx)) return;
  if (ctx.network.dnsServers.length > 0) ctx.reply.options.setIPv4List(Option.DomainNameServer, ctx.network.dnsServers);
  if (ctx.network.domain !== '') {
    ctx.reply.options.setText(Option.DomainName, ctx.network.domain);
    ctx.reply.options.setDomainSearch([ctx.network.domain]);
  }
};

export const fillMtu: OptionFiller = (ctx) => {
  if (carriesConfiguration(ctx) && ctx.network.mtu >= 68) ctx.reply.options.setUint16(Option.InterfaceMtu, ctx.network.mtu);
};

export const fillRapidCommit: OptionFiller = (ctx) => {
  if (ctx.rapidCommit && ctx.type === MessageType.Ack) ctx.reply.options.set(Option.RapidCommit, Buffer.alloc(0));
};

export const fillNakMessage: OptionFiller = (ctx) => {
  if (ctx.type === MessageType.Nak && ctx.nakMessage) ctx.reply.options.setText(Option.Message, ctx.nakMessage);
};

/** RFC 6842: a server returns the client identifier the client sent. */
export const echoClientId: OptionFiller = (ctx) => {
  const id = ctx.request.options.get(Option.ClientIdentifier);
  if (id) ctx.reply.options.set(Option.ClientIdentifier, id);
};

/** RFC 3046: relay agent information goes back to the relay unchanged, as the last option. */
export const echoRelayAgentInfo: OptionFiller = (ctx) => {
  const info = ctx.request.options.get(Option.RelayAgentInformation);
  if (info && ctx.request.giaddr !== 0) ctx.reply.options.set(Option.RelayAgentInformation, info);
};

export const DEFAULT_FILLERS: readonly OptionFiller[] = [
  fillIdentity,
  fillLeaseTimes,
  fillSubnet,
  fillRouters,
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

export interface ReplySpec {
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
  const reply = emptyMessage();
  reply.op = BOOTREPLY;
  reply.htype = request.htype;
  reply.hlen = request.hlen;
  reply.xid = request.xid;
  reply.flags = request.flags;
  // RFC 2131 §4.3.2: a NAK through a relay MUST carry the broadcast bit, so the relay broadcasts it to the client.
  if (spec.type === MessageType.Nak && request.giaddr !== 0) reply.flags |= BROADCAST_FLAG;
  reply.giaddr = request.giaddr;
  reply.chaddr = Buffer.from(request.chaddr);
  reply.yiaddr = spec.type === MessageType.Nak ? 0 : spec.yiaddr;
  // ciaddr is echoed in an ACK to a client that already has its address (renewing, rebinding, informing).
  reply.ciaddr = spec.type === MessageType.Ack ? request.ciaddr : 0;
  const ctx: ReplyContext = {
    request,
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
