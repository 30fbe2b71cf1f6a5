// The Forwarder against real DNS servers started in this process on 127.0.0.1 (UDP and TCP on
// the same ephemeral port). Nothing leaves the loopback interface.
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from 'dns-packet';
import { DnsCache, type DnsQuestion, Forwarder, type ForwarderOptions, StaticUpstreams, type Upstream } from '../../../src/dns/forward/index.ts';

interface Exchange {
  readonly query: DecodedPacket;
  readonly transport: 'udp' | 'tcp';
  readonly remote: { address: string; port: number };
}

/** What the test server sends back: a packet, or nothing (a dead server). */
type Handler = (exchange: Exchange, server: TestUpstream) => Packet | undefined | Promise<Packet | undefined>;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function bindUdp(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function listenTcp(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

class TestUpstream {
  readonly exchanges: Exchange[] = [];
  private readonly connections = new Set<TcpSocket>();

  private constructor(
    readonly udp: Socket,
    readonly tcp: Server,
    readonly port: number,
    private readonly handler: Handler,
  ) {
    udp.on('message', (message: Buffer, remote: RemoteInfo) => void this.onUdp(message, remote));
    tcp.on('connection', (socket) => this.onTcp(socket));
  }

  static async start(handler: Handler): Promise<TestUpstream> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const udp = createSocket('udp4');
      await bindUdp(udp, 0, '127.0.0.1');
      const port = udp.address().port;
      const tcp = createServer();
      try {
        await listenTcp(tcp, port);
      } catch {
        udp.close();
        continue;
      }
      const server = new TestUpstream(udp, tcp, port, handler);
      running.add(server);
      return server;
    }
    throw new Error('no port free for both UDP and TCP');
  }

  get upstream(): Upstream {
    return { address: '127.0.0.1', port: this.port, family: 4 };
  }

  count(transport: 'udp' | 'tcp'): number {
    return this.exchanges.filter((exchange) => exchange.transport === transport).length;
  }

  private async onUdp(message: Buffer, remote: RemoteInfo): Promise<void> {
    const exchange: Exchange = { query: dnsPacket.decode(message), transport: 'udp', remote: { address: remote.address, port: remote.port } };
    this.exchanges.push(exchange);
    const reply = await this.handler(exchange, this);
    if (reply !== undefined && running.has(this)) this.udp.send(dnsPacket.encode(reply), remote.port, remote.address);
  }

  private onTcp(socket: TcpSocket): void {
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      const query = dnsPacket.decode(received.subarray(2, 2 + received.readUInt16BE(0)));
      const exchange: Exchange = { query, transport: 'tcp', remote: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 } };
      this.exchanges.push(exchange);
      void Promise.resolve(this.handler(exchange, this)).then((reply) => {
        if (reply === undefined) return;
        const body = dnsPacket.encode(reply);
        const length = Buffer.alloc(2);
        length.writeUInt16BE(body.length);
        socket.end(Buffer.concat([length, body]));
      });
    });
    socket.on('error', () => undefined);
  }

  async stop(): Promise<void> {
    if (!running.delete(this)) return;
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => this.udp.close(() => resolve()));
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }
}

const running = new Set<TestUpstream>();
const forwarders = new Set<Forwarder>();

afterEach(async () => {
  for (const forwarder of forwarders) await forwarder.close();
  forwarders.clear();
  for (const server of [...running]) await server.stop();
});

function makeForwarder(upstreams: readonly Upstream[], options: Partial<ForwarderOptions> = {}): Forwarder {
  const forwarder = new Forwarder({ upstreams: new StaticUpstreams(upstreams), timeoutMs: 300, ...options });
  forwarders.add(forwarder);
  return forwarder;
}

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;

function replyTo(
  query: DecodedPacket,
  parts: { answers?: Answer[]; authorities?: Answer[]; rcode?: keyof typeof RCODES; truncated?: boolean; id?: number; name?: string } = {},
): Packet {
  const question = query.questions?.[0];
  assert.ok(question);
  return {
    type: 'response',
    id: parts.id ?? query.id,
    flags:
      dnsPacket.RECURSION_DESIRED |
      dnsPacket.RECURSION_AVAILABLE |
      RCODES[parts.rcode ?? 'NOERROR'] |
      (parts.truncated === true ? dnsPacket.TRUNCATED_RESPONSE : 0),
    questions: [{ ...question, name: parts.name ?? question.name }],
    answers: parts.answers ?? [],
    authorities: parts.authorities ?? [],
  };
}

function a(name: string, address: string, ttl = 300): Answer {
  return { type: 'A', name, ttl, class: 'IN', data: address };
}

