/**
 * Ethernet II + IPv4 + UDP frames, and ARP, built and parsed with no I/O. Replies are built whole, checksums included,
 * so no kernel offload or iptables CHECKSUM rule is involved (the reason this project exists; see docs/wire.md).
 */
import { type IPv4, macFromBytes, writeMac } from '../net/address.ts';
import { finishChecksum, internetChecksum, onesComplementSum, pseudoHeaderSum } from './checksum.ts';

const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
const IPPROTO_UDP = 17;
export const ETHERNET_HEADER_LENGTH = 14;
const IPV4_HEADER_LENGTH = 20;
export const UDP_HEADER_LENGTH = 8;
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
export const IPV4_BROADCAST = 0xffffffff;

export interface UdpDatagram {
  srcMac: string;
  dstMac: string;
  srcIp: IPv4;
  dstIp: IPv4;
  srcPort: number;
  dstPort: number;
  ttl: number;
  payload: Buffer;
}

export type FrameParseFailure = 'frame-short' | 'not-ipv4' | 'ip-header-bad' | 'ip-checksum-bad' | 'ip-fragment' | 'not-udp' | 'udp-length-bad';

export type FrameParseResult = { ok: true; datagram: UdpDatagram } | { ok: false; reason: FrameParseFailure; detail: string };

function reject(reason: FrameParseFailure, detail: string): FrameParseResult {
  return { ok: false, reason, detail };
}

/**
 * Parses an Ethernet frame carrying IPv4/UDP. The UDP checksum is deliberately not verified: frames that a container's
 * kernel UDP socket sends over veth reach an AF_PACKET reader with the checksum still unfinished (CHECKSUM_PARTIAL),
 * and rejecting them would drop every renewal sent through a normal socket. The IPv4 header checksum is always final.
 */
export function parseUdpFrame(frame: Buffer): FrameParseResult {
  if (frame.length < ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + UDP_HEADER_LENGTH) {
    return reject('frame-short', `${frame.length} bytes`);
  }
  const etherType = frame.readUInt16BE(12);
  if (etherType !== ETHERTYPE_IPV4) return reject('not-ipv4', `ethertype 0x${etherType.toString(16)}`);
  const ip = ETHERNET_HEADER_LENGTH;
  const versionIhl = frame[ip] as number;
  const ihl = (versionIhl & 0x0f) * 4;
  if (versionIhl >> 4 !== 4 || ihl < IPV4_HEADER_LENGTH) return reject('ip-header-bad', `version/IHL 0x${versionIhl.toString(16)}`);
  const totalLength = frame.readUInt16BE(ip + 2);
  if (totalLength < ihl + UDP_HEADER_LENGTH || ip + totalLength > frame.length) {
    return reject('ip-header-bad', `total length ${totalLength} in a ${frame.length}-byte frame`);
  }
  if (internetChecksum(frame, ip, ip + ihl) !== 0) return reject('ip-checksum-bad', 'IPv4 header checksum mismatch');
  const fragment = frame.readUInt16BE(ip + 6);
  if ((fragment & 0x3fff) !== 0) return reject('ip-fragment', 'fragmented datagram');
  if (frame[ip + 9] !== IPPROTO_UDP) return reject('not-udp', `protocol ${frame[ip + 9]}`);
  const udp = ip + ihl;
  const udpLength = frame.readUInt16BE(udp + 4);
  if (udpLength < UDP_HEADER_LENGTH || udp + udpLength > ip + totalLength) {
    return reject('udp-length-bad', `UDP length ${udpLength}`);
  }
  return {
    ok: true,
    datagram: {
      dstMac: macFromBytes(frame, 0),
      srcMac: macFromBytes(frame, 6),
      srcIp: frame.readUInt32BE(ip + 12),
      dstIp: frame.readUInt32BE(ip + 16),
      ttl: frame[ip + 8] as number,
      srcPort: frame.readUInt16BE(udp),
      dstPort: frame.readUInt16BE(udp + 2),
      payload: frame.subarray(udp + UDP_HEADER_LENGTH, udp + udpLength),
    },
  };
}

/** Bytes in front of a UDP payload in a frame: Ethernet, IPv4 (no options) and UDP headers. */
export const UDP_FRAME_HEADROOM = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + UDP_HEADER_LENGTH;

type UdpEndpoints = Omit<UdpDatagram, 'payload'>;

/** Builds Ethernet + IPv4 + UDP around `payload` with both checksums computed here (RFC 791, RFC 768, RFC 1071). */
export function buildUdpFrame(d: UdpDatagram): Buffer {
  const frame = Buffer.allocUnsafe(UDP_FRAME_HEADROOM + d.payload.length);
  d.payload.copy(frame, UDP_FRAME_HEADROOM);
  return finishUdpFrame(frame, d);
}

/**
 * Writes the Ethernet, IPv4 and UDP headers, checksums included, into the first UDP_FRAME_HEADROOM bytes of `frame`,
 * whose remaining bytes are the payload (e.g. a message serialized with that much headroom). Returns `frame`.
 */
