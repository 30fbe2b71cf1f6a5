import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { parseIPv6 } from '../../../src/net/address6.ts';
import {
  buildIcmpv6Frame,
  buildUdp6Frame,
  ETHERTYPE_IPV6,
  finishUdp6Frame,
  icmpv6ChecksumOk,
  icmpv6MessageChecksumOk,
  NEXT_HEADER_ICMPV6,
  NEXT_HEADER_UDP,
  parseIpv6Frame,
  UDP6_FRAME_HEADROOM,
  udp6ChecksumOk,
} from '../../../src/wire/frame6.ts';

const addr = (text: string): Buffer => parseIPv6(text) ?? assert.fail(text);
const ROUTER_LL = addr('fe80::1a:b0ff:fe00:1');
const CLIENT_LL = addr('fe80::1a:b0ff:fe00:5');
const ROUTER_MAC = '02:1a:b0:00:00:01';
const CLIENT_MAC = '02:1a:b0:00:00:05';

/**
 * The RFC 8200 §8.1 checksum written out the long way, independent of src/wire/checksum.ts: an explicit pseudo-header
 * buffer (source, destination, 32-bit length, three zero bytes, next header) followed by the message, summed as 16-bit
 * words with BigInt, carries folded at the end.
 */
function referenceChecksum(src: Buffer, dst: Buffer, nextHeader: number, upper: Buffer, checksumOffset: number): number {
  const zeroed = Buffer.from(upper);
  zeroed.writeUInt16BE(0, checksumOffset);
  const pseudo = Buffer.alloc(40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 16);
  pseudo.writeUInt32BE(upper.length, 32);
  pseudo[39] = nextHeader;
  const all = Buffer.concat([pseudo, zeroed, Buffer.alloc(zeroed.length % 2)]);
  let sum = 0n;
  for (let i = 0; i < all.length; i += 2) sum += BigInt(all.readUInt16BE(i));
  while (sum > 0xffffn) sum = (sum & 0xffffn) + (sum >> 16n);
  return Number(~sum & 0xffffn);
}

function icmpMessage(length: number): Buffer {
  const message = randomBytes(length);
  message[0] = 134;
  message[1] = 0;
  return message;
}

test('buildIcmpv6Frame writes Ethernet and IPv6 headers and an ICMPv6 checksum equal to the reference computation', () => {
  for (const length of [4, 5, 16, 17, 64, 1001]) {
    const message = icmpMessage(length);
    const frame = buildIcmpv6Frame({ srcMac: ROUTER_MAC, dstMac: '33:33:00:00:00:01', src: ROUTER_LL, dst: addr('ff02::1'), hopLimit: 255 }, message);
    assert.equal(frame.length, 14 + 40 + length);
    assert.equal(frame.subarray(0, 6).toString('hex'), '333300000001');
    assert.equal(frame.subarray(6, 12).toString('hex'), '021ab0000001');
    assert.equal(frame.readUInt16BE(12), ETHERTYPE_IPV6);
    assert.equal(frame.readUInt32BE(14), 0x60000000);
    assert.equal(frame.readUInt16BE(18), length);
    assert.equal(frame[20], 58);
    assert.equal(frame[21], 255);
    const upper = frame.subarray(54);
    assert.equal(upper.readUInt16BE(2), referenceChecksum(ROUTER_LL, addr('ff02::1'), 58, upper, 2), `length ${length}`);
    assert.ok(icmpv6ChecksumOk(frame));
    assert.ok(icmpv6MessageChecksumOk(ROUTER_LL, addr('ff02::1'), upper));
    // Any changed bit in the message, the addresses or the next header breaks it.
    const flipped = Buffer.from(frame);
    flipped[frame.length - 1] = (flipped[frame.length - 1] as number) ^ 0x10;
    assert.ok(!icmpv6ChecksumOk(flipped));
    assert.ok(!icmpv6MessageChecksumOk(CLIENT_LL, addr('ff02::1'), upper));
  }
});

