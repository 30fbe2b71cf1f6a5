/**
 * A hand-written path for the queries a container host sees most: one question about our own zones, with or without
 * a plain EDNS0 OPT. It reads the question straight from the bytes and writes the answer straight into a buffer,
 * skipping dns-packet's object decode/encode (which cost more than the rest of the query together, see
 * docs/performance.md). Anything unusual returns null and takes the general path, so behaviour is the same.
 */
import { parseIPv4 } from '../net/address.ts';
import { EDNS_UDP_SIZE, HEADER_LENGTH, Rcode, type Answer } from './message.ts';
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
const TYPE_CODES: Record<string, number> = Object.fromEntries(Object.entries(TYPE_NAMES).map(([code, name]) => [name, Number(code)]));
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
  u32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }
  bytes(b: Buffer, start: number, end: number): void {
    b.copy(this.buf, this.pos, start, end);
    this.pos += end - start;
  }
  /** A name, as a pointer when it equals the question name or ends with a suffix of it. */
  name(name: string, question: string): void {
    const lower = name.toLowerCase().replace(/\.$/, '');
    const q = question.toLowerCase();
    let prefix = lower;
    let pointer = -1;
    if (lower === q) {
      pointer = HEADER_LENGTH;
      prefix = '';
    } else {
      // the longest suffix of `lower` that is a label-aligned suffix of the question
      let offset = HEADER_LENGTH;
      let rest = q;
      while (rest !== '') {
        if (lower === rest) {
          pointer = offset;
          prefix = '';
          break;
        }
        if (lower.endsWith(`.${rest}`)) {
          pointer = offset;
          prefix = lower.slice(0, lower.length - rest.length - 1);
          break;
        }
        const dot = rest.indexOf('.');
        offset += (dot < 0 ? rest.length : dot) + 1;
        rest = dot < 0 ? '' : rest.slice(dot + 1);
      }
    }
    if (prefix !== '') {
      for (const label of prefix.split('.')) {
        this.u8(label.length);
        this.pos += this.buf.write(label, this.pos, 'latin1');
      }
    }
    if (pointer >= 0) this.u16(0xc000 | pointer);
    else this.u8(0);
  }
}

/** 16 bytes of an IPv6 address in text form, or null. */
function ipv6Bytes(text: string): Buffer | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  if (head === null || tail === null) return null;
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) return null;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function writeRecord(w: Writer, r: Answer, question: string): boolean {
  const rec = r as { type: string; name: string; ttl?: number; data: unknown };
  w.name(rec.name, question);
  const typeCode = TYPE_CODES[rec.type];
  if (typeCode === undefined) return false;
  w.u16(typeCode);
  w.u16(CLASS_IN);
  w.u32(rec.ttl ?? 0);
  const lengthAt = w.pos;
  w.u16(0);
  switch (rec.type) {
    case 'A': {
      const ip = parseIPv4(rec.data as string);
      if (ip === null) return false;
      w.u32(ip);
      break;
    }
    case 'PTR':
    case 'NS':
    case 'CNAME':
      w.name(rec.data as string, question);
      break;
    case 'AAAA': {
      const bytes = ipv6Bytes(rec.data as string);
      if (bytes === null) return false;
      w.bytes(bytes, 0, 16);
      break;
    }
    case 'SOA': {
      const d = rec.data as { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };
      w.name(d.mname, question);
      w.name(d.rname, question);
      w.u32(d.serial);
      w.u32(d.refresh);
      w.u32(d.retry);
      w.u32(d.expire);
      w.u32(d.minimum);
      break;
    }
    default:
      return false;
  }
  w.buf.writeUInt16BE(w.pos - lengthAt - 2, lengthAt);
  return true;
}

/**
 * The response bytes, or null when the answer holds a record this writer does not handle or does not fit 512 bytes
 * (the general path then encodes, and truncates, properly). `authoritative` sets AA (our zones); RA is always set.
 */
export function encodeAnswer(query: Buffer, q: SimpleQuery, local: LocalAnswer, authoritative = true): Buffer | null {
  try {
    return writeAnswer(query, q, local, authoritative);
  } catch {
    return null;
  }
}

export const encodeLocalAnswer = encodeAnswer;

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
    for (const r of section) if (!writeRecord(w, r, q.name)) return null;
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

export { Rcode };