function addressesOf(records: readonly Answer[]): string[] {
  return records.flatMap((record) => (record.type === 'A' ? [record.data] : []));
}

function ttlsOf(records: readonly Answer[]): number[] {
  return records.flatMap((record) => (record.type === 'OPT' ? [] : [record.ttl ?? -1]));
}

const WWW: DnsQuestion = { name: 'www.example.test', type: 'A', class: 'IN' };
const answersWww: Handler = ({ query }) => replyTo(query, { answers: [a('www.example.test', '192.0.2.80')] });
const dead: Handler = () => undefined;

describe('Forwarder', () => {
  test('relays the upstream answer; the query has RD, EDNS0 with 1232 bytes, and the client DO/CD bits', async () => {
    const server = await TestUpstream.start(answersWww);
    const forwarder = makeForwarder([server.upstream]);
    const result = await forwarder.forward(WWW, { dnssecOk: true, checkingDisabled: true });
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(addressesOf(result.answer.answers), ['192.0.2.80']);
    assert.equal(result.answer.rcode, 'NOERROR');
    assert.equal(result.transport, 'udp');
    assert.deepEqual(result.upstream, server.upstream);

    const [exchange] = server.exchanges;
    assert.ok(exchange);
    assert.equal(exchange.query.flag_rd, true);
    assert.equal(exchange.query.flag_cd, true);
    const opt = exchange.query.additionals?.find((record) => record.type === 'OPT');
    assert.ok(opt && opt.type === 'OPT');
    assert.equal(opt.udpPayloadSize, 1232);
    assert.equal(opt.flag_do, true);
    const sent = exchange.query.questions ?? [];
    assert.deepEqual(
      sent.map((q) => ({ ...q, name: q.name.toLowerCase() })),
      [{ name: 'www.example.test', type: 'A', class: 'IN' }],
    );
    assert.equal(forwarder.stats.queriesSent, 1);
  });

  test('answers from the cache after the upstream is stopped, TTLs counted down by the injected clock', async () => {
    let clock = 1_000_000;
    const server = await TestUpstream.start(answersWww);
    const forwarder = makeForwarder([server.upstream], { cache: new DnsCache(), now: () => clock });
    const first = await forwarder.resolve(WWW);
    assert.ok(first.ok && first.source === 'upstream');
    await server.stop();

    clock += 100_000;
    const second = await forwarder.resolve({ name: 'WWW.example.test', type: 'A' });
    assert.ok(second.ok && second.source === 'cache', JSON.stringify(second));
    assert.deepEqual(addressesOf(second.answer.answers), ['192.0.2.80']);
    assert.deepEqual(ttlsOf(second.answer.answers), [200]);
    assert.deepEqual(forwarder.cache?.stats.hits, 1);

    clock += 200_000;
    const expired = await forwarder.resolve(WWW);
    assert.equal(expired.ok, false, 'expired entry and a stopped upstream: no answer');
  });

  test('NXDOMAIN is cached for the SOA minimum, then asked again', async () => {
    let clock = 5_000_000;
    const server = await TestUpstream.start(({ query }) =>
      replyTo(query, {
        rcode: 'NXDOMAIN',
        authorities: [
          {
            type: 'SOA',
            name: 'example.test',
            ttl: 3600,
            class: 'IN',
            data: { mname: 'ns.example.test', rname: 'root.example.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 },
          },
        ],
      }),
    );
    const forwarder = makeForwarder([server.upstream], { cache: new DnsCache(), now: () => clock });
    const missing: DnsQuestion = { name: 'missing.example.test', type: 'A', class: 'IN' };
    assert.equal((await forwarder.resolve(missing)).ok, true);
    clock += 59_000;
    const cached = await forwarder.resolve(missing);
    assert.ok(cached.ok && cached.source === 'cache');
    assert.equal(cached.answer.kind, 'nxdomain');
    assert.equal(cached.answer.rcode, 'NXDOMAIN');
    assert.equal(server.count('udp'), 1);
    clock += 1_000;
    const again = await forwarder.resolve(missing);
    assert.ok(again.ok && again.source === 'upstream');
    assert.equal(server.count('udp'), 2);
  });

  test('an upstream that does not answer times out and the next one answers', async () => {
    const silent = await TestUpstream.start(dead);
    const alive = await TestUpstream.start(answersWww);
    const forwarder = makeForwarder([silent.upstream, alive.upstream], { timeoutMs: 200 });
    const result = await forwarder.forward(WWW);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.upstream, alive.upstream);
    assert.equal(silent.count('udp'), 1);
    assert.equal(forwarder.stats.timeouts, 1);
    assert.equal(forwarder.stats.queriesSent, 2);
  });

  test('an upstream that failed is asked last for a while, then first again', async () => {
    const silent = await TestUpstream.start(dead);
    const alive = await TestUpstream.start(answersWww);
    const penalised = makeForwarder([silent.upstream, alive.upstream], { timeoutMs: 200 });
    assert.ok((await penalised.forward(WWW)).ok);
    assert.ok((await penalised.forward({ name: 'other.example.test', type: 'A' })).ok);
    assert.equal(silent.count('udp'), 1, 'the second question went straight to the live upstream');
    assert.equal(penalised.stats.timeouts, 1);

    const forgetful = makeForwarder([silent.upstream, alive.upstream], { timeoutMs: 200, failurePenaltyMs: 0 });
    assert.ok((await forgetful.forward(WWW)).ok);
    assert.ok((await forgetful.forward({ name: 'other.example.test', type: 'A' })).ok);
    assert.equal(silent.count('udp'), 3, 'with no penalty the first upstream is asked every time');
  });

  test('SERVFAIL from the first upstream: the second is asked', async () => {
    const failing = await TestUpstream.start(({ query }) => replyTo(query, { rcode: 'SERVFAIL' }));
    const alive = await TestUpstream.start(answersWww);
    const forwarder = makeForwarder([failing.upstream, alive.upstream]);
    const result = await forwarder.forward(WWW);
    assert.ok(result.ok);
    assert.deepEqual(result.upstream, alive.upstream);
    assert.equal(forwarder.stats.errorRcodes, 1);
  });

  test('all upstreams dead: servfail, within a bounded time', async () => {
    const one = await TestUpstream.start(dead);
    const two = await TestUpstream.start(dead);
    const forwarder = makeForwarder([one.upstream, two.upstream], { timeoutMs: 200 });
    const started = Date.now();
    const result = await forwarder.forward(WWW);
    const elapsed = Date.now() - started;
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.equal(result.failure, 'servfail');
    assert.deepEqual(
      result.attempts.map((attempt) => [attempt.upstream.port, attempt.outcome]),
      [
        [one.port, 'timeout'],
        [two.port, 'timeout'],
      ],
    );
    assert.ok(elapsed < 3000, `took ${elapsed} ms`);
  });

  test('the total budget ends the search before every upstream was tried: timeout', async () => {
    const servers = [await TestUpstream.start(dead), await TestUpstream.start(dead), await TestUpstream.start(dead)];
    const forwarder = makeForwarder(
      servers.map((server) => server.upstream),
      { timeoutMs: 300, totalTimeoutMs: 450 },
    );
    const result = await forwarder.forward(WWW);
    assert.ok(!result.ok);
    assert.equal(result.failure, 'timeout');
    assert.equal(servers[2]?.count('udp'), 0, 'the third upstream was never asked');
  });

  test('no upstreams: no-upstream, nothing sent', async () => {
    const forwarder = makeForwarder([]);
    const result = await forwarder.forward(WWW);
    assert.ok(!result.ok);
    assert.equal(result.failure, 'no-upstream');
    assert.equal(forwarder.stats.queriesSent, 0);
  });

  test('a truncated UDP answer is retried over TCP to the same upstream and the full answer returned', async () => {
    const many = Array.from({ length: 60 }, (_, i) => a('www.example.test', `192.0.2.${i + 1}`));
    const server = await TestUpstream.start(({ query, transport }) =>
      transport === 'udp' ? replyTo(query, { truncated: true, answers: many.slice(0, 2) }) : replyTo(query, { answers: many }),
    );
    const forwarder = makeForwarder([server.upstream], { cache: new DnsCache() });
    const result = await forwarder.resolve(WWW);
    assert.ok(result.ok && result.source === 'upstream', JSON.stringify(result));
    assert.equal(result.transport, 'tcp');
    assert.equal(result.answer.answers.length, 60);
    assert.equal(server.count('udp'), 1);
    assert.equal(server.count('tcp'), 1);
    assert.equal(forwarder.stats.tcRetries, 1);
    const cached = await forwarder.resolve(WWW);
    assert.ok(cached.ok && cached.source === 'cache');
    assert.equal(cached.answer.answers.length, 60, 'the TCP answer is what was cached');
  });

  test('spoofed replies (wrong id, wrong name, wrong port, wrong address) are dropped and the real one accepted', async () => {
    const wrongPort = createSocket('udp4');
    await bindUdp(wrongPort, 0, '127.0.0.1');
    // Same port as the upstream, other loopback address (all of 127/8 is loopback on Linux).
    const wrongAddress = createSocket('udp4');
    try {
      const server = await TestUpstream.start(async ({ query, remote }, self) => {
        const forged = (packet: Packet): Buffer => dnsPacket.encode(packet);
        const evil = [a('www.example.test', '203.0.113.66')];
        self.udp.send(forged(replyTo(query, { answers: evil, id: (query.id ?? 0) ^ 0x5a5a })), remote.port, remote.address);
        self.udp.send(forged(replyTo(query, { answers: evil, name: 'www.example.tesu' })), remote.port, remote.address);
        wrongPort.send(forged(replyTo(query, { answers: evil })), remote.port, remote.address);
        wrongAddress.send(forged(replyTo(query, { answers: evil })), remote.port, remote.address);
        self.udp.send(Buffer.from([0x12]), remote.port, remote.address);
        await sleep(50);
        return replyTo(query, { answers: [a('WWW.EXAMPLE.TEST', '192.0.2.80')] });
      });
      await bindUdp(wrongAddress, server.port, '127.0.0.2');
      const forwarder = makeForwarder([server.upstream], { cache: new DnsCache(), timeoutMs: 1000 });
      const result = await forwarder.resolve(WWW);
      assert.ok(result.ok, JSON.stringify(result));
      assert.deepEqual(addressesOf(result.answer.answers), ['192.0.2.80'], 'the real answer');
      assert.equal(forwarder.stats.mismatchedDropped, 5);
      const cached = await forwarder.resolve(WWW);
      assert.ok(cached.ok && cached.source === 'cache');
      assert.deepEqual(addressesOf(cached.answer.answers), ['192.0.2.80'], 'no poisoning');
    } finally {
      wrongPort.close();
      wrongAddress.close();
    }
  });

  test('identical concurrent questions share one upstream query; different ones do not', async () => {
    const server = await TestUpstream.start(async ({ query }) => {
      await sleep(100);
      const name = query.questions?.[0]?.name ?? '';
      return replyTo(query, { answers: [a(name, '192.0.2.80')] });
    });
    const forwarder = makeForwarder([server.upstream], { timeoutMs: 2000 });
    const burst = Array.from({ length: 10 }, (_, i) => forwarder.forward({ name: i % 2 === 0 ? 'www.example.test' : 'WWW.EXAMPLE.TEST', type: 'A' }));
    const other = forwarder.forward({ name: 'mail.example.test', type: 'A' });
    const otherType = forwarder.forward({ name: 'www.example.test', type: 'AAAA' });
    const results = await Promise.all([...burst, other, otherType]);
    for (const result of results) assert.ok(result.ok);
    assert.equal(server.count('udp'), 3);
    assert.equal(forwarder.stats.coalesced, 9);
    assert.equal(forwarder.stats.queriesSent, 3);

    await forwarder.forward(WWW);
    assert.equal(server.count('udp'), 4, 'finished questions are not merged with later ones');
  });

  test('query ids are random and every query comes from its own random source port (RFC 5452), closed afterwards', async () => {
    const server = await TestUpstream.start(answersWww);
    const forwarder = makeForwarder([server.upstream]);
    for (let i = 0; i < 40; i++) await forwarder.forward(WWW);
    const ids = new Set(server.exchanges.map((exchange) => exchange.query.id));
    assert.ok(ids.size >= 35, `only ${ids.size} distinct ids in 40 queries`);
    const ports = new Set(server.exchanges.map((exchange) => exchange.remote.port));
    assert.ok(ports.size >= 38, `only ${ports.size} distinct source ports in 40 queries`);
    assert.ok(!ports.has(server.port));
    assert.equal(forwarder.openSocketCount, 0, 'each socket is closed when its query settles');
  });

  test('close() ends waiting queries at once', async () => {
    const server = await TestUpstream.start(dead);
    const forwarder = makeForwarder([server.upstream], { timeoutMs: 10_000, totalTimeoutMs: 20_000 });
    const waiting = forwarder.forward(WWW);
    while (server.count('udp') === 0) await sleep(10);
    const started = Date.now();
    await forwarder.close();
    const result = await waiting;
    assert.equal(result.ok, false);
    assert.ok(Date.now() - started < 2000);
    assert.equal(forwarder.pendingCount, 0);
  });

  test('a name dns-packet cannot encode is refused without sending', async () => {
    const server = await TestUpstream.start(answersWww);
    const forwarder = makeForwarder([server.upstream]);
    const result = await forwarder.forward({ name: `${'x'.repeat(64)}.example.test`, type: 'A' });
    assert.ok(!result.ok);
    assert.equal(result.failure, 'servfail');
    assert.equal(server.count('udp'), 0);
  });
});
