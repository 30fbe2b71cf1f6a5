/**
 * The pure half of the router-advertisement latency bench (bench/ra-latency.ts): the solicitations a probe client sends
 * (one per made-up host, each from its own MAC and EUI-64 link-local address, because RaService answers a MAC at most
 * 3 times and then once a second), the matching of the unicast RA that answers one, the steady send schedule, and the
 * percentiles of the timings. No sockets here, so every piece is unit-tested (test/unit/bench/ra-probe.test.ts).
 */
import { macFromBytes } from '../../src/net/address.ts';
import { ALL_ROUTERS, linkLocalFromMac, multicastMac } from '../../src/net/address6.ts';
import {
  BPF_ABS,
  BPF_B,
  BPF_H,
  BPF_JEQ,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_RET,
  BPF_W,
  ETHERTYPE_IPV6,
  encodeBpf,
  FULL_FRAME_SNAPLEN,
  IP_PROTOCOL_ICMPV6,
  jump,
  PACKET_OUTGOING,
  SKF_AD_OFF,
  SKF_AD_PKTTYPE,
  statement,
} from '../../src/wire/bpf.ts';
import { buildIcmpv6Frame, parseIpv6Frame } from '../../src/wire/frame6.ts';

/** RFC 4861 §4.1 / §4.2. */
const ICMPV6_ROUTER_SOLICITATION = 133;
const ICMPV6_ROUTER_ADVERTISEMENT = 134;
/** RFC 4861 §6.1.1: a router discards a solicitation with any other hop limit. */
const ND_HOP_LIMIT = 255;
/** RFC 4861 §4.6.1. */
const OPTION_SOURCE_LINK_LAYER = 1;
/**
 * Probe hosts one run may use: the index fills the low 24 bits of the MAC. Far more than a run sends (2000 at the
 * documented settings), and the RA service forgets sources beyond RS_MAX_TRACKED_SOURCES anyway.
 */
export const MAX_PROBE_HOSTS = 0x100_0000;

/** The made-up host `index` (0-based): 02:PP:XX:XX:XX:XX, locally administered, `prefix` told apart per run. */
export function probeMac(prefix: number, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_PROBE_HOSTS) throw new RangeError(`probe host ${index} out of 0..${MAX_PROBE_HOSTS - 1}`);
  const bytes = Buffer.from([0x02, prefix & 0xff, 0x00, (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff]);
  return macFromBytes(bytes, 0);
}

/**
 * A router solicitation as a host's kernel sends it (RFC 4861 §4.1): from the host's link-local address to
 * all-routers, hop limit 255, with the source link-layer option naming the host's MAC.
 */
export function solicitationFrame(mac: string): Buffer {
  const message = Buffer.alloc(16);
  message[0] = ICMPV6_ROUTER_SOLICITATION;
  message[8] = OPTION_SOURCE_LINK_LAYER;
  message[9] = 1;
  Buffer.from(mac.split(':').map((h) => Number.parseInt(h, 16))).copy(message, 10);
  return buildIcmpv6Frame({ srcMac: mac, dstMac: multicastMac(ALL_ROUTERS), src: linkLocalFromMac(mac), dst: ALL_ROUTERS, hopLimit: ND_HOP_LIMIT }, message);
}

/**
 * Which probe host an Ethernet frame answers: a router advertisement (hop limit 255) sent by unicast to a probe MAC
 * from the table and to that host's own link-local address; null for anything else (a multicast RA, noise, an RA to
 * the right MAC but another address).
 */
export function answeredProbe(frame: Buffer, hosts: ReadonlyMap<string, number>): number | null {
  if (frame.length < 14 || ((frame[0] as number) & 1) === 1) return null;
  const index = hosts.get(macFromBytes(frame, 0));
  if (index === undefined) return null;
  const parsed = parseIpv6Frame(frame);
  if (!parsed.ok || parsed.packet.nextHeader !== 58) return null;
  const p = parsed.packet;
  if (p.message[0] !== ICMPV6_ROUTER_ADVERTISEMENT || p.hopLimit !== ND_HOP_LIMIT) return null;
  return p.dst.equals(linkLocalFromMac(p.dstMac)) ? index : null;
}

