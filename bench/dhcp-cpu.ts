// CPU time per DHCP exchange inside one process: the real codec, DhcpServer, LeaseTable and SQLite store (group commit,
// in a temp directory), fed perfdhcp-like relayed DISCOVER/REQUEST frames through DhcpTransport, with the packet socket
// replaced by a port that keeps the reply frames. No network: what is measured is our JavaScript (and SQLite), not the
// kernel or the load generator, so runs are comparable while the machine is busy with other work.
//
//   node --import tsx bench/dhcp-cpu.ts [CLIENTS] [ROUNDS]
// prints one JSON line: CPU µs per 4-way exchange for new clients (round 1) and known clients (the median of rounds
// 2..ROUNDS).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AddressPool } from '../src/leases/pool.ts';
import { HostNames } from '../src/leases/names.ts';
import { LeaseStore } from '../src/leases/store.ts';
import { LeaseTable } from '../src/leases/table.ts';
import { createLogger, RateLimitedCounter } from '../src/log.ts';
import { parseIPv4 } from '../src/net/address.ts';
import { MessageType, Option } from '../src/dhcp/constants.ts';
import { emptyMessage, parseDhcpMessage, serializeDhcpMessage } from '../src/dhcp/message.ts';
import { DhcpServer } from '../src/dhcp/server.ts';
import { DhcpTransport, type FramePort } from '../src/dhcp/transport.ts';
import { buildUdpFrame, parseUdpFrame } from '../src/wire/frame.ts';
import type { ReceivedFrame } from '../src/wire/packet-socket.ts';

const CLIENTS = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 5);
const BATCH = 32;
const SERVER_IP = parseIPv4('10.0.0.1') as number;
const RELAY_IP = parseIPv4('10.0.0.2') as number;
const RELAY_MAC = '02:00:00:00:00:02';
const SERVER_MAC = '02:00:00:00:00:01';

function requestFrame(client: number, type: MessageType, offered?: number): Buffer {
  const m = emptyMessage();
  m.op = 1;
  m.xid = (client * 7919 + type) >>> 0;
  m.giaddr = RELAY_IP;
  m.chaddr.writeUInt32BE(0x06ee0000, 0);
  m.chaddr.writeUInt16BE(client & 0xffff, 4);
  m.options.setMessageType(type);
  m.options.set(Option.ParameterRequestList, Buffer.from([1, 28, 2, 3, 15, 6, 12]));
  if (offered !== undefined) {
    m.options.setIPv4(Option.RequestedIpAddress, offered);
    m.options.setIPv4(Option.ServerIdentifier, SERVER_IP);
  }
  const payload = serializeDhcpMessage(m).data;
  return buildUdpFrame({ srcMac: RELAY_MAC, dstMac: SERVER_MAC, srcIp: RELAY_IP, dstIp: SERVER_IP, srcPort: 67, dstPort: 67, ttl: 64, payload });
}

const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-cpu-'));
const store = LeaseStore.open(join(dir, 'leases.db'), { groupCommit: true });
const pool = new AddressPool(parseIPv4('10.0.1.0') as number, parseIPv4('10.0.255.254') as number);
const leases = new LeaseTable({ store, pool });
leases.load();

let deliver: (frames: ReceivedFrame[]) => void = () => undefined;
const sent: Buffer[] = [];
let onSent: () => void = () => undefined;
const port: FramePort = {
  mac: SERVER_MAC,
  mtu: 1500,
  send: (f) => (sent.push(f), onSent(), true),
  sendMany: (fs) => (sent.push(...fs), onSent(), fs.length),
  close: () => undefined,
};
const transport = new DhcpTransport({
  bridge: 'none',
  serverIp: SERVER_IP,
  commit: (done) => void leases.commitThen(done),
  drops: new RateLimitedCounter(),
  log: createLogger('warn'),
  openPort: (onFrames) => ((deliver = onFrames), port),
});
const server = new DhcpServer({
  names: new HostNames(),
  network: { serverIp: SERVER_IP, prefixLength: 8, routers: [SERVER_IP], dnsServers: [SERVER_IP], domain: 'lxc', mtu: 1500 },
  leaseSeconds: 3600,
  rapidCommit: true,
  offerHoldMs: 60_000,
  declineQuarantineMs: 600_000,
  leases,
  pool,
  reservations: [],
  prober: null,
  readyTarget: 16,
  readyFreshMs: 60_000,
  now: Date.now,
});
transport.attach(server);

/** Feeds frames in batches of BATCH and resolves once `expected` replies have been sent. */
function exchange(frames: Buffer[], expected: number): Promise<Buffer[]> {
  sent.length = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${sent.length}/${expected} replies`)), 30_000);
    onSent = () => {
      if (sent.length >= expected) {
        clearTimeout(timer);
        onSent = () => undefined;
        resolve(sent.splice(0));
      }
    };
    for (let i = 0; i < frames.length; i += BATCH) {
      deliver(frames.slice(i, i + BATCH).map((data) => ({ data, pktType: 0 })));
    }
  });
}

function yiaddrOf(frame: Buffer): number {
  const udp = parseUdpFrame(frame);
  if (!udp.ok) throw new Error(udp.reason);
  const msg = parseDhcpMessage(udp.datagram.payload);
  if (!msg.ok) throw new Error(msg.reason);
  return msg.message.yiaddr;
}

// Round 0 (new clients, not reported) warms the JIT up; round 1 is other new clients; later rounds repeat round 1's.
const discoversOf = (first: number): Buffer[] => Array.from({ length: CLIENTS }, (_, i) => requestFrame(first + i, MessageType.Discover));
const results: { round: number; cpuUsPerExchange: number; wallUsPerExchange: number }[] = [];
for (let round = 0; round <= ROUNDS; round++) {
  const first = round === 0 ? 0 : CLIENTS;
  const discovers = discoversOf(first);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const offers = await exchange(discovers, CLIENTS);
  // REQUEST frames are built by the load generator, not the server: their cost is left out.
  const cpuReq = process.cpuUsage();
  const requests = offers.map((f, i) => requestFrame(first + i, MessageType.Request, yiaddrOf(f)));
  const cpuBuild = process.cpuUsage(cpuReq);
  await exchange(requests, CLIENTS);
  const cpu = process.cpuUsage(cpu0);
  const us = cpu.user + cpu.system - (cpuBuild.user + cpuBuild.system);
  results.push({ round, cpuUsPerExchange: Number((us / CLIENTS).toFixed(2)), wallUsPerExchange: Number((((performance.now() - t0) * 1000) / CLIENTS).toFixed(2)) });
}
transport.close();
store.close();
rmSync(dir, { recursive: true, force: true });
const known = results.slice(2).map((r) => r.cpuUsPerExchange).sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({ clients: CLIENTS, newClientsCpuUs: results[1]?.cpuUsPerExchange, knownClientsCpuUs: known[Math.floor(known.length / 2)], rounds: results })}\n`,
);
