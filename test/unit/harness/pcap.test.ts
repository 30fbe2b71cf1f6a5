import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  networkLayer,
  type PcapFile,
  PcapFormatError,
  type PcapFrame,
  parsePcap,
  readPcapFile,
  serializePcap,
} from '../../harness/pcap.ts';

const packetsDir = fileURLToPath(new URL('../../../packets/', import.meta.url));

// DHCP message types per capture, in frame order, as listed in packets/README.md.
const expectedMessageTypes: Record<string, string[]> = {
  'udhcpc-hostname.pcap': ['DISCOVER', 'OFFER', 'REQUEST', 'ACK', 'REQUEST', 'ACK', 'RELEASE'],
  'dhclient-hostname.pcap': ['DISCOVER', 'OFFER', 'REQUEST', 'ACK', 'REQUEST', 'ACK', 'RELEASE'],
  'dhclient-clientid.pcap': ['DISCOVER', 'OFFER', 'REQUEST', 'ACK', 'REQUEST', 'ACK', 'RELEASE'],
  'dhcpcd-duid.pcap': ['DISCOVER', 'OFFER', 'REQUEST', 'ACK', 'REQUEST', 'ACK', 'RELEASE'],
  'dhcpcd-fqdn.pcap': ['DISCOVER', 'OFFER', 'REQUEST', 'ACK', 'RELEASE'],
  'dhcpcd-rapid-commit.pcap': ['DISCOVER', 'ACK', 'RELEASE'],
  'dhcpcd-inform.pcap': ['INFORM', 'ACK'],
  'dhcpcd-decline.pcap': ['DISCOVER', 'OFFER', 'REQUEST', 'ACK', 'DECLINE'],
};

const MESSAGE_TYPE_NAMES = ['', 'DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM'];
const DHCP_MAGIC_COOKIE = 0x63825363;

// Independent minimal walk (IPv4 -> UDP -> BOOTP -> option 53) to prove the reader returns whole, aligned frames.
function dhcpMessageType(ipPacket: Buffer): string {
  assert.equal(ipPacket[0]! >> 4, 4, 'IPv4');
  const ipHeaderLength = (ipPacket[0]! & 0x0f) * 4;
  assert.equal(ipPacket[9], 17, 'UDP');
  assert.equal(ipPacket.readUInt16BE(2), ipPacket.length, 'IP total length matches captured bytes');
  const udp = ipPacket.subarray(ipHeaderLength);
  assert.ok([67, 68].includes(udp.readUInt16BE(0)) && [67, 68].includes(udp.readUInt16BE(2)), 'DHCP ports');
  const bootp = udp.subarray(8);
  assert.equal(bootp.readUInt32BE(236), DHCP_MAGIC_COOKIE);
  let offset = 240;
  while (offset < bootp.length) {
    const code = bootp[offset]!;
    if (code === 0) {
      offset += 1;
      continue;
    }
    if (code === 255) break;
    const length = bootp[offset + 1]!;
    if (code === 53) return MESSAGE_TYPE_NAMES[bootp[offset + 2]!] ?? 'unknown';
    offset += 2 + length;
  }
  return 'none';
}

function loadCapture(name: string): Buffer {
  return readFileSync(packetsDir + name);
}

function toSll(frame: PcapFrame): PcapFrame {
  const ethernet = frame.data;
  const sllHeader = Buffer.alloc(16);
  sllHeader.writeUInt16BE(0, 0); // packet type: to us
  sllHeader.writeUInt16BE(1, 2); // ARPHRD_ETHER
  sllHeader.writeUInt16BE(6, 4);
  ethernet.copy(sllHeader, 6, 6, 12); // source MAC
  sllHeader.writeUInt16BE(ethernet.readUInt16BE(12), 14);
  const data = Buffer.concat([sllHeader, ethernet.subarray(14)]);
  return { ...frame, data, originalLength: frame.originalLength + 2 };
}

describe('parsePcap on the real captures in packets/', () => {
  for (const [name, types] of Object.entries(expectedMessageTypes)) {
    it(`${name}: Ethernet frames carrying ${types.join(', ')}`, async () => {
      const file = await readPcapFile(packetsDir + name);
      assert.equal(file.linkType, LINKTYPE_ETHERNET);
      assert.equal(file.byteOrder, 'little-endian');
      assert.equal(file.precision, 'microseconds');
      const seen = file.frames.map((frame) => {
        assert.equal(frame.data.length, frame.originalLength);
        const { etherType, payload } = networkLayer(file.linkType, frame.data);
        assert.equal(etherType, 0x0800);
        return dhcpMessageType(payload);
      });
      assert.deepEqual(seen, types);
      const times = file.frames.map((frame) => frame.timestamp);
      assert.deepEqual(
        times,
        [...times].sort((a, b) => a - b),
        'timestamps never go backwards',
      );
      assert.ok(file.frames.every((frame) => frame.nanoseconds % 1000 === 0 && frame.nanoseconds < 1e9));
    });
  }

  it('reads the first frame of udhcpc-hostname.pcap as a broadcast DISCOVER from 02:1a:b0:00:00:01', () => {
    const file = parsePcap(loadCapture('udhcpc-hostname.pcap'));
    const first = file.frames[0];
    assert.ok(first);
    assert.equal(first.data.subarray(0, 6).toString('hex'), 'ffffffffffff');
    assert.equal(first.data.subarray(6, 12).toString('hex'), '021ab0000001');
    assert.ok(first.seconds > 1_600_000_000);
  });
});

