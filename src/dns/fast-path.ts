/**
 * A hand-written path for the queries a container host sees most: one question, with or without a plain EDNS0 OPT.
 * It reads the question straight from the bytes and writes the answer straight into a buffer, skipping dns-packet's
 * object decode/encode (which cost more than the rest of the query together, see docs/performance.md). Anything
 * unusual is declined and takes the general path, so behaviour is the same (test/unit/dns/fast-path.test.ts compares
 * the two case by case).
 *
 * It decides nothing about names: `QueryReader` is the `ZoneQuestion` view (question.ts) the zones answer, and the
 * writers here write what a zone returned, or a cached forwarded answer:
 * - `QueryReader` + the `write*` functions work on offsets into a shared receive buffer and write into a shared send
 *   buffer, allocating nothing: a zone's `WireAnswer` (one A record; NXDOMAIN/NODATA with the SOA) and cached
 *   forwarded answers in wire form.
 * - `encodeAnswer` encodes a zone's record objects (`LocalAnswer`) with dns-packet's record codec; `parseSimpleQuery`
 *   is the object-level reader the tests use.
 */
import { type Answer, encodeRecordInto } from './message.ts';
import type { ZoneApex, ZoneQuestion } from './question.ts';
import { CLASS_IN, EDNS_UDP_SIZE, Flag, HEADER_LENGTH, OPT_RECORD_LENGTH, responseFlags, Type, typeName } from './vocabulary.ts';
import { isHostnameByte, lowerAscii, type WireRecords } from './wire-name.ts';
import type { LocalAnswer } from './zone.ts';

/** Answers the fast path writes never exceed the plain-DNS UDP size; bigger ones take the general path (TC). */
export const FAST_ANSWER_LIMIT = 512;
/** A record whose owner is a pointer to the question name: pointer 2, type 2, class 2, TTL 4, rdlength 2, address 4. */
const A_RECORD_LENGTH = 16;
const MAX_LABELS = 128;

/**
 * Reads the parts of a simple query the fast path needs, from `data[start, start + length)`, into its own fields. One
 * reader is reused for every query: reading allocates nothing. Offsets in the fields are absolute (into `data`).
 */
export class QueryReader implements ZoneQuestion {
  id = 0;
  rd = false;
  cd = false;
  type = 0;
  /** Where the message starts, the question name starts (start + 12), and the question ends. */
  start = 0;
  nameStart = 0;
  questionEnd = 0;
  /** Offset just past the name's root label. */
  nameEnd = 0;
  hasEdns = false;
  doBit = false;
  /** RA in the answer: set by the server per query (recursion offered to this client), not read from the bytes. */
  ra = true;
  /** Whether the name has an upper-case letter (a key built from it must be lowered). */
  hasUpperCase = false;
  labelCount = 0;
  /** Offset of each label's length byte. */
  readonly labelStarts = new Int32Array(MAX_LABELS);
  private readonly keyScratch = Buffer.alloc(260);
  /** The buffer of the query last read (the ZoneQuestion methods read from it). */
  private data: Buffer = Buffer.alloc(0);
  /** The fast path reads class IN questions only. */
  readonly otherClass = false;

