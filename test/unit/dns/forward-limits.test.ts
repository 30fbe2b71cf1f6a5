// Issue 11, forwarder side, against fake upstreams on 127.0.0.1: bounded waiting (a flood of distinct questions to
// a black-hole upstream settles, never more than the cap pending, the event loop keeps turning), per-client caps,
// a random source port per query, 0x20 case randomisation checked on the answer (with the fallback for upstreams
// that do not keep case), and the DO bit forwarded with RRSIGs passed back. Nothing leaves the loopback interface.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';
import {
  DnsCache,
  Forwarder,
  type ForwarderOptions,
  MAX_PENDING_PER_CLIENT,
  MAX_PENDING_UPSTREAM,
  restoreCase,
  StaticUpstreams,
  type Upstream,
} from '../../../src/dns/forward/index.ts';
import type { Question } from '../../../src/dns/message.ts';
import { createRecursor } from '../../../src/dns/recursor.ts';

interface Seen {
  readonly raw: Buffer;
  readonly query: DecodedPacket;
  readonly remote: RemoteInfo;
}

/** Gets the query bytes; returns the raw replies to send back (none: a black hole). */
type RawHandler = (seen: Seen, fake: FakeUpstream) => Buffer[] | Promise<Buffer[]>;

class FakeUpstream {
  readonly seen: Seen[] = [];
  private constructor(
    readonly socket: Socket,
    private readonly handler: RawHandler,
  ) {
    socket.on('message', (raw: Buffer, remote: RemoteInfo) => void this.onMessage(raw, remote));
  }

  static async start(handler: RawHandler): Promise<FakeUpstream> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const fake = new FakeUpstream(socket, handler);
    fakes.add(fake);
    return fake;
  }

  get upstream(): Upstream {
    return { address: '127.0.0.1', port: this.socket.address().port, family: 4 };
  }

  private async onMessage(raw: Buffer, remote: RemoteInfo): Promise<void> {
    const seen: Seen = { raw, query: dnsPacket.decode(raw), remote };
    this.seen.push(seen);
    for (const reply of await this.handler(seen, this)) if (fakes.has(this)) this.socket.send(reply, remote.port, remote.address);
  }

  stop(): void {
    if (fakes.delete(this)) this.socket.close();
  }
}

const fakes = new Set<FakeUpstream>();
const forwarders = new Set<Forwarder>();

afterEach(async () => {
  for (const forwarder of forwarders) await forwarder.close();
  forwarders.clear();
  for (const fake of [...fakes]) fake.stop();
});

function makeForwarder(upstream: Upstream, options: Partial<ForwarderOptions> = {}): Forwarder {
  const forwarder = new Forwarder({ upstreams: new StaticUpstreams([upstream]), timeoutMs: 300, ...options });
  forwarders.add(forwarder);
  return forwarder;
}

const blackHole: RawHandler = () => [];

/**
 * An answer built by hand, the way real servers write it: the question copied from the query bytes (its case
 * included unless `questionName` overrides it) and the answer's owner name a compression pointer to it (0xc00c).
 */
function rawAnswer(query: Buffer, address: string, questionName?: string): Buffer {
  let end = 12;
  while (query[end] !== 0) end += (query[end] as number) + 1;
  end += 5;
  const question = Buffer.from(query.subarray(12, end));
  if (questionName !== undefined) {
    let at = 0;
    for (const label of questionName.split('.')) {
      question[at] = label.length;
      question.write(label, at + 1, 'ascii');
      at += label.length + 1;
    }
  }
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8180, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(1, 6);
  const record = Buffer.alloc(16);
  record.writeUInt16BE(0xc00c, 0);
  record.writeUInt16BE(1, 2);
  record.writeUInt16BE(1, 4);
  record.writeUInt32BE(300, 6);
  record.writeUInt16BE(4, 10);
  for (const [i, octet] of address.split('.').entries()) record[12 + i] = Number(octet);
  return Buffer.concat([header, question, record]);
}

const echoes: RawHandler = ({ raw }) => [rawAnswer(raw, '192.0.2.80')];

function sentName(seen: Seen): string {
  return seen.query.questions?.[0]?.name ?? '';
}

