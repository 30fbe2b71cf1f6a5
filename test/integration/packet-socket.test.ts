/**
 * PacketSocket against the real kernel: a veth pair inside a network namespace created (and removed) by this test.
 * Run as root: node --import tsx --test test/integration/packet-socket.test.ts
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readlinkSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  acceptAllFilter,
  BPF_K,
  BPF_RET,
  dhcpServerFilter,
  encodeBpf,
  FULL_FRAME_SNAPLEN,
  PACKET_BROADCAST,
  PACKET_HOST,
  PACKET_OUTGOING,
  statement,
} from '../../src/wire/bpf.ts';
import { PacketSocket, type ReceivedFrame } from '../../src/wire/packet-socket.ts';

const NS = `lxw-${randomBytes(4).toString('hex')}`;
const SERVER_IF = 'va';
const PEER_IF = 'vb';
const SERVER_MAC = '02:1a:b0:00:00:01';
const PEER_MAC = '02:1a:b0:00:00:02';
const SERVER_MTU = 1400;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const namespaceExists = (): boolean => existsSync(`/run/netns/${NS}`);

/** Retries because `ip netns del` cannot unlink the name while another mount namespace still holds a copy of it. */
function deleteNamespace(): void {
  let lastError: unknown = null;
  for (let attempt = 0; attempt < 20 && namespaceExists(); attempt++) {
    try {
      run('ip', ['netns', 'del', NS]);
    } catch (err) {
      lastError = err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  if (namespaceExists()) console.error(`could not delete network namespace ${NS}:`, lastError);
}

const openSockets: PacketSocket[] = [];

before(() => {
  run('ip', ['netns', 'add', NS]);
  process.once('exit', deleteNamespace); // in case the runner exits without running after()
  try {
    run('ip', ['netns', 'exec', NS, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    run('ip', ['netns', 'exec', NS, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
    run('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    run('ip', [
      '-n',
      NS,
      'link',
      'add',
      SERVER_IF,
      'address',
      SERVER_MAC,
      'mtu',
      String(SERVER_MTU),
      'type',
      'veth',
      'peer',
      'name',
      PEER_IF,
      'address',
      PEER_MAC,
    ]);
    run('ip', ['-n', NS, 'link', 'set', SERVER_IF, 'up']);
    run('ip', ['-n', NS, 'link', 'set', PEER_IF, 'up']);
  } catch (err) {
    deleteNamespace();
    throw err;
  }
});

after(() => {
  for (const socket of openSockets) socket.close();
  deleteNamespace();
});

// ---------- frames ----------

const macBytes = (mac: string): Buffer => Buffer.from(mac.replace(/:/g, ''), 'hex');
const BROADCAST = 'ff:ff:ff:ff:ff:ff';

function ethernet(destination: string, source: string, etherType: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(14);
  macBytes(destination).copy(header, 0);
  macBytes(source).copy(header, 6);
  header.writeUInt16BE(etherType, 12);
  return Buffer.concat([header, payload]);
}

/** IPv4 + UDP/TCP-ish transport header with the tag in the payload; checksums are not checked by the filter. */
function ipv4Frame(destination: string, protocol: number, destinationPort: number, tag: string): Buffer {
  const payload = Buffer.from(tag);
  const transport = Buffer.alloc(protocol === 6 ? 20 : 8);
  transport.writeUInt16BE(protocol === 6 ? 40000 : 68, 0);
  transport.writeUInt16BE(destinationPort, 2);
  if (protocol === 17) transport.writeUInt16BE(8 + payload.length, 4);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + transport.length + payload.length, 2);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(protocol, 9);
  ip.writeUInt32BE(0xffffffff, 16);
  return ethernet(destination, PEER_MAC, 0x0800, Buffer.concat([ip, transport, payload]));
}

const udpTo = (port: number, tag: string, destination = BROADCAST): Buffer => ipv4Frame(destination, 17, port, tag);
const tcpTo = (port: number, tag: string): Buffer => ipv4Frame(BROADCAST, 6, port, tag);
const arpFrame = (tag: string): Buffer => ethernet(BROADCAST, PEER_MAC, 0x0806, Buffer.concat([Buffer.alloc(28), Buffer.from(tag)]));

const uniqueTag = (name: string): string => `${name}-${randomBytes(6).toString('hex')}`;
const hasTag =
  (tag: string) =>
  (frame: ReceivedFrame): boolean =>
    frame.data.includes(tag);

// ---------- sockets that collect what they receive ----------

interface Collector {
  socket: PacketSocket;
  frames: ReceivedFrame[];
  wakeups: number;
  errors: Error[];
}

function openCollector(ifname: string, filter: Buffer): Collector {
  const collector: Collector = { socket: undefined as unknown as PacketSocket, frames: [], wakeups: 0, errors: [] };
  collector.socket = PacketSocket.open({
    ifname,
    netns: NS,
    filter,
    onFrames: (frames) => {
      collector.wakeups++;
      // Frames are views on a buffer shared by the wakeup; copy so later assertions see stable bytes.
      for (const frame of frames) collector.frames.push({ data: Buffer.from(frame.data), pktType: frame.pktType, ifindex: frame.ifindex });
    },
    onError: (err) => collector.errors.push(err),
  });
  openSockets.push(collector.socket);
  return collector;
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const acceptEverythingIncludingOutgoing = (): Buffer => encodeBpf([statement(BPF_RET | BPF_K, FULL_FRAME_SNAPLEN)]);

interface IpLink {
  ifindex: number;
  address: string;
  mtu: number;
}

// ---------- tests ----------

test('ifindex, mac and mtu match ip link show inside the namespace', () => {
  const server = openCollector(SERVER_IF, dhcpServerFilter());
  const links = JSON.parse(run('ip', ['-n', NS, '-j', 'link', 'show', SERVER_IF])) as IpLink[];
  const link = links[0];
  assert.ok(link);
  assert.equal(server.socket.ifname, SERVER_IF);
  assert.equal(server.socket.ifindex, link.ifindex);
  assert.equal(server.socket.mac, link.address);
  assert.equal(server.socket.mac, SERVER_MAC);
  assert.equal(server.socket.mtu, link.mtu);
  assert.equal(server.socket.mtu, SERVER_MTU);
  server.socket.close();
});

test('opening in a namespace leaves the calling thread in its own namespace', () => {
  const before = readlinkSync('/proc/thread-self/ns/net');
  const socket = openCollector(SERVER_IF, dhcpServerFilter()).socket;
  assert.equal(readlinkSync('/proc/thread-self/ns/net'), before);
  const testNamespace = run('ip', ['netns', 'exec', NS, 'readlink', '/proc/self/ns/net']).trim();
  assert.notEqual(testNamespace, before, 'the socket was opened in a different namespace');
  socket.close();
});

test('dhcpServerFilter passes UDP to 67 byte-identical and ARP, not UDP to 68 or TCP to 67', async () => {
  const server = openCollector(SERVER_IF, dhcpServerFilter());
  const peer = openCollector(PEER_IF, acceptAllFilter());
  const dhcp = udpTo(67, uniqueTag('dhcp'));
  const unicastDhcp = udpTo(67, uniqueTag('unicast'), SERVER_MAC);
  const toClientPort = udpTo(68, uniqueTag('to68'));
  const tcp = tcpTo(67, uniqueTag('tcp'));
  const arp = arpFrame(uniqueTag('arp'));
  const fence = udpTo(67, uniqueTag('fence'));

  for (const frame of [dhcp, unicastDhcp, toClientPort, tcp, arp, fence]) assert.equal(peer.socket.send(frame), true);
  await waitUntil(() => server.frames.some((f) => f.data.equals(fence)), 'the fence frame');

  // veth delivers in order, so once the fence is here everything sent before it has been filtered.
  const received = server.frames.map((f) => f.data);
  assert.equal(received.length, 4, `got ${received.length} frames`);
  assert.deepEqual(received[0], dhcp);
  assert.deepEqual(received[1], unicastDhcp);
  assert.deepEqual(received[2], arp);
  assert.deepEqual(received[3], fence);
  assert.equal(server.frames[0]?.pktType, PACKET_BROADCAST);
  assert.equal(server.frames[1]?.pktType, PACKET_HOST);
  assert.deepEqual(server.errors, []);
  server.socket.close();
  peer.socket.close();
});

test('outgoing frames are not received back, though the kernel does offer them to packet sockets', async () => {
  const server = openCollector(SERVER_IF, dhcpServerFilter());
  const serverOutgoingWatcher = openCollector(SERVER_IF, dhcpServerFilter());
  const seesOutgoingToo = openCollector(SERVER_IF, acceptEverythingIncludingOutgoing());
  const peer = openCollector(PEER_IF, acceptAllFilter());

  const sentByServer = udpTo(67, uniqueTag('from-server'));
  assert.equal(server.socket.send(sentByServer), true);
  await waitUntil(() => peer.frames.some((f) => f.data.equals(sentByServer)), 'the frame at the peer');
  await waitUntil(() => seesOutgoingToo.frames.some((f) => f.data.equals(sentByServer)), 'the control socket');
  assert.equal(seesOutgoingToo.frames.find((f) => f.data.equals(sentByServer))?.pktType, PACKET_OUTGOING);

  const fence = udpTo(67, uniqueTag('fence'));
  assert.equal(peer.socket.send(fence), true);
  await waitUntil(() => serverOutgoingWatcher.frames.some((f) => f.data.equals(fence)), 'the fence frame');
  await waitUntil(() => server.frames.some((f) => f.data.equals(fence)), 'the fence frame at the sender');
  assert.equal(
    serverOutgoingWatcher.frames.some((f) => f.data.equals(sentByServer)),
    false,
  );
  assert.equal(
    server.frames.some((f) => f.data.equals(sentByServer)),
    false,
  );
  assert.equal(
    server.frames.some((f) => f.pktType === PACKET_OUTGOING),
    false,
  );
  assert.equal(
    peer.frames.some((f) => f.data.equals(fence)),
    false,
    'acceptAllFilter drops the peer its own sends',
  );
  for (const c of [server, serverOutgoingWatcher, seesOutgoingToo, peer]) c.socket.close();
});

test('sendMany sends every frame and all of them arrive, batched into few wakeups', async () => {
  const server = openCollector(SERVER_IF, dhcpServerFilter());
  const peer = openCollector(PEER_IF, acceptAllFilter());
  const count = 1000;
  const run = uniqueTag('burst');
  const frames = Array.from({ length: count }, (_, i) => udpTo(67, `${run}#${String(i).padStart(4, '0')}`));

  let sent = 0;
  const deadline = Date.now() + 3000;
  while (sent < count && Date.now() < deadline) {
    sent += peer.socket.sendMany(frames.slice(sent));
    if (sent < count) await new Promise((resolve) => setTimeout(resolve, 1)); // kernel queue full: let it drain
  }
  assert.equal(sent, count);
  await waitUntil(() => server.frames.length >= count, `${count} frames`);
  assert.equal(server.frames.length, count);
  for (const [i, frame] of server.frames.entries()) assert.ok(frame.data.equals(frames[i] ?? Buffer.alloc(0)), `frame ${i}`);
  assert.ok(server.wakeups < count, `${server.wakeups} wakeups for ${count} frames`);
  const stats = server.socket.stats();
  assert.equal(stats.received, count);
  assert.equal(stats.dropped, 0);
  assert.equal(stats.truncated, 0);
  server.socket.close();
  peer.socket.close();
});

test('an exception from onFrames goes to onError and later frames still arrive', async () => {
  const errors: Error[] = [];
  const seen: string[] = [];
  const first = uniqueTag('first');
  const second = uniqueTag('second');
  const server = PacketSocket.open({
    ifname: SERVER_IF,
    netns: NS,
    filter: dhcpServerFilter(),
    onFrames: (frames) => {
      for (const frame of frames) {
        const tag = frame.data.includes(first) ? first : frame.data.includes(second) ? second : 'other';
        seen.push(tag);
        if (tag === first) throw new Error('onFrames failed on purpose');
      }
    },
    onError: (err) => errors.push(err),
  });
  openSockets.push(server);
  const peer = openCollector(PEER_IF, acceptAllFilter());
  assert.equal(peer.socket.send(udpTo(67, first)), true);
  await waitUntil(() => errors.length === 1, 'the reported error');
  assert.equal(errors[0]?.message, 'onFrames failed on purpose');
  assert.equal(peer.socket.send(udpTo(67, second)), true);
  await waitUntil(() => seen.includes(second), 'the second frame');
  assert.deepEqual(seen, [first, second]);
  server.close();
  peer.socket.close();
});

test('close is idempotent, works inside onFrames, and a closed socket refuses to send', async () => {
  const peer = openCollector(PEER_IF, acceptAllFilter());
  let deliveries = 0;
  const server: PacketSocket = PacketSocket.open({
    ifname: SERVER_IF,
    netns: NS,
    filter: dhcpServerFilter(),
    onFrames: () => {
      deliveries++;
      server.close();
    },
  });
  openSockets.push(server);
  assert.equal(peer.socket.send(udpTo(67, uniqueTag('closer'))), true);
  await waitUntil(() => deliveries === 1, 'the frame that closes the socket');
  assert.equal(peer.socket.send(udpTo(67, uniqueTag('after-close'))), true);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(deliveries, 1);
  server.close();
  assert.throws(() => server.send(udpTo(67, 'x')), /packet socket on va: send: socket is closed/);
  assert.throws(() => server.sendMany([udpTo(67, 'x')]), /socket is closed/);
  assert.deepEqual(Object.keys(server.stats()).sort(), ['dropped', 'received', 'truncated']);
  peer.socket.close();
});

test('open errors name the interface, the step and the errno text', () => {
  assert.throws(
    () => PacketSocket.open({ ifname: 'nope0', netns: NS, filter: dhcpServerFilter(), onFrames: () => {} }),
    (err: Error & { code?: string }) => {
      assert.equal(err.message, `packet socket on nope0 in netns ${NS}: if_nametoindex: No such device`);
      assert.equal(err.code, 'ENODEV');
      return true;
    },
  );
  assert.throws(
    () => PacketSocket.open({ ifname: 'va', netns: `${NS}-missing`, filter: dhcpServerFilter(), onFrames: () => {} }),
    /open netns: No such file or directory/,
  );
  assert.throws(
    () => PacketSocket.open({ ifname: 'lo', netns: NS, filter: dhcpServerFilter(), onFrames: () => {} }),
    /packet socket on lo in netns .*: not an Ethernet interface/,
  );
});

test('bad arguments from JS throw TypeError instead of crashing', () => {
  const open = (overrides: Record<string, unknown>): PacketSocket =>
    PacketSocket.open({ ifname: SERVER_IF, netns: NS, filter: dhcpServerFilter(), onFrames: () => {}, ...overrides });
  assert.throws(() => open({ filter: Buffer.alloc(7) }), TypeError);
  assert.throws(() => open({ filter: Buffer.alloc(0) }), TypeError);
  assert.throws(() => open({ filter: 'not a buffer' }), TypeError);
  assert.throws(() => open({ ifname: 'x'.repeat(16) }), TypeError);
  assert.throws(() => open({ ifname: 42 }), TypeError);
  assert.throws(() => open({ netns: '../etc' }), TypeError);
  assert.throws(() => open({ onFrames: undefined }), TypeError);
  // A filter the kernel's checker refuses (jump beyond the end) surfaces as SO_ATTACH_FILTER: Invalid argument.
  assert.throws(() => open({ filter: Buffer.from([0x15, 0, 9, 9, 0, 0, 0, 0]) }), /SO_ATTACH_FILTER: Invalid argument/);

  const socket = open({});
  openSockets.push(socket);
  assert.throws(() => socket.send('frame' as unknown as Buffer), TypeError);
  assert.throws(() => socket.sendMany('frames' as unknown as Buffer[]), TypeError);
  assert.throws(() => socket.sendMany([udpTo(67, 'ok'), 'bad' as unknown as Buffer]), /frames\[1\] is not a Buffer/);
  assert.equal(socket.sendMany([]), 0);
  assert.throws(() => socket.send(Buffer.alloc(SERVER_MTU + 14 + 100)), /packet socket on va: send: Message too long/);
  socket.close();
});

/** Runs a child process that opens a socket and returns; reports whether it exited on its own. */
function childExitsOnItsOwn(unref: boolean): boolean {
  const script = `
    import { PacketSocket } from './src/wire/packet-socket.ts';
    import { dhcpServerFilter } from './src/wire/bpf.ts';
    const socket = PacketSocket.open({ ifname: '${SERVER_IF}', netns: '${NS}', filter: dhcpServerFilter(), onFrames: () => {} });
    if (${unref}) socket.unref();
  `;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    timeout: 4000,
    encoding: 'utf8',
  });
  if (child.error && (child.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw child.error;
  if (child.status !== null && child.status !== 0) throw new Error(`child failed: ${child.stderr}`);
  return child.status === 0;
}

test("a ref'd socket keeps the process alive and unref() lets it exit", () => {
  assert.equal(childExitsOnItsOwn(true), true);
  assert.equal(childExitsOnItsOwn(false), false);
});

test("a socket JS drops after unref() is closed by the finalizer; a ref'd one stays open", () => {
  const script = `
    import { readdirSync, readlinkSync } from 'node:fs';
    import { PacketSocket } from './src/wire/packet-socket.ts';
    import { dhcpServerFilter } from './src/wire/bpf.ts';
    const sockets = () => readdirSync('/proc/self/fd').filter((fd) => {
      try { return readlinkSync('/proc/self/fd/' + fd).startsWith('socket:'); } catch { return false; }
    }).length;
    const settle = async () => {
      for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
    };
    const open = () => PacketSocket.open({ ifname: '${SERVER_IF}', netns: '${NS}', filter: dhcpServerFilter(), onFrames: () => {} });
    const baseline = sockets();
    for (let i = 0; i < 10; i++) open().unref();
    const opened = sockets();
    await settle();
    const afterUnrefd = sockets();
    const kept = [];
    for (let i = 0; i < 3; i++) kept.push(open().mtu);
    await settle();
    const afterRefd = sockets();
    console.log(JSON.stringify({ baseline, opened, afterUnrefd, afterRefd, kept: kept.length }));
    process.exit(0);
  `;
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    timeout: 10000,
    encoding: 'utf8',
  });
  assert.equal(child.status, 0, child.stderr);
  const counts = JSON.parse(child.stdout.trim()) as Record<string, number>;
  assert.equal(counts.opened, (counts.baseline ?? 0) + 10);
  assert.equal(counts.afterUnrefd, counts.baseline, 'collected sockets were closed');
  assert.equal(counts.afterRefd, (counts.baseline ?? 0) + 3, "ref'd sockets survive GC while open");
});

test('stats counts frames dropped while JS did not read, and reading resumes afterwards', async () => {
  const server = openCollector(SERVER_IF, dhcpServerFilter());
  const peer = openCollector(PEER_IF, acceptAllFilter());
  const frames = Array.from({ length: 64 }, () => udpTo(67, uniqueTag('flood')));
  let sent = 0;
  // All synchronous: the server cannot read until this loop ends, so its receive queue overflows.
  for (let round = 0; round < 600; round++) sent += peer.socket.sendMany(frames);
  await waitUntil(() => server.socket.stats().received > 0 && server.frames.length >= server.socket.stats().received, 'the queued frames');
  const stats = server.socket.stats();
  assert.ok(stats.dropped > 0, `dropped ${stats.dropped}`);
  assert.ok(stats.received + stats.dropped <= sent, `${stats.received} + ${stats.dropped} <= ${sent}`);
  assert.equal(server.frames.length, stats.received);
  const after = udpTo(67, uniqueTag('after-flood'));
  assert.equal(peer.socket.send(after), true);
  await waitUntil(() => server.frames.some((f) => f.data.equals(after)), 'a frame after the flood');
  server.socket.close();
  peer.socket.close();
});

test('a link going down is reported to onError and frames flow again once it is back up', async () => {
  const server = openCollector(SERVER_IF, dhcpServerFilter());
  const peer = openCollector(PEER_IF, acceptAllFilter());
  try {
    run('ip', ['-n', NS, 'link', 'set', SERVER_IF, 'down']);
    await waitUntil(() => server.errors.length > 0, 'the link-down error');
    assert.match(server.errors[0]?.message ?? '', /packet socket on va: (socket error|recvmmsg): Network is down/);
    assert.equal((server.errors[0] as NodeJS.ErrnoException | undefined)?.code, 'ENETDOWN');
  } finally {
    run('ip', ['-n', NS, 'link', 'set', SERVER_IF, 'up']);
  }
  const tag = uniqueTag('back-up');
  // veth carrier comes back asynchronously; resend until the frame gets through.
  await waitUntil(
    () => {
      if (!server.frames.some(hasTag(tag))) peer.socket.send(udpTo(67, tag));
      return server.frames.some(hasTag(tag));
    },
    'a frame after the link is back',
    5000,
  );
  server.socket.close();
  peer.socket.close();
});
