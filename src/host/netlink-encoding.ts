/**
 * Netlink framing shared by our nf_tables code: message headers, attributes (TLVs), the nfnetlink
 * header and parsing of what the kernel sends back. Pure functions on bytes; no sockets here.
 *
 * Layouts (include/uapi/linux/netlink.h, linux/netfilter/nfnetlink.h):
 *   struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }      host byte order
 *   struct nlattr   { u16 len; u16 type; } + payload, padded to 4 bytes         host byte order
 *   struct nfgenmsg { u8 family; u8 version; be16 res_id; }
 *   struct nlmsgerr { s32 error; struct nlmsghdr msg; ... }
 */

const NLMSG_HEADER_LENGTH = 16;
const NLA_HEADER_LENGTH = 4;
const NFGENMSG_LENGTH = 4;

/** Standard message types. */
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

/** Message flags. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** In an NLMSG_ERROR: the echoed request was cut to its header. */
const NLM_F_CAPPED = 0x100;

/** Attribute type bits. */
export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function alignTo4(length: number): number {
  return (length + 3) & ~3;
}

function writeU16Host(buffer: Buffer, value: number, offset: number): void {
  if (LITTLE_ENDIAN) buffer.writeUInt16LE(value, offset);
  else buffer.writeUInt16BE(value, offset);
}

function writeU32Host(buffer: Buffer, value: number, offset: number): void {
  if (LITTLE_ENDIAN) buffer.writeUInt32LE(value >>> 0, offset);
  else buffer.writeUInt32BE(value >>> 0, offset);
}

function readU16Host(buffer: Buffer, offset: number): number {
  return LITTLE_ENDIAN ? buffer.readUInt16LE(offset) : buffer.readUInt16BE(offset);
}

function readU32Host(buffer: Buffer, offset: number): number {
  return LITTLE_ENDIAN ? buffer.readUInt32LE(offset) : buffer.readUInt32BE(offset);
}

function readS32Host(buffer: Buffer, offset: number): number {
  return LITTLE_ENDIAN ? buffer.readInt32LE(offset) : buffer.readInt32BE(offset);
}

// ---------------------------------------------------------------------------------------------
// Attributes

/** One attribute: header, payload, zero padding up to a multiple of 4. */
export function encodeAttribute(type: number, payload: Uint8Array): Buffer {
  const length = NLA_HEADER_LENGTH + payload.length;
  if (length > 0xffff) throw new RangeError(`netlink attribute ${type} is ${length} bytes, more than 65535`);
  const out = Buffer.alloc(alignTo4(length));
  writeU16Host(out, length, 0);
  writeU16Host(out, type, 2);
  out.set(payload, NLA_HEADER_LENGTH);
  return out;
}

/** A nested attribute (NLA_F_NESTED set, as nft sends them) holding already encoded attributes. */
export function encodeNestedAttribute(type: number, children: readonly Uint8Array[]): Buffer {
  return encodeAttribute(type | NLA_F_NESTED, Buffer.concat(children));
}

/** A big-endian u32 attribute (nf_tables numbers are network byte order). */
export function encodeU32BeAttribute(type: number, value: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(value >>> 0);
  return encodeAttribute(type, payload);
}

/** A NUL-terminated string attribute. */
export function encodeStringAttribute(type: number, text: string): Buffer {
  return encodeAttribute(type, Buffer.concat([Buffer.from(text, 'utf8'), Buffer.alloc(1)]));
}

/** Splits an attribute stream into (type without flag bits → payload); a later duplicate wins. */
export function parseAttributes(stream: Buffer): Map<number, Buffer> {
  const attributes = new Map<number, Buffer>();
  let offset = 0;
  while (offset + NLA_HEADER_LENGTH <= stream.length) {
    const length = readU16Host(stream, offset);
    const type = readU16Host(stream, offset + 2) & NLA_TYPE_MASK;
    if (length < NLA_HEADER_LENGTH || offset + length > stream.length) {
      throw new Error(`malformed netlink attribute at offset ${offset}: length ${length}, ${stream.length - offset} bytes left`);
    }
    attributes.set(type, stream.subarray(offset + NLA_HEADER_LENGTH, offset + length));
    offset += alignTo4(length);
  }
  return attributes;
}