/**
 * The probe socket's filter: only incoming IPv6 frames whose next header is ICMPv6 of type 134 (router
 * advertisement), so that the flooded traffic of a load (perfdhcp -6's multicast Solicits) does not wake the probe's
 * event loop and delay the timestamps. Jumps to the last instruction (reject) are counted from the next instruction.
 */
export function advertisementFilter(): Buffer {
  const reject = (from: number): number => 9 - from - 1;
  return encodeBpf([
    statement(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
    jump(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, reject(1), 0),
    statement(BPF_LD | BPF_H | BPF_ABS, 12),
    jump(BPF_JMP | BPF_JEQ | BPF_K, ETHERTYPE_IPV6, 0, reject(3)),
    statement(BPF_LD | BPF_B | BPF_ABS, 14 + 6),
    jump(BPF_JMP | BPF_JEQ | BPF_K, IP_PROTOCOL_ICMPV6, 0, reject(5)),
    statement(BPF_LD | BPF_B | BPF_ABS, 14 + 40),
    jump(BPF_JMP | BPF_JEQ | BPF_K, ICMPV6_ROUTER_ADVERTISEMENT, 0, reject(7)),
    statement(BPF_RET | BPF_K, FULL_FRAME_SNAPLEN),
    statement(BPF_RET | BPF_K, 0),
  ]);
}

/** How many of `total` solicitations are due `elapsedMs` after the start at `ratePerSecond` (the first at 0). */
export function dueCount(elapsedMs: number, ratePerSecond: number, total: number): number {
  if (elapsedMs < 0) return 0;
  return Math.min(total, Math.floor((elapsedMs * ratePerSecond) / 1000) + 1);
}

export interface Percentiles {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** Nearest-rank percentile (the smallest value with at least p% of the values at or below it) of sorted values. */
function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p * sorted.length) / 100));
  return sorted[rank - 1] ?? null;
}

/** p50/p90/p99/max by nearest rank; NaN and infinite values are ignored. */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: nearestRank(sorted, 50),
    p90: nearestRank(sorted, 90),
    p99: nearestRank(sorted, 99),
    max: sorted.length === 0 ? null : (sorted[sorted.length - 1] ?? null),
  };
}

/** One `tcpdump -e -n -tt` line of a router solicitation or advertisement: epoch time, MACs, kind. */
const CAPTURE_LINE = /^(\d+)\.(\d+) ([0-9a-f:]{17}) > ([0-9a-f:]{17}), .*ICMP6, router (solicitation|advertisement)/;

/**
 * Kernel-stamped latencies from a capture in the probe's namespace (`tcpdump -e -n -tt --time-stamp-precision=nano`):
 * each probe host's first solicitation (by source MAC) paired with the first RA unicast to that MAC after it. These
 * stamps are taken by the kernel as the frames leave and arrive, so the probe process's own scheduling is not in them.
 */
export function pairCapture(text: string, hosts: ReadonlyMap<string, number>): { latencies: number[]; solicitations: number } {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let t0: number | null = null;
  for (const line of text.split('\n')) {
    const m = CAPTURE_LINE.exec(line);
    if (!m) continue;
    const seconds = Number(m[1]);
    t0 ??= seconds;
    // Relative to the first line's second, so a double keeps sub-microsecond precision.
    const at = (seconds - t0) * 1000 + Number(`0.${m[2]}`) * 1000;
    const [src, dst, kind] = [m[3] as string, m[4] as string, m[5] as string];
    if (kind === 'solicitation') {
      if (hosts.has(src) && !sentAt.has(src)) sentAt.set(src, at);
      continue;
    }
    const sent = sentAt.get(dst);
    if (sent === undefined || at < sent) continue;
    latencies.push(at - sent);
    sentAt.set(dst, Number.POSITIVE_INFINITY);
  }
  return { latencies, solicitations: sentAt.size };
}
