/**
 * Creating (or reusing) the containers' bridge through rtnetlink with netlink@0.3.0. Like lxc-net:
 * a new bridge gets STP off and forward delay 0; we add our address and bring the bridge up, and at
 * exit we delete only what we added: the bridge when we created it and no ports remain, otherwise
 * only the address we added. Runs in the network namespace of the calling process.
 */

import { endianness } from 'node:os';
import type { RtNetlinkSocket, rt } from 'netlink';
import { requireCjs } from '../cjs.ts';
import { broadcastOf, formatIPv4, type IPv4 } from '../net/address.ts';

type Netlink = typeof import('netlink');
// netlink's parts one by one: its index also loads nl80211 and WireGuard tables (~2 MB RSS) the daemon never uses
const { AttrStream } = requireCjs('netlink/dist/structs') as Pick<Netlink, 'AttrStream'>;
const { createRtNetlink } = requireCjs('netlink/dist/rt/rt') as Pick<Netlink, 'createRtNetlink'>;
const { FlagsNew } = requireCjs('netlink/dist/constants') as Pick<Netlink, 'FlagsNew'>;
const ifla = requireCjs('netlink/dist/rt/ifla') as Netlink['ifla'];

export interface Ipv4Interface {
  ip: IPv4;
  prefixLength: number;
}

export interface BridgeSetup {
  name: string;
  ifindex: number;
  /** We created the bridge (so we may delete it at exit). */
  created: boolean;
  /** We added `address` to it (so we remove it at exit). */
  addedAddress: boolean;
  address: Ipv4Interface;
  mtu: number;
}

interface BridgeRemoval {
  removedBridge: boolean;
  removedAddress: boolean;
  /** Why the bridge was kept, when we had created it. */
  keptBecause?: string;
}

const AF_INET = 2;
const AF_UNSPEC = 0;
/** IFLA_BR_* values are u32; forward delay is in clock ticks (0 = no delay). */
const BRIDGE_STP_OFF = 0;
const BRIDGE_FORWARD_DELAY_NONE = 0;

export class BridgeError extends Error {
  override name = 'BridgeError';
}

/** The errno code ("ENODEV") of a request netlink@0.3.0 rejected ("Request rejected: ENODEV"), else null. */
export function rtnetlinkErrorCode(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const match = /^Request rejected: (\S+)$/.exec(error.message);
  return match?.[1] ?? null;
}

/** rtnetlink attribute numbers are in host byte order. */
function u32Host(value: number): Buffer {
  const out = Buffer.alloc(4);
  if (endianness() === 'LE') out.writeUInt32LE(value);
  else out.writeUInt32BE(value);
  return out;
}

function ipv4Bytes(ip: IPv4): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(ip >>> 0);
  return out;
}

function concatStream(data: ReturnType<typeof ifla.formatInfo>): Buffer {
  // netlink@0.3.0's encoders return "stream data": bytes, arrays of bytes or a writer function.
  const stream = new AttrStream();
  stream.emit(data);
  return Buffer.concat(stream.bufs);
}

/** IFLA_LINKINFO for a new bridge: kind "bridge", IFLA_INFO_DATA with stp_state 0 and forward_delay 0. */
function encodeBridgeLinkInfo(): Buffer {
  const bridgeData = concatStream(ifla.formatBridge({ stpState: u32Host(BRIDGE_STP_OFF), forwardDelay: u32Host(BRIDGE_FORWARD_DELAY_NONE) }));
  return concatStream(ifla.formatInfo({ kind: 'bridge', data: bridgeData }));
}

interface LinkState {
  ifindex: number;
  kind: string | undefined;
  mtu: number;
  up: boolean;
}

export async function findLink(socket: RtNetlinkSocket, name: string): Promise<LinkState | null> {
  let messages: rt.LinkMessage[];
  try {
    messages = await socket.getLink({ family: AF_UNSPEC }, { ifname: name });
  } catch (error) {
    if (rtnetlinkErrorCode(error) === 'ENODEV') return null;
    throw error;
  }
  const link = messages[0];
  if (link === undefined || link.data.index === undefined) return null;
  const kind = link.attrs.linkinfo ? ifla.parseInfo(link.attrs.linkinfo).kind : undefined;
  return { ifindex: link.data.index, kind, mtu: link.attrs.mtu ?? 0, up: link.data.flags?.up === true };
}

async function ipv4AddressesOf(socket: RtNetlinkSocket, ifindex: number): Promise<Ipv4Interface[]> {
  const messages = await socket.getAddresses({ family: AF_INET });
  const result: Ipv4Interface[] = [];
  for (const message of messages) {
    if (message.data.index !== ifindex || message.data.family !== AF_INET) continue;
    const local = message.attrs.local ?? message.attrs.address;
    if (local === undefined || local.length !== 4) continue;
    result.push({ ip: local.readUInt32BE(0), prefixLength: message.data.prefixlen ?? 32 });
  }
  return result;
}

export async function withRtnetlink<T>(fn: (socket: RtNetlinkSocket) => Promise<T>): Promise<T> {
  const socket = createRtNetlink();
  try {
    return await fn(socket);
  } finally {
    socket.socket.close();
  }
}

