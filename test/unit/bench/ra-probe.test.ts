/**
 * The pure pieces of the RA latency bench (bench/lib/ra-probe.ts): the probe's solicitations are ones RaService
 * accepts, an RA is matched to the probe host it answers and to nothing else, the send schedule, and the percentiles
 * the bench reports. A wrong match or percentile would print a wrong figure without any error, hence these tests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  advertisementFilter,
  answeredProbe,
  dueCount,
  MAX_PROBE_HOSTS,
  pairCapture,
  percentiles,
  probeMac,
  solicitationFrame,
} from '../../../bench/lib/ra-probe.ts';
import { ALL_NODES, linkLocalFromMac, multicastMac, parseIPv6 } from '../../../src/net/address6.ts';
import { parseRouterSolicitation } from '../../../src/ra/message.ts';
import { decodeBpf } from '../../../src/wire/bpf.ts';
import { buildIcmpv6Frame, buildUdp6Frame, parseIpv6Frame } from '../../../src/wire/frame6.ts';

const BRIDGE_MAC = '02:00:00:00:00:01';
const BRIDGE_LL = parseIPv6('fe80::1') ?? assert.fail();

function advertisement(dstMac: string, dst: Buffer, o: { type?: number; hopLimit?: number } = {}): Buffer {
  const message = Buffer.alloc(16);
  message[0] = o.type ?? 134;
  return buildIcmpv6Frame({ srcMac: BRIDGE_MAC, dstMac, src: BRIDGE_LL, dst, hopLimit: o.hopLimit ?? 255 }, message);
}

test('probeMac: distinct, unicast, locally administered MACs; out-of-range indexes refused', () => {
  const macs = new Set([0, 1, 255, 256, 65_536, MAX_PROBE_HOSTS - 1].map((i) => probeMac(0x52, i)));
  assert.equal(macs.size, 6);
  assert.equal(probeMac(0x52, 258), '02:52:00:00:01:02');
  for (const mac of macs) assert.equal(Number.parseInt(mac.slice(0, 2), 16) & 0x03, 0x02, mac);
  assert.notEqual(probeMac(0x52, 7), probeMac(0x53, 7));
  assert.throws(() => probeMac(0x52, MAX_PROBE_HOSTS), RangeError);
  assert.throws(() => probeMac(0x52, -1), RangeError);
});

test('solicitationFrame: a router solicitation RaService accepts, from the host link-local address and MAC', () => {
  const mac = probeMac(0x52, 42);
  const parsed = parseIpv6Frame(solicitationFrame(mac));
  assert.ok(parsed.ok && parsed.packet.nextHeader === 58, JSON.stringify(parsed));
  assert.equal(parsed.packet.srcMac, mac);
  assert.equal(parsed.packet.dstMac, '33:33:00:00:00:02');
  assert.equal(parsed.packet.hopLimit, 255);
  const rs = parseRouterSolicitation(parsed.packet);
  assert.ok(rs.ok, JSON.stringify(rs));
  assert.deepEqual(rs.rs.src, linkLocalFromMac(mac));
  assert.equal(rs.rs.sourceLinkLayer, mac);
});

test('answeredProbe: the unicast RA to a probe host gives its index; anything else null', () => {
  const hosts = new Map([0, 1, 2].map((i) => [probeMac(0x52, i), i] as [string, number]));
  const mac1 = probeMac(0x52, 1);
  assert.equal(answeredProbe(advertisement(mac1, linkLocalFromMac(mac1)), hosts), 1);
  assert.equal(answeredProbe(advertisement(probeMac(0x52, 2), linkLocalFromMac(probeMac(0x52, 2))), hosts), 2);
  // A multicast RA, an RA to a host we did not send from, to the right MAC but another address, not an RA, a bad hop limit.
  assert.equal(answeredProbe(advertisement(multicastMac(ALL_NODES), ALL_NODES), hosts), null);
  assert.equal(answeredProbe(advertisement(probeMac(0x52, 9), linkLocalFromMac(probeMac(0x52, 9))), hosts), null);
  assert.equal(answeredProbe(advertisement(mac1, linkLocalFromMac(probeMac(0x52, 2))), hosts), null);
  assert.equal(answeredProbe(advertisement(mac1, linkLocalFromMac(mac1), { type: 136 }), hosts), null);
  assert.equal(answeredProbe(advertisement(mac1, linkLocalFromMac(mac1), { hopLimit: 64 }), hosts), null);
  // The probe's own solicitation (as a socket might see it) and runt frames.
  assert.equal(answeredProbe(solicitationFrame(mac1), hosts), null);
  assert.equal(answeredProbe(advertisement(mac1, linkLocalFromMac(mac1)).subarray(0, 60), hosts), null);
  assert.equal(answeredProbe(Buffer.alloc(5), hosts), null);
});

test('dueCount: one at the start, then one per 1/rate, never more than the total', () => {
  assert.equal(dueCount(-1, 200, 10), 0);
  assert.equal(dueCount(0, 200, 10), 1);
  assert.equal(dueCount(4.99, 200, 10), 1);
  assert.equal(dueCount(5, 200, 10), 2);
  assert.equal(dueCount(1000, 200, 2000), 201);
  assert.equal(dueCount(1_000_000, 200, 10), 10);
});

test('percentiles: nearest rank over finite values', () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
  assert.deepEqual(percentiles(values), { count: 100, p50: 50, p90: 90, p99: 99, max: 100 });
  assert.deepEqual(percentiles([]), { count: 0, p50: null, p90: null, p99: null, max: null });
  assert.deepEqual(percentiles([Number.NaN, 3, Number.POSITIVE_INFINITY]), { count: 1, p50: 3, p90: 3, p99: 3, max: 3 });
  // 1000 values with 11 slow ones: p99 is among the slow ones (rank 990 counts 989 fast ones below it).
  const tail = [...Array.from({ length: 989 }, () => 1), ...Array.from({ length: 11 }, () => 9)];
  assert.equal(percentiles(tail).p99, 9);
  assert.equal(percentiles(tail).p90, 1);
});

/**
 * Just the classic-BPF subset advertisementFilter uses (ld pkttype, ldh/ldb abs, jeq k, ret k); anything else fails,
 * so a filter that grew another instruction is not silently half-run. A load past the frame returns 0 like the kernel.
 */