  /** True when the query is simple enough for the fast path (never throws, whatever the bytes). */
  read(data: Buffer, start: number, length: number): boolean {
    const end = start + length;
    if (length < HEADER_LENGTH + 5 || end > data.length) return false;
    const flags = (data[start + 2]! << 8) | data[start + 3]!;
    // QR=0, opcode QUERY, no TC; Z bit may be anything (it is not echoed).
    if ((flags & 0xfa00) !== 0) return false; // QR, opcode, TC
    // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0 or 1
    if (data[start + 4] !== 0 || data[start + 5] !== 1 || data[start + 6] !== 0 || data[start + 7] !== 0) return false;
    if (data[start + 8] !== 0 || data[start + 9] !== 0 || data[start + 10] !== 0) return false;
    const arcount = data[start + 11]!;
    if (arcount > 1) return false;
    let pos = start + HEADER_LENGTH;
    this.nameStart = pos;
    let labels = 0;
    let upper = false;
    for (;;) {
      if (pos >= end) return false;
      const labelLength = data[pos]!;
      if (labelLength > 63) return false; // also rejects compression pointers
      if (labelLength === 0) break;
      if (labels === MAX_LABELS) return false;
      this.labelStarts[labels++] = pos;
      pos++;
      if (pos + labelLength > end) return false;
      for (let i = pos; i < pos + labelLength; i++) {
        const c = data[i]!;
        if (!isHostnameByte(c)) return false;
        if (c <= 0x5a && c >= 0x41) upper = true;
      }
      pos += labelLength;
      if (pos - this.nameStart > 254) return false;
    }
    if (labels === 0) return false;
    pos++; // the root label
    this.nameEnd = pos;
    if (pos + 4 > end) return false;
    const type = (data[pos]! << 8) | data[pos + 1]!;
    if (data[pos + 2] !== 0 || data[pos + 3] !== CLASS_IN || typeName(type) === undefined) return false;
    const questionEnd = pos + 4;
    let hasEdns = false;
    let doBit = false;
    if (arcount === 1) {
      // root name, type OPT, class = UDP size, TTL = ext-rcode/version/flags, rdlength, options
      const o = questionEnd;
      if (o + OPT_RECORD_LENGTH > end || data[o] !== 0 || data[o + 1] !== 0 || data[o + 2] !== Type.OPT) return false;
      if (data[o + 6] !== 0) return false; // EDNS version > 0: the general path answers BADVERS
      if (o + OPT_RECORD_LENGTH + ((data[o + 9]! << 8) | data[o + 10]!) !== end) return false;
      hasEdns = true;
      doBit = (data[o + 7]! & 0x80) !== 0;
    } else if (questionEnd !== end) {
      return false;
    }
    this.id = (data[start]! << 8) | data[start + 1]!;
    this.rd = (flags & Flag.RD) !== 0;
    this.cd = (flags & Flag.CD) !== 0;
    this.type = type;
    this.start = start;
    this.questionEnd = questionEnd;
    this.hasEdns = hasEdns;
    this.doBit = doBit;
    this.hasUpperCase = upper;
    this.labelCount = labels;
    this.data = data;
    return true;
  }

  // ZoneQuestion, on the query last read: what the zones ask (question.ts).
  belowApex(apex: ZoneApex): number {
    return apex.wire === null ? -1 : this.labelsBelow(this.data, apex.wire, apex.labels);
  }

  lowerLabelAt(index: number): string {
    return this.lowerLabel(this.data, index);
  }

  lowerName(): string {
    const name = this.name(this.data);
    return this.hasUpperCase ? name.toLowerCase() : name;
  }

  askedName(): string {
    return this.name(this.data);
  }

  /** The question name as asked (case kept), without the trailing dot. */
  name(data: Buffer): string {
    let name = '';
    for (let i = 0; i < this.labelCount; i++) {
      const at = this.labelStarts[i]!;
      name += (i === 0 ? '' : '.') + data.toString('latin1', at + 1, at + 1 + data[at]!);
    }
    return name;
  }

  /** Label `index` lower-cased, as a string (host names are looked up by string). */
  lowerLabel(data: Buffer, index: number): string {
    const at = this.labelStarts[index]!;
    const label = data.toString('latin1', at + 1, at + 1 + data[at]!);
    return this.hasUpperCase ? label.toLowerCase() : label;
  }

  /**
   * The question (name, type, class) in wire form with the name lower-cased, as a latin1 string: the key of the wire
   * answer cache (wireQuestionKey builds the same key from a name).
   */
  wireKey(data: Buffer): string {
    if (!this.hasUpperCase) return data.toString('latin1', this.nameStart, this.questionEnd);
    // Only the name is lowered: a type byte can look like a letter (65, HTTPS, is 'A').
    const scratch = this.keyScratch;
    let at = 0;
    for (let i = this.nameStart; i < this.nameEnd; i++) scratch[at++] = lowerAscii(data[i]!);
    for (let i = this.nameEnd; i < this.questionEnd; i++) scratch[at++] = data[i]!;
    return scratch.toString('latin1', 0, at);
  }

