import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, RateLimitedCounter } from '../../../src/log.ts';
import { parseIPv6 } from '../../../src/net/address6.ts';
import { buildIcmpv6Frame, buildUdp6Frame, type Icmpv6Packet, type Udp6Packet } from '../../../src/wire/frame6.ts';
import { type Ipv6Ingress, Ipv6Port } from '../../../src/wire/ipv6-port.ts';
import type { ReceivedFrame } from '../../../src/wire/packet-socket.ts';

const addr = (text: string): Buffer => parseIPv6(text) ?? assert.fail(text);
const HOST_MAC = '02:1a:b0:00:00:05';
const PORT = 12;
const OFF_BRIDGE = 2;

const rsFrame = buildIcmpv6Frame(
  { srcMac: HOST_MAC, dstMac: '33:33:00:00:00:02', src: addr('fe80::5'), dst: addr('ff02::2'), hopLimit: 255 },
  Buffer.from([133, 0, 0, 0, 0, 0, 0, 0]),
);
const dhcp6Frame = buildUdp6Frame(
  { srcMac: HOST_MAC, dstMac: '33:33:00:01:00:02', src: addr('fe80::5'), dst: addr('ff02::1:2'), hopLimit: 1, srcPort: 546, dstPort: 547 },
  Buffer.from('0b001122', 'hex'),
);
const naFrame = buildIcmpv6Frame(
  { srcMac: HOST_MAC, dstMac: '33:33:00:00:00:01', src: addr('fe80::5'), dst: addr('ff02::1'), hopLimit: 255 },
  Buffer.alloc(24, 136).fill(0, 1),
);

function fixture(opts: { sendResult?: boolean | 'throw'; throwOnRs?: boolean } = {}) {
  let deliver: ((frames: ReceivedFrame[]) => void) | null = null;
  const got: { rs: [Icmpv6Packet, Ipv6Ingress][]; dhcp6: [Udp6Packet, Ipv6Ingress][]; wakeups: number; drops: string[]; sent: Buffer[]; closed: number } = {
    rs: [],
    dhcp6: [],
    wakeups: 0,
    drops: [],
    sent: [],
    closed: 0,
  };
  const port = new Ipv6Port({
    bridge: 'br0',
    onRouterSolicitation: (p, from) => {
      got.rs.push([p, from]);
      if (opts.throwOnRs) throw new Error('boom');
    },
    onDhcp6: (p, from) => got.dhcp6.push([p, from]),
    onWakeupEnd: () => got.wakeups++,
    drops: new RateLimitedCounter(),
    log: createLogger('error', () => undefined),
    onDrop: (reason) => got.drops.push(reason),
    openSocket: (onFrames) => {
      deliver = onFrames;
      return {
        mac: '02:1a:b0:00:00:01',
        mtu: 1500,
        send: (frame) => {
          if (opts.sendResult === 'throw') throw Object.assign(new Error('down'), { code: 'ENETDOWN' });
          got.sent.push(frame);
          return opts.sendResult ?? true;
        },
        isBridgePort: (ifindex) => ifindex === PORT,
        close: () => got.closed++,
      };
    },
  });
  const receive = (frames: ReceivedFrame[]): void => deliver?.(frames);
  return { port, got, receive };
}

test('router solicitations and DHCPv6 datagrams go to their callbacks with the ingress port and source MAC', () => {
  const { got, receive } = fixture();
  receive([
    { data: rsFrame, pktType: 2, ifindex: PORT },
    { data: dhcp6Frame, pktType: 2, ifindex: PORT },
  ]);
  assert.equal(got.rs.length, 1);
  assert.deepEqual(got.rs[0]?.[1], { port: PORT, srcMac: HOST_MAC });
  assert.equal(got.rs[0]?.[0].message[0], 133);
  assert.equal(got.dhcp6.length, 1);
  assert.deepEqual(got.dhcp6[0]?.[1], { port: PORT, srcMac: HOST_MAC });
  assert.equal(got.dhcp6[0]?.[0].payload.toString('hex'), '0b001122');
  assert.equal(got.wakeups, 1);
});

