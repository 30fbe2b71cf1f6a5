import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from 'dns-packet';
import { DnsCache, type DnsQuestion } from '../../../src/dns/forward/index.ts';

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

/** A response as it comes off the wire: encoded, then decoded, like the forwarder sees it. */
function response(question: DnsQuestion, parts: Partial<Packet> & { rcode?: keyof typeof RCODE; truncated?: boolean } = {}): DecodedPacket {
  const flags = RCODE[parts.rcode ?? 'NOERROR'] | dnsPacket.RECURSION_AVAILABLE | (parts.truncated === true ? dnsPacket.TRUNCATED_RESPONSE : 0);
  return dnsPacket.decode(
    dnsPacket.encode({
      type: 'response',
      id: 1,
      flags,
      questions: [{ name: question.name, type: question.type, class: 'IN' }],
      answers: parts.answers ?? [],
      authorities: parts.authorities ?? [],
      additionals: parts.additionals ?? [],
    }),
  );
}

function a(name: string, address: string, ttl: number): Answer {
  return { type: 'A', name, ttl, class: 'IN', data: address };
}

function soa(zone: string, ttl: number, minimum: number): Answer {
  return {
    type: 'SOA',
    name: zone,
    ttl,
    class: 'IN',
    data: { mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum },
  };
}

function ttlOf(record: Answer): number | undefined {
  return record.type === 'OPT' ? undefined : record.ttl;
}

const WWW_A: DnsQuestion = { name: 'www.example.test', type: 'A', class: 'IN' };
const T0 = 1_700_000_000_000;

