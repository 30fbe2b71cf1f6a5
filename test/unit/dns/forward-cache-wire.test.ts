/** DnsCache's wire form for the fast path: same entries, same TTL rules and LRU as get(), records encoded once. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';
import { QueryReader } from '../../../src/dns/fast-path.ts';
import { DnsCache, type DnsQuestion } from '../../../src/dns/forward/index.ts';
import type { WireRecords } from '../../../src/dns/wire-name.ts';

const T0 = 1_700_000_000_000;
const NO_FLAGS = {};
const CD = { checkingDisabled: true };

function response(question: DnsQuestion, answers: Answer[], authorities: Answer[] = [], rcode = 0): DecodedPacket {
  return dnsPacket.decode(
    dnsPacket.encode({
      type: 'response',
      id: 1,
      flags: rcode | dnsPacket.RECURSION_AVAILABLE,
      questions: [{ name: question.name, type: question.type, class: 'IN' }],
      answers,
      authorities,
    }),
  );
}

const a = (name: string, address: string, ttl: number): Answer => ({ type: 'A', name, ttl, class: 'IN', data: address });
const soa = (zone: string, ttl: number, minimum: number): Answer => ({
  type: 'SOA',
  name: zone,
  ttl,
  class: 'IN',
  data: { mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum },
});

/** The wire key exactly as the server computes it from a query for `name`/`type`. */
function keyOf(name: string, type: string): string {
  const query = Buffer.from(dnsPacket.encode({ id: 1, type: 'query', questions: [{ name, type, class: 'IN' } as dnsPacket.Question] }));
  const q = new QueryReader();
  assert.ok(q.read(query, 0, query.length));
  return q.wireKey(query);
}

/** The records of a wire hit decoded back, TTLs counted down the way the server writes them. */
function decodeRecords(records: WireRecords, elapsedSeconds: number): [string, string, number][] {
  const bytes = Buffer.from(records.bytes);
  for (const [i, offset] of records.ttlOffsets.entries()) bytes.writeUInt32BE(Math.max(0, (records.ttls[i] as number) - elapsedSeconds), offset);
  const count = records.answerCount + records.authorityCount + records.additionalCount;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x8180, 2);
  header.writeUInt16BE(count, 6);
  const packet = dnsPacket.decode(Buffer.concat([header, bytes]));
  return (packet.answers ?? []).map((r) => [r.name, r.type, (r as { ttl: number }).ttl]);
}

const WWW: DnsQuestion = { name: 'www.example.test', type: 'A', class: 'IN' };

test('a stored answer is found by the wire key of any spelling of the question, with the same TTLs as get()', () => {
  const cache = new DnsCache();
  cache.put(WWW, response(WWW, [a('www.example.test', '192.0.2.10', 300), a('www.example.test', '192.0.2.11', 100)]), T0);
  const later = T0 + 42_500;
  const hit = cache.getWire(keyOf('WWW.Example.TEST', 'A'), later, NO_FLAGS, 512);
  assert.ok(hit);
  assert.equal(hit.elapsedSeconds, 42);
  assert.equal(hit.records.rcode, 0);
  assert.equal(hit.records.answerCount, 2);
  const viaObjects = cache.get(WWW, later);
  assert.deepEqual(
    decodeRecords(hit.records, hit.elapsedSeconds),
    viaObjects?.answers.map((r) => [r.name, r.type, (r as { ttl: number }).ttl]),
    'the wire form counts down like get(): both records capped at the entry TTL (100) minus 42',
  );
  assert.equal(cache.stats.hits, 2);
  assert.equal(cache.getWire(keyOf('www.example.test', 'AAAA'), later, NO_FLAGS, 512), undefined, 'another type');
  assert.equal(cache.getWire(keyOf('www.example.test', 'A'), later, CD, 512), undefined, 'the CD bit is part of the key');
  assert.equal(cache.stats.misses, 0, 'wire misses are left for the general path to count');
});

test('negative answers keep their SOA and RFC 2308 TTL; NXDOMAIN keeps its rcode', () => {
  const cache = new DnsCache();
  const question: DnsQuestion = { name: 'nx.example.test', type: 'A', class: 'IN' };
  cache.put(question, response(question, [], [soa('example.test', 3600, 60)], 3), T0);
  const hit = cache.getWire(keyOf('nx.example.test', 'A'), T0 + 10_000, NO_FLAGS, 512);
  assert.ok(hit);
  assert.equal(hit.records.rcode, 3);
  assert.equal(hit.records.authorityCount, 1);
  assert.deepEqual([...hit.records.ttls], [60], 'the SOA TTL capped at the negative TTL');
  assert.equal(cache.getWire(keyOf('nx.example.test', 'A'), T0 + 60_000, NO_FLAGS, 512), undefined, 'expired at 60 s');
  assert.equal(cache.size, 0, 'an expired entry is removed');
  assert.equal(cache.stats.expired, 1);
});

test('an answer larger than maxBytes is declined without counting a hit', () => {
  const cache = new DnsCache();
  cache.put(
    WWW,
    response(
      WWW,
      Array.from({ length: 30 }, (_, i) => a('www.example.test', `192.0.2.${i}`, 300)),
    ),
    T0,
  );
  assert.equal(cache.getWire(keyOf('www.example.test', 'A'), T0, NO_FLAGS, 100), undefined);
  assert.equal(cache.stats.hits, 0);
  assert.ok(cache.getWire(keyOf('www.example.test', 'A'), T0, NO_FLAGS, 4096));
});

test('wire hits refresh the LRU position; replacing, deleting, clearing and evicting keep both indexes in step', () => {
  const cache = new DnsCache({ maxEntries: 2 });
  const q = (name: string): DnsQuestion => ({ name, type: 'A', class: 'IN' });
  cache.put(q('one.test'), response(q('one.test'), [a('one.test', '192.0.2.1', 300)]), T0);
  cache.put(q('two.test'), response(q('two.test'), [a('two.test', '192.0.2.2', 300)]), T0);
  assert.ok(cache.getWire(keyOf('one.test', 'A'), T0, NO_FLAGS, 512), 'one is now the most recent');
  cache.put(q('three.test'), response(q('three.test'), [a('three.test', '192.0.2.3', 300)]), T0);
  assert.equal(cache.getWire(keyOf('two.test', 'A'), T0, NO_FLAGS, 512), undefined, 'two was evicted');
  assert.ok(cache.getWire(keyOf('one.test', 'A'), T0, NO_FLAGS, 512));

  cache.put(q('one.test'), response(q('one.test'), [a('one.test', '192.0.2.99', 300)]), T0 + 5000);
  const replaced = cache.getWire(keyOf('one.test', 'A'), T0 + 5000, NO_FLAGS, 512);
  assert.ok(replaced);
  assert.equal(replaced.elapsedSeconds, 0, 'the new entry, not the old one');
  assert.equal(replaced.records.bytes.subarray(-4).toString('hex'), 'c0000263');

  assert.equal(cache.delete(q('one.test')), true);
  assert.equal(cache.getWire(keyOf('one.test', 'A'), T0, NO_FLAGS, 512), undefined);
  cache.clear();
  assert.equal(cache.getWire(keyOf('three.test', 'A'), T0, NO_FLAGS, 512), undefined);
});

test('questions the fast path cannot ask are cached for get() only', () => {
  const cache = new DnsCache();
  const odd: DnsQuestion = { name: 'a\\032b.example.test', type: 'A', class: 'IN' };
  assert.equal(cache.put(odd, response(odd, [a('a\\032b.example.test', '192.0.2.1', 300)]), T0), true);
  assert.ok(cache.get(odd, T0));
});
