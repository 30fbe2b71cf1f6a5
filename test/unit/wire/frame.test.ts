import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseIPv4 } from '../../../src/net/address.ts';
import { internetChecksum } from '../../../src/wire/checksum.ts';
import {
  ARP_REPLY,
  ARP_REQUEST,
  buildArpFrame,
  buildUdpFrame,
  type FrameParseResult,
  parseArpFrame,
  parseUdpFrame,
  type UdpDatagram,
  udpChecksumOk,
} from '../../../src/wire/frame.ts';
import { readPcapFile } from '../../harness/pcap.ts';

const PACKETS = join(import.meta.dirname, '..', '..', '..', 'packets');

function ip(text: string): number {
  const v = parseIPv4(text);
  if (v === null) throw new Error(`bad test address ${text}`);
  return v;
}

/**
 * Independent reference: RFC 768 checksum written out the obvious way, from the IPv4 and UDP headers of the frame.
 * Sums the pseudo-header (src, dst, zero+protocol, UDP length) and the UDP header+data with the checksum field
 * taken as zero, as 16-bit words, folds the carries, complements; 0 becomes 0xffff.
 */
function referenceUdpChecksum(frame: Buffer): number {
  const ipStart = 14;
  const ihl = ((frame[ipStart] as number) & 0x0f) * 4;
  const udpStart = ipStart + ihl;
  const udpLength = frame.readUInt16BE(udpStart + 4);
  const words: number[] = [];
  for (let i = 0; i < 8; i += 2) words.push(frame.readUInt16BE(ipStart + 12 + i));
  words.push(frame[ipStart + 9] as number);
  words.push(udpLength);
  const udp = Buffer.from(frame.subarray(udpStart, udpStart + udpLength));
  udp.writeUInt16BE(0, 6);
  const padded = udp.length % 2 === 0 ? udp : Buffer.concat([udp, Buffer.alloc(1)]);
  for (let i = 0; i < padded.length; i += 2) words.push(padded.readUInt16BE(i));
  let sum = 0;
  for (const w of words) {
    sum += w;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  const result = ~sum & 0xffff;
  return result === 0 ? 0xffff : result;
}

function sampleDatagram(payloadLength: number, fill = 0xa5): UdpDatagram {
  const payload = Buffer.alloc(payloadLength);
  for (let i = 0; i < payloadLength; i++) payload[i] = (fill + i * 31) & 0xff;
  return {
    srcMac: '02:1a:b0:00:00:fe',
    dstMac: '02:1a:b0:00:00:01',
    srcIp: ip('10.0.0.1'),
    dstIp: ip('10.0.0.154'),
    srcPort: 67,
    dstPort: 68,
    ttl: 64,
    payload,
  };
}

test('buildUdpFrame: parseUdpFrame reads back every field; both checksums verify', () => {
  for (const length of [0, 1, 2, 299, 300, 301, 548, 1472]) {
    const d = sampleDatagram(length);
    const frame = buildUdpFrame(d);
    assert.equal(frame.length, 14 + 20 + 8 + length);
    const r = parseUdpFrame(frame);
    assert.ok(r.ok, `length ${length}`);
    if (!r.ok) continue;
    assert.deepEqual({ ...r.datagram, payload: Buffer.from(r.datagram.payload) }, d);
    assert.equal(udpChecksumOk(frame), true, `length ${length}`);
    assert.equal(internetChecksum(frame, 14, 34), 0, 'IPv4 header checksum');
    assert.equal(frame.readUInt16BE(14 + 6) & 0x3fff, 0, 'not a fragment');
  }
});

test('buildUdpFrame to broadcast: addresses and ports land where RFC 791/768 put them', () => {
  const d: UdpDatagram = { ...sampleDatagram(300), dstMac: 'ff:ff:ff:ff:ff:ff', dstIp: 0xffffffff };
  const frame = buildUdpFrame(d);
  assert.deepEqual(frame.subarray(0, 6), Buffer.alloc(6, 0xff));
  assert.equal(frame.readUInt16BE(12), 0x0800);
  assert.equal(frame[14], 0x45);
  assert.equal(frame[14 + 9], 17);
  assert.equal(frame.readUInt16BE(16), 20 + 8 + 300);
  assert.deepEqual(frame.subarray(14 + 16, 14 + 20), Buffer.alloc(4, 0xff));
  assert.equal(frame.readUInt16BE(34), 67);
  assert.equal(frame.readUInt16BE(36), 68);
  assert.equal(frame.readUInt16BE(38), 308);
  assert.equal(udpChecksumOk(frame), true);
});

test('UDP checksum equals an independent reference implementation', () => {
  // Payload sizes and contents varied, including odd lengths and all-0xff data (many carries).
  for (const length of [0, 1, 7, 300, 333, 1000, 1472]) {
    for (const fill of [0x00, 0x5a, 0xff]) {
      const d = sampleDatagram(length, fill);
      if (fill === 0xff) d.payload.fill(0xff);
      const frame = buildUdpFrame(d);
      assert.equal(frame.readUInt16BE(40), referenceUdpChecksum(frame), `length ${length} fill ${fill}`);
    }
  }
});

test('a computed checksum of zero is sent as 0xffff', () => {
  // Find a 2-byte payload whose checksum comes out 0 and check it is transmitted as all ones (RFC 768).
  const d = sampleDatagram(2);
  d.payload.writeUInt16BE(0, 0);
  const base = buildUdpFrame(d);
  // Payload word w adds w to the sum; choose w so that the folded sum becomes 0xffff (checksum 0).
  const sumWithZero = (~base.readUInt16BE(40) & 0xffff) >>> 0; // folded sum with payload 0
  const w = (0xffff - sumWithZero) & 0xffff;
  d.payload.writeUInt16BE(w, 0);
  const frame = buildUdpFrame(d);
  assert.equal(frame.readUInt16BE(40), 0xffff);
  assert.equal(udpChecksumOk(frame), true);
  assert.equal(referenceUdpChecksum(frame), 0xffff);
});

test('any one-byte corruption of the UDP part or addresses makes udpChecksumOk false', () => {
  const frame = buildUdpFrame(sampleDatagram(300));
  // Pseudo-header source/destination addresses, UDP header, payload start, middle, last byte.
  for (const at of [14 + 12, 14 + 19, 34, 37, 40, 41, 42, 200, frame.length - 1]) {
    const bad = Buffer.from(frame);
    bad[at] = (bad[at] as number) ^ 0x01;
    assert.equal(udpChecksumOk(bad), false, `byte ${at}`);
  }
});

// From packets/README.md: [ok] frames the clients built on a packet socket, [bad] frames sent through a kernel UDP
// socket on veth (every dnsmasq reply, unicast renew/release of udhcpc and dhclient), [none] UDP checksum 0.
const CHECKSUMS: Record<string, ('ok' | 'bad' | 'none')[]> = {
  'udhcpc-hostname.pcap': ['ok', 'bad', 'ok', 'bad', 'bad', 'bad', 'bad'],
  'dhclient-hostname.pcap': ['ok', 'bad', 'ok', 'bad', 'bad', 'bad', 'bad'],
  'dhclient-clientid.pcap': ['ok', 'bad', 'ok', 'bad', 'bad', 'bad', 'bad'],
  'dhcpcd-duid.pcap': ['ok', 'bad', 'ok', 'bad', 'ok', 'bad', 'none'],
  'dhcpcd-fqdn.pcap': ['ok', 'bad', 'ok', 'bad', 'none'],
  'dhcpcd-rapid-commit.pcap': ['ok', 'bad', 'none'],
  'dhcpcd-inform.pcap': ['ok', 'bad'],
  'dhcpcd-decline.pcap': ['ok', 'bad', 'ok', 'bad', 'ok'],
};

for (const [name, expected] of Object.entries(CHECKSUMS)) {
  test(`${name}: udpChecksumOk matches the README's [ok]/[bad]/[none] marks; IPv4 header always valid`, async () => {
    const file = await readPcapFile(join(PACKETS, name));
    assert.equal(file.frames.length, expected.length);
    file.frames.forEach((f, i) => {
      const mark = expected[i];
      const label = `frame ${i + 1} (${mark})`;
      const r = parseUdpFrame(f.data);
      assert.ok(r.ok, label);
      assert.equal(internetChecksum(f.data, 14, 34), 0, label);
      const stored = f.data.readUInt16BE(40);
      if (mark === 'none') {
        assert.equal(stored, 0, label);
        assert.equal(udpChecksumOk(f.data), true, label);
      } else {
        assert.equal(udpChecksumOk(f.data), mark === 'ok', label);
        // The reference agrees: [ok] frames carry exactly the correct value, [bad] ones do not.
        assert.equal(stored === referenceUdpChecksum(f.data), mark === 'ok', label);
      }
    });
  });
}

test('dnsmasq OFFER: the correct checksum is the one tcpdump names (0xbb4e); rebuilding the frame ourselves gives it', async () => {
  const file = await readPcapFile(join(PACKETS, 'udhcpc-hostname.pcap'));
  const offer = file.frames[1]?.data;
  assert.ok(offer);
  // tcpdump -vv: "bad udp cksum 0x15e0 -> 0xbb4e!"
  assert.equal(offer.readUInt16BE(40), 0x15e0);
  assert.equal(referenceUdpChecksum(offer), 0xbb4e);
  const r = parseUdpFrame(offer);
  assert.ok(r.ok);
  if (!r.ok) return;
  const rebuilt = buildUdpFrame({ ...r.datagram, payload: Buffer.from(r.datagram.payload) });
  assert.equal(rebuilt.readUInt16BE(40), 0xbb4e);
  assert.equal(udpChecksumOk(rebuilt), true);
  assert.deepEqual(rebuilt.subarray(34), Buffer.concat([offer.subarray(34, 40), Buffer.from([0xbb, 0x4e]), offer.subarray(42, rebuilt.length)]));
});

// ---- Rejections ----

function expectReject(r: FrameParseResult, reason: string): void {
  assert.equal(r.ok, false, reason);
  if (!r.ok) assert.equal(r.reason, reason);
}

/** Rewrites the IPv4 header checksum after a header change, so only the intended defect remains. */
function fixIpChecksum(frame: Buffer): Buffer {
  const ihl = ((frame[14] as number) & 0x0f) * 4;
  frame.writeUInt16BE(0, 24);
  frame.writeUInt16BE(internetChecksum(frame, 14, 14 + ihl), 24);
  return frame;
}

test('parseUdpFrame rejections, each with its named reason', () => {
  const good = buildUdpFrame(sampleDatagram(300));
  assert.equal(parseUdpFrame(good).ok, true);

  expectReject(parseUdpFrame(good.subarray(0, 41)), 'frame-short');
  expectReject(parseUdpFrame(Buffer.alloc(0)), 'frame-short');

  const arp = Buffer.from(good);
  arp.writeUInt16BE(0x0806, 12);
  expectReject(parseUdpFrame(arp), 'not-ipv4');
  const ipv6 = Buffer.from(good);
  ipv6.writeUInt16BE(0x86dd, 12);
  expectReject(parseUdpFrame(ipv6), 'not-ipv4');

  const version6 = Buffer.from(good);
  version6[14] = 0x65;
  expectReject(parseUdpFrame(fixIpChecksum(version6)), 'ip-header-bad');
  const ihl4 = Buffer.from(good);
  ihl4[14] = 0x44;
  expectReject(parseUdpFrame(ihl4), 'ip-header-bad');
  const totalTooLong = Buffer.from(good);
  totalTooLong.writeUInt16BE(good.length - 14 + 1, 16);
  expectReject(parseUdpFrame(fixIpChecksum(totalTooLong)), 'ip-header-bad');

  const badSum = Buffer.from(good);
  badSum[14 + 8] = 63; // TTL changed, checksum not updated
  expectReject(parseUdpFrame(badSum), 'ip-checksum-bad');

  const moreFragments = Buffer.from(good);
  moreFragments.writeUInt16BE(0x2000, 20);
  expectReject(parseUdpFrame(fixIpChecksum(moreFragments)), 'ip-fragment');
  const offset = Buffer.from(good);
  offset.writeUInt16BE(0x0001, 20);
  expectReject(parseUdpFrame(fixIpChecksum(offset)), 'ip-fragment');
  const dontFragment = Buffer.from(good);
  dontFragment.writeUInt16BE(0x4000, 20);
  assert.equal(parseUdpFrame(fixIpChecksum(dontFragment)).ok, true, 'DF alone is fine');

  const tcp = Buffer.from(good);
  tcp[14 + 9] = 6;
  expectReject(parseUdpFrame(fixIpChecksum(tcp)), 'not-udp');

  const udpTooLong = Buffer.from(good);
  udpTooLong.writeUInt16BE(309, 38);
  expectReject(parseUdpFrame(udpTooLong), 'udp-length-bad');
  const udpTooShort = Buffer.from(good);
  udpTooShort.writeUInt16BE(7, 38);
  expectReject(parseUdpFrame(udpTooShort), 'udp-length-bad');
});

test('parseUdpFrame: Ethernet padding after the IP datagram is ignored; IP options are skipped', () => {
  const d = sampleDatagram(10);
  const padded = Buffer.concat([buildUdpFrame(d), Buffer.alloc(12, 0xee)]);
  const r = parseUdpFrame(padded);
  assert.ok(r.ok);
  if (r.ok) assert.deepEqual(r.datagram.payload, d.payload);

  // IHL 6: a 4-byte IP option (NOP NOP NOP EOL) between the IP and UDP headers.
  const plain = buildUdpFrame(d);
  const withOption = Buffer.concat([plain.subarray(0, 34), Buffer.from([1, 1, 1, 0]), plain.subarray(34)]);
  withOption[14] = 0x46;
  withOption.writeUInt16BE(plain.length - 14 + 4, 16);
  fixIpChecksum(withOption);
  const r2 = parseUdpFrame(withOption);
  assert.ok(r2.ok);
  if (r2.ok) {
    assert.equal(r2.datagram.srcPort, 67);
    assert.deepEqual(r2.datagram.payload, d.payload);
  }
  assert.equal(udpChecksumOk(withOption), true);
});

// ---- ARP ----

test('ARP build/parse round trip, padded to 60 bytes', () => {
  const packet = {
    operation: ARP_REQUEST,
    senderMac: '02:1a:b0:00:00:fe',
    senderIp: ip('10.0.0.1'),
    targetMac: '00:00:00:00:00:00',
    targetIp: ip('10.0.0.100'),
  };
  const frame = buildArpFrame(packet, 'ff:ff:ff:ff:ff:ff');
  assert.equal(frame.length, 60);
  assert.equal(frame.readUInt16BE(12), 0x0806);
  assert.deepEqual(frame.subarray(0, 6), Buffer.alloc(6, 0xff));
  assert.deepEqual(parseArpFrame(frame), packet);
  const reply = { ...packet, operation: ARP_REPLY, senderIp: ip('10.0.0.100'), targetIp: ip('10.0.0.1') };
  assert.deepEqual(parseArpFrame(buildArpFrame(reply, '02:1a:b0:00:00:fe')), reply);
});

test('parseArpFrame rejects short frames, other ethertypes and non-Ethernet/IPv4 ARP', () => {
  const frame = buildArpFrame(
    { operation: ARP_REQUEST, senderMac: '02:00:00:00:00:01', senderIp: 1, targetMac: '00:00:00:00:00:00', targetIp: 2 },
    'ff:ff:ff:ff:ff:ff',
  );
  assert.equal(parseArpFrame(frame.subarray(0, 41)), null);
  assert.notEqual(parseArpFrame(frame.subarray(0, 42)), null);
  const mutate = (at: number, value: number): Buffer => {
    const b = Buffer.from(frame);
    b[at] = value;
    return b;
  };
  assert.equal(parseArpFrame(mutate(13, 0x00)), null); // ethertype 0x0800
  assert.equal(parseArpFrame(mutate(15, 6)), null); // hardware type 6
  assert.equal(parseArpFrame(mutate(17, 0xdd)), null); // protocol type
  assert.equal(parseArpFrame(mutate(18, 8)), null); // hardware length
  assert.equal(parseArpFrame(mutate(19, 16)), null); // protocol length
});