describe('bounded waiting upstream', () => {
  test('a flood of 70 000 distinct questions to a black hole settles, never more than the cap pending, loop not blocked', async () => {
    const child = fileURLToPath(new URL('./forward-flood-child.ts', import.meta.url));
    const outcome = await new Promise<{ stdout: string; error: Error | null }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', child], { timeout: 60_000, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (error, stdout) =>
        resolve({ stdout, error }),
      );
    });
    assert.equal(outcome.error, null, `the flood did not finish within 60 s (the forwarder hung): ${outcome.error?.message}`);
    const report = JSON.parse(outcome.stdout) as {
      settled: number;
      settledWhenImmediateRan: number;
      maxPending: number;
      maxInFlight: number;
      maxSockets: number;
      failures: Record<string, number>;
      stats: { limitedPending: number; limitedWaiting: number };
    };
    assert.equal(report.settled, 70_000, 'every question settles');
    assert.ok(report.maxPending <= MAX_PENDING_UPSTREAM, `${report.maxPending} queries pending at once`);
    assert.ok(report.maxInFlight <= MAX_PENDING_UPSTREAM, `${report.maxInFlight} distinct questions in flight at once`);
    assert.ok(report.maxSockets <= MAX_PENDING_UPSTREAM, `${report.maxSockets} upstream sockets open at once`);
    assert.ok((report.failures.limit ?? 0) >= 70_000 - MAX_PENDING_UPSTREAM, JSON.stringify(report.failures));
    assert.ok(report.settledWhenImmediateRan < 70_000, 'a setImmediate ran while the flood still waited upstream');
    assert.equal(report.stats.limitedPending + report.stats.limitedWaiting, report.failures.limit);
  });

  test('one client gets at most MAX_PENDING_PER_CLIENT waiting; the rest fail at once; other clients still get through', async () => {
    const fake = await FakeUpstream.start(blackHole);
    const forwarder = makeForwarder(fake.upstream, { timeoutMs: 10_000, totalTimeoutMs: 10_000 });
    const flood = Array.from({ length: MAX_PENDING_PER_CLIENT + 36 }, (_, i) => forwarder.resolve({ name: `q${i}.example.test`, type: 'A' }, {}, '10.0.0.66'));
    const refused = await Promise.race([Promise.all(flood.slice(MAX_PENDING_PER_CLIENT)), new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 5000))]);
    if (refused === 'waiting') assert.fail('the questions beyond the cap are refused before the upstream timeout');
    for (const result of refused) assert.ok(!result.ok && result.failure === 'limit' && result.limit === 'per-client', JSON.stringify(result));
    assert.equal(forwarder.stats.limitedPerClient, 36);
    const other = forwarder.resolve({ name: 'other.example.test', type: 'A' }, {}, '10.0.0.7');
    while (fake.seen.length < MAX_PENDING_PER_CLIENT + 1) await new Promise((r) => setTimeout(r, 10));
    assert.ok(
      fake.seen.some((seen) => sentName(seen).toLowerCase() === 'other.example.test'),
      'another client is still forwarded',
    );
    await forwarder.close();
    await Promise.all([...flood, other]);
  });

  test('identical questions share one upstream slot; distinct ones beyond maxPending fail at once', async () => {
    const fake = await FakeUpstream.start(blackHole);
    const forwarder = makeForwarder(fake.upstream, { maxPending: 2 });
    const same = Array.from({ length: 20 }, () => forwarder.forward({ name: 'same.example.test', type: 'A' }));
    assert.equal(forwarder.inFlightCount, 1);
    const second = forwarder.forward({ name: 'second.example.test', type: 'A' });
    const third = await forwarder.forward({ name: 'third.example.test', type: 'A' });
    assert.ok(!third.ok && third.failure === 'limit' && third.limit === 'pending');
    assert.equal(forwarder.stats.coalesced, 19);
    await Promise.all([...same, second]);
  });

  test('the recursor answers a refused question at once with reason "limit: ..." and tells the observer', async () => {
    const fake = await FakeUpstream.start(blackHole);
    const errors: string[] = [];
    const recursor = createRecursor({
      upstreams: [fake.upstream],
      resolvConf: '/nonexistent',
      ignore: [],
      observer: { cacheHit: () => undefined, cacheMiss: () => undefined, upstreamLatency: () => undefined, upstreamError: (kind) => errors.push(kind) },
    });
    forwarders.add(recursor.forwarder);
    const opts = { checkingDisabled: false, dnssecOk: false, client: '10.0.0.9' };
    const waiting = Array.from({ length: MAX_PENDING_PER_CLIENT }, (_, i) =>
      recursor.resolve({ name: `r${i}.example.test`, type: 'A', class: 'IN' } as Question, opts),
    );
    const refused = await recursor.resolve({ name: 'one-more.example.test', type: 'A', class: 'IN' } as Question, opts);
    assert.ok(!refused.ok && refused.reason.startsWith('limit:'), JSON.stringify(refused));
    assert.deepEqual(errors, ['limit']);
    await recursor.forwarder.close();
    await Promise.all(waiting);
  });
});

