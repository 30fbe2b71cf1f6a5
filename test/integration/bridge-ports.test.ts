/**
 * The DHCP receive path tells which bridge port each frame came in on: a PacketSocket opened with `bridgePorts` on the
 * bridge of a real topology (host namespace with br0, containers on veth ports, a stray veth off the bridge) sees each
 * request once, with the ifindex of the sender's port, knows the bridge's ports, and sends whole frames out of the
 * bridge. Run as root: node --import tsx --test --test-concurrency=1 test/integration/bridge-ports.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MessageType } from '../../src/dhcp/constants.ts';
import { parseDhcpMessage } from '../../src/dhcp/message.ts';
import { parseIPv4 } from '../../src/net/address.ts';
import { dhcpBridgePortFilter } from '../../src/wire/bpf.ts';
import { BRIDGE_PORT_MAX_AGE_MS, BRIDGE_PORT_REQUERY_MS } from '../../src/wire/bridge-ports.ts';
import { buildUdpFrame, parseUdpFrame } from '../../src/wire/frame.ts';
import { PacketSocket, type ReceivedFrame } from '../../src/wire/packet-socket.ts';
import { type Container, createTopology, type Topology } from '../harness/netns.ts';
import { openRawDhcpPort, type RawDhcpPort, request } from '../harness/raw-dhcp.ts';

let topology: Topology;
let socket: PacketSocket;
const received: ReceivedFrame[] = [];
const raw = new Map<Container, RawDhcpPort>();

before(async () => {
  topology = await createTopology({ containers: 2, strayPorts: 1 });
  socket = PacketSocket.open({
    ifname: topology.bridge,
    netns: topology.hostNs,
    filter: (ifindex) => dhcpBridgePortFilter(ifindex),
    bridgePorts: true,
    onFrames: (frames) => {
      for (const f of frames) received.push({ data: Buffer.from(f.data), pktType: f.pktType, ifindex: f.ifindex });
    },
  });
  for (const c of [...topology.containers, ...topology.strays]) raw.set(c, openRawDhcpPort(c));
});

after(async () => {
  socket?.close();
  for (const port of raw.values()) port.close();
  await topology?.destroy();
});

async function ifindexOf(ifname: string): Promise<number> {
  const out = await topology.exec(topology.hostNs, ['ip', '-j', 'link', 'show', 'dev', ifname]);
  const [link] = JSON.parse(out.stdout) as { ifindex: number }[];
  assert.ok(link, `${ifname} exists`);
  return link.ifindex;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Frames carrying a DHCP request with this xid. */
function withXid(xid: number): ReceivedFrame[] {
  return received.filter((f) => {
    const udp = parseUdpFrame(f.data);
    if (!udp.ok) return false;
    const m = parseDhcpMessage(udp.datagram.payload);
    return m.ok && m.message.xid === xid;
  });
}

test("a DISCOVER from each container arrives once, with the ifindex of that container's bridge port", async () => {
  const [a, b] = topology.containers;
  assert.ok(a && b);
  raw.get(a)?.sendRequest(request(MessageType.Discover, a.mac, 0xa0a0a0a0));
  raw.get(b)?.sendRequest(request(MessageType.Discover, b.mac, 0xb0b0b0b0));
  await sleep(300);
  const fromA = withXid(0xa0a0a0a0);
  const fromB = withXid(0xb0b0b0b0);
  assert.equal(fromA.length, 1, `A's DISCOVER seen ${fromA.length} times (ifindexes ${fromA.map((f) => f.ifindex).join(',')})`);
  assert.equal(fromB.length, 1, `B's DISCOVER seen ${fromB.length} times (ifindexes ${fromB.map((f) => f.ifindex).join(',')})`);
  assert.equal(fromA[0]?.ifindex, await ifindexOf(a.hostIfname));
  assert.equal(fromB[0]?.ifindex, await ifindexOf(b.hostIfname));
  assert.notEqual(fromA[0]?.ifindex, socket.ifindex, 'not the bridge');
});

test('a DISCOVER sent with an 802.1Q tag is not received (the kernel moves the tag to metadata; the filter sees it)', async () => {
  const [a] = topology.containers;
  assert.ok(a);
  const { serializeDhcpMessage } = await import('../../src/dhcp/message.ts');
  const untagged = buildUdpFrame({
    srcMac: a.mac,
    dstMac: 'ff:ff:ff:ff:ff:ff',
    srcIp: 0,
    dstIp: 0xffffffff,
    srcPort: 68,
    dstPort: 67,
    ttl: 64,
    payload: serializeDhcpMessage(request(MessageType.Discover, a.mac, 0x7a7a7a7a)).data,
  });
  const tag = Buffer.from([0x81, 0x00, 0x00, 0x05]); // 802.1Q, VLAN 5
  raw.get(a)?.send(Buffer.concat([untagged.subarray(0, 12), tag, untagged.subarray(12)]));
  raw.get(a)?.sendRequest(request(MessageType.Discover, a.mac, 0x7b7b7b7b)); // the same port, untagged: a control
  await sleep(300);
  assert.equal(withXid(0x7b7b7b7b).length, 1, 'the untagged control arrived');
  assert.equal(withXid(0x7a7a7a7a).length, 0, 'the tagged DISCOVER was received');
});