test('frames from off the bridge, outgoing frames, malformed frames and other ICMPv6 are dropped and counted', () => {
  const { got, receive } = fixture();
  receive([
    { data: rsFrame, pktType: 2, ifindex: OFF_BRIDGE },
    { data: rsFrame, pktType: 4, ifindex: PORT },
    { data: rsFrame.subarray(0, 40), pktType: 2, ifindex: PORT },
    { data: naFrame, pktType: 2, ifindex: PORT },
  ]);
  assert.equal(got.rs.length, 0);
  assert.deepEqual(got.drops, ['not-bridge-port', 'frame-short', 'unexpected-icmpv6']);
});

test('a callback that throws is counted as internal-error and does not stop the other frames', () => {
  const { got, receive } = fixture({ throwOnRs: true });
  receive([
    { data: rsFrame, pktType: 2, ifindex: PORT },
    { data: rsFrame, pktType: 2, ifindex: PORT },
    { data: dhcp6Frame, pktType: 2, ifindex: PORT },
  ]);
  assert.equal(got.rs.length, 2);
  assert.equal(got.dhcp6.length, 1);
  assert.deepEqual(got.drops, ['internal-error', 'internal-error']);
  assert.equal(got.wakeups, 1);
});

test('send counts a full queue and a send error, never throws; nothing is sent or received after close', () => {
  const full = fixture({ sendResult: false });
  assert.equal(full.port.send(rsFrame), false);
  assert.deepEqual(full.got.drops, ['send-queue-full']);
  const failing = fixture({ sendResult: 'throw' });
  assert.equal(failing.port.send(rsFrame), false);
  assert.deepEqual(failing.got.drops, ['send-error']);
  const { port, got, receive } = fixture();
  assert.equal(port.send(rsFrame), true);
  port.close();
  port.close();
  assert.equal(got.closed, 1);
  assert.equal(port.send(rsFrame), false);
  receive([{ data: rsFrame, pktType: 2, ifindex: PORT }]);
  assert.equal(got.rs.length, 0);
});

test('checkBridge reopens the socket when the bridge was re-created or its MTU changed, and reports it gone', () => {
  const link: { now: { ifindex: number; mtu: number; up: boolean } | null } = { now: { ifindex: 7, mtu: 1500, up: true } };
  const opened: { ifindex: number; mtu: number; closed: boolean }[] = [];
  const port = new Ipv6Port({
    bridge: 'br0',
    onRouterSolicitation: () => undefined,
    onDhcp6: () => undefined,
    drops: new RateLimitedCounter(),
    log: createLogger('error', () => undefined),
    openSocket: () => {
      const state = { ifindex: link.now?.ifindex ?? 0, mtu: link.now?.mtu ?? 0, closed: false };
      opened.push(state);
      return {
        mac: '02:1a:b0:00:00:01',
        mtu: state.mtu,
        ifindex: state.ifindex,
        send: () => true,
        isBridgePort: () => true,
        link: () => link.now,
        close: () => {
          state.closed = true;
        },
      };
    },
  });
  assert.equal(port.checkBridge(), 'same');
  link.now = { ifindex: 7, mtu: 1400, up: true };
  assert.equal(port.checkBridge(), 'reopened');
  assert.equal(port.mtu, 1400);
  assert.equal(opened[0]?.closed, true);
  link.now = null;
  assert.equal(port.checkBridge(), 'gone');
  link.now = { ifindex: 9, mtu: 1400, up: true };
  assert.equal(port.checkBridge(), 'reopened');
  assert.equal(port.ifindex, 9);
  assert.equal(opened.length, 3);
  assert.equal(port.checkBridge(), 'same');
  port.close();
  assert.equal(opened[2]?.closed, true);
});
