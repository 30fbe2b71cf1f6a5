/** The fast path must give the same answers as the general (dns-packet) path, and decline what it can't do. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { parseSimpleQuery } from '../../../src/dns/fast-path.ts';
import { parseUpstream } from '../../../src/dns/forward/upstream.ts';
import type { Answer, Question } from '../../../src/dns/message.ts';
import { createRecursor } from '../../../src/dns/recursor.ts';
import type { DnsServer, RecursionResult, Recursor } from '../../../src/dns/server.ts';
import { junkBytes, lcg32 } from '../../harness/prng.ts';
import { makeDnsServer } from './fixture.ts';

const NOW = Date.now();

/** Cached upstream data, as the forwarder's cache would hand it out. */
class CachedRecursor implements Recursor {
  constructor(private readonly answers: Answer[]) {}
  async resolve(): Promise<RecursionResult> {
    return this.result();
  }
  cached(q: Question): RecursionResult | null {
    return q.name.toLowerCase() === 'www.example.com' ? this.result() : null;
  }
  private result(): RecursionResult {
    return { ok: true, rcode: 0, answers: this.answers, authorities: [], additionals: [], source: 'cache' };
  }
}

const server = (recursor: Recursor | null = null): DnsServer => makeDnsServer(recursor, { now: NOW, reserveWeb: true });

function query(name: string, type: string, opts: { edns?: boolean; doBit?: boolean; rd?: boolean; cd?: boolean } = {}): Buffer {
  const flags = (opts.rd === false ? 0 : dnsPacket.RECURSION_DESIRED) | (opts.cd ? dnsPacket.CHECKING_DISABLED : 0);
  const additionals = opts.edns
    ? [
        {
          type: 'OPT',
          name: '.',
          udpPayloadSize: 4096,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: opts.doBit ? 0x8000 : 0,
          options: [],
        } as unknown as dnsPacket.Answer,
      ]
    : [];
  return dnsPacket.encode({ id: 0x1234, type: 'query', flags, questions: [{ name, type, class: 'IN' } as Question], additionals });
}

const CASES: [string, string, Parameters<typeof query>[2]][] = [
  ['test.lxc', 'A', {}],
  ['TEST.Lxc', 'A', { edns: true }],
  ['test.lxc', 'AAAA', { edns: true, doBit: true }],
  ['test.lxc', 'MX', {}],
  ['nosuch.lxc', 'A', { rd: false }],
  ['a.b.lxc', 'TXT', { cd: true }],
  ['web.lxc', 'A', {}],
  ['web.lxc', 'ANY', {}],
  ['lxc', 'SOA', { edns: true }],
  ['lxc', 'NS', {}],
  ['ns.lxc', 'A', {}],
  ['100.0.0.10.in-addr.arpa', 'PTR', { edns: true }],
  ['5.0.0.10.in-addr.arpa', 'PTR', {}],
  ['77.0.0.10.in-addr.arpa', 'PTR', {}],
  ['0.0.10.in-addr.arpa', 'SOA', {}],
];

test('fast and general paths give the same response for every local question', async () => {
  const s = server();
  for (const [name, type, opts] of CASES) {
    const q = query(name, type, opts);
    const fast = s.answerFast(q, '10.0.0.100');
    assert.ok(fast, `${name} ${type} takes the fast path`);
    const general = await s.handle(q, { address: '10.0.0.100', port: 1, transport: 'udp' });
    assert.ok(general);
    assert.deepEqual(dnsPacket.decode(fast), dnsPacket.decode(general), `${name} ${type} ${JSON.stringify(opts)}`);
    assert.ok(fast.length <= general.length, 'compressed at least as well');
  }
});

