/**
 * The DHCPv6 codec: a real client's Solicit, round trips, DUIDs, and hostile inputs (short messages, options past the
 * end, too many options, relay messages, malformed IAs, deep nesting) that must come back as named failures.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Writer } from '../../../src/dhcp6/cursor.ts';
import { parseDuid, serverDuidFromMac } from '../../../src/dhcp6/duid.ts';
import { findOption, parseDhcp6Message, readOptions, serializeDhcp6Message } from '../../../src/dhcp6/message.ts';
import {
  decodeClientFqdn,
  decodeDomainName,
  decodeElapsedTime,
  decodeIaNa,
  decodeLinkLayerAddress,
  decodeOro,
  encodeDomainName,
} from '../../../src/dhcp6/options.ts';
import { MAX_INNER_OPTIONS, MAX_OPTIONS, MessageType, Option6 } from '../../../src/dhcp6/vocabulary.ts';

/**
 * The UDP payload of the Solicit ISC dhclient 4.4.3 (Debian 12, `dhclient -6 -d` with `send fqdn.fqdn "box7";`)
 * sent from a veth with MAC 02:1a:b0:00:00:07 in a test namespace, captured with tcpdump on 2026-12-07. tcpdump -vv
 * read it as: solicit (xid=ce725e (client-ID hwaddr/time type 1 time 849972740 021ab0000007) (option-request
 * DNS-server DNS-search-list) (elapsed-time 0) (Client-FQDN) (IA_NA IAID:2952790023 T1:3600 T2:5400)).
 */
const DHCLIENT_SOLICIT = Buffer.from(
  '01ce725e0001000e0001000132a98e04021ab00000070006000400170018000800020000002700070004626f7837000003000cb000000700000e1000001518',
  'hex',
);

function parsed(bytes: Buffer) {
  const r = parseDhcp6Message(bytes);
  if (!r.ok) throw new Error(`${r.reason}: ${r.detail}`);
  return r.message;
}

test('a real dhclient -6 Solicit parses field by field', () => {
  const m = parsed(DHCLIENT_SOLICIT);
  assert.equal(m.type, MessageType.Solicit);
  assert.equal(m.transactionId, 0xce725e);
  assert.deepEqual(
    m.options.map((o) => o.code),
    [Option6.ClientId, Option6.Oro, Option6.ElapsedTime, Option6.ClientFqdn, Option6.IaNa],
  );
  const duid = parseDuid(findOption(m.options, Option6.ClientId) as Buffer);
  assert.ok(duid.ok && duid.duid.type === 'llt');
  assert.equal(duid.duid.time, 849972740);
  assert.equal(duid.duid.hardwareType, 1);
  assert.equal(duid.duid.linkLayer.toString('hex'), '021ab0000007');
  assert.deepEqual(decodeOro(findOption(m.options, Option6.Oro) as Buffer), [Option6.DnsServers, Option6.DomainList]);
  assert.equal(decodeElapsedTime(findOption(m.options, Option6.ElapsedTime) as Buffer), 0);
  assert.deepEqual(decodeClientFqdn(findOption(m.options, Option6.ClientFqdn) as Buffer), { flags: 0, labels: ['box7'] });
  const ia = decodeIaNa(findOption(m.options, Option6.IaNa) as Buffer);
  assert.ok(ia.ok);
  assert.deepEqual(ia.ia, { iaid: 2952790023, t1: 3600, t2: 5400, addresses: [], status: null });
});

