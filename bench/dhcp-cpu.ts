// CPU time per DHCP exchange inside one process: the real codec, DhcpServer, LeaseTable and SQLite store (group commit,
// in a temp directory), fed perfdhcp-like relayed DISCOVER/REQUEST frames through DhcpTransport, with the packet socket
// replaced by a port that keeps the reply frames. No network: what is measured is our JavaScript (and SQLite), not the
// kernel or the load generator, so runs are comparable while the machine is busy with other work.
//
//   node --import tsx bench/dhcp-cpu.ts [CLIENTS] [ROUNDS] [--probe]
// prints one JSON line: CPU µs per 4-way exchange for new and for known clients, per round and the minimum.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageType, Option } from '../src/dhcp/constants.ts';
import { emptyMessage, parseDhcpMessage, serializeDhcpMessage } from '../src/dhcp/message.ts';
import { AddressProber } from '../src/dhcp/probe.ts';
import type { BridgePort, FramePort } from '../src/dhcp/transport.ts';
import { AddressPool } from '../src/leases/pool.ts';
import { LeaseStore } from '../src/leases/store.ts';
import { parseIPv4 } from '../src/net/address.ts';
import { buildUdpFrame, ETHERTYPE_ARP, parseUdpFrame } from '../src/wire/frame.ts';
import { FIXTURE_PORT_IFINDEX, FIXTURE_SERVER_IP, transportFixture } from '../test/harness/transport-fixture.ts';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const CLIENTS = Number(positional[0] ?? 2000);
const ROUNDS = Number(positional[1] ?? 5);
/** --probe: ARP-probe never-used addresses as the daemon does by default (nobody answers, so all are free). */
const PROBE = process.argv.includes('--probe');
const BATCH = 32;
const SERVER_IP = FIXTURE_SERVER_IP;
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
const sent: Buffer[] = [];
let onSent: () => void = () => undefined;
const port: FramePort = {
  mac: SERVER_MAC,
  mtu: 1500,
  // ARP probes are counted, not kept: only DHCP replies answer the exchange.
  send: (f) => {
    if (f.readUInt16BE(12) !== ETHERTYPE_ARP) {
      sent.push(f);
      onSent();
    }
    return true;
  },
  sendMany: (fs) => {
    for (const f of fs) if (f.readUInt16BE(12) !== ETHERTYPE_ARP) sent.push(f);
    onSent();
    return fs.length;
  },
  isBridgePort: (ifindex) => ifindex === FIXTURE_PORT_IFINDEX,
  close: () => undefined,
};
let arpProbes = 0;
const { transport, server, prober, deliver } = transportFixture({
  store,
  pool,
  port,
  ...(PROBE
    ? {
        prober: (t: BridgePort) =>
          new AddressProber((ip) => {
            arpProbes++;
            t.sendArpProbe(ip);
          }, 200),
      }
    : {}),
});

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
      deliver(frames.slice(i, i + BATCH).map((data) => ({ data, pktType: 0, ifindex: FIXTURE_PORT_IFINDEX })));
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

/** One 4-way exchange for each of CLIENTS clients starting at MAC number `first`; CPU µs per exchange. */
async function round(first: number): Promise<number> {
  const discovers = Array.from({ length: CLIENTS }, (_, i) => requestFrame(first + i, MessageType.Discover));
  const cpu0 = process.cpuUsage();
  const offers = await exchange(discovers, CLIENTS);
  // REQUEST frames are built by the load generator, not the server: their cost is left out.
  const cpuReq = process.cpuUsage();
  const requests = offers.map((f, i) => requestFrame(first + i, MessageType.Request, yiaddrOf(f)));
  const cpuBuild = process.cpuUsage(cpuReq);
  await exchange(requests, CLIENTS);
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system - (cpuBuild.user + cpuBuild.system)) / CLIENTS;
}

// Each round: CLIENTS never-seen clients, then the same clients again (known). The first round warms the JIT up and
// is not counted. The minimum over rounds is reported: other work on the machine only ever adds CPU time.
const newUs: number[] = [];
const knownUs: number[] = [];
for (let r = 0; r <= ROUNDS; r++) {
  const fresh = await round(r * CLIENTS);
  const known = await round(r * CLIENTS);
  if (r === 0) continue;
  newUs.push(fresh);
  knownUs.push(known);
}
prober?.close();
server.tick();
transport.close();
store.close();
rmSync(dir, { recursive: true, force: true });
const fixed = (values: number[]): number[] => values.map((v) => Number(v.toFixed(1)));
process.stdout.write(
  `${JSON.stringify({ clients: CLIENTS, probe: PROBE, arpProbes, newClientsCpuUsMin: Math.min(...fixed(newUs)), knownClientsCpuUsMin: Math.min(...fixed(knownUs)), newClientsCpuUs: fixed(newUs), knownClientsCpuUs: fixed(knownUs) })}\n`,
);
