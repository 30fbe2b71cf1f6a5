/** IPv6 text ⇄ number: RFC 4291 §2.2 input forms, RFC 5952 §4 output, and the 16 wire bytes. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIPv6, formatIPv6, ipv6FromBytes, ipv6ToBytes, parseIPv6, samePrefix } from '../../../src/leases/ipv6-number.ts';

test('RFC 5952 text: lower case, no leading zeros, longest zero run compressed (first on a tie), not a single group', () => {
  const cases: [string, string][] = [
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1a:b0ff:fe00:7', 'fe80::1a:b0ff:fe00:7'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['fd00::', 'fd00::'],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIPv6(input), want, input);
});

test('what is not an IPv6 address is null', () => {
  for (const bad of ['', '1.2.3.4', 'fd00:::1', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', 'g::1', '12345::']) assert.equal(parseIPv6(bad), null, bad);
});

test('bytes round trip, and only 16 bytes are an address', () => {
  const v = parseIPv6('fd42:1:2:3::1') as bigint;
  assert.equal(ipv6ToBytes(v).toString('hex'), 'fd420001000200030000000000000001');
  assert.equal(ipv6FromBytes(ipv6ToBytes(v)), v);
  assert.equal(ipv6FromBytes(Buffer.alloc(15)), null);
  assert.equal(formatIPv6((1n << 128n) - 1n), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
});

test('samePrefix compares the first bits only', () => {
  const a = parseIPv6('fd42:1:2:3::1') as bigint;
  assert.ok(samePrefix(a, parseIPv6('fd42:1:2:3:ffff::9') as bigint, 64));
  assert.ok(!samePrefix(a, parseIPv6('fd42:1:2:4::1') as bigint, 64));
});