describe('DnsCache positive answers', () => {
  test('miss, then hit with the stored records', () => {
    const cache = new DnsCache();
    assert.equal(cache.get(WWW_A, T0), undefined);
    assert.equal(cache.put(WWW_A, response(WWW_A, { answers: [a('www.example.test', '192.0.2.10', 300)] }), T0), true);
    const hit = cache.get(WWW_A, T0);
    assert.ok(hit);
    assert.equal(hit.kind, 'positive');
    assert.equal(hit.rcode, 'NOERROR');
    assert.deepEqual(
      hit.answers.map((r) => [r.name, r.type, ttlOf(r), 'data' in r ? r.data : null]),
      [['www.example.test', 'A', 300, '192.0.2.10']],
    );
    assert.deepEqual(cache.stats, { hits: 1, misses: 1, stored: 1, uncacheable: 0, evicted: 0, expired: 0, tooLarge: 0 });
    assert.equal(cache.size, 1);
  });

  test('TTLs count down with the clock in every section and the entry expires at the smallest TTL', () => {
    const cache = new DnsCache();
    cache.put(
      WWW_A,
      response(WWW_A, {
        answers: [a('www.example.test', '192.0.2.10', 300), a('www.example.test', '192.0.2.11', 300)],
        authorities: [{ type: 'NS', name: 'example.test', ttl: 100, class: 'IN', data: 'ns.example.test' }],
        additionals: [a('ns.example.test', '192.0.2.53', 120)],
      }),
      T0,
    );
    const later = cache.get(WWW_A, T0 + 42_700);
    assert.ok(later);
    assert.deepEqual(
      later.answers.map((r) => ttlOf(r)),
      [58, 58],
      'answers capped at the entry TTL (100) minus 42 s',
    );
    assert.deepEqual(
      later.authorities.map((r) => ttlOf(r)),
      [58],
    );
    assert.deepEqual(
      later.additionals.map((r) => ttlOf(r)),
      [58],
    );
    assert.equal(later.ttl, 58);
    const last = cache.get(WWW_A, T0 + 99_999);
    assert.ok(last);
    assert.equal(last.ttl, 1);
    assert.equal(cache.get(WWW_A, T0 + 100_000), undefined, 'expired exactly at the TTL');
    assert.equal(cache.size, 0);
    assert.equal(cache.stats.expired, 1);
  });

  test('a clock that goes backwards never raises TTLs above the stored ones', () => {
    const cache = new DnsCache();
    cache.put(WWW_A, response(WWW_A, { answers: [a('www.example.test', '192.0.2.10', 60)] }), T0);
    assert.deepEqual(
      cache.get(WWW_A, T0 - 5000)?.answers.map((r) => ttlOf(r)),
      [60],
    );
  });

  test('TTLs above the cap are cut to it', () => {
    const cache = new DnsCache({ maxTtlSeconds: 86_400 });
    cache.put(WWW_A, response(WWW_A, { answers: [a('www.example.test', '192.0.2.10', 604_800)] }), T0);
    assert.deepEqual(
      cache.get(WWW_A, T0)?.answers.map((r) => ttlOf(r)),
      [86_400],
    );
    assert.equal(cache.get(WWW_A, T0 + 86_400_000), undefined);
  });

  test('TTL 0 is not cached by default; minTtlSeconds keeps it briefly with TTL 0 handed out', () => {
    const zero = response(WWW_A, { answers: [a('www.example.test', '192.0.2.10', 0)] });
    const plain = new DnsCache();
    assert.equal(plain.put(WWW_A, zero, T0), false);
    assert.equal(plain.get(WWW_A, T0), undefined);
    const floored = new DnsCache({ minTtlSeconds: 2 });
    assert.equal(floored.put(WWW_A, zero, T0), true);
    assert.deepEqual(
      floored.get(WWW_A, T0 + 1500)?.answers.map((r) => ttlOf(r)),
      [0],
    );
    assert.equal(floored.get(WWW_A, T0 + 2000), undefined);
  });

  test('names are keyed case-insensitively, with or without the final dot; type, class and DO bit are part of the key', () => {
    const cache = new DnsCache();
    cache.put(WWW_A, response(WWW_A, { answers: [a('www.example.test', '192.0.2.10', 300)] }), T0);
    assert.ok(cache.get({ name: 'WWW.Example.TEST.', type: 'A', class: 'IN' }, T0));
    assert.ok(cache.get({ name: 'www.example.test', type: 'A' }, T0), 'class defaults to IN');
    assert.equal(cache.get({ name: 'www.example.test', type: 'AAAA', class: 'IN' }, T0), undefined);
    assert.equal(cache.get({ name: 'www.example.test', type: 'A', class: 'CH' }, T0), undefined);
    assert.equal(cache.get(WWW_A, T0, { dnssecOk: true }), undefined);
  });

  test('SERVFAIL, REFUSED and truncated answers are not cached', () => {
    const cache = new DnsCache();
    assert.equal(cache.put(WWW_A, response(WWW_A, { rcode: 'SERVFAIL' }), T0), false);
    assert.equal(cache.put(WWW_A, response(WWW_A, { rcode: 'REFUSED' }), T0), false);
    assert.equal(cache.put(WWW_A, response(WWW_A, { truncated: true, answers: [a('www.example.test', '192.0.2.10', 300)] }), T0), false);
    assert.equal(cache.size, 0);
    assert.equal(cache.stats.uncacheable, 3);
  });

  test('the upstream OPT record is not stored', () => {
    const cache = new DnsCache();
    const withOpt = response(WWW_A, {
      answers: [a('www.example.test', '192.0.2.10', 300)],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
    });
    cache.put(WWW_A, withOpt, T0);
    assert.deepEqual(cache.get(WWW_A, T0)?.additionals, []);
  });
});

