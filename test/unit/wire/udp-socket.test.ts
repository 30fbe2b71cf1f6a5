/**
 * UdpSocket against the real kernel, on the loopback of a network namespace created (and removed) by this test:
 * batches in and out, coalesced sends, datagrams too big for a slot, bad peers, a full receive queue. Needs root.
 * Run: node --import tsx --test test/unit/wire/udp-socket.test.ts
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readlinkSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type ReceivedDatagrams, UdpSocket } from '../../../src/wire/udp-socket.ts';

const NS = `lxu-${randomBytes(4).toString('hex')}`;
const LOOPBACK = 0x7f000001;

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const namespaceExists = (): boolean => existsSync(`/run/netns/${NS}`);

function deleteNamespace(): void {
  for (let attempt = 0; attempt < 20 && namespaceExists(); attempt++) {
    try {
      run('ip', ['netns', 'del', NS]);
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  if (namespaceExists()) console.error(`could not delete network namespace ${NS}`);
}

const openSockets: UdpSocket[] = [];

before(() => {
  run('ip', ['netns', 'add', NS]);
  process.once('exit', deleteNamespace);
  try {
    run('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    deleteNamespace();
    throw err;
  }
});

after(() => {
  for (const socket of openSockets) socket.close();
  deleteNamespace();
});

interface Datagram {
  data: Buffer;
  address: number;
  port: number;
}

interface Collector {
  socket: UdpSocket;
  datagrams: Datagram[];
  batchSizes: number[];
  errors: Error[];
}

/** A socket on 127.0.0.1 in the test namespace; `answer` may queue replies in socket.outgoing (flushed after it). */
function openCollector(answer?: (batch: ReceivedDatagrams, socket: UdpSocket) => void): Collector {
  const collector: Collector = { socket: undefined as unknown as UdpSocket, datagrams: [], batchSizes: [], errors: [] };
  collector.socket = UdpSocket.open({
    address: '127.0.0.1',
    port: 0,
    netns: NS,
    onDatagrams: (batch) => {
      collector.batchSizes.push(batch.count);
      for (let i = 0; i < batch.count; i++) {
        const start = batch.offset(i);
        // The receive area is reused by the next wakeup: copy.
        collector.datagrams.push({ data: Buffer.from(batch.data.subarray(start, start + batch.length(i))), address: batch.address(i), port: batch.port(i) });
      }
      if (answer) {
        answer(batch, collector.socket);
        collector.socket.outgoing.flush();
      }
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

/** Echoes every datagram back to its sender with `suffix` appended, all in one sendQueued. */
const echo =
  (suffix: string) =>
  (batch: ReceivedDatagrams, socket: UdpSocket): void => {
    const out = socket.outgoing;
    for (let i = 0; i < batch.count; i++) {
      const start = batch.offset(i);
      const length = batch.length(i);
      batch.data.copy(out.area, out.used, start, start + length);
      out.area.write(suffix, out.used + length, 'latin1');
      out.add(length + suffix.length, batch.address(i), batch.port(i));
    }
  };

test('opening in a namespace leaves the calling thread in its own; the kernel picks a port for port 0', () => {
  const before = readlinkSync('/proc/thread-self/ns/net');
  const socket = openCollector().socket;
  assert.equal(readlinkSync('/proc/thread-self/ns/net'), before);
  assert.ok(socket.port > 0);
  const listening = run('ip', ['netns', 'exec', NS, 'ss', '-Hlun']);
  assert.match(listening, new RegExp(`127\\.0\\.0\\.1:${socket.port}\\s`));
  socket.close();
});

test('a batch in, its answers out: every datagram, its bytes, source address and port', async () => {
  const server = openCollector(echo('!'));
  const client = openCollector();
  const sent: string[] = [];
  for (let i = 0; i < 300; i++) {
    const payload = `query-${i}-${'x'.repeat(i % 7)}`;
    sent.push(payload);
    assert.equal(client.socket.send(Buffer.from(payload), LOOPBACK, server.socket.port), true);
  }
  await waitUntil(() => client.datagrams.length === 300, 'all 300 answers');
  assert.deepEqual(
    server.datagrams.map((d) => d.data.toString()),
    sent,
    'received in order, byte for byte',
  );
  assert.ok(server.datagrams.every((d) => d.address === LOOPBACK && d.port === client.socket.port));
  assert.ok(Math.max(...server.batchSizes) <= 256, 'at most 256 datagrams per wakeup');
  assert.ok(server.batchSizes.length < 300, `batched: ${server.batchSizes.length} wakeups for 300 datagrams`);
  assert.deepEqual(client.datagrams.map((d) => d.data.toString()).sort(), sent.map((s) => `${s}!`).sort(), 'every answer arrives as its own datagram');
  const stats = server.socket.stats();
  assert.equal(stats.received, 300);
  assert.equal(stats.sent, 300);
  assert.ok(stats.coalesced > 0, 'equal-length answers to one peer left as UDP_SEGMENT sends');
  assert.equal(stats.sendErrors + stats.sendDropped + stats.truncated + stats.receiveErrors, 0);
  assert.deepEqual(server.errors, []);
});

test('answers to several peers in one batch each reach their own peer', async () => {
  const server = openCollector(echo(''));
  const clients = [openCollector(), openCollector(), openCollector()];
  for (let round = 0; round < 20; round++) {
    for (const [n, c] of clients.entries()) c.socket.send(Buffer.from(`peer${n}-${round}`), LOOPBACK, server.socket.port);
  }
  await waitUntil(() => clients.every((c) => c.datagrams.length === 20), '20 answers per peer');
  clients.forEach((c, n) => {
    assert.ok(
      c.datagrams.every((d) => d.data.toString().startsWith(`peer${n}-`)),
      `peer ${n} got only its own answers`,
    );
  });
});

test('a datagram bigger than a receive slot is counted and dropped; zero-length datagrams arrive; the socket goes on', async () => {
  const server = openCollector();
  const client = openCollector();
  client.socket.send(Buffer.alloc(5000, 0x61), LOOPBACK, server.socket.port);
  client.socket.send(Buffer.alloc(0), LOOPBACK, server.socket.port);
  client.socket.send(Buffer.alloc(4096, 0x62), LOOPBACK, server.socket.port);
  client.socket.send(Buffer.from('after'), LOOPBACK, server.socket.port);
  await waitUntil(() => server.datagrams.some((d) => d.data.toString() === 'after'), 'the datagram after the big one');
  assert.deepEqual(
    server.datagrams.map((d) => d.data.length),
    [0, 4096, 5],
  );
  assert.equal(server.socket.stats().truncated, 1);
  assert.equal(server.socket.stats().received, 4);
});

test('a peer that cannot be answered is counted, and the rest of the batch still goes', async () => {
  const server = openCollector();
  const client = openCollector();
  const out = server.socket.outgoing;
  const queue = (text: string, port: number): void => {
    out.add(out.area.write(text, out.used, 'latin1'), LOOPBACK, port);
  };
  queue('one', client.socket.port);
  queue('bad', 0); // port 0: EINVAL
  queue('bad', 0);
  queue('two', client.socket.port);
  queue('six', client.socket.port);
  assert.equal(out.flush(), 3);
  await waitUntil(() => client.datagrams.length === 3, 'the three good datagrams');
  assert.deepEqual(client.datagrams.map((d) => d.data.toString()).sort(), ['one', 'six', 'two']);
  const stats = server.socket.stats();
  assert.equal(stats.sendErrors, 2);
  assert.equal(stats.lastSendError, 'EINVAL');
  assert.equal(client.socket.send(Buffer.from('x'), LOOPBACK, 0), false, 'send() reports rather than throws');
});

test('a full receive queue: datagrams dropped by the kernel show in kernelDrops', async () => {
  const server = openCollector();
  const client = openCollector();
  const payload = Buffer.alloc(1400, 0x63);
  // The event loop is busy while these go out, so the server reads none of them until the queue (about 1 MiB) is full.
  for (let i = 0; i < 4000; i++) client.socket.send(payload, LOOPBACK, server.socket.port);
  await waitUntil(() => server.datagrams.length > 0 && server.socket.stats().received === server.datagrams.length, 'the queue drained');
  await new Promise((resolve) => setTimeout(resolve, 50));
  // The kernel attaches its drop count to datagrams queued after the drops.
  client.socket.send(Buffer.from('marker'), LOOPBACK, server.socket.port);
  await waitUntil(() => server.datagrams.some((d) => d.data.toString() === 'marker'), 'the marker');
  const stats = server.socket.stats();
  assert.ok(stats.received < 4001, `only part of the flood was queued (${stats.received})`);
  assert.equal(stats.kernelDrops, 4001 - stats.received);
});

test('argument checks, EADDRINUSE, and a closed socket', () => {
  const server = openCollector();
  assert.throws(
    () => UdpSocket.open({ address: '127.0.0.1', port: server.socket.port, netns: NS, onDatagrams: () => undefined }),
    (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' && /udp socket on 127\.0\.0\.1 port \d+ in netns .*: bind: Address already in use/.test(err.message),
  );
  assert.throws(() => UdpSocket.open({ address: '::1', port: 0, netns: NS, onDatagrams: () => undefined }), TypeError);
  assert.throws(() => UdpSocket.open({ address: '127.0.0.1', port: 70000, netns: NS, onDatagrams: () => undefined }), TypeError);
  assert.throws(() => UdpSocket.open({ address: '127.0.0.1', port: 0, netns: '../x', onDatagrams: () => undefined }), TypeError);
  assert.throws(() => server.socket.send(Buffer.from('x'), -1, 53), TypeError);
  const out = server.socket.outgoing;
  out.add(10, LOOPBACK, 70000);
  assert.throws(() => out.flush(), RangeError, 'a port above 65535 in the queue');
  assert.equal(out.count, 0, 'the queue is empty again after the throw');
  server.socket.close();
  server.socket.close();
  assert.equal(server.socket.send(Buffer.from('x'), LOOPBACK, 53), false);
  out.add(1, LOOPBACK, 53);
  assert.equal(out.flush(), 0);
});

/** The namespace's ICMP "destination unreachable" messages sent so far (Icmp: OutDestUnreachs in /proc/net/snmp). */
function unreachablesSent(): number {
  const lines = run('ip', ['netns', 'exec', NS, 'cat', '/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Icmp:'));
  const keys = (lines[0] ?? '').split(/\s+/);
  const values = (lines[1] ?? '').split(/\s+/);
  return Number(values[keys.indexOf('OutDestUnreachs')]);
}

test('discard: the socket holds its port (no ICMP port unreachable) and receives nothing', async () => {
  let calls = 0;
  const guard = UdpSocket.open({ address: '127.0.0.1', port: 0, netns: NS, discard: true, onDatagrams: () => calls++ });
  openSockets.push(guard);
  const client = openCollector();
  const before = unreachablesSent();
  for (let i = 0; i < 50; i++) assert.equal(client.socket.send(Buffer.from(`to-guard-${i}`), LOOPBACK, guard.port), true);
  // a marker through a normal socket: once it is in, the guard's datagrams went through the kernel before it
  const marker = openCollector();
  client.socket.send(Buffer.from('marker'), LOOPBACK, marker.socket.port);
  await waitUntil(() => marker.datagrams.length === 1, 'the marker');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(calls, 0, 'nothing reached JS');
  assert.equal(guard.stats().received, 0, 'nothing was queued for the socket');
  assert.equal(unreachablesSent(), before, 'the port counted as open: no ICMP');
  // the control: the same port once closed is answered with ICMP port unreachable
  const port = guard.port;
  guard.close();
  client.socket.send(Buffer.from('to-closed'), LOOPBACK, port);
  await waitUntil(() => unreachablesSent() > before, 'ICMP port unreachable for the closed port');
});