test('a known ICMPv6 vector: an all-zero router solicitation from :: to ff02::2', () => {
  // Pseudo-header words: ff02 + 0002 + 0008 (length) + 003a (58), message 8500 (type 133): 0x18446; folded 0x8447,
  // complemented 0x7bb8.
  const frame = buildIcmpv6Frame(
    { srcMac: CLIENT_MAC, dstMac: '33:33:00:00:00:02', src: Buffer.alloc(16), dst: addr('ff02::2'), hopLimit: 255 },
    Buffer.from('8500000000000000', 'hex'),
  );
  assert.equal(frame.readUInt16BE(56), 0x7bb8);
});

test('buildUdp6Frame and finishUdp6Frame agree with the reference checksum and parse back', () => {
  for (const length of [0, 1, 2, 33, 500]) {
    const payload = randomBytes(length);
    const endpoints = { srcMac: ROUTER_MAC, dstMac: CLIENT_MAC, src: ROUTER_LL, dst: CLIENT_LL, hopLimit: 64, srcPort: 547, dstPort: 546 };
    const frame = buildUdp6Frame(endpoints, payload);
    const upper = frame.subarray(54);
    assert.equal(upper.readUInt16BE(4), 8 + length);
    const expected = referenceChecksum(ROUTER_LL, CLIENT_LL, 17, upper, 6);
    assert.equal(upper.readUInt16BE(6), expected === 0 ? 0xffff : expected);
    assert.ok(udp6ChecksumOk(frame));
    const headroom = Buffer.alloc(UDP6_FRAME_HEADROOM + length);
    payload.copy(headroom, UDP6_FRAME_HEADROOM);
    assert.deepEqual(finishUdp6Frame(headroom, endpoints), frame);
    const parsed = parseIpv6Frame(frame);
    assert.ok(parsed.ok && parsed.packet.nextHeader === NEXT_HEADER_UDP);
    assert.equal(parsed.packet.srcPort, 547);
    assert.equal(parsed.packet.dstPort, 546);
    assert.deepEqual(parsed.packet.payload, payload);
    assert.deepEqual(parsed.packet.src, ROUTER_LL);
    assert.deepEqual(parsed.packet.dst, CLIENT_LL);
    assert.equal(parsed.packet.hopLimit, 64);
    assert.equal(parsed.packet.srcMac, ROUTER_MAC);
    assert.equal(parsed.packet.dstMac, CLIENT_MAC);
    const zeroSum = Buffer.from(frame);
    zeroSum.writeUInt16BE(0, 54 + 6);
    assert.ok(!udp6ChecksumOk(zeroSum), 'no checksum is not allowed over IPv6');
  }
});

test('a UDP checksum that computes to zero is sent as 0xffff', () => {
  const endpoints = { srcMac: ROUTER_MAC, dstMac: CLIENT_MAC, src: ROUTER_LL, dst: CLIENT_LL, hopLimit: 64, srcPort: 547, dstPort: 546 };
  const first = buildUdp6Frame(endpoints, Buffer.alloc(2));
  // Choose the two payload bytes so that the sum becomes 0xffff (checksum 0): add the current checksum to them.
  const fix = Buffer.alloc(2);
  fix.writeUInt16BE(first.readUInt16BE(60));
  const frame = buildUdp6Frame(endpoints, fix);
  assert.equal(frame.readUInt16BE(60), 0xffff);
  assert.ok(udp6ChecksumOk(frame));
});

test('parseIpv6Frame returns the ICMPv6 message whole and ignores Ethernet padding', () => {
  const message = icmpMessage(8);
  const frame = Buffer.concat([
    buildIcmpv6Frame({ srcMac: CLIENT_MAC, dstMac: ROUTER_MAC, src: CLIENT_LL, dst: ROUTER_LL, hopLimit: 255 }, message),
    Buffer.alloc(6),
  ]);
  const parsed = parseIpv6Frame(frame);
  assert.ok(parsed.ok && parsed.packet.nextHeader === NEXT_HEADER_ICMPV6);
  assert.equal(parsed.packet.message.length, 8);
  assert.equal(parsed.packet.message[0], 134);
  assert.equal(parsed.packet.hopLimit, 255);
});

