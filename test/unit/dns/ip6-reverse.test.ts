import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressFromPtrName, ip6ArpaName } from '../../../src/dns/ip6-reverse.ts';
import { formatIPv6, parseIPv6 } from '../../../src/net/address6.ts';

test('addressFromPtrName reads back what ip6ArpaName writes, and nothing else', () => {
  for (const text of ['fd00:0:0:4::5', '2001:db8::1', '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) {
    const address = parseIPv6(text) as Buffer;
    const back = addressFromPtrName(ip6ArpaName(address));
    assert.equal(back === null ? null : formatIPv6(back), text);
  }
  const name = ip6ArpaName(parseIPv6('fd00::1') as Buffer);
  assert.equal(addressFromPtrName(name.slice(2)), null, '31 nibbles');
  assert.equal(addressFromPtrName(`0.${name}`), null, '33 nibbles');
  assert.equal(addressFromPtrName(name.replace(/^1/, 'g')), null, 'not a hex digit');
  assert.equal(addressFromPtrName(name.replace(/^1/, '10')), null, 'two digits in a label');
  assert.equal(addressFromPtrName('1.0.0.10.in-addr.arpa'), null);
});
