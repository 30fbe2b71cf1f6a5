/**
 * Ethernet II + IPv6 frames carrying ICMPv6 or UDP, built and parsed with no I/O, as src/wire/frame.ts does for IPv4.
 * Frames we send are built whole with the upper-layer checksum computed here over the IPv6 pseudo-header (RFC 8200
 * §8.1), so no kernel offload is involved. Received frames with any extension header are refused: router solicitations
 * and DHCPv6 messages from a link neighbour never need one, and walking a chain of them is attack surface we do not need.
 */
import { macFromBytes, writeMac } from '../net/address.ts';
import { IPV6_LENGTH } from '../net/address6.ts';
import { finishChecksum, onesComplementSum } from './checksum.ts';
import { ETHERNET_HEADER_LENGTH, UDP_HEADER_LENGTH } from './frame.ts';

export const ETHERTYPE_IPV6 = 0x86dd;
const IPV6_HEADER_LENGTH = 40;
export const NEXT_HEADER_UDP = 17;
export const NEXT_HEADER_ICMPV6 = 58;
/** RFC 8200 §4.7: nothing follows the header. */
const NEXT_HEADER_NONE = 59;
/** RFC 8200 §4 and the IANA registry: the next-header values that are extension headers, not upper layers. */
const EXTENSION_HEADERS: ReadonlySet<number> = new Set([0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254]);
const IPV6_START = ETHERNET_HEADER_LENGTH;
const SRC_OFFSET = IPV6_START + 8;
const DST_OFFSET = IPV6_START + 24;
const UPPER_START = IPV6_START + IPV6_HEADER_LENGTH;
/** Bytes in front of a UDP payload in a frame: Ethernet, IPv6 (no extension headers) and UDP headers. */
export const UDP6_FRAME_HEADROOM = UPPER_START + UDP_HEADER_LENGTH;
/** The ICMPv6 checksum's place in the message (RFC 4443 §2.1). */
const ICMPV6_CHECKSUM_OFFSET = 2;
const ICMPV6_HEADER_LENGTH = 4;

export interface Ipv6Header {
  srcMac: string;
  dstMac: string;
  /** 16 bytes (a copy, safe to keep). */
  src: Buffer;
  dst: Buffer;
  hopLimit: number;
}

/** An ICMPv6 message: `message` is the whole of it (type, code, checksum and body), a view on the frame. */
export type Icmpv6Packet = Ipv6Header & { nextHeader: typeof NEXT_HEADER_ICMPV6; message: Buffer };
/** A UDP datagram: `payload` is what follows its header, a view on the frame. */
export type Udp6Packet = Ipv6Header & { nextHeader: typeof NEXT_HEADER_UDP; srcPort: number; dstPort: number; payload: Buffer };
type Ipv6Packet = Icmpv6Packet | Udp6Packet;

type Frame6ParseFailure =
  | 'frame-short'
  | 'not-ipv6'
  | 'ip6-version-bad'
  | 'ip6-payload-length-bad'
  | 'ip6-extension-header'
  | 'ip6-no-next-header'
  | 'not-icmpv6-or-udp'
  | 'icmpv6-short'
  | 'udp6-length-bad';

type Frame6ParseResult = { ok: true; packet: Ipv6Packet } | { ok: false; reason: Frame6ParseFailure; detail: string };

function reject(reason: Frame6ParseFailure, detail: string): Frame6ParseResult {
  return { ok: false, reason, detail };
}

/**
 * Parses an Ethernet frame carrying IPv6 with ICMPv6 or UDP right after the fixed header. Checksums are not verified
 * here: a UDP datagram a container's kernel socket sends over veth reaches us with its checksum unfinished (see
 * parseUdpFrame); the ICMPv6 code verifies its own with icmpv6ChecksumOk where it can rely on it.
 */