describe('source ports (RFC 5452)', () => {
  test('N queries arrive from (nearly) N distinct source ports, and no socket stays open', async () => {
    const fake = await FakeUpstream.start(echoes);
    const forwarder = makeForwarder(fake.upstream);
    const N = 50;
    for (let i = 0; i < N; i++) assert.ok((await forwarder.forward({ name: `p${i}.example.test`, type: 'A' })).ok);
    const ports = new Set(fake.seen.map((seen) => seen.remote.port));
    assert.ok(ports.size >= N - 2, `${ports.size} distinct source ports for ${N} queries`);
    assert.equal(forwarder.openSocketCount, 0);
  });
});

describe('0x20 case randomisation', () => {
  const NAME = 'www.mixed-case.example.test';

  test('the upstream sees mixed case; the client and the cache get the name as asked', async () => {
    const fake = await FakeUpstream.start(echoes);
    const cache = new DnsCache();
    const forwarder = makeForwarder(fake.upstream, { cache });
    const spellings = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const result = await forwarder.forward({ name: NAME, type: 'A' });
      assert.ok(result.ok);
      assert.equal(result.answer.answers[0]?.name, NAME, 'the owner name (a pointer to the question) in our own case');
      spellings.add(sentName(fake.seen[i] as Seen));
    }
    for (const spelling of spellings) assert.equal(spelling.toLowerCase(), NAME);
    assert.ok(
      [...spellings].some((spelling) => spelling !== NAME),
      `the upstream only saw ${[...spellings].join(', ')}`,
    );
    assert.ok(spellings.size >= 6, `only ${spellings.size} spellings in 8 queries`);
    const cached = cache.get({ name: NAME, type: 'A' }, Date.now());
    assert.equal(cached?.answers[0]?.name, NAME, 'the cache holds the canonical spelling');
  });

  test('an answer whose question differs only in case is counted and ignored; the exact echo is taken', async () => {
    const fake = await FakeUpstream.start(async ({ raw, query }) => {
      const sent = query.questions?.[0]?.name ?? '';
      const flipped = [...sent].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');
      fake.socket.send(rawAnswer(raw, '203.0.113.66', flipped), fake.seen.at(-1)!.remote.port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 30));
      return [rawAnswer(raw, '192.0.2.80')];
    });
    const forwarder = makeForwarder(fake.upstream, { timeoutMs: 2000 });
    const result = await forwarder.forward({ name: NAME, type: 'A' });
    assert.ok(result.ok);
    assert.deepEqual(
      result.answer.answers.map((r) => (r.type === 'A' ? r.data : '')),
      ['192.0.2.80'],
      'the case-changed forgery was ignored',
    );
    assert.equal(forwarder.stats.caseMismatches, 1);
    assert.equal(forwarder.stats.caseFallbacks, 0);
  });

  test('an upstream that lowercases every name: asked again without 0x20, remembered, logged once', async () => {
    const fake = await FakeUpstream.start(({ raw, query }) => [rawAnswer(raw, '192.0.2.80', (query.questions?.[0]?.name ?? '').toLowerCase())]);
    const warnings: string[] = [];
    const forwarder = makeForwarder(fake.upstream, { timeoutMs: 300, totalTimeoutMs: 2000, log: { warn: (m) => warnings.push(m), debug: () => undefined } });
    const name = 'Www.LowerCase-Only.Example.Test';
    const first = await forwarder.forward({ name, type: 'A' });
    assert.ok(first.ok, JSON.stringify(first));
    assert.equal(forwarder.stats.caseFallbacks, 1);
    assert.equal(fake.seen.length, 2);
    assert.equal(sentName(fake.seen[1] as Seen), name, 'the retry carries the name as the client asked it');
    const second = await forwarder.forward({ name: 'Mail.LowerCase-Only.Example.Test', type: 'A' });
    assert.ok(second.ok);
    assert.equal(fake.seen.length, 3, 'remembered: asked once, without 0x20');
    assert.equal(sentName(fake.seen[2] as Seen), 'Mail.LowerCase-Only.Example.Test');
    assert.equal(warnings.length, 1, warnings.join('\n'));
  });

  test('restoreCase gives names written out in full our spelling back, from a label boundary only', () => {
    assert.equal(restoreCase('wWw.ExAmple.COM', 'wWw.ExAmple.COM', 'www.example.com'), 'www.example.com');
    assert.equal(restoreCase('cdn.ExAmple.COM', 'wWw.ExAmple.COM', 'www.example.com'), 'cdn.example.com');
    assert.equal(restoreCase('xExAmple.COM', 'wWw.ExAmple.COM', 'www.example.com'), 'xExAmple.com');
    assert.equal(restoreCase('other.net', 'wWw.ExAmple.COM', 'www.example.com'), 'other.net');
  });
});

