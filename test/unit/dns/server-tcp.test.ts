/**
 * DNS over TCP as a hostile client would use it, against a real DnsServer on 127.0.0.1: pipelining without reading,
 * holding many connections, sending a message a byte at a time, announcing a huge message. Limits are made small
 * through DnsServerOptions so each test takes about a second.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import dnsPacket from 'dns-packet';
import type { Question } from '../../../src/dns/message.ts';
import type { DnsLimits, DnsServer, RecursionResult, Recursor } from '../../../src/dns/server.ts';
import { TcpMessageReader } from '../../../src/dns/tcp-reader.ts';
import { makeDnsServer } from './fixture.ts';

const servers: DnsServer[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function startServer(limits: Partial<DnsLimits>, recursor: Recursor | null = null): Promise<DnsServer> {
  const server = makeDnsServer(recursor, { listen: '127.0.0.1', limits });
  await server.listen();
  servers.push(server);
  return server;
}

function query(name: string, type: string, id = 1): Buffer {
  return dnsPacket.encode({ id, type: 'query', questions: [{ name, type, class: 'IN' } as Question] });
}

function framed(message: Buffer): Buffer {
  const out = Buffer.alloc(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The server's accepted sockets (the same private field before and after the change). */
function serverSockets(server: DnsServer): Set<Socket> {
  return (server as unknown as { tcpConnections: Set<Socket> }).tcpConnections;
}

function open(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads framed answers from `s` until `count` arrived or `ms` passed. */
function readAnswers(s: Socket, count: number, ms: number): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const reader = new TcpMessageReader(65_535);
    const answers: Buffer[] = [];
    const done = (): void => {
      clearTimeout(timer);
      s.off('data', onData);
      resolve(answers);
    };
    const onData = (chunk: Buffer): void => {
      reader.push(chunk);
      for (let m = reader.next(); m instanceof Buffer; m = reader.next()) answers.push(m);
      if (answers.length >= count) done();
    };
    const timer = setTimeout(done, ms);
    s.on('data', onData);
  });
}

function closed(s: Socket): Promise<void> {
  return new Promise((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
}

test('a client pipelining thousands of ANY queries without reading: the server stops reading, its output stays bounded', async () => {
  const limits = { tcpOutputHighWater: 16_384, tcpMaxInFlightPerConnection: 4 };
  const server = await startServer(limits);
  const answerLength = ((await server.handle(query('lxc', 'ANY'), { address: '127.0.0.1', port: 1, transport: 'tcp' })) as Buffer).length;
  const client = await open(server.port);
  client.pause(); // never reads
  const one = framed(query('lxc', 'ANY'));
  const burst = Buffer.concat(Array.from({ length: 50_000 }, () => one));
  client.write(burst);
  // At least long enough for the old server to have read all 1.6 MB and answered it (about 8 MB of answers); on a
  // loaded machine, until the kernel's socket buffers are full and the pause is counted (at most 10 s).
  let peak = 0;
  for (let i = 0; i < 100 && (i < 15 || server.counters.limits.tcpOutputPaused === 0); i++) {
    await sleep(100);
    let buffered = 0;
    for (const s of serverSockets(server)) buffered += s.writableLength;
    peak = Math.max(peak, buffered);
  }
  const bound = limits.tcpOutputHighWater + limits.tcpMaxInFlightPerConnection * (answerLength + 2);
  assert.ok(peak <= bound, `server output buffered ${peak} bytes, bound ${bound}`);
  assert.ok(server.counters.limits.tcpOutputPaused >= 1, 'the pause was counted');
  // The client reads again: every query is answered in the end (nothing was dropped, only delayed).
  const answers = readAnswers(client, 50_000, 20_000);
  client.resume();
  assert.equal((await answers).length, 50_000);
  client.destroy();
});

test('one source cannot hold more than its share of TCP connections; another source still connects and is answered', async () => {
  const server = await startServer({ tcpMaxConnectionsPerSource: 3, tcpMaxConnections: 6 });
  const hog: Socket[] = [];
  for (let i = 0; i < 6; i++) {
    const s = await open(server.port, '127.0.0.2');
    s.on('error', () => undefined);
    hog.push(s);
  }
  await sleep(200);
  const stillOpen = hog.filter((s) => !s.destroyed && !s.readableEnded).length;
  assert.ok(stillOpen <= 3, `${stillOpen} connections from one source stayed open`);
  assert.ok(server.counters.limits.tcpPerSourceRefused >= 3);

  const other = await open(server.port, '127.0.0.3');
  const answers = readAnswers(other, 1, 2_000);
  other.write(framed(query('test.lxc', 'A', 7)));
  const [answer] = await answers;
  assert.ok(answer, 'the other source is answered');
  assert.equal(dnsPacket.decode(answer).id, 7);
  other.destroy();
  for (const s of hog) s.destroy();
});

test('a connection sending an unfinished message a byte at a time is closed by the message deadline', async () => {
  const server = await startServer({ tcpMessageDeadlineMs: 300, tcpIdleMs: 10_000 });
  const client = await open(server.port);
  client.setNoDelay(true);
  client.on('error', () => undefined);
  const bytes = framed(query('test.lxc', 'A'));
  const gone = closed(client);
  let sent = 0;
  const started = Date.now();
  // One byte every 100 ms: the whole query would take ~3 s; the idle timeout (10 s) never fires.
  while (sent < bytes.length && !client.destroyed && !client.readableEnded) {
    client.write(bytes.subarray(sent, sent + 1));
    sent++;
    await Promise.race([sleep(100), gone]);
  }
  assert.ok(sent < bytes.length, `the whole message (${bytes.length} bytes) went through: the slow sender was never cut off`);
  await gone;
  assert.ok(Date.now() - started < 2_000);
  assert.equal(server.counters.limits.tcpMessageDeadline, 1);
});

test('a query delivered byte by byte is reassembled and answered, without concatenating per chunk', async () => {
  const server = await startServer({});
  const client = await open(server.port);
  client.setNoDelay(true);
  const bytes = framed(query('test.lxc', 'A', 99));
  const answers = readAnswers(client, 1, 5_000);
  const realConcat = Buffer.concat;
  let concats = 0;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    concats++;
    return realConcat(list, total);
  }) as typeof Buffer.concat;
  try {
    for (let i = 0; i < bytes.length; i++) {
      client.write(bytes.subarray(i, i + 1));
      await sleep(2);
    }
    const [answer] = await answers;
    assert.ok(answer);
    assert.equal(dnsPacket.decode(answer).id, 99);
  } finally {
    Buffer.concat = realConcat;
  }
  assert.ok(concats <= 2, `Buffer.concat called ${concats} times for ${bytes.length} one-byte chunks`);
  client.destroy();
});

