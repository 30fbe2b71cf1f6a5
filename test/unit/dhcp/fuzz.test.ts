/**
 * Fuzz test of the DHCP input path (issue 11, "tests as an attacker"): a fixed-seed PRNG mutates real client requests
 * captured in packets/*.pcap — byte-level (bit flips, interesting values, cuts, splices), field-level (op, chaddr, giaddr,
 * message type, options 12/50/52/54/55/57/61/80/81/82 and random ones) — and adds pure random frames. Every case must
 * leave the parsers without a throw; every message that parses goes to a real DhcpServer on a real SQLite store and
 * must get a reply/silent/drop decision without a throw, and every reply must serialize within the size the request
 * allows. The same frames then go through a DhcpTransport (decode → server → reply frames) whose every sent frame must
 * fit the MTU and which must never count an internal error. A failure names the seed and the case number, so it can
 * be replayed alone with FUZZ_CASE=N (which replays the frame without the state earlier cases built).
 *
 * Found with this seed on the code of issue 11's start (case 13595): DhcpServer.handle threw "address … is quarantined
 * after a decline" — see fuzz-findings.test.ts for the deterministic regression.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type TestContext, test } from 'node:test';
import { BOOTP_MIN_LENGTH, MessageType, Option } from '../../../src/dhcp/constants.ts';
import { type DhcpMessage, parseDhcpMessage, serializeDhcpMessage } from '../../../src/dhcp/message.ts';
import { ESSENTIAL_OPTIONS, type NetworkSettings, replySizeLimit } from '../../../src/dhcp/reply.ts';
import { type Decision, DhcpServer, type IncomingRequest, settled } from '../../../src/dhcp/server.ts';
import { BridgePort, DhcpTransport, type FramePort } from '../../../src/dhcp/transport.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import { LeaseTable } from '../../../src/leases/table.ts';
import { createLogger, RateLimitedCounter } from '../../../src/log.ts';
import { macFromBytes, parseIPv4 } from '../../../src/net/address.ts';
import { buildUdpFrame, ETHERNET_HEADER_LENGTH, parseUdpFrame, UDP_FRAME_HEADROOM } from '../../../src/wire/frame.ts';
import type { ReceivedFrame } from '../../../src/wire/packet-socket.ts';
import { LINKTYPE_ETHERNET, parsePcap } from '../../harness/pcap.ts';
import { mulberry32 } from '../../harness/prng.ts';

/** Fixed, so a run is reproducible; FUZZ_SEED overrides it to explore (a failure prints the seed it used). */
const SEED = process.env.FUZZ_SEED === undefined ? 0x11dcf00d : Number(process.env.FUZZ_SEED) >>> 0;
/** Bounded so the file runs in a few seconds on a shared 2-core machine. */
const CASES = 20_000;
const MTU = 1500;
/** Frames handed to the transport per simulated socket wakeup. */
const WAKEUP = 16;

// ---------------------------------------------------------------------------------------------
// A small deterministic PRNG (mulberry32) and helpers

type Rng = () => number;

const int = (rng: Rng, n: number): number => Math.floor(rng() * n);
const pick = <T>(rng: Rng, list: readonly T[]): T => list[int(rng, list.length)] as T;
const chance = (rng: Rng, p: number): boolean => rng() < p;
const bytes = (rng: Rng, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(rng, 256)));