function failure(frame: Buffer): string {
  const parsed = parseIpv6Frame(frame);
  assert.ok(!parsed.ok, 'expected a parse failure');
  return parsed.reason;
}

test('parseIpv6Frame names every failure', () => {
  const good = buildIcmpv6Frame({ srcMac: CLIENT_MAC, dstMac: ROUTER_MAC, src: CLIENT_LL, dst: ROUTER_LL, hopLimit: 255 }, icmpMessage(8));
  assert.equal(failure(good.subarray(0, 53)), 'frame-short');
  const ipv4 = Buffer.from(good);
  ipv4.writeUInt16BE(0x0800, 12);
  assert.equal(failure(ipv4), 'not-ipv6');
  const version4 = Buffer.from(good);
  version4[14] = 0x40;
  assert.equal(failure(version4), 'ip6-version-bad');
  const longer = Buffer.from(good);
  longer.writeUInt16BE(9, 18);
  assert.equal(failure(longer), 'ip6-payload-length-bad');
  const jumbo = Buffer.from(good);
  jumbo.writeUInt16BE(0, 18);
  assert.equal(failure(jumbo), 'ip6-payload-length-bad');
  for (const extension of [0, 43, 44, 60]) {
    const withExtension = Buffer.from(good);
    withExtension[20] = extension;
    assert.equal(failure(withExtension), 'ip6-extension-header');
  }
  const none = Buffer.from(good);
  none[20] = 59;
  assert.equal(failure(none), 'ip6-no-next-header');
  const tcp = Buffer.from(good);
  tcp[20] = 6;
  assert.equal(failure(tcp), 'not-icmpv6-or-udp');
  const shortIcmp = Buffer.from(good.subarray(0, 57));
  shortIcmp.writeUInt16BE(3, 18);
  assert.equal(failure(shortIcmp), 'icmpv6-short');
  const udp = buildUdp6Frame(
    { srcMac: CLIENT_MAC, dstMac: ROUTER_MAC, src: CLIENT_LL, dst: ROUTER_LL, hopLimit: 1, srcPort: 546, dstPort: 547 },
    Buffer.alloc(10),
  );
  const udpLong = Buffer.from(udp);
  udpLong.writeUInt16BE(19, 58);
  assert.equal(failure(udpLong), 'udp6-length-bad');
  const udpShort = Buffer.from(udp);
  udpShort.writeUInt16BE(7, 58);
  assert.equal(failure(udpShort), 'udp6-length-bad');
});

test('parseIpv6Frame never throws on random or truncated input', () => {
  const good = buildUdp6Frame(
    { srcMac: CLIENT_MAC, dstMac: ROUTER_MAC, src: CLIENT_LL, dst: ROUTER_LL, hopLimit: 1, srcPort: 546, dstPort: 547 },
    randomBytes(40),
  );
  for (let cut = 0; cut <= good.length; cut++) parseIpv6Frame(good.subarray(0, cut));
  for (let i = 0; i < 2000; i++) {
    const frame = Buffer.from(good);
    for (let j = 0; j < 4; j++) frame[Math.floor(Math.random() * frame.length)] = Math.floor(Math.random() * 256);
    parseIpv6Frame(frame);
  }
});

test('builders refuse addresses that are not 16 bytes and ICMPv6 messages under 4 bytes', () => {
  assert.throws(
    () => buildIcmpv6Frame({ srcMac: CLIENT_MAC, dstMac: ROUTER_MAC, src: Buffer.alloc(4), dst: ROUTER_LL, hopLimit: 255 }, icmpMessage(8)),
    RangeError,
  );
  assert.throws(() => buildIcmpv6Frame({ srcMac: CLIENT_MAC, dstMac: ROUTER_MAC, src: CLIENT_LL, dst: ROUTER_LL, hopLimit: 255 }, Buffer.alloc(3)), RangeError);
});