describe('parsePcap on other layouts', () => {
  const original = parsePcap(loadCapture('dhcpcd-inform.pcap'));

  it('reads a big-endian file with the same frames', () => {
    const bigEndian = parsePcap(serializePcap({ ...original, byteOrder: 'big-endian' }));
    assert.equal(bigEndian.byteOrder, 'big-endian');
    assert.deepEqual(bigEndian.frames, original.frames);
  });

  it('reads nanosecond-precision files (both byte orders)', () => {
    const frames = original.frames.map((frame) => ({ ...frame, nanoseconds: frame.nanoseconds + 123 }));
    for (const byteOrder of ['little-endian', 'big-endian'] as const) {
      const file = parsePcap(serializePcap({ ...original, byteOrder, precision: 'nanoseconds', frames }));
      assert.equal(file.precision, 'nanoseconds');
      assert.deepEqual(
        file.frames.map((frame) => frame.nanoseconds),
        frames.map((frame) => frame.nanoseconds),
      );
      assert.equal(file.frames[0]?.timestamp, frames[0]!.seconds + frames[0]!.nanoseconds / 1e9);
    }
  });

  it('reads Linux cooked (SLL) captures and strips the 16-byte header', () => {
    const sll: PcapFile = { ...original, linkType: LINKTYPE_LINUX_SLL, frames: original.frames.map(toSll) };
    const file = parsePcap(serializePcap(sll));
    assert.equal(file.linkType, LINKTYPE_LINUX_SLL);
    const payloads = file.frames.map((frame) => networkLayer(file.linkType, frame.data));
    assert.deepEqual(
      payloads.map((layer) => dhcpMessageType(layer.payload)),
      ['INFORM', 'ACK'],
    );
    assert.ok(payloads.every((layer) => layer.etherType === 0x0800));
  });

  it('reads a file with no frames', () => {
    const empty = parsePcap(serializePcap({ ...original, frames: [] }));
    assert.deepEqual(empty.frames, []);
    assert.equal(empty.snapLength, original.snapLength);
  });
});

describe('parsePcap on malformed input', () => {
  const bytes = loadCapture('dhcpcd-inform.pcap');
  const firstFrameLength = parsePcap(bytes).frames[0]!.data.length;

  function assertFormatError(input: Buffer, reason: RegExp): void {
    assert.throws(
      () => parsePcap(input),
      (error: unknown) => {
        assert.ok(error instanceof PcapFormatError, `expected PcapFormatError, got ${String(error)}`);
        assert.match(error.message, reason);
        return true;
      },
    );
  }

  it('rejects a file shorter than the global header', () => {
    assertFormatError(bytes.subarray(0, 10), /truncated global header: 10 of 24 bytes/);
    assertFormatError(Buffer.alloc(0), /truncated global header: 0 of 24/);
  });

  it('rejects a truncated record header', () => {
    assertFormatError(bytes.subarray(0, 24 + 7), /truncated record header of frame 1: 7 of 16 bytes/);
  });

  it('rejects truncated frame data, naming the frame', () => {
    assertFormatError(bytes.subarray(0, 24 + 16 + 100), new RegExp(`truncated data of frame 1: 100 of ${firstFrameLength}`));
    assertFormatError(bytes.subarray(0, bytes.length - 1), /truncated data of frame 2/);
  });

  it('rejects an unknown magic number', () => {
    const corrupt = Buffer.from(bytes);
    corrupt.writeUInt32BE(0x0a0d0d0a, 0); // pcapng section header
    assertFormatError(corrupt, /unknown magic number 0x0a0d0d0a/);
  });

  it('rejects unsupported link types', () => {
    const corrupt = Buffer.from(bytes);
    corrupt.writeUInt32LE(101, 20); // LINKTYPE_RAW
    assertFormatError(corrupt, /unsupported link type 101/);
  });

  it('rejects a captured length larger than the original length', () => {
    const corrupt = Buffer.from(bytes);
    corrupt.writeUInt32LE(firstFrameLength - 1, 24 + 12);
    assertFormatError(corrupt, /captured length \d+ exceeds original length/);
  });

  it('rejects a frame shorter than its link header in networkLayer', () => {
    assert.throws(() => networkLayer(LINKTYPE_ETHERNET, Buffer.alloc(13)), PcapFormatError);
  });
});