function ip(text: string): number {
  const v = parseIPv4(text);
  if (v === null) throw new Error(`bad test address ${text}`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Corpus: every frame of the real captures, and the requests among them

const PACKETS = resolve(import.meta.dirname, '..', '..', '..', 'packets');

function loadCorpus(): { frames: Buffer[]; requests: Buffer[] } {
  const frames: Buffer[] = [];
  const requests: Buffer[] = [];
  for (const file of readdirSync(PACKETS)
    .filter((f) => f.endsWith('.pcap'))
    .sort()) {
    const pcap = parsePcap(readFileSync(join(PACKETS, file)));
    if (pcap.linkType !== LINKTYPE_ETHERNET) continue;
    for (const frame of pcap.frames) {
      frames.push(frame.data);
      const udp = parseUdpFrame(frame.data);
      if (udp.ok && udp.datagram.dstPort === 67) requests.push(frame.data);
    }
  }
  return { frames, requests };
}

// ---------------------------------------------------------------------------------------------
// Mutations

const INTERESTING = [0, 1, 0x7f, 0x80, 0xfe, 0xff, 52, 53, 255];
/** Client MACs drawn from a small set, so that state (offers, leases, names) builds up between cases. */
const MACS = Array.from({ length: 24 }, (_, i) => `02:1a:b0:00:00:${(i + 1).toString(16).padStart(2, '0')}`);
const ADDRESSES = ['10.0.0.1', '10.0.0.5', '10.0.0.100', '10.0.0.103', '10.0.0.110', '10.0.0.111', '10.0.0.255', '0.0.0.0', '192.168.1.1'];
const NAMES = ['web', 'db', 'localhost', 'wpad', 'ns', 'lxc', '', '-', 'a'.repeat(64), 'x.y.z', 'ü', 'a\u0000b', 'WEB'];

/** An address: mostly one of the pool's (so DECLINE, RELEASE and INIT-REBOOT hit real leases), else a corner case. */
function address(rng: Rng): number {
  return chance(rng, 0.6) ? ip('10.0.0.100') + int(rng, 11) : ip(pick(rng, ADDRESSES));
}

function mutateBytes(rng: Rng, input: Buffer, from = 0): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + int(rng, 8);
  for (let r = 0; r < rounds && b.length > from; r++) {
    const at = from + int(rng, b.length - from);
    switch (int(rng, 7)) {
      case 0:
        b[at] = (b[at] as number) ^ (1 << int(rng, 8));
        break;
      case 1:
        b[at] = pick(rng, INTERESTING);
        break;
      case 2:
        b[at] = int(rng, 256);
        break;
      case 3:
        b = b.subarray(0, at); // truncate
        break;
      case 4:
        b = Buffer.concat([b.subarray(0, at), bytes(rng, 1 + int(rng, 40)), b.subarray(at)]);
        break;
      case 5:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(rng, 40)))]);
        break;
      default: {
        // a chunk of the frame repeated somewhere else
        const len = 1 + int(rng, 32);
        const src = int(rng, b.length);
        b = Buffer.concat([b.subarray(0, at), b.subarray(src, src + len), b.subarray(at)]);
      }
    }
  }
  return b;
}

function setRandomOption(rng: Rng, m: DhcpMessage): void {
  const code = pick(rng, [
    Option.HostName,
    Option.RequestedIpAddress,
    Option.ServerIdentifier,
    Option.ParameterRequestList,
    Option.MaxMessageSize,
    Option.ClientIdentifier,
    Option.RapidCommit,
    Option.ClientFqdn,
    Option.RelayAgentInformation,
    Option.OptionOverload,
    Option.MessageType,
    Option.DomainSearch,
    1 + int(rng, 254),
  ]);
  switch (code) {
    case Option.HostName:
      if (chance(rng, 0.7)) m.options.setText(code, pick(rng, NAMES));
      else m.options.set(code, bytes(rng, int(rng, 300)));
      break;
    case Option.RequestedIpAddress:
    case Option.ServerIdentifier:
      if (chance(rng, 0.8)) m.options.setIPv4(code, address(rng));
      else m.options.set(code, bytes(rng, int(rng, 9)));
      break;
    case Option.MaxMessageSize:
      if (chance(rng, 0.8)) m.options.setUint16(code, pick(rng, [0, 1, 300, 575, 576, 577, 1000, 1500, 9000, 65535]));
      else m.options.set(code, bytes(rng, int(rng, 5)));
      break;
    case Option.MessageType:
      m.options.set(code, chance(rng, 0.8) ? Buffer.from([int(rng, 12)]) : bytes(rng, int(rng, 3)));
      break;
    case Option.OptionOverload:
      m.options.set(code, chance(rng, 0.8) ? Buffer.from([int(rng, 5)]) : bytes(rng, int(rng, 3)));
      m.sname = bytes(rng, 64);
      m.file = bytes(rng, 128);
      break;
    default:
      m.options.set(code, bytes(rng, int(rng, chance(rng, 0.9) ? 40 : 600)));
  }
}

