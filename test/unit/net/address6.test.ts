import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  ALL_NODES,
  ALL_ROUTERS,
  eui64InterfaceId,
  formatIPv6,
  inPrefix,
  isLinkLocal,
  isMulticast,
  isUnspecified,
  linkLocalFromMac,
  multicastMac,
  parseIPv6,
  prefix64,
  prefixOf,
  solicitedNodeAddress,
  UNSPECIFIED,
  withInterfaceId,
} from '../../../src/net/address6.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/[^0-9a-f]/gi, ''), 'hex');
const p = (text: string): Buffer => {
  const address = parseIPv6(text);
  assert.ok(address, `${text} parses`);
  return address;
};

test('formatIPv6 follows the RFC 5952 examples', () => {
  // §4.2.1 shorten as much as possible, §4.2.2 not one 16-bit 0 field, §4.2.3 the first of equal runs, §4.3 lowercase.
  assert.equal(formatIPv6(hex('20010db8000000000000000000000001')), '2001:db8::1');
  assert.equal(formatIPv6(hex('20010db8000000010001000100010001')), '2001:db8:0:1:1:1:1:1');
  assert.equal(formatIPv6(hex('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
  assert.equal(formatIPv6(hex('20010db80000000100000000000000ab')), '2001:db8:0:1::ab');
  assert.equal(formatIPv6(hex('20010DB8AAAABBBBCCCCDDDDEEEE0AAA')), '2001:db8:aaaa:bbbb:cccc:dddd:eeee:aaa');
  assert.equal(formatIPv6(UNSPECIFIED), '::');
  assert.equal(formatIPv6(ALL_NODES), 'ff02::1');
  assert.equal(formatIPv6(hex('00000000000000000000000000000001')), '::1');
  assert.equal(formatIPv6(hex('fe800000000000000000000000000000')), 'fe80::');
  assert.equal(formatIPv6(hex('00000000000000000000ffffc0000201')), '::ffff:192.0.2.1');
  assert.throws(() => formatIPv6(Buffer.alloc(4)), RangeError);
});

test('formatIPv6 agrees with the WHATWG URL serializer on random addresses with zero runs', () => {
  for (let i = 0; i < 2000; i++) {
    const address = randomBytes(16);
    // zero some groups so that runs of every length and position occur
    for (let g = 0; g < 8; g++) if ((address[g] as number) < 128) address.writeUInt16BE(0, g * 2);
    if (address.subarray(0, 10).every((b) => b === 0) && address.readUInt16BE(10) === 0xffff) continue; // mapped: printed differently on purpose
    const expected = new URL(`http://[${address.toString('hex').replace(/(.{4})(?!$)/g, '$1:')}]/`).hostname.slice(1, -1);
    assert.equal(formatIPv6(address), expected);
    assert.deepEqual(parseIPv6(expected), address, `round trip of ${expected}`);
  }
});

test('parseIPv6 reads every text form and refuses what is not an address', () => {
  assert.deepEqual(p('2001:DB8::1'), hex('20010db8000000000000000000000001'));
  assert.deepEqual(p('::'), UNSPECIFIED);
  assert.deepEqual(p('ff02::2'), ALL_ROUTERS);
  assert.deepEqual(p('1:2:3:4:5:6:7:8'), hex('00010002000300040005000600070008'));
  assert.deepEqual(p('::ffff:192.0.2.1'), hex('00000000000000000000ffffc0000201'));
  assert.deepEqual(p('64:ff9b::192.0.2.33'), hex('0064ff9b0000000000000000c0000221'));
  for (const bad of ['', '1.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', 'g::1', '12345::']) {
    assert.equal(parseIPv6(bad), null, bad);
  }
});

test('prefix helpers: an address /64, prefixes of other lengths and membership', () => {
  const a = p('fd00:db8:1:0:1234:5678:9abc:def0');
  assert.equal(formatIPv6(prefix64(a)), 'fd00:db8:1::');
  assert.equal(formatIPv6(prefixOf(a, 48)), 'fd00:db8:1::');
  assert.equal(formatIPv6(prefixOf(a, 63)), 'fd00:db8:1::');
  assert.equal(formatIPv6(prefixOf(p('fd00:db8:1:ffff::'), 63)), 'fd00:db8:1:fffe::');
  assert.equal(formatIPv6(prefixOf(a, 128)), formatIPv6(a));
  assert.equal(formatIPv6(prefixOf(a, 0)), '::');
  assert.ok(inPrefix(a, p('fd00:db8:1::'), 64));
  assert.ok(!inPrefix(p('fd00:db8:2::1'), p('fd00:db8:1::'), 64));
  assert.ok(inPrefix(p('fd00:db8:2::1'), p('fd00:db8::'), 32));
  assert.throws(() => prefixOf(a, 129), RangeError);
  assert.equal(a.toString('hex'), 'fd000db800010000123456789abcdef0', 'the argument is not changed');
});

test('EUI-64 interface identifiers and link-local addresses (RFC 4291 Appendix A)', () => {
  assert.deepEqual(eui64InterfaceId('02:1a:b0:00:00:05'), hex('001ab0fffe000005'));
  assert.deepEqual(eui64InterfaceId('00:11:22:33:44:55'), hex('021122fffe334455'));
  assert.equal(formatIPv6(linkLocalFromMac('02:1a:b0:00:00:05')), 'fe80::1a:b0ff:fe00:5');
  assert.equal(formatIPv6(withInterfaceId(p('fd00:db8:1::'), eui64InterfaceId('02:1a:b0:00:00:05'))), 'fd00:db8:1:0:1a:b0ff:fe00:5');
  assert.throws(() => withInterfaceId(p('fd00::'), Buffer.alloc(4)), RangeError);
});

test('solicited-node groups and IPv6 multicast MACs (RFC 4291 §2.7.1, RFC 2464 §7)', () => {
  assert.equal(formatIPv6(solicitedNodeAddress(p('fe80::1a:b0ff:fe00:5'))), 'ff02::1:ff00:5');
  assert.equal(formatIPv6(solicitedNodeAddress(p('fd00:db8:1::1234:5678'))), 'ff02::1:ff34:5678');
  assert.equal(multicastMac(ALL_NODES), '33:33:00:00:00:01');
  assert.equal(multicastMac(p('ff02::1:ff34:5678')), '33:33:ff:34:56:78');
});

test('address classes', () => {
  assert.ok(isMulticast(ALL_NODES) && !isMulticast(p('fe80::1')));
  assert.ok(isLinkLocal(p('fe80::1')) && isLinkLocal(p('febf::1')) && !isLinkLocal(p('fec0::1')) && !isLinkLocal(p('fd00::1')));
  assert.ok(isUnspecified(p('::')) && !isUnspecified(p('::1')));
});