export function parseIpv6Frame(frame: Buffer): Frame6ParseResult {
  if (frame.length < UPPER_START) return reject('frame-short', `${frame.length} bytes`);
  const etherType = frame.readUInt16BE(12);
  if (etherType !== ETHERTYPE_IPV6) return reject('not-ipv6', `ethertype 0x${etherType.toString(16)}`);
  const version = (frame[IPV6_START] as number) >> 4;
  if (version !== 6) return reject('ip6-version-bad', `version ${version}`);
  const payloadLength = frame.readUInt16BE(IPV6_START + 4);
  // Zero would announce a jumbogram (RFC 2675), which needs a hop-by-hop option and never fits an Ethernet frame.
  if (payloadLength === 0 || UPPER_START + payloadLength > frame.length) {
    return reject('ip6-payload-length-bad', `payload length ${payloadLength} in a ${frame.length}-byte frame`);
  }
  const nextHeader = frame[IPV6_START + 6] as number;
  if (EXTENSION_HEADERS.has(nextHeader)) return reject('ip6-extension-header', `next header ${nextHeader}`);
  if (nextHeader === NEXT_HEADER_NONE) return reject('ip6-no-next-header', 'next header 59');
  const header: Ipv6Header = {
    dstMac: macFromBytes(frame, 0),
    srcMac: macFromBytes(frame, 6),
    src: Buffer.from(frame.subarray(SRC_OFFSET, SRC_OFFSET + IPV6_LENGTH)),
    dst: Buffer.from(frame.subarray(DST_OFFSET, DST_OFFSET + IPV6_LENGTH)),
    hopLimit: frame[IPV6_START + 7] as number,
  };
  const upper = frame.subarray(UPPER_START, UPPER_START + payloadLength);
  if (nextHeader === NEXT_HEADER_ICMPV6) {
    if (upper.length < ICMPV6_HEADER_LENGTH) return reject('icmpv6-short', `${upper.length} bytes`);
    return { ok: true, packet: { ...header, nextHeader, message: upper } };
  }
  if (nextHeader !== NEXT_HEADER_UDP) return reject('not-icmpv6-or-udp', `next header ${nextHeader}`);
  const udpLength = upper.length >= UDP_HEADER_LENGTH ? upper.readUInt16BE(4) : 0;
  if (udpLength < UDP_HEADER_LENGTH || udpLength > upper.length) return reject('udp6-length-bad', `UDP length ${udpLength} in ${upper.length} bytes`);
  return {
    ok: true,
    packet: { ...header, nextHeader, srcPort: upper.readUInt16BE(0), dstPort: upper.readUInt16BE(2), payload: upper.subarray(UDP_HEADER_LENGTH, udpLength) },
  };
}

/** The IPv6 pseudo-header's contribution to an upper-layer checksum (RFC 8200 §8.1), not yet folded. */
function pseudoHeader6Sum(src: Uint8Array, dst: Uint8Array, nextHeader: number, upperLength: number): number {
  const addresses = onesComplementSum(src, 0, IPV6_LENGTH) + onesComplementSum(dst, 0, IPV6_LENGTH);
  return addresses + Math.floor(upperLength / 0x10000) + (upperLength & 0xffff) + nextHeader;
}

/** The checksum of an upper-layer message whose own checksum field holds zero (or the value to verify). */
function upperChecksum(src: Uint8Array, dst: Uint8Array, nextHeader: number, upper: Uint8Array): number {
  return finishChecksum(onesComplementSum(upper, 0, upper.length, pseudoHeader6Sum(src, dst, nextHeader, upper.length)));
}

interface Ipv6Endpoints {
  srcMac: string;
  dstMac: string;
  src: Uint8Array;
  dst: Uint8Array;
  hopLimit: number;
}

/** Writes the Ethernet and IPv6 headers into the first UPPER_START bytes of `frame`; the rest is the upper layer. */
function writeHeaders(frame: Buffer, e: Ipv6Endpoints, nextHeader: number): void {
  if (e.src.length !== IPV6_LENGTH || e.dst.length !== IPV6_LENGTH) throw new RangeError('IPv6 addresses have 16 bytes');
  writeMac(frame, 0, e.dstMac);
  writeMac(frame, 6, e.srcMac);
  frame.writeUInt16BE(ETHERTYPE_IPV6, 12);
  frame.writeUInt32BE(0x60000000, IPV6_START); // version 6, traffic class 0, flow label 0
  frame.writeUInt16BE(frame.length - UPPER_START, IPV6_START + 4);
  frame[IPV6_START + 6] = nextHeader;
  frame[IPV6_START + 7] = e.hopLimit;
  frame.set(e.src, SRC_OFFSET);
  frame.set(e.dst, DST_OFFSET);
}

/**
 * Builds Ethernet + IPv6 around an ICMPv6 message (type, code, two checksum bytes, body) and fills in its checksum
 * (RFC 4443 §2.3, over the pseudo-header). The message is copied; its checksum bytes may hold anything.
 */