/** A captured request changed field by field, still mostly well-formed, so that it reaches deep into the server. */
function mutateMessage(rng: Rng, m: DhcpMessage): { message: DhcpMessage; srcMac: string } {
  if (chance(rng, 0.05)) m.op = int(rng, 256);
  if (chance(rng, 0.05)) m.htype = int(rng, 256);
  if (chance(rng, 0.05)) m.hlen = int(rng, 256);
  m.xid = int(rng, 0x100000000);
  if (chance(rng, 0.3)) m.flags = int(rng, 0x10000);
  const mac = chance(rng, 0.9) ? pick(rng, MACS) : macFromBytes(bytes(rng, 6));
  m.chaddr = Buffer.alloc(16);
  Buffer.from(mac.split(':').map((h) => parseInt(h, 16))).copy(m.chaddr);
  if (chance(rng, 0.05)) m.chaddr = bytes(rng, 16);
  if (chance(rng, 0.3)) m.ciaddr = chance(rng, 0.8) ? address(rng) : int(rng, 0x100000000);
  if (chance(rng, 0.15)) m.giaddr = chance(rng, 0.7) ? ip(pick(rng, ADDRESSES)) : int(rng, 0x100000000);
  if (chance(rng, 0.7)) {
    m.options.setMessageType(pick(rng, [MessageType.Discover, MessageType.Request, MessageType.Decline, MessageType.Release, MessageType.Inform]));
  }
  if (chance(rng, 0.2)) m.options.delete(pick(rng, m.options.codes()) ?? Option.MessageType);
  const extra = int(rng, 5);
  for (let i = 0; i < extra; i++) setRandomOption(rng, m);
  // The Ethernet source is usually the client's own MAC; sometimes another (impersonation, relays).
  const srcMac = chance(rng, 0.85) ? mac : pick(rng, MACS);
  return { message: m, srcMac };
}

function frameAround(payload: Buffer, srcMac: string, relayed: boolean): Buffer {
  return buildUdpFrame({
    srcMac,
    dstMac: 'ff:ff:ff:ff:ff:ff',
    srcIp: relayed ? ip('10.0.0.5') : 0,
    dstIp: relayed ? ip('10.0.0.1') : 0xffffffff,
    srcPort: relayed ? 67 : 68,
    dstPort: 67,
    ttl: 64,
    payload,
  });
}

/** Case `n`: a frame built from the corpus and the PRNG state. */
function makeCase(rng: Rng, corpus: { frames: Buffer[]; requests: Buffer[] }): Buffer {
  const kind = rng();
  if (kind < 0.55) {
    const udp = parseUdpFrame(pick(rng, corpus.requests));
    if (!udp.ok) throw new Error('corpus request does not parse');
    const parsed = parseDhcpMessage(Buffer.from(udp.datagram.payload));
    if (!parsed.ok) throw new Error('corpus request does not parse');
    const { message, srcMac } = mutateMessage(rng, parsed.message);
    let payload = serializeDhcpMessage(message, { maxLength: chance(rng, 0.5) ? 1472 : 65_000 }).data;
    if (chance(rng, 0.2)) payload = mutateBytes(rng, payload, 236);
    return frameAround(payload, srcMac, message.giaddr !== 0);
  }
  if (kind < 0.8) return mutateBytes(rng, pick(rng, corpus.frames), chance(rng, 0.5) ? 0 : UDP_FRAME_HEADROOM);
  if (kind < 0.9) return frameAround(bytes(rng, int(rng, 700)), pick(rng, MACS), false);
  return bytes(rng, int(rng, 1600));
}

// ---------------------------------------------------------------------------------------------
// The server under test: real store, pool, lease table, names