export function describe(error: unknown, what: string): BridgeError {
  const code = rtnetlinkErrorCode(error);
  const reason = code ?? (error instanceof Error ? error.message : String(error));
  return new BridgeError(`${what}: ${reason}`);
}

/**
 * Makes sure bridge `name` exists, carries `address` and is up. Reuses an existing bridge (adding
 * the address only if it has no address with that IP); a non-bridge interface of that name is an error. A bridge
 * created here gets `mac` when given (lxc-net's LXC_BRIDGE_MAC); an existing one keeps its own.
 */
export async function ensureBridge(name: string, address: Ipv4Interface, mac?: string): Promise<BridgeSetup> {
  return withRtnetlink(async (socket) => {
    let link = await findLink(socket, name);
    let created = false;
    if (link !== null && link.kind !== 'bridge') {
      throw new BridgeError(`${name} exists but is not a bridge${link.kind ? ` (it is a ${link.kind} interface)` : ''}: name a bridge or a free name`);
    }
    if (link === null) {
      try {
        const attrs = { ifname: name, linkinfo: encodeBridgeLinkInfo(), ...(mac !== undefined ? { address: Buffer.from(mac.replace(/:/g, ''), 'hex') } : {}) };
        await socket.newLink({ family: AF_UNSPEC }, attrs, { flags: FlagsNew.CREATE | FlagsNew.EXCL });
        created = true;
      } catch (error) {
        // Someone created it between our look-up and our request: reuse it like any existing bridge.
        if (rtnetlinkErrorCode(error) !== 'EEXIST') throw describe(error, `creating bridge ${name}`);
      }
      link = await findLink(socket, name);
      if (link === null) throw new BridgeError(`bridge ${name} disappeared right after it was created`);
      if (link.kind !== 'bridge') throw new BridgeError(`${name} exists but is not a bridge`);
    }
    const ifindex = link.ifindex;
    const present = (await ipv4AddressesOf(socket, ifindex)).some((existing) => existing.ip === address.ip);
    let addedAddress = false;
    if (!present) {
      try {
        await socket.newAddress(
          { family: AF_INET, prefixlen: address.prefixLength, index: ifindex },
          { local: ipv4Bytes(address.ip), address: ipv4Bytes(address.ip), broadcast: ipv4Bytes(broadcastOf(address.ip, address.prefixLength)) },
          { flags: FlagsNew.CREATE | FlagsNew.EXCL },
        );
        addedAddress = true;
      } catch (error) {
        if (rtnetlinkErrorCode(error) !== 'EEXIST') {
          throw describe(error, `adding ${formatIPv4(address.ip)}/${address.prefixLength} to ${name}`);
        }
      }
    }
    if (!link.up) {
      try {
        await socket.setLink({ family: AF_UNSPEC, index: ifindex, flags: { up: true }, change: { up: true } });
      } catch (error) {
        throw describe(error, `bringing ${name} up`);
      }
    }
    const final = await findLink(socket, name);
    return { name, ifindex, created, addedAddress, address, mtu: final?.mtu ?? link.mtu };
  });
}

/** Interfaces enslaved to the bridge (containers' veths and anything else), by name. */
async function bridgePorts(name: string): Promise<string[]> {
  return withRtnetlink(async (socket) => {
    const bridge = await findLink(socket, name);
    if (bridge === null) return [];
    const links = await socket.getLinks();
    return links.filter((link) => link.attrs.master === bridge.ifindex).map((link) => link.attrs.ifname ?? `ifindex ${link.data.index}`);
  });
}

/**
 * Undoes ensureBridge: deletes the bridge if we created it and no port remains (lxc-net's rule);
 * otherwise removes only the address we added. A bridge that is gone or was replaced (other ifindex)
 * is left alone.
 */
export async function removeBridgeIfOurs(state: BridgeSetup): Promise<BridgeRemoval> {
  const ports = await bridgePorts(state.name);
  return withRtnetlink(async (socket) => {
    const link = await findLink(socket, state.name);
    if (link === null || link.ifindex !== state.ifindex)
      return { removedBridge: false, removedAddress: false, keptBecause: `${state.name} is no longer the bridge we set up` };
    if (state.created && ports.length === 0) {
      try {
        await socket.delLink({ family: AF_UNSPEC, index: state.ifindex });
      } catch (error) {
        throw describe(error, `deleting bridge ${state.name}`);
      }
      return { removedBridge: true, removedAddress: state.addedAddress };
    }
    let removedAddress = false;
    if (state.addedAddress) {
      try {
        await socket.delAddress(
          { family: AF_INET, prefixlen: state.address.prefixLength, index: state.ifindex },
          { local: ipv4Bytes(state.address.ip), address: ipv4Bytes(state.address.ip) },
        );
        removedAddress = true;
      } catch (error) {
        if (rtnetlinkErrorCode(error) !== 'EADDRNOTAVAIL') throw describe(error, `removing ${formatIPv4(state.address.ip)} from ${state.name}`);
      }
    }
    const removal: BridgeRemoval = { removedBridge: false, removedAddress };
    if (state.created) removal.keptBecause = `ports still attached: ${ports.join(', ')}`;
    return removal;
  });
}