test('the fast path declines what it does not handle', () => {
  const s = server();
  assert.equal(s.answerFast(query('example.com', 'A'), '10.0.0.100'), null, 'not our zone');
  const v1 = dnsPacket.encode({
    id: 1,
    type: 'query',
    questions: [{ name: 'test.lxc', type: 'A' }] as Question[],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 1, flags: 0, options: [] } as unknown as dnsPacket.Answer],
  });
  assert.equal(s.answerFast(v1, '10.0.0.100'), null, 'EDNS version 1');
  const two = dnsPacket.encode({
    id: 1,
    type: 'query',
    questions: [
      { name: 'a.lxc', type: 'A' },
      { name: 'b.lxc', type: 'A' },
    ] as Question[],
  });
  assert.equal(s.answerFast(two, '10.0.0.100'), null, 'two questions');
  const compressed = Buffer.from(query('test.lxc', 'A'));
  compressed[12] = 0xc0;
  assert.equal(parseSimpleQuery(compressed), null, 'a pointer in the question');
  const odd = query('te st.lxc', 'A');
  assert.equal(parseSimpleQuery(odd), null, 'characters outside a hostname');
  const trailing = Buffer.concat([query('test.lxc', 'A'), Buffer.from([0])]);
  assert.equal(parseSimpleQuery(trailing), null, 'trailing bytes');
  const response = Buffer.from(query('test.lxc', 'A'));
  response[2] = (response[2] as number) | 0x80;
  assert.equal(parseSimpleQuery(response), null, 'a response');
  const next = lcg32(3);
  for (let i = 0; i < 3000; i++) {
    const junk = junkBytes(next, next() % 80);
    s.answerFast(junk, '10.0.0.100'); // must not throw
  }
});

test('cached forwarded answers take the fast path for allowed clients, with the same bytes as the general path', async () => {
  const records = [
    { type: 'CNAME', name: 'www.example.com', ttl: 100, class: 'IN', data: 'web.example.net' },
    { type: 'A', name: 'web.example.net', ttl: 100, class: 'IN', data: '198.51.100.7' },
    { type: 'AAAA', name: 'web.example.net', ttl: 100, class: 'IN', data: '2001:db8::7' },
  ] as Answer[];
  const s = server(new CachedRecursor(records));
  const q = query('www.example.com', 'A', { edns: true });
  const fast = s.answerFast(q, '10.0.0.100');
  assert.ok(fast);
  const general = await s.handle(q, { address: '10.0.0.100', port: 1, transport: 'udp' });
  assert.deepEqual(dnsPacket.decode(fast), dnsPacket.decode(general as Buffer));
  assert.equal((dnsPacket.decode(fast) as { flag_aa: boolean }).flag_aa, false);
  assert.equal(s.answerFast(q, '192.0.2.9'), null, 'outsiders take the general path (and get REFUSED)');
  assert.equal(s.answerFast(query('other.example.com', 'A'), '10.0.0.100'), null, 'a cache miss goes upstream');
});

