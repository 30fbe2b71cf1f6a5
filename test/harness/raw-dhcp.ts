/**
 * A hand-driven DHCP "client" for cases real clients can't produce (relayed requests, INIT-REBOOT for a foreign
 * address, malformed packets): a packet socket inside a container namespace that sends frames we build and collects
 * the server's replies as parsed messages.
 */

import { BOOTREQUEST, type MessageType, Option } from '../../src/dhcp/constants.ts';
import { type DhcpMessage, emptyMessage, parseDhcpMessage, serializeDhcpMessage } from '../../src/dhcp/message.ts';
import { macToBytes, parseIPv4 } from '../../src/net/address.ts';
import { acceptAllFilter } from '../../src/wire/bpf.ts';
import { buildUdpFrame, parseUdpFrame, type UdpDatagram, udpChecksumOk } from '../../src/wire/frame.ts';
import { PacketSocket } from '../../src/wire/packet-socket.ts';
import type { Container } from './netns.ts';

export interface ReceivedReply {
  datagram: UdpDatagram;
  message: DhcpMessage;
  udpChecksumOk: boolean;
}

export interface RawDhcpPort {
  send(frame: Buffer): void;
  /** Sends a BOOTREQUEST built from `message` to the server port, from `srcIp`:`srcPort` to `dstIp`. */
  sendRequest(message: DhcpMessage, opts?: { srcIp?: string; dstIp?: string; srcPort?: number; dstMac?: string }): void;
  replies(): ReceivedReply[];
  waitForReply(predicate: (r: ReceivedReply) => boolean, timeoutMs?: number): Promise<ReceivedReply>;
  close(): void;
}

export function openRawDhcpPort(container: Container): RawDhcpPort {
  const replies: ReceivedReply[] = [];
  const waiters: { predicate: (r: ReceivedReply) => boolean; resolve: (r: ReceivedReply) => void }[] = [];
  const socket = PacketSocket.open({
    ifname: container.ifname,
    netns: container.ns,
    filter: acceptAllFilter(),
    onFrames: (frames) => {
      for (const frame of frames) {
        const udp = parseUdpFrame(Buffer.from(frame.data));
        if (!udp.ok || udp.datagram.srcPort !== 67) continue;
        const parsed = parseDhcpMessage(udp.datagram.payload);
        if (!parsed.ok || parsed.message.op !== 2) continue;
        const reply = { datagram: udp.datagram, message: parsed.message, udpChecksumOk: udpChecksumOk(Buffer.from(frame.data)) };
        replies.push(reply);
        for (const w of waiters.splice(0)) {
          if (w.predicate(reply)) w.resolve(reply);
          else waiters.push(w);
        }
      }
    },
  });
  return {
    send: (frame) => {
      socket.send(frame);
    },
    sendRequest(message, opts = {}) {
      const payload = serializeDhcpMessage(message).data;
      socket.send(
        buildUdpFrame({
          srcMac: container.mac,
          dstMac: opts.dstMac ?? 'ff:ff:ff:ff:ff:ff',
          srcIp: parseIPv4(opts.srcIp ?? '0.0.0.0') as number,
          dstIp: parseIPv4(opts.dstIp ?? '255.255.255.255') as number,
          srcPort: opts.srcPort ?? 68,
          dstPort: 67,
          ttl: 64,
          payload,
        }),
      );
    },
    replies: () => [...replies],
    waitForReply(predicate, timeoutMs = 5000) {
      const found = replies.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching DHCP reply within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
        });
      });
    },
    close: () => socket.close(),
  };
}

/** A BOOTREQUEST of `type` from `mac` with the given xid; callers add options. */
export function request(type: MessageType, mac: string, xid: number): DhcpMessage {
  const m = emptyMessage();
  m.op = BOOTREQUEST;
  m.xid = xid;
  macToBytes(mac).copy(m.chaddr);
  m.options.setMessageType(type);
  m.options.set(Option.ParameterRequestList, Buffer.from([1, 3, 6, 15, 119]));
  return m;
}