describe('DnsCache negative answers (RFC 2308)', () => {
  const GONE_A: DnsQuestion = { name: 'gone.example.test', type: 'A', class: 'IN' };
  const GONE_AAAA: DnsQuestion = { name: 'gone.example.test', type: 'AAAA', class: 'IN' };

  test('NXDOMAIN lives min(SOA TTL, SOA minimum): the minimum when smaller', () => {
    const cache = new DnsCache();
    assert.equal(cache.put(GONE_A, response(GONE_A, { rcode: 'NXDOMAIN', authorities: [soa('example.test', 3600, 60)] }), T0), true);
    const hit = cache.get(GONE_A, T0 + 10_000);
    assert.ok(hit);
    assert.equal(hit.kind, 'nxdomain');
    assert.equal(hit.rcode, 'NXDOMAIN');
    assert.deepEqual(hit.answers, []);
    assert.deepEqual(
      hit.authorities.map((r) => [r.type, ttlOf(r)]),
      [['SOA', 50]],
      'SOA handed out with the negative TTL, counted down',
    );
    assert.equal(cache.get(GONE_A, T0 + 60_000), undefined);
  });

  test('NXDOMAIN lives min(SOA TTL, SOA minimum): the SOA TTL when smaller', () => {
    const cache = new DnsCache();
    cache.put(GONE_A, response(GONE_A, { rcode: 'NXDOMAIN', authorities: [soa('example.test', 30, 900)] }), T0);
    assert.ok(cache.get(GONE_A, T0 + 29_000));
    assert.equal(cache.get(GONE_A, T0 + 30_000), undefined);
  });

  test('NODATA is cached per type, separately from other types of the same name', () => {
    const cache = new DnsCache();
    cache.put(GONE_AAAA, response(GONE_AAAA, { authorities: [soa('example.test', 3600, 120)] }), T0);
    const hit = cache.get(GONE_AAAA, T0);
    assert.ok(hit);
    assert.equal(hit.kind, 'nodata');
    assert.equal(hit.rcode, 'NOERROR');
    assert.equal(hit.ttl, 120);
    assert.equal(cache.get(GONE_A, T0), undefined, 'NODATA for AAAA says nothing about A');
    cache.put(GONE_A, response(GONE_A, { rcode: 'NXDOMAIN', authorities: [soa('example.test', 3600, 300)] }), T0);
    assert.equal(cache.get(GONE_A, T0)?.kind, 'nxdomain');
    assert.equal(cache.get(GONE_AAAA, T0)?.kind, 'nodata');
  });

  test('negative answers without an SOA are not cached', () => {
    const cache = new DnsCache();
    assert.equal(cache.put(GONE_A, response(GONE_A, { rcode: 'NXDOMAIN' }), T0), false);
    assert.equal(cache.put(GONE_AAAA, response(GONE_AAAA, {}), T0), false);
    assert.equal(cache.size, 0);
  });

  test('negative TTLs are capped separately', () => {
    const cache = new DnsCache({ maxNegativeTtlSeconds: 600 });
    cache.put(GONE_A, response(GONE_A, { rcode: 'NXDOMAIN', authorities: [soa('example.test', 86_400, 86_400)] }), T0);
    assert.equal(cache.get(GONE_A, T0)?.ttl, 600);
  });

  test('a CNAME that ends in NODATA is limited by the negative TTL', () => {
    const cache = new DnsCache();
    const alias: DnsQuestion = { name: 'alias.example.test', type: 'AAAA', class: 'IN' };
    cache.put(
      alias,
      response(alias, {
        answers: [{ type: 'CNAME', name: 'alias.example.test', ttl: 3600, class: 'IN', data: 'v4only.example.test' }],
        authorities: [soa('example.test', 3600, 45)],
      }),
      T0,
    );
    const hit = cache.get(alias, T0);
    assert.equal(hit?.kind, 'positive');
    assert.equal(hit?.ttl, 45);
  });
});

describe('DnsCache LRU bound', () => {
  const question = (i: number): DnsQuestion => ({ name: `host${i}.example.test`, type: 'A', class: 'IN' });
  const answerFor = (i: number): DecodedPacket => response(question(i), { answers: [a(`host${i}.example.test`, `192.0.2.${i}`, 300)] });

  test('the least recently used entry is evicted, and a hit counts as use', () => {
    const cache = new DnsCache({ maxEntries: 3 });
    for (const i of [1, 2, 3]) cache.put(question(i), answerFor(i), T0);
    assert.ok(cache.get(question(1), T0), 'touch 1: now 2 is the oldest');
    cache.put(question(4), answerFor(4), T0);
    assert.equal(cache.size, 3);
    assert.equal(cache.get(question(2), T0), undefined);
    for (const i of [1, 3, 4]) assert.ok(cache.get(question(i), T0), `host${i} kept`);
    assert.equal(cache.stats.evicted, 1);
  });

  test('replacing an entry does not grow the cache and refreshes its position', () => {
    const cache = new DnsCache({ maxEntries: 2 });
    cache.put(question(1), answerFor(1), T0);
    cache.put(question(2), answerFor(2), T0);
    cache.put(question(1), answerFor(1), T0 + 1000);
    cache.put(question(3), answerFor(3), T0 + 1000);
    assert.equal(cache.get(question(2), T0 + 1000), undefined);
    assert.equal(cache.get(question(1), T0 + 1000)?.ttl, 300, 'the replacement, stored at T0+1s');
  });
});
