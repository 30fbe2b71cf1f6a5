/** RFC 5952 text of IPv6 addresses (the stores' keys and the reservations' form) and their numeric order. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIPv6, compareIPv6, ipv6SortKey } from '../../../src/net/address6.ts';

test('canonicalIPv6 gives the RFC 5952 §4 form', () => {
  const cases: [string, string][] = [
    ['FD42:0001:0000:0000:0000:0000:0000:0005', 'fd42:1::5'], // §4.3 lower case, §4.1 no leading zeros
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3 the first of two equal runs
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3 the longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2 a single zero group is not "::"
    ['::', '::'],
    ['fe80:0:0:0:1:0:0:0', 'fe80::1:0:0:0'], // §4.2.3 equal runs: the first
  ];
  for (const [input, expected] of cases) assert.equal(canonicalIPv6(input), expected, input);
});

test('canonicalIPv6 refuses what is not a plain IPv6 address', () => {
  for (const bad of ['', '10.0.0.1', 'fd42::5%eth0', '::ffff:10.0.0.1', 'fd42:::5', '1:2:3:4:5:6:7:8:9', 'g::1', '[fd42::5]']) {
    assert.equal(canonicalIPv6(bad), null, bad);
  }
});

test('compareIPv6 orders by value, not by text', () => {
  const sorted = ['fd00::10', 'fd00::9', 'fd00::a', 'fd00::1:0', '2001:db8::1'].sort(compareIPv6);
  assert.deepEqual(sorted, ['2001:db8::1', 'fd00::9', 'fd00::a', 'fd00::10', 'fd00::1:0']);
  assert.equal(ipv6SortKey('fd00::1'), 'fd000000000000000000000000000001');
  assert.equal(ipv6SortKey('not an address'), '');
});
