/**
 * dns-packet, wrapped: it throws on malformed input, so decoding returns a result instead; plus the small pieces of
 * header handling we need before (or without) a full decode.
 */
import type { Answer, Packet, Question } from 'dns-packet';
import { requireCjs } from '../cjs.ts';
import { EDNS_UDP_SIZE, Flag, HEADER_LENGTH, OPT_FLAG_DO, responseFlags } from './vocabulary.ts';

const dnsPacket = requireCjs('dns-packet') as typeof import('dns-packet');

export { Rcode } from './vocabulary.ts';
export type { Answer, Packet, Question };

interface RawHeader {
  id: number;
  flags: number;
  qr: boolean;
  opcode: number;
  rd: boolean;
  cd: boolean;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

/** Reads the fixed header without trusting anything after it; null if shorter than 12 bytes. */
export function readHeader(data: Buffer): RawHeader | null {
  if (data.length < HEADER_LENGTH) return null;
  const flags = data.readUInt16BE(2);
  return {
    id: data.readUInt16BE(0),
    flags,
    qr: (flags & Flag.QR) !== 0,
    opcode: (flags >> 11) & 0xf,
    rd: (flags & Flag.RD) !== 0,
    cd: (flags & Flag.CD) !== 0,
    qdcount: data.readUInt16BE(4),
    ancount: data.readUInt16BE(6),
    nscount: data.readUInt16BE(8),
    arcount: data.readUInt16BE(10),
  };
}

type DecodeResult = { ok: true; packet: Packet } | { ok: false; reason: string };

export function decodeMessage(data: Buffer): DecodeResult {
  let packet: Packet;
  try {
    packet = dnsPacket.decode(data);
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
  // dns-packet turns the labels into one dotted string: a label holding a "." byte would come back as two labels, a
  // question other than the one asked (found by test/unit/dns/fuzz.test.ts). No host name has one: FORMERR.
  if (questionHasDotInLabel(data)) return { ok: false, reason: 'a label of the question holds a "." byte' };
  return { ok: true, packet };
}

/** Whether a label of the first question's name (read from the bytes, up to a compression pointer) holds a "." byte. */
function questionHasDotInLabel(data: Buffer): boolean {
  let at = HEADER_LENGTH;
  while (at < data.length) {
    const length = data[at] as number;
    if (length === 0 || length > 63) return false; // the end, or a pointer (dns-packet has checked what it points at)
    const end = Math.min(data.length, at + 1 + length);
    if (data.subarray(at + 1, end).includes(0x2e)) return true;
    at = end;
  }
  return false;
}

/** dns-packet's resource-record codec, which its type declarations leave out. */
const recordCodec = (
  dnsPacket as unknown as {
    answer: { encode(record: Answer, buf: Buffer, offset: number): Buffer; encodingLength(record: Answer): number };
  }
).answer;

/** Writes one resource record (uncompressed names) at `offset`; returns the bytes written. */
export function encodeRecordInto(record: Answer, buf: Buffer, offset: number): number {
  const length = recordCodec.encodingLength(record);
  if (offset + length > buf.length) throw new RangeError('record does not fit');
  recordCodec.encode(record, buf, offset);
  return length;
}

export function encodeMessage(packet: Packet): Buffer {
  return dnsPacket.encode(packet);
}

/**
 * A header-only error answer (FORMERR/NOTIMP/REFUSED...) built from the raw header: works even when the rest of the
 * message could not be decoded. Question section is left empty (RFC 1035 allows it; it is what BIND does for FORMERR).
 */
export function headerOnlyResponse(header: RawHeader, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_LENGTH);
  out.writeUInt16BE(header.id, 0);
  // QR, opcode echoed, RD echoed, rcode; AA/TC/RA/Z/AD/CD cleared.
  const flags = responseFlags(rcode, (header.opcode << 11) | (header.rd ? Flag.RD : 0));
  out.writeUInt16BE(flags, 2);
  return out;
}

interface OptRecord {
  type: 'OPT';
  name: '.';
  udpPayloadSize: number;
  extendedRcode: number;
  ednsVersion: number;
  flags: number;
  flag_do?: boolean;
  options: unknown[];
}

export function findOpt(packet: Packet): OptRecord[] {
  return (packet.additionals ?? []).filter((a) => (a as { type: string }).type === 'OPT') as unknown as OptRecord[];
}

export function optRecord(extendedRcode = 0, doBit = false): Answer {
  return {
    type: 'OPT',
    name: '.',
    udpPayloadSize: EDNS_UDP_SIZE,
    extendedRcode,
    ednsVersion: 0,
    flags: doBit ? OPT_FLAG_DO : 0,
    options: [],
  } as unknown as Answer;
}
