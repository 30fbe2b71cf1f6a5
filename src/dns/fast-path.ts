/**
 * A hand-written path for the queries a container host sees most: one question about our own zones, with or without
 * a plain EDNS0 OPT. It reads the question straight from the bytes and writes the answer straight into a buffer,
 * skipping dns-packet's object decode/encode (which cost more than the rest of the query together, see
 * docs/performance.md). Anything unusual returns null and takes the general path, so behaviour is the same.
 */
import { EDNS_UDP_SIZE, HEADER_LENGTH, encodeRecordInto, type Answer } from './message.ts';
import type { LocalAnswer } from './zone.ts';

export interface SimpleQuery {
  id: number;
  rd: boolean;
  cd: boolean;
  /** The question as asked (case kept), without the trailing dot. */
  name: string;
  type: number;
  /** Offset just past the question (where the answer section starts). */
  questionEnd: number;
  edns: { doBit: boolean } | null;
}

const TYPE_NAMES: Record<number, string> = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 65: 'HTTPS', 255: 'ANY' };
const TYPE_OPT = 41;
const CLASS_IN = 1;

export function typeName(type: number): string | undefined {
  return TYPE_NAMES[type];
}

/** The query if it is simple enough for the fast path, else null (never throws). */
export function parseSimpleQuery(data: Buffer): SimpleQuery | null {
  if (data.length < HEADER_LENGTH + 5) return null;
  const flags = data.readUInt16BE(2);
  // QR=0, opcode QUERY, no TC; Z bit may be anything (it is not echoed).
  if ((flags & 0xfa00) !== 0) return null;
  if (data.readUInt16BE(4) !== 1 || data.readUInt16BE(6) !== 0 || data.readUInt16BE(8) !== 0) return null;
  const arcount = data.readUInt16BE(10);
  if (arcount > 1) return null;
  let pos = HEADER_LENGTH;
  let name = '';
  for (;;) {
    const length = data[pos];
    if (length === undefined || length > 63) return null; // also rejects compression pointers
    pos++;
    if (length === 0) break;
    if (pos + length > data.length) return null;
    for (let i = pos; i < pos + length; i++) {
      const c = data[i] as number;
      // letters, digits, hyphen, underscore only; anything else goes the general way
      if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f)) return null;
    }
    name += (name ? '.' : '') + data.toString('latin1', pos, pos + length);
    pos += length;
    if (pos - HEADER_LENGTH > 255) return null;
  }
  if (pos + 4 > data.length || name === '') return null;
  const type = data.readUInt16BE(pos);
  if (data.readUInt16BE(pos + 2) !== CLASS_IN || TYPE_NAMES[type] === undefined) return null;
  const questionEnd = pos + 4;
  let edns: SimpleQuery['edns'] = null;
  if (arcount === 1) {
    // root name, type OPT, class = UDP size, TTL = ext-rcode/version/flags, rdlength, options
    const o = questionEnd;
    if (o + 11 > data.length || data[o] !== 0 || data.readUInt16BE(o + 1) !== TYPE_OPT) return null;
    if (data[o + 6] !== 0) return null; // EDNS version > 0: the general path answers BADVERS
    if (o + 11 + data.readUInt16BE(o + 9) !== data.length) return null;
    edns = { doBit: (data.readUInt16BE(o + 7) & 0x8000) !== 0 };
  } else if (questionEnd !== data.length) {
    return null;
  }
  return { id: data.readUInt16BE(0), rd: (flags & 0x0100) !== 0, cd: (flags & 0x0010) !== 0, name, type, questionEnd, edns };
}

class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  bytes(b: Buffer, start: number, end: number): void {
    b.copy(this.buf, this.pos, start, end);
    this.pos += end - start;
  }
  record(r: Answer): void {
    this.pos += encodeRecordInto(r, this.buf, this.pos);
  }
}

/**
 * The response bytes, or null when the answer does not fit 512 bytes (the general path then encodes, and truncates,
 * properly). Records are written by dns-packet's record codec; only the header, the question (copied from the query)
 * and the OPT record are written here. `authoritative` sets AA (our zones); RA is always set.
 */
export function encodeAnswer(query: Buffer, q: SimpleQuery, local: LocalAnswer, authoritative = true): Buffer | null {
  try {
    return writeAnswer(query, q, local, authoritative);
  } catch {
    return null;
  }
}


function writeAnswer(query: Buffer, q: SimpleQuery, local: LocalAnswer, authoritative: boolean): Buffer | null {
  if (local.rcode > 15) return null;
  const w = new Writer(512 + q.questionEnd);
  w.u16(q.id);
  // QR, AA, RD (copied), RA, CD (copied), rcode
  w.u16(0x8000 | (authoritative ? 0x0400 : 0) | (q.rd ? 0x0100 : 0) | 0x0080 | (q.cd ? 0x0010 : 0) | local.rcode);
  w.u16(1);
  w.u16(local.answers.length);
  w.u16(local.authorities.length);
  w.u16(local.additionals.length + (q.edns ? 1 : 0));
  w.bytes(query, HEADER_LENGTH, q.questionEnd);
  for (const section of [local.answers, local.authorities, local.additionals]) {
    for (const r of section) w.record(r);
  }
  if (q.edns) {
    w.u8(0);
    w.u16(TYPE_OPT);
    w.u16(EDNS_UDP_SIZE);
    w.u8(0);
    w.u8(0);
    w.u16(q.edns.doBit ? 0x8000 : 0);
    w.u16(0);
  }
  return w.pos > 512 ? null : w.buf.subarray(0, w.pos);
}

