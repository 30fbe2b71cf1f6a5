/** DhcpTransport with its packet socket replaced by a port that records what is sent (the real server and store). */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { MessageType, Option } from '../../../src/dhcp/constants.ts';
import { emptyMessage, parseDhcpMessage, serializeDhcpMessage } from '../../../src/dhcp/message.ts';
import type { FramePort } from '../../../src/dhcp/transport.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import type { LeaseTable } from '../../../src/leases/table.ts';
import { parseIPv4 } from '../../../src/net/address.ts';
import { buildUdpFrame, parseUdpFrame } from '../../../src/wire/frame.ts';
import type { ReceivedFrame } from '../../../src/wire/packet-socket.ts';
import { FIXTURE_PORT_IFINDEX, FIXTURE_RELAY_IP, FIXTURE_SERVER_IP, transportFixture } from '../../harness/transport-fixture.ts';

const SERVER_IP = FIXTURE_SERVER_IP;
const RELAY_IP = FIXTURE_RELAY_IP;

/** A request from a client through the relay at RELAY_IP, or (relay false) straight from the client on the bridge. */
function request(client: number, type: MessageType, offered?: number, relay = true): ReceivedFrame {
  const m = emptyMessage();
  m.op = 1;
  m.xid = client;
  m.giaddr = relay ? RELAY_IP : 0;
  m.chaddr.writeUInt32BE(0x02aa0000, 0);
  m.chaddr.writeUInt16BE(client, 4);
  m.options.setMessageType(type);
  if (offered !== undefined) {
    m.options.setIPv4(Option.RequestedIpAddress, offered);
    m.options.setIPv4(Option.ServerIdentifier, SERVER_IP);
  }
  const payload = serializeDhcpMessage(m).data;
  const data = relay
    ? buildUdpFrame({ srcMac: '02:00:00:00:00:02', dstMac: '02:00:00:00:00:01', srcIp: RELAY_IP, dstIp: SERVER_IP, srcPort: 67, dstPort: 67, ttl: 64, payload })
    : buildUdpFrame({ srcMac: clientMacOf(client), dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: 0, dstIp: 0xffffffff, srcPort: 68, dstPort: 67, ttl: 64, payload });
  // A direct client is a container on a veth of its own: each comes in on its own bridge port.
  return { data, pktType: 0, ifindex: relay ? FIXTURE_PORT_IFINDEX : FIXTURE_PORT_IFINDEX + client };
}

/** The MAC request() puts in chaddr, which a direct client also sends from. */
function clientMacOf(client: number): string {
  return `02:aa:00:00:${((client >> 8) & 0xff).toString(16).padStart(2, '0')}:${(client & 0xff).toString(16).padStart(2, '0')}`;
}

function yiaddrOf(frame: Buffer): number {
  const udp = parseUdpFrame(frame);
  assert.ok(udp.ok);
  const msg = parseDhcpMessage(udp.datagram.payload);
  assert.ok(msg.ok);
  return msg.message.yiaddr;
}

function setUp(
  t: TestContext,
  now?: () => number,
  bridgePorts?: Set<number>,
): { deliver: (frames: ReceivedFrame[]) => void; bursts: Buffer[][]; leases: LeaseTable } {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-transport-'));
  const store = LeaseStore.open(join(dir, 'leases.db'));
  const bursts: Buffer[][] = [];
  const port: FramePort = {
    mac: '02:00:00:00:00:01',
    mtu: 1500,
    send: (f) => bursts.push([f]) > 0,
    sendMany: (fs) => {
      bursts.push([...fs]);
      return fs.length;
    },
    isBridgePort: (ifindex) => ifindex >= FIXTURE_PORT_IFINDEX,
    close: () => undefined,
    ...(bridgePorts ? { isBridgePort: (i: number) => bridgePorts.has(i) } : {}),
  };
  const pool = new AddressPool(parseIPv4('10.0.1.0') as number, parseIPv4('10.0.1.254') as number);
  const { transport, leases, deliver } = transportFixture({ store, pool, port, ...(now ? { now } : {}) });
  t.after(() => {
    transport.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { deliver, bursts, leases };
}

test('replies to one wakeup of many requests leave in chunks, not in one burst', (t) => {
  const { deliver, bursts, leases } = setUp(t);
  const clients = Array.from({ length: 100 }, (_, i) => i + 1);
  deliver(clients.map((c) => request(c, MessageType.Discover, undefined, false)));
  assert.deepEqual(
    bursts.map((b) => b.length),
    [32, 32, 32, 4],
  );
  const offers = bursts.flat();
  bursts.length = 0;
  deliver(clients.map((c, i) => request(c, MessageType.Request, yiaddrOf(offers[i] as Buffer), false)));
  assert.deepEqual(
    bursts.map((b) => b.length),
    [32, 32, 32, 4],
    'ACKs, each chunk after its own commit',
  );
  assert.equal(leases.activeCount, 100);
});

test('replies to a relay are paced: one burst at once, the rest in order from a timer', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 0;
  const { deliver, bursts } = setUp(t, () => clock);
  const clients = Array.from({ length: 200 }, (_, i) => i + 1);
  deliver(clients.map((c) => request(c, MessageType.Discover)));
  assert.equal(bursts.flat().length, 64, 'one burst at once');
  clock += 1;
  t.mock.timers.tick(1);
  assert.equal(bursts.flat().length, 96, '32 more after a millisecond');
  for (let i = 0; i < 10; i++) {
    clock += 1;
    t.mock.timers.tick(1);
  }
  const offers = bursts.flat();
  assert.equal(offers.length, 200);
  const order = offers.map(yiaddrOf);
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
    'in the order they were made',
  );
});

test('the ingress port of a frame reaches the server: a MAC bound on one port is not served on another while it exists', (t) => {
  const ports = new Set([5, 6]);
  const { deliver, bursts } = setUp(t, undefined, ports);
  const on = (port: number, type: MessageType, offered?: number): ReceivedFrame => ({ ...request(1, type, offered, false), ifindex: port });
  deliver([on(5, MessageType.Discover)]);
  const offered = yiaddrOf(bursts.flat()[0] as Buffer);
  deliver([on(5, MessageType.Request, offered)]);
  assert.equal(bursts.flat().length, 2, 'OFFER and ACK on port 5');
  deliver([on(6, MessageType.Discover)]);
  assert.equal(bursts.flat().length, 2, 'no answer on port 6 while port 5 exists');
  ports.delete(5);
  deliver([on(6, MessageType.Discover)]);
  assert.equal(bursts.flat().length, 3, 'answered once port 5 is gone');
  assert.equal(yiaddrOf(bursts.flat()[2] as Buffer), offered, 'with its address');
});