test("bridgePorts() lists the containers' ports, not the stray veth or the bridge", async () => {
  const [a, b] = topology.containers;
  const [stray] = topology.strays;
  assert.ok(a && b && stray);
  const ports = socket.bridgePorts();
  assert.deepEqual(
    [...ports].sort((x, y) => x - y),
    [await ifindexOf(a.hostIfname), await ifindexOf(b.hostIfname)].sort((x, y) => x - y),
  );
  assert.equal(ports.includes(await ifindexOf(stray.hostIfname)), false);
  assert.equal(ports.includes(socket.ifindex), false);
});

test('while the bridge is down its ports are disabled (the bridge drops their frames): none counts as a port', async () => {
  const [, b] = topology.containers;
  assert.ok(b);
  const port = await ifindexOf(b.hostIfname);
  assert.equal(socket.isBridgePort(port), true);
  await topology.exec(topology.hostNs, ['ip', 'link', 'set', topology.bridge, 'down'], { check: true });
  try {
    await sleep(BRIDGE_PORT_MAX_AGE_MS + 10); // a known port is trusted for this long
    assert.deepEqual(socket.bridgePorts(), [], 'disabled ports listed');
    assert.equal(socket.isBridgePort(port), false);
    assert.equal(socket.isPort(port), false, 'isPort of a disabled port');
  } finally {
    await topology.exec(topology.hostNs, ['ip', 'link', 'set', topology.bridge, 'up'], { check: true });
  }
  await sleep(BRIDGE_PORT_REQUERY_MS + 10);
  assert.equal(socket.isBridgePort(port), true, 'forwarding again once the bridge is up');
});

test("a frame on an interface off the bridge arrives with that interface's ifindex (so it can be refused)", async () => {
  const [stray] = topology.strays;
  assert.ok(stray);
  raw.get(stray)?.sendRequest(request(MessageType.Discover, stray.mac, 0x5e5e5e5e));
  await sleep(300);
  const seen = withXid(0x5e5e5e5e);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.ifindex, await ifindexOf(stray.hostIfname));
  assert.equal(socket.bridgePorts().includes(seen[0]?.ifindex ?? -1), false);
  await sleep(BRIDGE_PORT_REQUERY_MS + 10);
  assert.equal(socket.isBridgePort(seen[0]?.ifindex ?? -1), false, 'isBridgePort of the stray veth');
  assert.equal(socket.isPort(seen[0]?.ifindex ?? -1), false, 'isPort of the stray veth');
  assert.equal(socket.isPort(socket.ifindex), false, 'isPort of the bridge itself');
  assert.equal(socket.isPort(999_999), false, 'isPort of no interface');
});

test('a port added later shows up in bridgePorts(); link() describes the bridge as it is now', async () => {
  const c = await topology.addContainer();
  await sleep(BRIDGE_PORT_REQUERY_MS + 10);
  assert.equal(socket.isPort(await ifindexOf(c.hostIfname)), true, 'isPort of a new port');
  assert.equal(socket.isBridgePort(await ifindexOf(c.hostIfname)), true, 'isBridgePort of a new port');
  assert.ok(socket.bridgePorts().includes(await ifindexOf(c.hostIfname)));
  const before = socket.link();
  assert.deepEqual(before, { ifindex: socket.ifindex, mtu: socket.mtu, up: true });
  await topology.exec(topology.hostNs, ['ip', 'link', 'set', topology.bridge, 'mtu', '1280']);
  assert.equal(socket.link()?.mtu, 1280);
});

test('frames sent go out of the bridge to the containers, and our own sends are not received back', async () => {
  const [a] = topology.containers;
  assert.ok(a);
  const reply = request(MessageType.Discover, a.mac, 0x0ffe0ffe);
  reply.op = 2;
  reply.options.setMessageType(MessageType.Offer);
  const { serializeDhcpMessage } = await import('../../src/dhcp/message.ts');
  const frame = buildUdpFrame({
    srcMac: socket.mac,
    dstMac: 'ff:ff:ff:ff:ff:ff',
    srcIp: parseIPv4('10.0.0.1') as number,
    dstIp: 0xffffffff,
    srcPort: 67,
    dstPort: 68,
    ttl: 64,
    payload: serializeDhcpMessage(reply).data,
  });
  assert.equal(socket.sendMany([frame]), 1);
  assert.equal(socket.send(frame), true);
  const got = await raw.get(a)?.waitForReply((r) => r.message.xid === 0x0ffe0ffe, 2000);
  assert.ok(got);
  assert.equal(withXid(0x0ffe0ffe).length, 0, 'our own frames came back');
});