/** Reads a NUL-terminated string attribute payload. */
export function decodeStringAttribute(payload: Buffer): string {
  const end = payload.indexOf(0);
  return payload.subarray(0, end === -1 ? payload.length : end).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// Messages

interface NetlinkMessageFields {
  type: number;
  flags: number;
  seq: number;
  /** Sender port; 0 lets the kernel fill in ours. Default 0. */
  portId?: number;
  payload: Uint8Array;
}

export function encodeNetlinkMessage(message: NetlinkMessageFields): Buffer {
  const length = NLMSG_HEADER_LENGTH + message.payload.length;
  const out = Buffer.alloc(alignTo4(length));
  writeU32Host(out, length, 0);
  writeU16Host(out, message.type, 4);
  writeU16Host(out, message.flags, 6);
  writeU32Host(out, message.seq, 8);
  writeU32Host(out, message.portId ?? 0, 12);
  out.set(message.payload, NLMSG_HEADER_LENGTH);
  return out;
}

export interface ReceivedNetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  portId: number;
  /** Everything after the 16-byte header. */
  payload: Buffer;
}

/** Splits one received datagram into its messages. */
export function parseNetlinkMessages(datagram: Buffer): ReceivedNetlinkMessage[] {
  const messages: ReceivedNetlinkMessage[] = [];
  let offset = 0;
  while (offset + NLMSG_HEADER_LENGTH <= datagram.length) {
    const length = readU32Host(datagram, offset);
    if (length < NLMSG_HEADER_LENGTH || offset + length > datagram.length) {
      throw new Error(`malformed netlink message at offset ${offset}: length ${length}, ${datagram.length - offset} bytes left`);
    }
    messages.push({
      type: readU16Host(datagram, offset + 4),
      flags: readU16Host(datagram, offset + 6),
      seq: readU32Host(datagram, offset + 8),
      portId: readU32Host(datagram, offset + 12),
      payload: datagram.subarray(offset + NLMSG_HEADER_LENGTH, offset + length),
    });
    offset += alignTo4(length);
  }
  return messages;
}

interface NetlinkErrorReport {
  /** 0 for an ACK, otherwise a positive errno. */
  errno: number;
  /** Sequence number and type of the request this answers. */
  requestSeq: number;
  requestType: number;
  /** NLMSGERR_ATTR_MSG (extended ACK text), when the kernel gave one. */
  message?: string;
}

const NLMSGERR_ATTR_MSG = 1;

/** Reads the payload of an NLMSG_ERROR message (an ACK when errno is 0). */
export function parseNetlinkError(payload: Buffer, flags: number): NetlinkErrorReport {
  if (payload.length < 4 + NLMSG_HEADER_LENGTH) throw new Error(`NLMSG_ERROR payload of ${payload.length} bytes is too short`);
  const error = readS32Host(payload, 0);
  const requestLength = readU32Host(payload, 4);
  const report: NetlinkErrorReport = {
    errno: error === 0 ? 0 : -error,
    requestType: readU16Host(payload, 8),
    requestSeq: readU32Host(payload, 12),
  };
  // Extended ACK attributes follow the echoed request (only its header when NLM_F_CAPPED).
  const echoed = (flags & NLM_F_CAPPED) !== 0 ? NLMSG_HEADER_LENGTH : alignTo4(requestLength);
  const tlvStart = 4 + echoed;
  if (tlvStart < payload.length) {
    try {
      const text = parseAttributes(payload.subarray(tlvStart)).get(NLMSGERR_ATTR_MSG);
      if (text !== undefined) report.message = decodeStringAttribute(text);
    } catch {
      // extended ACK attributes are optional decoration: ignore ones we cannot read
    }
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// nfnetlink

const NFNETLINK_V0 = 0;

/** struct nfgenmsg: family, version 0, resource id (big-endian). */
export function encodeNfgenHeader(family: number, resourceId = 0): Buffer {
  const out = Buffer.alloc(NFGENMSG_LENGTH);
  out.writeUInt8(family, 0);
  out.writeUInt8(NFNETLINK_V0, 1);
  out.writeUInt16BE(resourceId, 2);
  return out;
}

interface NfgenHeader {
  family: number;
  version: number;
  resourceId: number;
}

export function parseNfgenHeader(payload: Buffer): NfgenHeader {
  if (payload.length < NFGENMSG_LENGTH) throw new Error(`nfnetlink payload of ${payload.length} bytes has no nfgenmsg`);
  return { family: payload.readUInt8(0), version: payload.readUInt8(1), resourceId: payload.readUInt16BE(2) };
}
