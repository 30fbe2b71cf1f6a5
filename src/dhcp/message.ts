/**
 * BOOTP/DHCP message codec with no I/O (in the manner of pg-protocol): parseDhcpMessage turns bytes into a typed
 * DhcpMessage or a named rejection reason; serializeDhcpMessage does the reverse. Nothing here throws on network input.
 */
import { type IPv4, macFromBytes } from '../net/address.ts';
import {
  BOOTP_HEADER_LENGTH,
  BOOTP_MIN_LENGTH,
  CHADDR_LENGTH,
  CHADDR_OFFSET,
  FILE_LENGTH,
  FILE_OFFSET,
  MAGIC_COOKIE,
  Option,
  OVERLOAD_FILE,
  OVERLOAD_SNAME,
  SNAME_LENGTH,
  SNAME_OFFSET,
} from './constants.ts';
import { DhcpOptions } from './options.ts';

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: IPv4;
  yiaddr: IPv4;
  siaddr: IPv4;
  giaddr: IPv4;
  /** All 16 bytes of the chaddr field; the hardware address is the first `hlen` of them. */
  chaddr: Buffer;
  /** Server host name field; empty when it carried options (overload). */
  sname: Buffer;
  /** Boot file name field; empty when it carried options (overload). */
  file: Buffer;
  options: DhcpOptions;
}

export type ParseFailure = 'short-packet' | 'bad-magic-cookie' | 'option-truncated' | 'missing-end' | 'bad-overload';

export type ParseResult = { ok: true; message: DhcpMessage } | { ok: false; reason: ParseFailure; detail: string };

function fail(reason: ParseFailure, detail: string): ParseResult {
  return { ok: false, reason, detail };
}

/**
 * Reads one options area into `into`. Returns null on success, or the failure. `requireEnd` is true for the main
 * options field: RFC 2131 requires the END option there; we are lenient for overloaded sname/file, which some clients
 * fill to the last byte.
 */
function readOptionArea(data: Buffer, start: number, end: number, into: DhcpOptions, requireEnd: boolean): { reason: ParseFailure; detail: string } | null {
  let i = start;
  while (i < end) {
    const code = data[i] as number;
    if (code === Option.Pad) {
      i += 1;
      continue;
    }
    if (code === Option.End) return null;
    if (i + 1 >= end) return { reason: 'option-truncated', detail: `option ${code} has no length byte` };
    const length = data[i + 1] as number;
    const valueStart = i + 2;
    if (valueStart + length > end) {
      return { reason: 'option-truncated', detail: `option ${code} length ${length} runs past the end` };
    }
    into.append(code, data.subarray(valueStart, valueStart + length));
    i = valueStart + length;
  }
  return requireEnd ? { reason: 'missing-end', detail: 'options do not end with END (255)' } : null;
}

/**
 * Parses without copying: chaddr, sname, file and option values are views of `data`. Whoever keeps one beyond the
 * handling of this message (e.g. a client-id stored in a lease) copies it, so a lease never pins a receive buffer.
 */
export function parseDhcpMessage(data: Buffer): ParseResult {
  if (data.length < BOOTP_HEADER_LENGTH + 4) {
    return fail('short-packet', `${data.length} bytes, need at least ${BOOTP_HEADER_LENGTH + 4}`);
  }
  const cookie = data.readUInt32BE(BOOTP_HEADER_LENGTH);
  if (cookie !== MAGIC_COOKIE) return fail('bad-magic-cookie', `cookie 0x${cookie.toString(16).padStart(8, '0')}`);

  const options = new DhcpOptions();
  const mainFailure = readOptionArea(data, BOOTP_HEADER_LENGTH + 4, data.length, options, true);
  if (mainFailure) return fail(mainFailure.reason, mainFailure.detail);

  let sname = data.subarray(SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH);
  let file = data.subarray(FILE_OFFSET, FILE_OFFSET + FILE_LENGTH);
  if (options.has(Option.OptionOverload)) {
    const overload = options.overload;
    if (overload === undefined || overload < 1 || overload > 3) {
      return fail('bad-overload', 'option 52 must be one byte of value 1, 2 or 3');
    }
    // RFC 2131 §4.1: options area first, then 'file', then 'sname'.
    if (overload & OVERLOAD_FILE) {
      const failure = readOptionArea(data, FILE_OFFSET, FILE_OFFSET + FILE_LENGTH, options, false);
      if (failure) return fail(failure.reason, `in file field: ${failure.detail}`);
      file = Buffer.alloc(0);
    }
    if (overload & OVERLOAD_SNAME) {
      const failure = readOptionArea(data, SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH, options, false);
      if (failure) return fail(failure.reason, `in sname field: ${failure.detail}`);
      sname = Buffer.alloc(0);
    }
  }

  return {
    ok: true,
    message: {
      op: data[0] as number,
      htype: data[1] as number,
      hlen: data[2] as number,
      hops: data[3] as number,
      xid: data.readUInt32BE(4),
      secs: data.readUInt16BE(8),
      flags: data.readUInt16BE(10),
      ciaddr: data.readUInt32BE(12),
      yiaddr: data.readUInt32BE(16),
      siaddr: data.readUInt32BE(20),
      giaddr: data.readUInt32BE(24),
      chaddr: data.subarray(CHADDR_OFFSET, CHADDR_OFFSET + CHADDR_LENGTH),
      sname,
      file,
      options,
    },
  };
}