  /**
   * The number of labels below `zone` (a lower-case wire-form name, root label included) when the question name is
   * at or below it, else -1. ASCII case-insensitive.
   */
  labelsBelow(data: Buffer, zone: Buffer, zoneLabels: number): number {
    const below = this.labelCount - zoneLabels;
    if (below < 0) return -1;
    const from = below === this.labelCount ? this.nameEnd - 1 : this.labelStarts[below]!;
    if (this.nameEnd - from !== zone.length) return -1;
    for (let i = 0; i < zone.length; i++) {
      if (lowerAscii(data[from + i]!) !== zone[i]) return -1;
    }
    return below;
  }
}

/** Header of a response to the query `q` read from `query`, written at `out[at]`; returns the bytes written (12). */
function writeHeader(
  out: Buffer,
  at: number,
  q: QueryReader,
  rcode: number,
  authoritative: boolean,
  answers: number,
  authorities: number,
  additionals: number,
): number {
  const flags = responseFlags(rcode, (authoritative ? Flag.AA : 0) | (q.rd ? Flag.RD : 0) | (q.ra ? Flag.RA : 0) | (q.cd ? Flag.CD : 0));
  out[at] = q.id >>> 8;
  out[at + 1] = q.id & 0xff;
  out[at + 2] = flags >>> 8;
  out[at + 3] = flags & 0xff;
  out[at + 4] = 0;
  out[at + 5] = 1;
  out[at + 6] = answers >>> 8;
  out[at + 7] = answers & 0xff;
  out[at + 8] = authorities >>> 8;
  out[at + 9] = authorities & 0xff;
  const ar = additionals + (q.hasEdns ? 1 : 0);
  out[at + 10] = ar >>> 8;
  out[at + 11] = ar & 0xff;
  return HEADER_LENGTH;
}

/** Our OPT record (1232, version 0, DO echoed), written at `out[at]`; returns the bytes written (11). */
function writeOpt(out: Buffer, at: number, doBit: boolean): number {
  out[at] = 0;
  out[at + 1] = 0;
  out[at + 2] = Type.OPT;
  out[at + 3] = EDNS_UDP_SIZE >>> 8;
  out[at + 4] = EDNS_UDP_SIZE & 0xff;
  out[at + 5] = 0;
  out[at + 6] = 0;
  out[at + 7] = doBit ? 0x80 : 0;
  out[at + 8] = 0;
  out[at + 9] = 0;
  out[at + 10] = 0;
  return OPT_RECORD_LENGTH;
}