test('TcpMessageReader: any chunking gives the same messages, one allocation per message', () => {
  const messages = [query('a.lxc', 'A', 1), query('bb.lxc', 'AAAA', 2), Buffer.alloc(0), query('ccc.lxc', 'TXT', 3)];
  const stream = Buffer.concat(messages.map(framed));
  for (const size of [1, 2, 3, 7, stream.length]) {
    const reader = new TcpMessageReader(4096);
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) {
      reader.push(stream.subarray(i, i + size));
      for (let m = reader.next(); m instanceof Buffer; m = reader.next()) out.push(m);
    }
    assert.deepEqual(out, messages, `chunks of ${size}`);
    assert.equal(reader.allocations, messages.length);
    assert.equal(reader.partial, false);
  }
  const big = new TcpMessageReader(100);
  big.push(Buffer.from([0x01, 0x00]));
  assert.equal(big.next(), 'too-large');
});

test('a TCP query longer than the limit closes the connection', async () => {
  const server = await startServer({ tcpMaxQueryBytes: 512 });
  const client = await open(server.port);
  client.on('error', () => undefined);
  const gone = closed(client);
  client.write(Buffer.from([0x10, 0x00, 0x00])); // announces 4096 bytes
  const outcome = await Promise.race([gone.then(() => 'closed'), sleep(1_500).then(() => 'still open')]);
  assert.equal(outcome, 'closed');
  assert.equal(server.counters.limits.tcpQueryTooLarge, 1);
  client.destroy();
});

test('queries in flight per connection are capped: the rest wait unread until one completes, then all are answered', async () => {
  let inFlight = 0;
  let peak = 0;
  const slow: Recursor = {
    async resolve(q: Question): Promise<RecursionResult> {
      peak = Math.max(peak, ++inFlight);
      await sleep(20);
      inFlight--;
      return {
        ok: true,
        rcode: 0,
        answers: [{ type: 'A', name: q.name, ttl: 60, class: 'IN', data: '198.51.100.1' }],
        authorities: [],
        additionals: [],
        source: 'upstream',
      };
    },
  };
  const server = await startServer({ tcpMaxInFlightPerConnection: 4 }, slow);
  const client = await open(server.port);
  const answers = readAnswers(client, 40, 10_000);
  client.write(Buffer.concat(Array.from({ length: 40 }, (_, i) => framed(query(`n${i}.example`, 'A', i)))));
  assert.equal((await answers).length, 40);
  assert.equal(peak, 4, `${peak} queries of one connection were forwarded at once`);
  assert.ok(server.counters.limits.tcpInFlightPaused >= 1);
  client.destroy();
});