test('cached forwarded answers in wire form: the same response as the general path, TTLs counted down, counted once', async () => {
  const recursor = createRecursor({ upstreams: [parseUpstream('192.0.2.53')], resolvConf: '/nonexistent', ignore: [] });
  try {
    const question = { name: 'www.example.com', type: 'A', class: 'IN' } as const;
    const upstreamAnswer = dnsPacket.decode(
      dnsPacket.encode({
        type: 'response',
        id: 9,
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: [question],
        answers: [
          { type: 'CNAME', name: 'www.example.com', ttl: 300, class: 'IN', data: 'web.example.net' },
          { type: 'A', name: 'web.example.net', ttl: 300, class: 'IN', data: '198.51.100.7' },
        ],
      }),
    );
    assert.equal(recursor.cache.put(question, upstreamAnswer, Date.now() - 10_500), true);
    const s = server(recursor);
    assert.equal(s.answerFast(query('www.example.com', 'A', { edns: true, doBit: true }), '10.0.0.100'), null, 'DO asks another cache entry');
    // The same answer as a DO=1 upstream reply (DO is forwarded and keys the cache, like CD).
    assert.equal(recursor.cache.put(question, upstreamAnswer, Date.now() - 10_500, { dnssecOk: true }), true);
    for (const [name, opts] of [
      ['www.example.com', {}],
      ['WWW.Example.Com', { edns: true, doBit: true }],
      ['www.example.com', { edns: true, rd: false }],
    ] as const) {
      const q = query(name, 'A', opts);
      const fast = s.answerFast(q, '10.0.0.100');
      assert.ok(fast, `${name} ${JSON.stringify(opts)} takes the fast path`);
      const general = await s.handle(q, { address: '10.0.0.100', port: 1, transport: 'udp' });
      assert.deepEqual(dnsPacket.decode(fast), dnsPacket.decode(general as Buffer), `${name} ${JSON.stringify(opts)}`);
      assert.deepEqual(
        dnsPacket.decode(fast).answers?.map((r) => (r as { ttl: number }).ttl),
        [290, 290],
      );
    }
    const hitsBefore = recursor.cache.stats.hits;
    const queriesBefore = s.counters.queries;
    const fromCacheBefore = s.counters.bySource.get('cache') ?? 0;
    assert.ok(s.answerFast(query('www.example.com', 'A'), '10.0.0.100'));
    assert.equal(recursor.cache.stats.hits, hitsBefore + 1, 'one cache hit');
    assert.equal(s.counters.queries, queriesBefore + 1, 'one query');
    assert.equal(s.counters.bySource.get('cache'), fromCacheBefore + 1, 'one answer from the cache');
    assert.equal(s.answerFast(query('www.example.com', 'A', { cd: true }), '10.0.0.100'), null, 'CD asks another cache entry');
    assert.equal(s.answerFast(query('www.example.com', 'A'), '192.0.2.9'), null, 'outsiders take the general path (REFUSED)');
    assert.equal(recursor.cache.stats.hits, hitsBefore + 1, 'declined queries count no hit');
  } finally {
    recursor.close();
  }
});

test('every zone answer is the same over the fast path and the general path, for trusted and untrusted clients', async () => {
  // Every name shape our two zones know (hosts, ns, the apexes, too deep, neighbours of the reverse zone, junk below
  // it) asked with every type the fast path reads, with and without EDNS/DO, from inside and from outside.
  const names = [
    'test.lxc',
    'TeSt.LXC',
    'web.lxc',
    'ns.lxc',
    'NS.lxc',
    'nosuch.lxc',
    'a.test.lxc',
    'x.y.z.lxc',
    'lxc',
    'LXC',
    '0.0.10.in-addr.arpa',
    '100.0.0.10.in-addr.arpa',
    '1.0.0.10.in-addr.arpa',
    '5.0.0.10.in-addr.arpa',
    '77.0.0.10.in-addr.arpa',
    'x.0.0.10.in-addr.arpa',
    '1.1.0.10.in-addr.arpa',
    '0.10.in-addr.arpa',
  ];
  const types = ['A', 'NS', 'CNAME', 'SOA', 'PTR', 'MX', 'TXT', 'AAAA', 'SRV', 'ANY'];
  const variants: Parameters<typeof query>[2][] = [{}, { edns: true }, { edns: true, doBit: true, cd: true }, { rd: false }];
  const s = server();
  let fastAnswers = 0;
  for (const client of ['10.0.0.100', '192.0.2.9']) {
    for (const name of names) {
      for (const type of types) {
        for (const opts of variants) {
          const q = query(name, type, opts);
          const what = `${name} ${type} ${JSON.stringify(opts)} from ${client}`;
          const fast = s.answerFast(q, client);
          const general = await s.handle(q, { address: client, port: 1, transport: 'udp' });
          assert.ok(general, what);
          const generalRcode = (dnsPacket.decode(general) as { rcode?: string }).rcode;
          if (fast === null) {
            // Declined only where the general path refuses (the reverse zone and foreign names from outside).
            assert.equal(generalRcode, 'REFUSED', `${what}: declined, so the general path refuses it`);
            continue;
          }
          fastAnswers++;
          assert.deepEqual(dnsPacket.decode(fast), dnsPacket.decode(general), what);
        }
      }
    }
  }
  assert.ok(fastAnswers > names.length * types.length, 'most of these take the fast path');
});