test('serialize(parse(x)) gives back the same bytes', () => {
  assert.deepEqual(serializeDhcp6Message(parsed(DHCLIENT_SOLICIT)), DHCLIENT_SOLICIT);
  const w = new Writer();
  w.u8(MessageType.Request).u8(1).u16(2);
  w.option(Option6.IaNa, (x) => {
    x.u32(7).u32(100).u32(200);
    x.option(Option6.IaAddress, (y) => {
      y.bytes(Buffer.alloc(16, 0xfd)).u32(300).u32(400);
      y.option(Option6.StatusCode, (z) => z.u16(2).bytes(Buffer.from('none')));
    });
  });
  const bytes = w.finish();
  const m = parsed(bytes);
  assert.equal(m.transactionId, 0x010002);
  assert.deepEqual(serializeDhcp6Message(m), bytes);
  const ia = decodeIaNa(m.options[0]?.value as Buffer);
  assert.ok(ia.ok);
  assert.equal(ia.ia.addresses[0]?.preferred, 300);
  assert.equal(ia.ia.addresses[0]?.valid, 400);
  assert.deepEqual(ia.ia.addresses[0]?.status, { code: 2, message: 'none' });
});

test('every cut of the real Solicit is a named failure or a shorter valid message, never a throw', () => {
  for (let n = 0; n < DHCLIENT_SOLICIT.length; n++) {
    const r = parseDhcp6Message(DHCLIENT_SOLICIT.subarray(0, n));
    if (n < 4) assert.deepEqual(r.ok ? null : r.reason, 'short-message');
    else if (!r.ok) assert.equal(r.reason, 'option-truncated', `cut at ${n}`);
  }
});

test('an option whose length runs past the end is option-truncated', () => {
  const bytes = Buffer.from(DHCLIENT_SOLICIT);
  bytes.writeUInt16BE(0xffff, 6); // the Client ID's length
  const r = parseDhcp6Message(bytes);
  assert.ok(!r.ok);
  assert.equal(r.reason, 'option-truncated');
});

test('more than MAX_OPTIONS options is too-many-options; exactly MAX_OPTIONS parses', () => {
  const build = (n: number): Buffer => Buffer.concat([Buffer.from([1, 0, 0, 1]), Buffer.alloc(4 * n)]);
  assert.ok(parseDhcp6Message(build(MAX_OPTIONS)).ok);
  const r = parseDhcp6Message(build(MAX_OPTIONS + 1));
  assert.ok(!r.ok);
  assert.equal(r.reason, 'too-many-options');
  // The largest UDP payload of empty options stops at the limit too.
  const huge = parseDhcp6Message(build(16_000));
  assert.ok(!huge.ok && huge.reason === 'too-many-options');
});

test('relay messages are refused by name: on-link clients only', () => {
  for (const type of [MessageType.RelayForward, MessageType.RelayReply]) {
    const r = parseDhcp6Message(Buffer.from([type, 0, 0, 0, 0, 9, 0, 0]));
    assert.ok(!r.ok);
    assert.equal(r.reason, 'relay-message');
  }
});

test('malformed IA_NA and IA Address are named failures', () => {
  assert.deepEqual(decodeIaNa(Buffer.alloc(11)).ok, false);
  const shortAddress = new Writer()
    .u32(1)
    .u32(0)
    .u32(0)
    .option(Option6.IaAddress, (x) => x.bytes(Buffer.alloc(10)))
    .finish();
  const r = decodeIaNa(shortAddress);
  assert.ok(!r.ok);
  assert.equal(r.reason, 'ia-address-short');
  const pastEnd = Buffer.concat([Buffer.alloc(12), Buffer.from([0, 5, 0, 200, 1, 2])]);
  const p = decodeIaNa(pastEnd);
  assert.ok(!p.ok && p.reason === 'bad-inner-options');
});

test('inner options are bounded by MAX_INNER_OPTIONS; nesting beyond MAX_OPTION_DEPTH stays opaque', () => {
  const many = Buffer.concat([Buffer.alloc(12), Buffer.alloc(4 * (MAX_INNER_OPTIONS + 1))]);
  const r = decodeIaNa(many);
  assert.ok(!r.ok && r.reason === 'bad-inner-options');
  // An IA Address inside an IA Address inside an IA_NA, 20 levels deep: only levels 0-2 are read.
  let inner: Buffer = Buffer.alloc(0);
  for (let i = 0; i < 20; i++) {
    const value: Buffer = inner;
    inner = new Writer().option(Option6.IaAddress, (x) => x.bytes(Buffer.alloc(24)).bytes(value)).finish();
  }
  const deep = decodeIaNa(Buffer.concat([Buffer.alloc(12), inner]));
  assert.ok(deep.ok);
  assert.equal(deep.ia.addresses.length, 1);
});

