/** parseNeighbourMessage on bytes laid out as the kernel sends them (struct ndmsg + NDA_* attributes, host order). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AF_INET6,
  Nud,
  neighbourDumpRequest,
  neighbourFeed,
  parseNeighbourMessage,
  RTM_DELNEIGH,
  RTM_GETNEIGH,
  RTM_NEWNEIGH,
} from '../../../src/host/neighbours.ts';
import { parseIPv6 } from '../../../src/net/address6.ts';

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const BRIDGE = 7;

function attribute(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc((4 + value.length + 3) & ~3);
  if (LE) {
    out.writeUInt16LE(4 + value.length, 0);
    out.writeUInt16LE(type, 2);
  } else {
    out.writeUInt16BE(4 + value.length, 0);
    out.writeUInt16BE(type, 2);
  }
  value.copy(out, 4);
  return out;
}

interface Fields {
  family?: number;
  ifindex?: number;
  state?: number;
  flags?: number;
  dst?: string | Buffer | null;
  lladdr?: string | Buffer | null;
}

function ndmsg(f: Fields = {}): Buffer {
  const head = Buffer.alloc(12);
  head[0] = f.family ?? AF_INET6;
  if (LE) {
    head.writeInt32LE(f.ifindex ?? BRIDGE, 4);
    head.writeUInt16LE(f.state ?? Nud.REACHABLE, 8);
  } else {
    head.writeInt32BE(f.ifindex ?? BRIDGE, 4);
    head.writeUInt16BE(f.state ?? Nud.REACHABLE, 8);
  }
  head[10] = f.flags ?? 0;
  const parts: Buffer[] = [head];
  const dst = f.dst === undefined ? 'fd42:1:2:3::10' : f.dst;
  if (dst !== null) parts.push(attribute(1, typeof dst === 'string' ? (parseIPv6(dst) as Buffer) : dst));
  const lladdr = f.lladdr === undefined ? '02:1a:b0:00:00:01' : f.lladdr;
  if (lladdr !== null) parts.push(attribute(2, typeof lladdr === 'string' ? Buffer.from(lladdr.replace(/:/g, ''), 'hex') : lladdr));
  // NDA_CACHEINFO (3), 16 bytes, as the kernel appends: must be skipped.
  parts.push(attribute(3, Buffer.alloc(16)));
  return Buffer.concat(parts);
}

test('usable states of a global or ULA address on the bridge with a MAC are present', () => {
  for (const state of [Nud.REACHABLE, Nud.STALE, Nud.DELAY, Nud.PROBE, Nud.PERMANENT]) {
    const r = parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ state }), BRIDGE);
    assert.deepEqual(r, { ok: true, event: { change: 'present', address: 'fd42:1:2:3::10', mac: '02:1a:b0:00:00:01' } }, `state ${state}`);
  }
  const global = parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ dst: '2001:db8:0:0:1:0:0:1' }), BRIDGE);
  assert.ok(global.ok && global.event.address === '2001:db8::1:0:0:1', 'RFC 5952 text');
});

test('FAILED is failed (with or without a MAC), a deletion is deleted unless it had failed', () => {
  assert.deepEqual(parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ state: Nud.FAILED, lladdr: null }), BRIDGE), {
    ok: true,
    event: { change: 'failed', address: 'fd42:1:2:3::10', mac: null },
  });
  assert.deepEqual(parseNeighbourMessage(RTM_DELNEIGH, ndmsg({ state: Nud.STALE }), BRIDGE), {
    ok: true,
    event: { change: 'deleted', address: 'fd42:1:2:3::10', mac: '02:1a:b0:00:00:01' },
  });
  const deletedFailed = parseNeighbourMessage(RTM_DELNEIGH, ndmsg({ state: Nud.FAILED }), BRIDGE);
  assert.ok(deletedFailed.ok && deletedFailed.event.change === 'failed');
});

test('everything else is skipped with its reason', () => {
  const cases: [string, ReturnType<typeof parseNeighbourMessage>][] = [
    ['not-neighbour', parseNeighbourMessage(RTM_GETNEIGH, ndmsg(), BRIDGE)],
    ['truncated', parseNeighbourMessage(RTM_NEWNEIGH, Buffer.alloc(11), BRIDGE)],
    ['family', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ family: 2, dst: Buffer.from([10, 0, 0, 5]) }), BRIDGE)],
    ['family', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ family: 7 }), BRIDGE)],
    ['interface', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ ifindex: 8 }), BRIDGE)],
    ['proxy', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ flags: 0x08 }), BRIDGE)],
    ['no-address', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ dst: null }), BRIDGE)],
    ['no-address', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ dst: Buffer.alloc(4) }), BRIDGE)],
    ['scope', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ dst: 'fe80::1' }), BRIDGE)],
    ['scope', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ dst: 'ff02::1:ff00:10' }), BRIDGE)],
    ['scope', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ dst: '::1' }), BRIDGE)],
    ['scope', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ dst: '::ffff:10.0.0.5' }), BRIDGE)],
    ['scope', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ dst: 'fec0::1' }), BRIDGE)],
    ['resolving', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ state: Nud.INCOMPLETE, lladdr: null }), BRIDGE)],
    ['no-state', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ state: Nud.NOARP }), BRIDGE)],
    ['no-state', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ state: 0 }), BRIDGE)],
    ['no-lladdr', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ lladdr: null }), BRIDGE)],
    ['no-lladdr', parseNeighbourMessage(RTM_NEWNEIGH, ndmsg({ lladdr: Buffer.alloc(8) }), BRIDGE)],
  ];
  for (const [reason, result] of cases) assert.deepEqual(result, { ok: false, reason }, reason);
});

test('an attribute running past the end is truncated, and no byte string makes the parser throw', () => {
  const whole = ndmsg();
  const cut = whole.subarray(0, 12 + 10); // inside NDA_DST
  assert.deepEqual(parseNeighbourMessage(RTM_NEWNEIGH, cut, BRIDGE), { ok: false, reason: 'truncated' });
  const zeroLength = Buffer.concat([whole.subarray(0, 12), Buffer.alloc(4)]);
  assert.deepEqual(parseNeighbourMessage(RTM_NEWNEIGH, zeroLength, BRIDGE), { ok: false, reason: 'truncated' });
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let i = 0; i < 2000; i++) {
    const bytes = Buffer.from(whole);
    for (let j = 0; j < 4; j++) bytes[random() % bytes.length] = random() & 0xff;
    const length = random() % (bytes.length + 1);
    parseNeighbourMessage(i % 2 === 0 ? RTM_NEWNEIGH : RTM_DELNEIGH, bytes.subarray(0, length), BRIDGE);
  }
});

test('the dump request asks for AF_INET6 only', () => {
  const request = neighbourDumpRequest();
  assert.equal(request.length, 12);
  assert.equal(request[0], AF_INET6);
});

test('neighbourFeed: present → seen, failed → failed, deleted → unconfirmed, snapshot without MAC-less entries', () => {
  const calls: string[] = [];
  const feed = neighbourFeed({
    seen: (mac, address) => calls.push(`seen ${mac} ${address}`),
    failed: (address) => calls.push(`failed ${address}`),
    unconfirmed: (address) => calls.push(`unconfirmed ${address}`),
    snapshot: (present) => calls.push(`snapshot ${present.map((p) => p.address).join(',')}`),
  });
  feed.onEvent({ change: 'present', address: 'fd42::1', mac: '02:00:00:00:00:01' });
  feed.onEvent({ change: 'failed', address: 'fd42::1', mac: null });
  feed.onEvent({ change: 'deleted', address: 'fd42::2', mac: '02:00:00:00:00:01' });
  feed.onSnapshot([
    { change: 'present', address: 'fd42::3', mac: '02:00:00:00:00:01' },
    { change: 'present', address: 'fd42::4', mac: null },
  ]);
  assert.deepEqual(calls, ['seen 02:00:00:00:00:01 fd42::1', 'failed fd42::1', 'unconfirmed fd42::2', 'snapshot fd42::3']);
});