function writeUint32(out: Buffer, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

/** Bytes needed in `out` for any answer the write* functions produce for `q`. */
function fastAnswerRoom(q: QueryReader): number {
  return FAST_ANSWER_LIMIT + (q.questionEnd - q.start);
}

/**
 * The authoritative A answer for the question of `q` (owner: a pointer to the question name), at `out[at]`; returns
 * the length. The caller checked that the type is A or ANY.
 */
export function writeAddressAnswer(query: Buffer, q: QueryReader, out: Buffer, at: number, address: number, ttl: number): number {
  let pos = at + writeHeader(out, at, q, 0, true, 1, 0, 0);
  pos += query.copy(out, pos, q.nameStart, q.questionEnd);
  out[pos] = 0xc0;
  out[pos + 1] = HEADER_LENGTH;
  out[pos + 2] = 0;
  out[pos + 3] = Type.A;
  out[pos + 4] = 0;
  out[pos + 5] = CLASS_IN;
  writeUint32(out, pos + 6, ttl);
  out[pos + 10] = 0;
  out[pos + 11] = 4;
  writeUint32(out, pos + 12, address);
  pos += A_RECORD_LENGTH;
  if (q.hasEdns) pos += writeOpt(out, pos, q.doBit);
  return pos - at;
}

/**
 * A negative authoritative answer (NXDOMAIN or NODATA: `rcode` 3 or 0) with the zone's SOA record (`soa`, wire form)
 * in the authority section, at `out[at]`; returns the length, or 0 when it would exceed FAST_ANSWER_LIMIT.
 */
export function writeNegativeAnswer(query: Buffer, q: QueryReader, out: Buffer, at: number, rcode: number, soa: Buffer): number {
  const length = HEADER_LENGTH + (q.questionEnd - q.nameStart) + soa.length + (q.hasEdns ? OPT_RECORD_LENGTH : 0);
  if (length > FAST_ANSWER_LIMIT) return 0;
  let pos = at + writeHeader(out, at, q, rcode, true, 0, 1, 0);
  pos += query.copy(out, pos, q.nameStart, q.questionEnd);
  pos += soa.copy(out, pos);
  if (q.hasEdns) pos += writeOpt(out, pos, q.doBit);
  return pos - at;
}

/**
 * A minimal truncated answer (header with TC, the question, nothing else), as response rate limiting "slips" it, at
 * `out[at]`; returns the length. A real client retries over TCP; a forged source gains no amplification.
 */
export function writeTruncatedAnswer(query: Buffer, q: QueryReader, out: Buffer, at: number): number {
  const flags = responseFlags(0, Flag.TC | (q.rd ? Flag.RD : 0) | (q.cd ? Flag.CD : 0));
  out[at] = q.id >>> 8;
  out[at + 1] = q.id & 0xff;
  out[at + 2] = flags >>> 8;
  out[at + 3] = flags & 0xff;
  out.fill(0, at + 4, at + HEADER_LENGTH);
  out[at + 5] = 1;
  const length = q.nameEnd + 4 - q.nameStart;
  query.copy(out, at + HEADER_LENGTH, q.nameStart, q.nameEnd + 4);
  return HEADER_LENGTH + length;
}

/** Bytes a response carrying `records` for `q` takes. */
export function cachedAnswerLength(q: QueryReader, records: WireRecords): number {
  return HEADER_LENGTH + (q.questionEnd - q.nameStart) + records.bytes.length + (q.hasEdns ? OPT_RECORD_LENGTH : 0);
}

/**
 * A forwarded answer from the cache (not authoritative), with every TTL reduced by `elapsedSeconds` (never below 0),
 * at `out[at]`; returns the length. The caller checked it fits (cachedAnswerLength).
 */
export function writeCachedAnswer(query: Buffer, q: QueryReader, out: Buffer, at: number, records: WireRecords, elapsedSeconds: number): number {
  let pos = at + writeHeader(out, at, q, records.rcode, false, records.answerCount, records.authorityCount, records.additionalCount);
  pos += query.copy(out, pos, q.nameStart, q.questionEnd);
  const base = pos;
  pos += records.bytes.copy(out, pos);
  const { ttlOffsets, ttls } = records;
  for (let i = 0; i < ttlOffsets.length; i++) {
    const remaining = ttls[i]! - elapsedSeconds;
    writeUint32(out, base + ttlOffsets[i]!, Math.max(remaining, 0));
  }
  if (q.hasEdns) pos += writeOpt(out, pos, q.doBit);
  return pos - at;
}

// ---------------------------------------------------------------------------------------------------------------------
// The object level

/** A reader holding the query if it is simple enough for the fast path, else null (never throws). */
export function parseSimpleQuery(data: Buffer): QueryReader | null {
  const q = new QueryReader();
  return q.read(data, 0, data.length) ? q : null;
}

/** An object-level answer being written: its buffer and position. */
class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  record(r: Answer): void {
    this.pos += encodeRecordInto(r, this.buf, this.pos);
  }
}

/**
 * The response bytes to the query `q` last read from `query`, or null when the answer does not fit 512 bytes (the
 * general path then encodes, and truncates, properly). Records are written by dns-packet's record codec; the header
 * (`writeHeader`, as for every fast answer), the question (copied from the query) and the OPT record are written
 * here. `authoritative` sets AA (our zones); RA is `q.ra`.
 */
export function encodeAnswer(query: Buffer, q: QueryReader, local: LocalAnswer, authoritative: boolean): Buffer | null {
  try {
    return writeAnswer(query, q, local, authoritative);
  } catch {
    return null;
  }
}

function writeAnswer(query: Buffer, q: QueryReader, local: LocalAnswer, authoritative: boolean): Buffer | null {
  if (local.rcode > 15) return null;
  const w = new Writer(fastAnswerRoom(q));
  w.pos = writeHeader(w.buf, 0, q, local.rcode, authoritative, local.answers.length, local.authorities.length, local.additionals.length);
  w.pos += query.copy(w.buf, w.pos, q.nameStart, q.questionEnd);
  for (const section of [local.answers, local.authorities, local.additionals]) {
    for (const r of section) w.record(r);
  }
  if (q.hasEdns) w.pos += writeOpt(w.buf, w.pos, q.doBit);
  return w.pos > FAST_ANSWER_LIMIT ? null : w.buf.subarray(0, w.pos);
}