export function buildIcmpv6Frame(e: Ipv6Endpoints, message: Uint8Array): Buffer {
  if (message.length < ICMPV6_HEADER_LENGTH) throw new RangeError(`an ICMPv6 message has at least 4 bytes, not ${message.length}`);
  const frame = Buffer.allocUnsafe(UPPER_START + message.length);
  writeHeaders(frame, e, NEXT_HEADER_ICMPV6);
  frame.set(message, UPPER_START);
  frame.writeUInt16BE(0, UPPER_START + ICMPV6_CHECKSUM_OFFSET);
  frame.writeUInt16BE(upperChecksum(e.src, e.dst, NEXT_HEADER_ICMPV6, frame.subarray(UPPER_START)), UPPER_START + ICMPV6_CHECKSUM_OFFSET);
  return frame;
}

interface Udp6Endpoints extends Ipv6Endpoints {
  srcPort: number;
  dstPort: number;
}

/** Builds Ethernet + IPv6 + UDP around `payload` with the UDP checksum computed here (mandatory over IPv6, RFC 8200 §8.1). */
export function buildUdp6Frame(e: Udp6Endpoints, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(UDP6_FRAME_HEADROOM + payload.length);
  frame.set(payload, UDP6_FRAME_HEADROOM);
  return finishUdp6Frame(frame, e);
}

/**
 * Writes the Ethernet, IPv6 and UDP headers, checksum included, into the first UDP6_FRAME_HEADROOM bytes of `frame`,
 * whose remaining bytes are the payload (a message serialized with that much headroom). Returns `frame`.
 */
export function finishUdp6Frame(frame: Buffer, e: Udp6Endpoints): Buffer {
  if (frame.length < UDP6_FRAME_HEADROOM) throw new RangeError(`a UDP/IPv6 frame has at least ${UDP6_FRAME_HEADROOM} bytes`);
  writeHeaders(frame, e, NEXT_HEADER_UDP);
  const udpLength = frame.length - UPPER_START;
  frame.writeUInt16BE(e.srcPort, UPPER_START);
  frame.writeUInt16BE(e.dstPort, UPPER_START + 2);
  frame.writeUInt16BE(udpLength, UPPER_START + 4);
  frame.writeUInt16BE(0, UPPER_START + 6);
  const checksum = upperChecksum(e.src, e.dst, NEXT_HEADER_UDP, frame.subarray(UPPER_START));
  // RFC 8200 §8.1: a computed zero is sent as all ones; zero on the wire means "no checksum" and is refused.
  frame.writeUInt16BE(checksum === 0 ? 0xffff : checksum, UPPER_START + 6);
  return frame;
}

/** The upper layer of an untagged IPv6 frame with no extension headers, and its addresses; null when it has none. */
function upperOf(frame: Buffer, nextHeader: number): { src: Buffer; dst: Buffer; upper: Buffer } | null {
  if (frame.length < UPPER_START || frame.readUInt16BE(12) !== ETHERTYPE_IPV6 || frame[IPV6_START + 6] !== nextHeader) return null;
  const length = frame.readUInt16BE(IPV6_START + 4);
  if (UPPER_START + length > frame.length) return null;
  return {
    src: frame.subarray(SRC_OFFSET, SRC_OFFSET + IPV6_LENGTH),
    dst: frame.subarray(DST_OFFSET, DST_OFFSET + IPV6_LENGTH),
    upper: frame.subarray(UPPER_START, UPPER_START + length),
  };
}

/** True when the frame's ICMPv6 checksum is right (a correct message sums to zero with its checksum in place). */
export function icmpv6ChecksumOk(frame: Buffer): boolean {
  const parts = upperOf(frame, NEXT_HEADER_ICMPV6);
  return parts !== null && upperChecksum(parts.src, parts.dst, NEXT_HEADER_ICMPV6, parts.upper) === 0;
}

/** True when an ICMPv6 message (as parseIpv6Frame returns it) has the right checksum for these addresses. */
export function icmpv6MessageChecksumOk(src: Uint8Array, dst: Uint8Array, message: Uint8Array): boolean {
  return upperChecksum(src, dst, NEXT_HEADER_ICMPV6, message) === 0;
}

/** True when the frame's UDP checksum is right; a zero checksum is wrong over IPv6 (RFC 8200 §8.1). */
export function udp6ChecksumOk(frame: Buffer): boolean {
  const parts = upperOf(frame, NEXT_HEADER_UDP);
  if (parts === null || parts.upper.length < UDP_HEADER_LENGTH || parts.upper.readUInt16BE(6) === 0) return false;
  const udpLength = parts.upper.readUInt16BE(4);
  if (udpLength < UDP_HEADER_LENGTH || udpLength > parts.upper.length) return false;
  return upperChecksum(parts.src, parts.dst, NEXT_HEADER_UDP, parts.upper.subarray(0, udpLength)) === 0;
}
