// Reader (and small writer) for classic libpcap files, as written by `tcpdump -w`.
// Format: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-01.html
import { readFile } from 'node:fs/promises';

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_LINUX_SLL = 113;
export type PcapLinkType = typeof LINKTYPE_ETHERNET | typeof LINKTYPE_LINUX_SLL;

export type PcapByteOrder = 'little-endian' | 'big-endian';
export type PcapPrecision = 'microseconds' | 'nanoseconds';

export interface PcapFrame {
  /** Capture time in seconds since the epoch (fractional part at the file's precision). */
  timestamp: number;
  seconds: number;
  /** Sub-second part in nanoseconds, whatever the file's precision. */
  nanoseconds: number;
  /** Length of the frame on the wire; data.length is the captured part. */
  originalLength: number;
  data: Buffer;
}

export interface PcapFile {
  linkType: PcapLinkType;
  byteOrder: PcapByteOrder;
  precision: PcapPrecision;
  snapLength: number;
  frames: PcapFrame[];
}

export class PcapFormatError extends Error {
  override name = 'PcapFormatError';
}

const GLOBAL_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
const MAGIC_MICROSECONDS = 0xa1b2c3d4;
const MAGIC_NANOSECONDS = 0xa1b23c4d;
const ETHERNET_HEADER_LENGTH = 14;
const SLL_HEADER_LENGTH = 16;

interface FileFormat {
  byteOrder: PcapByteOrder;
  precision: PcapPrecision;
}

function detectFormat(bytes: Buffer): FileFormat {
  const little = bytes.readUInt32LE(0);
  const big = bytes.readUInt32BE(0);
  if (little === MAGIC_MICROSECONDS) return { byteOrder: 'little-endian', precision: 'microseconds' };
  if (little === MAGIC_NANOSECONDS) return { byteOrder: 'little-endian', precision: 'nanoseconds' };
  if (big === MAGIC_MICROSECONDS) return { byteOrder: 'big-endian', precision: 'microseconds' };
  if (big === MAGIC_NANOSECONDS) return { byteOrder: 'big-endian', precision: 'nanoseconds' };
  throw new PcapFormatError(`not a classic pcap file: unknown magic number 0x${big.toString(16).padStart(8, '0')}`);
}

function uint32Reader(bytes: Buffer, byteOrder: PcapByteOrder): (offset: number) => number {
  return byteOrder === 'little-endian' ? (offset) => bytes.readUInt32LE(offset) : (offset) => bytes.readUInt32BE(offset);
}

function toLinkType(field: number): PcapLinkType {
  // The upper 16 bits of the field may carry FCS information; the link type is the lower 16.
  const linkType = field & 0xffff;
  if (linkType === LINKTYPE_ETHERNET || linkType === LINKTYPE_LINUX_SLL) return linkType;
  throw new PcapFormatError(`unsupported link type ${linkType} (only Ethernet (1) and Linux SLL (113))`);
}