interface SerializeOptions {
  /** Largest DHCP message (UDP payload) the receiver accepts; options that do not fit are left out. */
  maxLength?: number;
  /** Option codes that must never be dropped to make room. */
  essential?: ReadonlySet<number>;
  /**
   * Bytes left free in front of the message, so that a frame can be built around it without a copy (the Ethernet,
   * IPv4 and UDP headers: see finishUdpFrame).
   */
  headroom?: number;
}

interface SerializeResult {
  /** The encoded message. */
  data: Buffer;
  /** The same bytes with `headroom` free bytes before them, in one buffer. */
  withHeadroom: Buffer;
  /** Codes of options that did not fit in maxLength and were left out. */
  omitted: number[];
}

/** Bytes one option takes on the wire; values over 255 bytes are split into consecutive instances (RFC 3396). */
function encodedOptionLength(valueLength: number): number {
  return valueLength === 0 ? 2 : valueLength + 2 * Math.ceil(valueLength / 255);
}

function writeOption(out: Buffer, offset: number, code: number, value: Buffer): number {
  if (value.length === 0) {
    out[offset] = code;
    out[offset + 1] = 0;
    return offset + 2;
  }
  let at = offset;
  for (let i = 0; i < value.length; i += 255) {
    const chunk = Math.min(255, value.length - i);
    out[at] = code;
    out[at + 1] = chunk;
    value.copy(out, at + 2, i, i + chunk);
    at += 2 + chunk;
  }
  return at;
}

const DEFAULT_ESSENTIAL = new Set<number>([Option.MessageType, Option.ServerIdentifier, Option.LeaseTime]);
/** Essential options are placed (and given room) first. */
const ESSENTIAL_FIRST = [true, false] as const;
const NOT_SERIALIZED = (code: number): boolean => code === Option.Pad || code === Option.End || code === Option.OptionOverload;

/**
 * Encodes a message. Essential options go first so they can never be squeezed out by optional ones; the others follow
 * in the order they were set, as many as fit in maxLength (the rest are reported in `omitted`). Written in one pass
 * into one buffer: this runs for every reply.
 */
export function serializeDhcpMessage(message: DhcpMessage, opts: SerializeOptions = {}): SerializeResult {
  const maxLength = Math.max(opts.maxLength ?? 1500 - 28, BOOTP_MIN_LENGTH);
  const essential = opts.essential ?? DEFAULT_ESSENTIAL;
  const headroom = opts.headroom ?? 0;

  // Sized exactly (a first pass over the options), so small replies share Node's buffer pool.
  const optionsStart = BOOTP_HEADER_LENGTH + 4;
  const optionsRoom = maxLength - 1;
  let length = optionsStart;
  for (const wantEssential of ESSENTIAL_FIRST) {
    for (const [code, value] of message.options.entries()) {
      if (NOT_SERIALIZED(code) || essential.has(code) !== wantEssential) continue;
      const bytes = encodedOptionLength(value.length);
      if (length + bytes <= optionsRoom) length += bytes;
    }
  }
  const messageLength = Math.max(length + 1, BOOTP_MIN_LENGTH);
  const out = Buffer.allocUnsafe(headroom + messageLength);
  const base = headroom;
  out[base] = message.op;
  out[base + 1] = message.htype;
  out[base + 2] = message.hlen;
  out[base + 3] = message.hops;
  out.writeUInt32BE(message.xid >>> 0, base + 4);
  out.writeUInt16BE(message.secs, base + 8);
  out.writeUInt16BE(message.flags, base + 10);
  out.writeUInt32BE(message.ciaddr >>> 0, base + 12);
  out.writeUInt32BE(message.yiaddr >>> 0, base + 16);
  out.writeUInt32BE(message.siaddr >>> 0, base + 20);
  out.writeUInt32BE(message.giaddr >>> 0, base + 24);
  out.fill(0, base + CHADDR_OFFSET, base + BOOTP_HEADER_LENGTH);
  message.chaddr.copy(out, base + CHADDR_OFFSET, 0, Math.min(CHADDR_LENGTH, message.chaddr.length));
  message.sname.copy(out, base + SNAME_OFFSET, 0, Math.min(SNAME_LENGTH, message.sname.length));
  message.file.copy(out, base + FILE_OFFSET, 0, Math.min(FILE_LENGTH, message.file.length));
  out.writeUInt32BE(MAGIC_COOKIE, base + BOOTP_HEADER_LENGTH);

  // Room in the options field: everything after the cookie, keeping one byte for END.
  const optionsEnd = base + optionsRoom;
  let offset = base + optionsStart;
  const omitted: number[] = [];
  for (const wantEssential of ESSENTIAL_FIRST) {
    for (const [code, value] of message.options.entries()) {
      if (NOT_SERIALIZED(code) || essential.has(code) !== wantEssential) continue;
      if (offset + encodedOptionLength(value.length) > optionsEnd) omitted.push(code);
      else offset = writeOption(out, offset, code, value);
    }
  }
  out[offset++] = Option.End;
  // PAD (zero) up to the BOOTP minimum length.
  const end = base + messageLength;
  out.fill(0, offset, end);
  return { data: out.subarray(base, end), withHeadroom: out.subarray(0, end), omitted };
}

/** The client's hardware address as 'aa:bb:..' text, or null when htype/hlen are not Ethernet's. */
export function clientMac(message: DhcpMessage): string | null {
  if (message.htype !== 1 || message.hlen !== 6) return null;
  return macFromBytes(message.chaddr);
}

export function emptyMessage(): DhcpMessage {
  return {
    op: 0,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0,
    secs: 0,
    flags: 0,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    chaddr: Buffer.alloc(CHADDR_LENGTH),
    sname: Buffer.alloc(0),
    file: Buffer.alloc(0),
    options: new DhcpOptions(),
  };
}
