/**
 * DhcpTransport when its socket fails, is closed or its bridge changes (issue 11, "no crash, no leftover"): send errors
 * on every path are counted, never thrown; nothing is sent after close(); frames from interfaces that are not bridge
 * ports are dropped; a new MTU reaches option 26.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { MessageType, Option } from '../../../src/dhcp/constants.ts';
import { emptyMessage, parseDhcpMessage, serializeDhcpMessage } from '../../../src/dhcp/message.ts';
import { AddressProber } from '../../../src/dhcp/probe.ts';
import type { FramePort } from '../../../src/dhcp/transport.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import { parseIPv4 } from '../../../src/net/address.ts';
import { buildUdpFrame, parseUdpFrame } from '../../../src/wire/frame.ts';
import type { ReceivedFrame } from '../../../src/wire/packet-socket.ts';
import { FIXTURE_PORT_IFINDEX, type TransportFixture, transportFixture } from '../../harness/transport-fixture.ts';

function discover(client: number, ifindex = FIXTURE_PORT_IFINDEX): ReceivedFrame {
  const m = emptyMessage();
  m.op = 1;
  m.xid = client;
  m.chaddr.writeUInt32BE(0x02bb0000, 0);
  m.chaddr.writeUInt16BE(client, 4);
  m.options.setMessageType(MessageType.Discover);
  const mac = [...m.chaddr.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const payload = serializeDhcpMessage(m).data;
  const data = buildUdpFrame({ srcMac: mac, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: 0, dstIp: 0xffffffff, srcPort: 68, dstPort: 67, ttl: 64, payload });
  return { data, pktType: 1, ifindex };
}

interface FailingPort extends FramePort {
  failWith: string | null;
  sent: Buffer[];
}

function failingPort(): FailingPort {
  const port: FailingPort = {
    mac: '02:00:00:00:00:01',
    mtu: 1500,
    failWith: null,
    sent: [],
    send: (f) => port.sendMany([f]) === 1,
    sendMany: (fs) => {
      if (port.failWith !== null) {
        const e = new Error(`packet socket on br0: sendmmsg: ${port.failWith}`) as NodeJS.ErrnoException;
        e.code = port.failWith;
        throw e;
      }
      port.sent.push(...fs);
      return fs.length;
    },
    isBridgePort: (ifindex) => ifindex === FIXTURE_PORT_IFINDEX,
    close: () => undefined,
  };
  return port;
}

function setUp(t: TestContext, port: FramePort, withProber = false): TransportFixture {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-transport-errors-'));
  const store = LeaseStore.open(join(dir, 'leases.db'));
  const pool = new AddressPool(parseIPv4('10.0.1.0') as number, parseIPv4('10.0.1.254') as number);
  const fixture = transportFixture({
    store,
    pool,
    port,
    ...(withProber ? { prober: (transport) => new AddressProber((ip) => transport.sendArpProbe(ip), 50) } : {}),
  });
  t.after(() => {
    fixture.prober?.close();
    fixture.transport.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return fixture;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a send error (bridge down: ENETDOWN) is counted, not thrown, and sending works again afterwards', (t) => {
  const port = failingPort();
  const { deliver } = setUp(t, port);
  port.failWith = 'ENETDOWN';
  assert.doesNotThrow(() => deliver([discover(1), discover(2)]));
  assert.equal(port.sent.length, 0);
  port.failWith = null;
  deliver([discover(3)]);
  assert.equal(port.sent.length, 1, 'the next reply goes out');
});

test('an ARP probe sent from setImmediate while the bridge is gone (ENXIO) does not reach the event loop', async (t) => {
  const port = failingPort();
  const { transport } = setUp(t, port);
  port.failWith = 'ENXIO';
  const uncaught: Error[] = [];
  const onUncaught = (e: Error): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  transport.sendArpProbe(parseIPv4('10.0.1.7') as number);
  await turn();
  await turn();
  assert.deepEqual(uncaught, []);
});

test('nothing is sent after close(): late frames, probes queued before close, probes asked after', async (t) => {
  const port = failingPort();
  const { transport, deliver } = setUp(t, port);
  transport.sendArpProbe(parseIPv4('10.0.1.8') as number);
  transport.close();
  transport.sendArpProbe(parseIPv4('10.0.1.9') as number);
  deliver([discover(4)]);
  await turn();
  await turn();
  assert.equal(port.sent.length, 0);
  assert.equal(transport.isBridgePort(FIXTURE_PORT_IFINDEX), false, 'a closed transport has no ports');
});

test('a request that did not come in through a port of the bridge is not answered', (t) => {
  const port = failingPort();
  const { deliver, transport } = setUp(t, port);
  deliver([discover(5, 0), discover(6, FIXTURE_PORT_IFINDEX + 1)]);
  assert.equal(port.sent.length, 0);
  deliver([discover(7)]);
  assert.equal(port.sent.length, 1);
  assert.equal(transport.isBridgePort(FIXTURE_PORT_IFINDEX), true);
  assert.equal(transport.isBridgePort(FIXTURE_PORT_IFINDEX + 1), false);
});

test('close() while a DISCOVER waits on an ARP probe (SIGTERM): the late decision sends nothing and throws nothing', async (t) => {
  const port = failingPort();
  let closed = false;
  const sendMany = port.sendMany;
  port.sendMany = (fs) => {
    if (closed) {
      const e = new Error('packet socket on br0: sendMany: socket is closed') as NodeJS.ErrnoException;
      e.code = 'ERR_SOCKET_CLOSED';
      throw e;
    }
    return sendMany(fs);
  };
  port.close = () => {
    closed = true;
  };
  const { transport, deliver } = setUp(t, port, true);
  const uncaught: Error[] = [];
  const onUncaught = (e: Error): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  deliver([discover(8)]); // no address probed yet: the server waits for a probe before it offers
  const sentBefore = port.sent.length;
  transport.close(); // the daemon's shutdown closes the transport; the prober's timer still runs
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(uncaught, []);
  assert.equal(port.sent.length, sentBefore, 'nothing sent after close');
});

test('after DhcpServer.setMtu (the bridge MTU changed) option 26 of later replies carries the new MTU', (t) => {
  const port = failingPort();
  const { server, deliver } = setUp(t, port);
  const mtuOf = (frame: Buffer | undefined): number | undefined => {
    assert.ok(frame);
    const udp = parseUdpFrame(frame);
    assert.ok(udp.ok);
    const parsed = parseDhcpMessage(udp.datagram.payload);
    assert.ok(parsed.ok);
    return parsed.message.options.getUint16(Option.InterfaceMtu);
  };
  deliver([discover(9)]);
  assert.equal(mtuOf(port.sent.at(-1)), 1500);
  server.setMtu(1280);
  deliver([discover(10)]);
  assert.equal(mtuOf(port.sent.at(-1)), 1280);
});