test('ORO of odd length, elapsed time of the wrong size, link-layer option without a type: null', () => {
  assert.equal(decodeOro(Buffer.alloc(3)), null);
  assert.equal(decodeElapsedTime(Buffer.alloc(3)), null);
  assert.equal(decodeLinkLayerAddress(Buffer.alloc(1)), null);
  assert.deepEqual(decodeLinkLayerAddress(Buffer.from('0001021ab0000007', 'hex')), {
    hardwareType: 1,
    address: Buffer.from('021ab0000007', 'hex'),
  });
});

test('domain names: labels checked, compression pointers and long names refused, partial names allowed', () => {
  assert.deepEqual(decodeDomainName(encodeDomainName('box7.lxc')), ['box7', 'lxc']);
  assert.deepEqual(decodeDomainName(Buffer.from([4, 0x62, 0x6f, 0x78, 0x37])), ['box7']); // partial (RFC 4704 §4.2)
  assert.equal(decodeDomainName(Buffer.from([0xc0, 0x0c])), null); // a compression pointer
  assert.equal(decodeDomainName(Buffer.from([5, 0x61])), null); // label past the end
  assert.equal(decodeDomainName(Buffer.from([0, 1, 0x61])), null); // data after the root label
  assert.equal(decodeDomainName(Buffer.alloc(256, 1)), null);
  assert.equal(decodeClientFqdn(Buffer.alloc(0)), null);
});

test('DUID types: LLT, EN, LL, UUID, unknown; too short and too long refused', () => {
  const llt = parseDuid(Buffer.from('00010001000000010211223344556677', 'hex'));
  assert.ok(llt.ok && llt.duid.type === 'llt');
  const en = parseDuid(Buffer.from('0002000009bf0102', 'hex'));
  assert.ok(en.ok && en.duid.type === 'en' && en.duid.enterprise === 2495);
  const ll = parseDuid(Buffer.from('00030001021ab0000007', 'hex'));
  assert.ok(ll.ok && ll.duid.type === 'll' && ll.duid.linkLayer.toString('hex') === '021ab0000007');
  const uuid = parseDuid(Buffer.concat([Buffer.from('0004', 'hex'), Buffer.alloc(16, 7)]));
  assert.ok(uuid.ok && uuid.duid.type === 'uuid');
  assert.ok(!parseDuid(Buffer.from('0004aabb', 'hex')).ok);
  const other = parseDuid(Buffer.from('0009ff', 'hex'));
  assert.ok(other.ok && other.duid.type === 'other');
  const short = parseDuid(Buffer.from('0001', 'hex'));
  assert.ok(!short.ok && short.reason === 'duid-short');
  const long = parseDuid(Buffer.concat([Buffer.from('0002', 'hex'), Buffer.alloc(129)]));
  assert.ok(!long.ok && long.reason === 'duid-long');
  assert.ok(!parseDuid(Buffer.from('000100010000', 'hex')).ok);
});

test('our server DUID is DUID-LL (RFC 8415 §11.4) of the bridge MAC', () => {
  assert.equal(serverDuidFromMac('02:00:5E:10:00:01').toString('hex'), '00030001' + '02005e100001');
  assert.throws(() => serverDuidFromMac('nope'), RangeError);
});

test('readOptions reads a run between two offsets only', () => {
  const data = Buffer.from('ffff000100020000ffff', 'hex');
  const r = readOptions(data, 2, 8, 4);
  assert.ok(r.ok);
  assert.deepEqual(r.options, [{ code: 1, value: Buffer.from('0000', 'hex') }]);
});