export function finishUdpFrame(frame: Buffer, d: UdpEndpoints): Buffer {
  const udpLength = frame.length - ETHERNET_HEADER_LENGTH - IPV4_HEADER_LENGTH;
  const ipLength = IPV4_HEADER_LENGTH + udpLength;
  writeMac(frame, 0, d.dstMac);
  writeMac(frame, 6, d.srcMac);
  frame.writeUInt16BE(ETHERTYPE_IPV4, 12);

  const ip = ETHERNET_HEADER_LENGTH;
  frame[ip] = 0x45;
  frame[ip + 1] = 0x10; // DSCP/TOS low-delay, as ISC dhcpd and dnsmasq set for DHCP
  frame.writeUInt16BE(ipLength, ip + 2);
  // identification 0, flags/fragment 0: replies are never fragmented (we keep them under the MTU)
  frame.writeUInt32BE(0, ip + 4);
  frame[ip + 8] = d.ttl;
  frame[ip + 9] = IPPROTO_UDP;
  frame.writeUInt16BE(0, ip + 10);
  frame.writeUInt32BE(d.srcIp >>> 0, ip + 12);
  frame.writeUInt32BE(d.dstIp >>> 0, ip + 16);
  frame.writeUInt16BE(internetChecksum(frame, ip, ip + IPV4_HEADER_LENGTH), ip + 10);

  const udp = ip + IPV4_HEADER_LENGTH;
  frame.writeUInt16BE(d.srcPort, udp);
  frame.writeUInt16BE(d.dstPort, udp + 2);
  frame.writeUInt16BE(udpLength, udp + 4);
  frame.writeUInt16BE(0, udp + 6);
  const sum = onesComplementSum(frame, udp, udp + udpLength, pseudoHeaderSum(d.srcIp, d.dstIp, IPPROTO_UDP, udpLength));
  const checksum = finishChecksum(sum);
  // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
  frame.writeUInt16BE(checksum === 0 ? 0xffff : checksum, udp + 6);
  return frame;
}

/** Verifies a frame's UDP checksum (used by tests and diagnostics, not on the receive path). */
export function udpChecksumOk(frame: Buffer): boolean {
  const ip = ETHERNET_HEADER_LENGTH;
  const ihl = ((frame[ip] as number) & 0x0f) * 4;
  const udp = ip + ihl;
  const udpLength = frame.readUInt16BE(udp + 4);
  if (frame.readUInt16BE(udp + 6) === 0) return true;
  const sum = onesComplementSum(frame, udp, udp + udpLength, pseudoHeaderSum(frame.readUInt32BE(ip + 12), frame.readUInt32BE(ip + 16), IPPROTO_UDP, udpLength));
  return finishChecksum(sum) === 0;
}

// ---- ARP (RFC 826), used to probe addresses before first offering them ----

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
const ARP_LENGTH = 28;
/** Where the target protocol address sits in an ARP frame (to reuse one built frame for many probes). */
export const ARP_TARGET_IP_OFFSET = ETHERNET_HEADER_LENGTH + 24;

interface ArpPacket {
  operation: number;
  senderMac: string;
  senderIp: IPv4;
  targetMac: string;
  targetIp: IPv4;
}

export function parseArpFrame(frame: Buffer): ArpPacket | null {
  if (frame.length < ETHERNET_HEADER_LENGTH + ARP_LENGTH) return null;
  if (frame.readUInt16BE(12) !== ETHERTYPE_ARP) return null;
  const a = ETHERNET_HEADER_LENGTH;
  // Ethernet hardware (1), IPv4 protocol, 6-byte and 4-byte addresses.
  if (frame.readUInt16BE(a) !== 1 || frame.readUInt16BE(a + 2) !== ETHERTYPE_IPV4) return null;
  if (frame[a + 4] !== 6 || frame[a + 5] !== 4) return null;
  return {
    operation: frame.readUInt16BE(a + 6),
    senderMac: macFromBytes(frame, a + 8),
    senderIp: frame.readUInt32BE(a + 14),
    targetMac: macFromBytes(frame, a + 18),
    targetIp: frame.readUInt32BE(a + 24),
  };
}

export function buildArpFrame(p: ArpPacket, ethernetDst: string): Buffer {
  const frame = Buffer.alloc(ETHERNET_HEADER_LENGTH + ARP_LENGTH + 18); // padded to the 60-byte Ethernet minimum
  writeMac(frame, 0, ethernetDst);
  writeMac(frame, 6, p.senderMac);
  frame.writeUInt16BE(ETHERTYPE_ARP, 12);
  const a = ETHERNET_HEADER_LENGTH;
  frame.writeUInt16BE(1, a);
  frame.writeUInt16BE(ETHERTYPE_IPV4, a + 2);
  frame[a + 4] = 6;
  frame[a + 5] = 4;
  frame.writeUInt16BE(p.operation, a + 6);
  writeMac(frame, a + 8, p.senderMac);
  frame.writeUInt32BE(p.senderIp >>> 0, a + 14);
  writeMac(frame, a + 18, p.targetMac);
  frame.writeUInt32BE(p.targetIp >>> 0, ARP_TARGET_IP_OFFSET);
  return frame;
}