const SERVER_IP = ip('10.0.0.1');
const NETWORK: NetworkSettings = {
  serverIp: SERVER_IP,
  prefixLength: 24,
  routers: [SERVER_IP],
  dnsServers: [SERVER_IP],
  domain: 'lxc',
  mtu: MTU,
};

interface Rig {
  clock: { now: number };
  table: LeaseTable;
  pool: AddressPool;
  names: HostNames;
  server: DhcpServer;
}

/** A small pool (11 addresses) so that pool-full, quarantine and reuse paths all run; one reservation. */
function rig(t: TestContext, name: string): Rig {
  const dir = mkdtempSync(join(tmpdir(), `lxc-dhcpd-fuzz-${name}-`));
  const store = LeaseStore.open(join(dir, 'leases.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = { now: 1_700_000_000_000 };
  const pool = new AddressPool(ip('10.0.0.100'), ip('10.0.0.110'));
  const table = new LeaseTable({ store, pool, now: () => clock.now });
  table.load();
  const names = new HostNames();
  const server = new DhcpServer({
    names,
    unclaimableNames: new Set(['ns']),
    network: NETWORK,
    leaseSeconds: 3600,
    rapidCommit: true,
    offerHoldMs: 30_000,
    declineQuarantineMs: 600_000,
    leases: table,
    pool,
    reservations: [{ mac: MACS[0] as string, ip: ip('10.0.0.5'), name: 'reserved' }],
    prober: null,
    readyTarget: 0,
    readyFreshMs: 60_000,
    now: () => clock.now,
  });
  return { clock, table, pool, names, server };
}

/**
 * The request as the daemon's transport hands it to the server. The bridge port and UDP source that issue 11's identity
 * checks add to IncomingRequest are spread in, so this compiles both before and after that change.
 */
function incoming(message: DhcpMessage, frameSrcMac: string, port: number, srcIp: number): IncomingRequest {
  const wire = { port, srcIp };
  return { message, frameSrcMac, ...wire };
}

/** A client's bridge port: usually the same for a MAC, sometimes another (a spoofer's). */
function portOf(mac: string, n: number): number {
  return n % 10 === 0 ? 1 + (n % 32) : 1 + (parseInt(mac.slice(-2), 16) % 32);
}

const RESERVED_IP = ip('10.0.0.5');

/**
 * What hostile input must never break: one active lease per address and per MAC, each on an address of the pool that
 * the pool counts as taken (or the reservation's, for its MAC), and every DNS name of a lease pointing at that lease.
 */
function checkState(r: Rig, where: string): void {
  const ips = new Set<number>();
  const macs = new Set<string>();
  for (const lease of r.table.active()) {
    assert.ok(!ips.has(lease.ip), `${where}: two active leases on ${lease.ip}`);
    assert.ok(!macs.has(lease.mac), `${where}: two active leases for ${lease.mac}`);
    ips.add(lease.ip);
    macs.add(lease.mac);
    if (lease.ip === RESERVED_IP) assert.equal(lease.mac, MACS[0], `${where}: the reserved address leased to ${lease.mac}`);
    else {
      assert.ok(r.pool.contains(lease.ip), `${where}: lease on ${lease.ip}, outside the pool`);
      assert.ok(!r.pool.isFree(lease.ip), `${where}: leased ${lease.ip} is also free in the pool`);
    }
    if (lease.hostname !== null) {
      const entry = r.names.lookup(lease.hostname);
      assert.ok(entry, `${where}: the name ${lease.hostname} of ${lease.mac} does not resolve`);
      if (entry.source === 'lease') assert.equal(entry.ip, lease.ip, `${where}: ${lease.hostname} points elsewhere`);
    }
  }
}

const DECISION_KINDS = new Set(['reply', 'silent', 'drop']);

function checkDecision(d: Decision, request: DhcpMessage, where: string): void {
  assert.ok(DECISION_KINDS.has(d.kind), `${where}: decision kind ${String(d.kind)}`);
  if (d.kind === 'drop') {
    assert.equal(typeof d.reason, 'string', `${where}: drop reason`);
    return;
  }
  if (d.kind !== 'reply') return;
  const limit = replySizeLimit(request, MTU);
  const encoded = serializeDhcpMessage(d.reply, { maxLength: limit, essential: ESSENTIAL_OPTIONS, headroom: UDP_FRAME_HEADROOM });
  assert.ok(encoded.data.length <= Math.max(limit, BOOTP_MIN_LENGTH), `${where}: reply of ${encoded.data.length} bytes, the request allows ${limit}`);
  assert.ok(encoded.data.length + UDP_FRAME_HEADROOM - ETHERNET_HEADER_LENGTH <= MTU, `${where}: reply exceeds the MTU`);
  const back = parseDhcpMessage(encoded.data);
  assert.ok(back.ok, `${where}: our own reply does not parse: ${back.ok ? '' : back.detail}`);
  assert.equal(back.message.options.messageType, d.reply.options.messageType, `${where}: reply type lost in serialization`);
}

function generateCases(): Buffer[] {
  const rng = mulberry32(SEED);
  const corpus = loadCorpus();
  assert.ok(corpus.requests.length >= 10, `corpus has ${corpus.requests.length} requests`);
  const only = process.env.FUZZ_CASE === undefined ? null : Number(process.env.FUZZ_CASE);
  const cases: Buffer[] = [];
  for (let n = 0; n < CASES; n++) {
    const frame = makeCase(rng, corpus);
    if (only === null || only === n) cases.push(frame);
  }
  return cases;
}

const cases = generateCases();

test(`fuzz: ${CASES} mutated frames (seed 0x${SEED.toString(16)}): parsers never throw, the server always decides`, async (t) => {
  const r = rig(t, 'server');
  const { clock, table, server } = r;
  const kinds = { reply: 0, silent: 0, drop: 0, unparsed: 0 };
  for (const [n, frame] of cases.entries()) {
    const where = `seed 0x${SEED.toString(16)} case ${n} (${frame.toString('hex').slice(0, 96)}…)`;
    let udp: ReturnType<typeof parseUdpFrame>;
    try {
      udp = parseUdpFrame(frame);
    } catch (e) {
      assert.fail(`${where}: parseUdpFrame threw ${(e as Error).stack}`);
    }
    // The DHCP parser also sees payloads the frame parser would refuse: everything after the UDP header.
    const payload = udp.ok ? udp.datagram.payload : frame.subarray(Math.min(frame.length, UDP_FRAME_HEADROOM));
    let parsed: ReturnType<typeof parseDhcpMessage>;
    try {
      parsed = parseDhcpMessage(payload);
    } catch (e) {
      assert.fail(`${where}: parseDhcpMessage threw ${(e as Error).stack}`);
    }
    if (!parsed.ok) {
      kinds.unparsed++;
      continue;
    }
    const srcMac = udp.ok ? udp.datagram.srcMac : '02:00:00:00:00:99';
    const srcIp = udp.ok ? udp.datagram.srcIp : 0;
    let decision: Decision;
    try {
      decision = await settled(server.handle(incoming(parsed.message, srcMac, portOf(srcMac, n), srcIp)));
    } catch (e) {
      assert.fail(`${where}: DhcpServer.handle threw ${(e as Error).stack}`);
    }
    checkDecision(decision, parsed.message, where);
    kinds[decision.kind]++;
    if (n % 64 === 63) table.commit();
    if (n % 500 === 499) {
      // Time passes: offers and leases expire, quarantines end.
      clock.now += 1000 * (1 + int(mulberry32(n), 4000));
      server.tick();
      table.commit();
      checkState(r, `after case ${n}`);
    }
  }
  table.commit();
  checkState(r, 'at the end');
  const active = [...table.active()];
  t.diagnostic(
    `decisions: ${JSON.stringify(kinds)}; at the end ${active.length} active leases, ${active.filter((l) => l.hostname !== null).length} with a name`,
  );
  if (process.env.FUZZ_CASE === undefined && process.env.FUZZ_SEED === undefined) {
    // The corpus and mutations must actually reach the server's every outcome, or the fuzz tests little.
    assert.ok(kinds.reply > CASES / 20 && kinds.drop > CASES / 50 && kinds.silent > 0 && kinds.unparsed > CASES / 10, JSON.stringify(kinds));
  }
});

test(`fuzz: the same ${CASES} frames through the transport: no internal error, every frame sent fits the MTU`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-fuzz-transport-'));
  const store = LeaseStore.open(join(dir, 'leases.db'));
  const pool = new AddressPool(ip('10.0.0.100'), ip('10.0.0.110'));
  const leases = new LeaseTable({ store, pool });
  leases.load();
  const drops = new Map<string, number>();
  const internalErrors: string[] = [];
  let sent = 0;
  const checkSent = (f: Buffer): void => {
    sent++;
    assert.ok(f.length <= MTU + ETHERNET_HEADER_LENGTH, `transport sent a ${f.length}-byte frame`);
    const udp = parseUdpFrame(f);
    assert.ok(udp.ok, 'transport sent a frame that does not parse');
    assert.ok(parseDhcpMessage(udp.datagram.payload).ok, 'transport sent a DHCP message that does not parse');
  };
  // isBridgePort and ReceivedFrame.ifindex come with issue 11's bridge-port work; spread so both versions compile.
  const bridgePort = { isBridgePort: (): boolean => true };
  const frameIfindex = { ifindex: 3 };
  const port: FramePort = {
    ...bridgePort,
    mac: '02:00:00:00:00:01',
    mtu: MTU,
    send: (f) => {
      checkSent(f);
      return true;
    },
    sendMany: (fs) => {
      for (const f of fs) checkSent(f);
      return fs.length;
    },
    close: () => undefined,
  };
  let onFrames: (frames: ReceivedFrame[]) => void = () => undefined;
  const dropCounter = new RateLimitedCounter();
  // Warnings are where an internal error's stack goes (rate-limited); keep them for the failure message.
  const log = createLogger('warn', (line) => {
    if (line.includes('internal-error') && internalErrors.length < 3) internalErrors.push(line);
  });
  const onDrop = (reason: string): void => void drops.set(reason, (drops.get(reason) ?? 0) + 1);
  const bridge = new BridgePort({
    bridge: 'none',
    serverIp: SERVER_IP,
    drops: dropCounter,
    log,
    openPort: (deliver) => {
      onFrames = deliver;
      return port;
    },
    onDrop,
  });
  const server = new DhcpServer({
    names: new HostNames(),
    network: NETWORK,
    leaseSeconds: 3600,
    rapidCommit: true,
    offerHoldMs: 30_000,
    declineQuarantineMs: 600_000,
    leases,
    pool,
    reservations: [],
    prober: null,
    readyTarget: 0,
    readyFreshMs: 60_000,
    now: Date.now,
  });
  const transport = new DhcpTransport({
    port: bridge,
    server,
    serverIp: SERVER_IP,
    commit: (done) => void leases.commitThen(done),
    drops: dropCounter,
    log,
    onDrop,
  });
  t.after(() => {
    transport.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < cases.length; i += WAKEUP) {
    const frames = cases.slice(i, i + WAKEUP).map((data) => ({ data, pktType: 0, ...frameIfindex }));
    try {
      onFrames(frames);
    } catch (e) {
      assert.fail(`seed 0x${SEED.toString(16)} cases ${i}..${i + frames.length - 1}: the transport threw ${(e as Error).stack}`);
    }
    assert.equal(
      drops.get('internal-error'),
      undefined,
      `seed 0x${SEED.toString(16)} cases ${i}..${i + frames.length - 1}: internal error: ${internalErrors.join('\n')}`,
    );
  }
  await new Promise((r) => setImmediate(r));
  t.diagnostic(`frames sent ${sent}; drops ${JSON.stringify(Object.fromEntries(drops))}`);
  assert.equal(drops.get('internal-error'), undefined, 'internal error');
  if (process.env.FUZZ_CASE === undefined) assert.ok(sent > 0, 'the transport answered nothing');
});