/** Parses a whole classic pcap file; throws PcapFormatError naming the problem for malformed input. */
export function parsePcap(bytes: Buffer): PcapFile {
  if (bytes.length < GLOBAL_HEADER_LENGTH) {
    throw new PcapFormatError(`truncated global header: ${bytes.length} of ${GLOBAL_HEADER_LENGTH} bytes`);
  }
  const format = detectFormat(bytes);
  const readUInt32 = uint32Reader(bytes, format.byteOrder);
  const snapLength = readUInt32(16);
  const linkType = toLinkType(readUInt32(20));
  const fractionToNanoseconds = format.precision === 'microseconds' ? 1000 : 1;
  const fractionLimit = format.precision === 'microseconds' ? 1_000_000 : 1_000_000_000;

  const frames: PcapFrame[] = [];
  let offset = GLOBAL_HEADER_LENGTH;
  while (offset < bytes.length) {
    const frameNumber = frames.length + 1;
    if (bytes.length - offset < RECORD_HEADER_LENGTH) {
      throw new PcapFormatError(`truncated record header of frame ${frameNumber}: ${bytes.length - offset} of ${RECORD_HEADER_LENGTH} bytes`);
    }
    const seconds = readUInt32(offset);
    const fraction = readUInt32(offset + 4);
    const capturedLength = readUInt32(offset + 8);
    const originalLength = readUInt32(offset + 12);
    if (fraction >= fractionLimit) {
      throw new PcapFormatError(`frame ${frameNumber}: sub-second field ${fraction} out of range for ${format.precision}`);
    }
    if (capturedLength > originalLength) {
      throw new PcapFormatError(`frame ${frameNumber}: captured length ${capturedLength} exceeds original length ${originalLength}`);
    }
    const dataStart = offset + RECORD_HEADER_LENGTH;
    if (bytes.length - dataStart < capturedLength) {
      throw new PcapFormatError(`truncated data of frame ${frameNumber}: ${bytes.length - dataStart} of ${capturedLength} bytes`);
    }
    const nanoseconds = fraction * fractionToNanoseconds;
    frames.push({
      timestamp: seconds + nanoseconds / 1e9,
      seconds,
      nanoseconds,
      originalLength,
      data: Buffer.from(bytes.subarray(dataStart, dataStart + capturedLength)),
    });
    offset = dataStart + capturedLength;
  }
  return { linkType, byteOrder: format.byteOrder, precision: format.precision, snapLength, frames };
}

export async function readPcapFile(path: string): Promise<PcapFile> {
  return parsePcap(await readFile(path));
}

export interface NetworkLayer {
  /** EtherType (Ethernet) or protocol field (SLL) of the frame, e.g. 0x0800 for IPv4. */
  etherType: number;
  payload: Buffer;
}

/** Strips the link-layer header (Ethernet or Linux cooked) and returns what it carries. */
export function networkLayer(linkType: PcapLinkType, frame: Buffer): NetworkLayer {
  const headerLength = linkType === LINKTYPE_ETHERNET ? ETHERNET_HEADER_LENGTH : SLL_HEADER_LENGTH;
  if (frame.length < headerLength) {
    throw new PcapFormatError(`frame of ${frame.length} bytes is shorter than its ${headerLength}-byte link header`);
  }
  return { etherType: frame.readUInt16BE(headerLength - 2), payload: frame.subarray(headerLength) };
}

/** Writes a classic pcap file; used to build test variants (other byte orders, precisions, link types). */
export function serializePcap(file: PcapFile): Buffer {
  const little = file.byteOrder === 'little-endian';
  const writeUInt32 = (target: Buffer, value: number, offset: number): void => {
    if (little) target.writeUInt32LE(value, offset);
    else target.writeUInt32BE(value, offset);
  };
  const writeUInt16 = (target: Buffer, value: number, offset: number): void => {
    if (little) target.writeUInt16LE(value, offset);
    else target.writeUInt16BE(value, offset);
  };
  const header = Buffer.alloc(GLOBAL_HEADER_LENGTH);
  writeUInt32(header, file.precision === 'microseconds' ? MAGIC_MICROSECONDS : MAGIC_NANOSECONDS, 0);
  writeUInt16(header, 2, 4);
  writeUInt16(header, 4, 6);
  writeUInt32(header, file.snapLength, 16);
  writeUInt32(header, file.linkType, 20);
  const parts: Buffer[] = [header];
  for (const frame of file.frames) {
    const record = Buffer.alloc(RECORD_HEADER_LENGTH);
    const fraction = file.precision === 'microseconds' ? Math.floor(frame.nanoseconds / 1000) : frame.nanoseconds;
    writeUInt32(record, frame.seconds, 0);
    writeUInt32(record, fraction, 4);
    writeUInt32(record, frame.data.length, 8);
    writeUInt32(record, frame.originalLength, 12);
    parts.push(record, frame.data);
  }
  return Buffer.concat(parts);
}
