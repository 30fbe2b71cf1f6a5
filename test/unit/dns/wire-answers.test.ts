/** The allocation-free fast path on raw bytes: QueryReader, the answer writers, and the wire cache key. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { FAST_ANSWER_LIMIT, QueryReader, writeAddressAnswer, writeCachedAnswer, writeNegativeAnswer } from '../../../src/dns/fast-path.ts';
import { type WireRecords, wireName, wireQuestionKey } from '../../../src/dns/wire-name.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// id 0x4242, RD, one question: Test.lxc A IN
const QUERY = hex('4242 0100 0001 0000 0000 0000  04 54657374 03 6c7863 00  0001 0001');
// the same with an OPT: UDP size 4096, version 0, DO set, no options
const QUERY_DO = hex('4243 0110 0001 0000 0000 0001  04 74657374 03 6c7863 00  001c 0001  00 0029 1000 00 00 8000 0000');

function read(data: Buffer, start = 0, length = data.length): QueryReader | null {
  const q = new QueryReader();
  return q.read(data, start, length) ? q : null;
}

test('QueryReader reads id, flags, type, labels and the question bounds from the bytes', () => {
  const q = read(QUERY);
  assert.ok(q);
  assert.equal(q.id, 0x4242);
  assert.equal(q.rd, true);
  assert.equal(q.cd, false);
  assert.equal(q.type, 1);
  assert.equal(q.labelCount, 2);
  assert.deepEqual([...q.labelStarts.subarray(0, 2)], [12, 17]);
  assert.equal(q.nameStart, 12);
  assert.equal(q.nameEnd, 22);
  assert.equal(q.questionEnd, 26);
  assert.equal(q.hasEdns, false);
  assert.equal(q.hasUpperCase, true);
  assert.equal(q.name(QUERY), 'Test.lxc');
  assert.equal(q.lowerLabel(QUERY, 0), 'test');

  const e = read(QUERY_DO);
  assert.ok(e);
  assert.equal(e.cd, true);
  assert.equal(e.type, 28);
  assert.equal(e.hasEdns, true);
  assert.equal(e.doBit, true);
  assert.equal(e.hasUpperCase, false);
});

test('QueryReader works on a query in the middle of a bigger buffer and reads nothing outside it', () => {
  const padded = Buffer.concat([Buffer.alloc(100, 0xee), QUERY, Buffer.alloc(50, 0x01)]);
  const q = read(padded, 100, QUERY.length);
  assert.ok(q);
  assert.equal(q.nameStart, 112);
  assert.equal(q.questionEnd, 126);
  assert.equal(q.name(padded), 'Test.lxc');
  assert.equal(read(padded, 100, QUERY.length + 1), null, 'a trailing byte');
  assert.equal(read(padded, 100, QUERY.length - 1), null, 'a missing byte');
  assert.equal(read(QUERY, 0, QUERY.length + 10), null, 'a length beyond the buffer');
});

test('QueryReader declines every prefix of a query, and anything unusual, without throwing', () => {
  for (const query of [QUERY, QUERY_DO]) {
    for (let length = 0; length < query.length; length++) assert.equal(read(query, 0, length), null, `prefix of ${length} bytes`);
  }
  const variant = (at: number, value: number, base = QUERY): Buffer => {
    const copy = Buffer.from(base);
    copy[at] = value;
    return copy;
  };
  assert.equal(read(variant(2, 0x81)), null, 'a response (QR)');
  assert.equal(read(variant(2, 0x03)), null, 'TC set');
  assert.equal(read(variant(2, 0x11)), null, 'opcode 2');
  assert.equal(read(variant(5, 2)), null, 'QDCOUNT 2');
  assert.equal(read(variant(7, 1)), null, 'ANCOUNT 1');
  assert.equal(read(variant(9, 1)), null, 'NSCOUNT 1');
  assert.equal(read(variant(11, 2, QUERY_DO)), null, 'ARCOUNT 2');
  assert.equal(read(variant(12, 0xc0)), null, 'a compression pointer');
  assert.equal(read(variant(12, 0x40)), null, 'a label longer than 63');
  assert.equal(read(variant(13, 0x20)), null, 'a space in a label');
  assert.equal(read(variant(13, 0xc3)), null, 'a non-ASCII byte');
  assert.equal(read(variant(25, 3)), null, 'class CH');
  assert.equal(read(variant(23, 0x63)), null, 'a type the fast path does not know');
  assert.equal(read(variant(28, 0x30, QUERY_DO)), null, 'an additional that is not OPT');
  assert.equal(read(variant(32, 1, QUERY_DO)), null, 'EDNS version 1');
  assert.equal(read(variant(36, 4, QUERY_DO)), null, 'OPT rdlength beyond the message');
  const root = hex('4242 0100 0001 0000 0000 0000 00 0001 0001');
  assert.equal(read(root), null, 'the root name');
  const long = Buffer.concat([QUERY.subarray(0, 12), Buffer.from(Array.from({ length: 5 }, () => [63, ...Array(63).fill(0x61)]).flat()), hex('00 0001 0001')]);
  assert.equal(read(long), null, 'a name over 255 bytes');
  let seed = 7;
  const next = (): number => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let i = 0; i < 5000; i++) {
    const junk = Buffer.from(Array.from({ length: next() % 90 }, () => next() & 0xff));
    if (i % 2 === 0 && junk.length > 12) QUERY.copy(junk, 0, 0, 12); // a plausible header over random bytes
    read(junk); // must not throw
  }
});

test('labelsBelow matches zones on label boundaries, ASCII case-insensitively', () => {
  const lxc = wireName('lxc') as Buffer;
  const q = read(QUERY) as QueryReader;
  assert.equal(q.labelsBelow(QUERY, lxc, 1), 1);
  assert.equal(q.labelsBelow(QUERY, wireName('TEST.LXC') as Buffer, 2), 0);
  assert.equal(q.labelsBelow(QUERY, wireName('xc') as Buffer, 1), -1, 'a suffix inside a label is no zone');
  assert.equal(q.labelsBelow(QUERY, wireName('example.lxc') as Buffer, 2), -1);
  assert.equal(q.labelsBelow(QUERY, wireName('a.test.lxc') as Buffer, 3), -1, 'a zone longer than the name');
  const deep = Buffer.from(dnsPacket.encode({ id: 1, type: 'query', questions: [{ name: 'a.b.LXC', type: 'A', class: 'IN' }] }));
  assert.equal((read(deep) as QueryReader).labelsBelow(deep, lxc, 1), 2);
});

test('the wire cache key from the bytes equals the one built from the name, whatever the case', () => {
  // dns-packet encodes HTTPS only as UNKNOWN_65 (type 65, which is 'A' in latin1: it must not be lowered)
  for (const [asked, type] of [
    ['Test.lxc', 'A'],
    ['WWW.Example.COM', 'UNKNOWN_65'],
    ['f1.example.com', 'AAAA'],
    ['x_y-z.example', 'ANY'],
  ] as const) {
    const query = Buffer.from(dnsPacket.encode({ id: 1, type: 'query', questions: [{ name: asked, type, class: 'IN' } as dnsPacket.Question] }));
    const q = read(query) as QueryReader;
    assert.equal(q.wireKey(query), wireQuestionKey(asked.toLowerCase(), type, 'IN'), `${asked} ${type}`);
  }
  assert.equal(wireQuestionKey('www.example.com', 'HTTPS', 'IN'), wireQuestionKey('www.example.com', 'UNKNOWN_65', 'IN'));
  assert.equal(wireQuestionKey('a b.example', 'A', 'IN'), null, 'a name the reader never accepts');
  assert.equal(wireQuestionKey('example.com', 'NAPTR', 'IN'), null, 'a type the reader never accepts');
  assert.equal(wireQuestionKey('example.com', 'A', 'CH'), null);
  assert.equal(wireQuestionKey('.', 'A', 'IN'), null);
});

test('writeAddressAnswer: the exact bytes, owner a pointer to the question, OPT echoing DO', () => {
  const out = Buffer.alloc(FAST_ANSWER_LIMIT);
  const q = read(QUERY) as QueryReader;
  const length = writeAddressAnswer(QUERY, q, out, 0, 0x0a000064, 30);
  assert.equal(
    out.subarray(0, length).toString('hex'),
    '4242 8580 0001 0001 0000 0000  04 54657374 03 6c7863 00 0001 0001  c00c 0001 0001 0000001e 0004 0a000064'.replace(/\s+/g, ''),
  );
  const e = read(QUERY_DO) as QueryReader;
  const at = 100; // anywhere in the send area
  const withOpt = writeAddressAnswer(QUERY_DO, e, out, at, 0x0a000064, 7);
  const decoded = dnsPacket.decode(out.subarray(at, at + withOpt)) as dnsPacket.DecodedPacket & { flag_cd: boolean };
  assert.equal(decoded.id, 0x4243);
  assert.equal(decoded.flag_cd, true);
  assert.deepEqual(
    decoded.answers?.map((r) => [r.name, r.type, (r as { ttl: number }).ttl, (r as { data: string }).data]),
    [['test.lxc', 'A', 7, '10.0.0.100']],
  );
  const opt = decoded.additionals?.[0] as unknown as { type: string; udpPayloadSize: number; flags: number };
  assert.equal(opt.type, 'OPT');
  assert.equal(opt.udpPayloadSize, 1232);
  assert.equal(opt.flags & 0x8000, 0x8000);
});

test('writeNegativeAnswer copies the SOA as given and declines what would exceed 512 bytes', () => {
  const soa = hex('03 6c7863 00 0006 0001 0000001e 0004 deadbeef');
  const out = Buffer.alloc(FAST_ANSWER_LIMIT);
  const q = read(QUERY) as QueryReader;
  const length = writeNegativeAnswer(QUERY, q, out, 0, 3, soa);
  assert.equal(out.subarray(0, length).toString('hex'), `42428583000100000001000004546573740${'36c78630000010001'}${soa.toString('hex')}`);
  assert.equal(writeNegativeAnswer(QUERY, q, out, 0, 3, Buffer.alloc(FAST_ANSWER_LIMIT)), 0);
});

test('writeCachedAnswer patches every TTL by the time spent in the cache, never below zero, and clears AA', () => {
  // two A records, TTL fields at 2+2+2 = offset 6 of each 16-byte record (owner: a pointer)
  const record = (ttl: number, last: number): string => `c00c 0001 0001 ${ttl.toString(16).padStart(8, '0')} 0004 c00002${last.toString(16).padStart(2, '0')}`;
  const bytes = hex(record(0, 1) + record(0, 2));
  const records: WireRecords = {
    rcode: 0,
    answerCount: 2,
    authorityCount: 0,
    additionalCount: 0,
    bytes,
    ttlOffsets: Uint16Array.of(6, 22),
    ttls: Uint32Array.of(300, 5),
  };
  const out = Buffer.alloc(FAST_ANSWER_LIMIT);
  const q = read(QUERY) as QueryReader;
  const length = writeCachedAnswer(QUERY, q, out, 0, records, 10);
  const decoded = dnsPacket.decode(out.subarray(0, length)) as dnsPacket.DecodedPacket & { flag_aa: boolean; flag_ra: boolean };
  assert.equal(decoded.flag_aa, false);
  assert.equal(decoded.flag_ra, true);
  assert.deepEqual(
    decoded.answers?.map((r) => [(r as { ttl: number }).ttl, (r as { data: string }).data]),
    [
      [290, '192.0.2.1'],
      [0, '192.0.2.2'],
    ],
  );
  assert.equal(bytes.readUInt32BE(6), 0, 'the cached bytes themselves are left alone');
});