function runFilter(program: Buffer, frame: Buffer, pktType: number): number {
  const code = decodeBpf(program);
  let a = 0;
  for (let pc = 0; pc < code.length; pc++) {
    const i = code[pc] ?? assert.fail(`pc ${pc}`);
    if (i.code === 0x20 && i.k === 0xfffff004) a = pktType;
    else if (i.code === 0x28) a = i.k + 2 <= frame.length ? frame.readUInt16BE(i.k) : 0;
    else if (i.code === 0x30) a = i.k < frame.length ? (frame[i.k] as number) : 0;
    else if (i.code === 0x15) pc += a === i.k ? i.jt : i.jf;
    else if (i.code === 0x06) return i.k;
    else assert.fail(`instruction 0x${i.code.toString(16)} not in this interpreter`);
  }
  return assert.fail('the program fell off its end');
}

test('advertisementFilter: incoming router advertisements only', () => {
  const filter = advertisementFilter();
  const mac = probeMac(0x52, 1);
  const ra = advertisement(mac, linkLocalFromMac(mac));
  assert.ok(runFilter(filter, ra, 3) > 0, 'an RA to another host (otherhost) passes');
  assert.ok(runFilter(filter, advertisement(multicastMac(ALL_NODES), ALL_NODES), 2) > 0, 'a multicast RA passes');
  assert.equal(runFilter(filter, ra, 4), 0, 'outgoing');
  assert.equal(runFilter(filter, solicitationFrame(mac), 2), 0, 'a solicitation');
  assert.equal(runFilter(filter, advertisement(mac, linkLocalFromMac(mac), { type: 136 }), 3), 0, 'a neighbour advertisement');
  const udp = buildUdp6Frame(
    { srcMac: mac, dstMac: '33:33:00:01:00:02', src: linkLocalFromMac(mac), dst: ALL_NODES, hopLimit: 1, srcPort: 546, dstPort: 547 },
    Buffer.alloc(40, 134),
  );
  assert.equal(runFilter(filter, udp, 2), 0, 'a DHCPv6 Solicit (perfdhcp -6 load)');
  const ipv4 = Buffer.from(ra);
  ipv4.writeUInt16BE(0x0800, 12);
  assert.equal(runFilter(filter, ipv4, 3), 0, 'not IPv6');
  assert.equal(runFilter(filter, ra.subarray(0, 40), 3), 0, 'a runt');
});

test("pairCapture: each probe host's solicitation to the first unicast RA to its MAC, from kernel stamps", () => {
  const a = probeMac(0x52, 0);
  const b = probeMac(0x52, 1);
  const hosts = new Map([
    [a, 0],
    [b, 1],
  ]);
  const rs = (t: string, mac: string): string =>
    `${t} ${mac} > 33:33:00:00:00:02, ethertype IPv6 (0x86dd), length 70: fe80::1 > ff02::2: ICMP6, router solicitation, length 16`;
  const ra = (t: string, mac: string): string =>
    `${t} ${BRIDGE_MAC} > ${mac}, ethertype IPv6 (0x86dd), length 142: fe80::1 > fe80::2: ICMP6, router advertisement, length 88`;
  const text = [
    ra('1765123455.000000000', a), // before its solicitation: not an answer
    rs('1765123455.999999000', a),
    rs('1765123456.000100000', '02:99:00:00:00:07'), // not a probe host
    ra('1765123456.000150000', '02:99:00:00:00:07'),
    ra('1765123456.000199000', multicastMac(ALL_NODES)),
    ra('1765123456.000499000', a), // 0.5 ms after, across the second
    ra('1765123456.000900000', a), // a second answer: ignored
    rs('1765123456.001000000', b),
    'tcpdump: some other line',
    ra('1765123456.003250000', b),
  ].join('\n');
  const r = pairCapture(text, hosts);
  assert.equal(r.solicitations, 2);
  assert.equal(r.latencies.length, 2);
  assert.ok(Math.abs((r.latencies[0] ?? 0) - 0.5) < 1e-6, String(r.latencies[0]));
  assert.ok(Math.abs((r.latencies[1] ?? 0) - 2.25) < 1e-6, String(r.latencies[1]));
  assert.deepEqual(pairCapture(rs('1.5', a), hosts), { latencies: [], solicitations: 1 });
});
