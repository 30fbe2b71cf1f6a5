/**
 * A hostile container for integration tests: a packet socket on a container's eth0 that sends whatever DHCP frame a
 * test describes — an Ethernet source independent of chaddr (impersonation), giaddr and a relay's UDP source
 * (forged relays), options 50, 54, 61, 12 and 80 — and collects the server's replies that reach its port. Built on
 * the project's own PacketSocket (test/harness/raw-dhcp.ts), so no scapy is needed. Floods are bounded by count and
 * by time, and paced in small batches so the daemon's receive queue, not our sender, decides what it sees.
 */
import { randomBytes } from 'node:crypto';
import { BOOTREQUEST, BROADCAST_FLAG, type MessageType, Option } from '../../src/dhcp/constants.ts';
import { type DhcpMessage, emptyMessage, serializeDhcpMessage } from '../../src/dhcp/message.ts';
import { macToBytes, parseIPv4 } from '../../src/net/address.ts';
import { buildUdpFrame } from '../../src/wire/frame.ts';
import type { Container } from './netns.ts';
import { openRawDhcpPort, type RawDhcpPort, type ReceivedReply } from './raw-dhcp.ts';

export interface ForgedRequest {
  type: MessageType;
  /** chaddr: the client the message claims to be. */
  chaddr: string;
  /** Ethernet source of the frame. Default: chaddr (a "full spoof" when chaddr is not the attacker's own MAC). */
  srcMac?: string;
  xid?: number;
  ciaddr?: string;
  giaddr?: string;
  /** Option 50. */
  requestedIp?: string;
  /** Option 54. */
  serverId?: string;
  /** Option 61 as raw bytes. */
  clientId?: Buffer;
  /** Option 12. */
  hostname?: string;
  /** Option 80 (RFC 4039). */
  rapidCommit?: boolean;
  /** Ask for broadcast replies (so they reach us whatever the bridge learned). Default true. */
  broadcast?: boolean;
  /** IPv4 source; default 0.0.0.0 (giaddr when relayed). */
  srcIp?: string;
  /** IPv4 destination; default 255.255.255.255 (10.0.0.1 when relayed). */
  dstIp?: string;
  /** UDP source port; default 68 (67 when relayed, as a relay agent sends). */
  srcPort?: number;
  /** Ethernet destination; default broadcast. */
  dstMac?: string;
}

export interface FloodOptions {
  /** Upper bound on frames sent. */
  count: number;
  /** Stop early after this many milliseconds, whatever was sent. */
  timeLimitMs: number;
  /** Frames per batch, sent back to back. Default 20. */
  batch?: number;
  /** Pause between batches. Default 10 ms. */
  pauseMs?: number;
}

export interface Attacker {
  readonly container: Container;
  /** The attacker's own MAC (its eth0). */
  readonly mac: string;
  /** Sends one forged request; returns its xid. */
  send(request: ForgedRequest): number;
  /** Sends `make(i)` for i = 0.. up to opts.count frames, paced; resolves with how many were sent. */
  flood(make: (i: number) => ForgedRequest, opts: FloodOptions): Promise<number>;
  /** Every reply seen so far (to any chaddr). */
  replies(): ReceivedReply[];
  /** The first reply to `xid` of one of `types`, or null after timeoutMs. */
  replyTo(xid: number, types: readonly MessageType[], timeoutMs?: number): Promise<ReceivedReply | null>;
  close(): void;
}

const SERVER_IP = '10.0.0.1';
let xidCounter = 0x5a000000;

/** A random locally administered unicast MAC (02:xx:...): never one of the harness's fixed container MACs. */
export function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = 0x02;
  bytes[1] = 0xee; // the harness's containers use 02:1a:..
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function ipv4(text: string): number {
  const value = parseIPv4(text);
  if (value === null) throw new Error(`attacker: bad address ${text}`);
  return value;
}

export function forgedMessage(r: ForgedRequest, xid: number): DhcpMessage {
  const m = emptyMessage();
  m.op = BOOTREQUEST;
  m.xid = xid;
  m.flags = r.broadcast === false ? 0 : BROADCAST_FLAG;
  m.ciaddr = r.ciaddr !== undefined ? ipv4(r.ciaddr) : 0;
  m.giaddr = r.giaddr !== undefined ? ipv4(r.giaddr) : 0;
  if (r.giaddr !== undefined) m.hops = 1;
  macToBytes(r.chaddr).copy(m.chaddr);
  m.options.setMessageType(r.type);
  if (r.requestedIp !== undefined) m.options.setIPv4(Option.RequestedIpAddress, ipv4(r.requestedIp));
  if (r.serverId !== undefined) m.options.setIPv4(Option.ServerIdentifier, ipv4(r.serverId));
  if (r.clientId !== undefined) m.options.set(Option.ClientIdentifier, r.clientId);
  if (r.hostname !== undefined) m.options.setText(Option.HostName, r.hostname);
  if (r.rapidCommit === true) m.options.set(Option.RapidCommit, Buffer.alloc(0));
  m.options.set(Option.ParameterRequestList, Buffer.from([1, 3, 6, 12, 15]));
  return m;
}

export function openAttacker(container: Container): Attacker {
  const port: RawDhcpPort = openRawDhcpPort(container);
  const send = (r: ForgedRequest): number => {
    const xid = r.xid ?? xidCounter++;
    const relayed = r.giaddr !== undefined;
    const payload = serializeDhcpMessage(forgedMessage(r, xid)).data;
    port.send(
      buildUdpFrame({
        srcMac: r.srcMac ?? r.chaddr,
        dstMac: r.dstMac ?? 'ff:ff:ff:ff:ff:ff',
        srcIp: ipv4(r.srcIp ?? (relayed ? (r.giaddr as string) : '0.0.0.0')),
        dstIp: ipv4(r.dstIp ?? (relayed ? SERVER_IP : '255.255.255.255')),
        srcPort: r.srcPort ?? (relayed ? 67 : 68),
        dstPort: 67,
        ttl: 64,
        payload,
      }),
    );
    return xid;
  };
  return {
    container,
    mac: container.mac,
    send,
    async flood(make, opts) {
      const batch = opts.batch ?? 20;
      const pauseMs = opts.pauseMs ?? 10;
      const deadline = Date.now() + opts.timeLimitMs;
      let sent = 0;
      while (sent < opts.count && Date.now() < deadline) {
        for (let k = 0; k < batch && sent < opts.count; k++) send(make(sent++));
        await sleep(pauseMs);
      }
      return sent;
    },
    replies: () => port.replies(),
    async replyTo(xid, types, timeoutMs = 1000) {
      try {
        return await port.waitForReply(
          (r) => r.message.xid === xid && r.message.options.messageType !== undefined && types.includes(r.message.options.messageType),
          timeoutMs,
        );
      } catch {
        return null;
      }
    },
    close: () => port.close(),
  };
}