describe('DNSSEC OK', () => {
  test('the upstream sees DO when the client set it; RRSIGs come back in the result and from the cache', async () => {
    const signature = Buffer.alloc(64, 0xab);
    const fake = await FakeUpstream.start(({ query }) => {
      const question = query.questions?.[0];
      assert.ok(question);
      const records: Answer[] = [{ type: 'A', name: question.name, ttl: 300, class: 'IN', data: '192.0.2.80' }];
      const opt = query.additionals?.find((r) => r.type === 'OPT');
      if (opt?.type === 'OPT' && opt.flag_do === true) {
        records.push({
          type: 'RRSIG',
          name: question.name,
          ttl: 300,
          class: 'IN',
          data: {
            typeCovered: 'A',
            algorithm: 13,
            labels: 3,
            originalTTL: 300,
            expiration: 2_000_000_000,
            inception: 1_700_000_000,
            keyTag: 4242,
            signersName: 'example.test',
            signature,
          },
        });
      }
      return [dnsPacket.encode({ type: 'response', id: query.id ?? 0, flags: 0x8180, questions: [question], answers: records })];
    });
    const recursor = createRecursor({ upstreams: [fake.upstream], resolvConf: '/nonexistent', ignore: [] });
    forwarders.add(recursor.forwarder);
    const question = { name: 'signed.example.test', type: 'A', class: 'IN' } as Question;
    const result = await recursor.resolve(question, { checkingDisabled: false, dnssecOk: true, client: '10.0.0.5' });
    const opt = fake.seen[0]?.query.additionals?.find((r) => r.type === 'OPT');
    assert.ok(opt?.type === 'OPT' && opt.flag_do === true, 'the DO bit reached the upstream');
    assert.ok(result.ok);
    const rrsig = result.answers.find((r) => r.type === 'RRSIG');
    assert.ok(rrsig?.type === 'RRSIG', 'the RRSIG is passed through');
    assert.deepEqual(rrsig.data.signature, signature);
    assert.deepEqual(
      result.answers.map((r) => r.name),
      ['signed.example.test', 'signed.example.test'],
      'owner names the upstream wrote out in full (in the random case it was sent) come back in our spelling',
    );
    const cached = recursor.cached(question, { checkingDisabled: false, dnssecOk: true });
    assert.ok(cached?.ok && cached.answers.some((r) => r.type === 'RRSIG'), 'cached with its RRSIG');
    assert.equal(recursor.cached(question, { checkingDisabled: false, dnssecOk: false }), null, 'a DO=0 client does not get the DO=1 entry');
  });
});
