import assert from 'node:assert/strict';
import { test } from 'node:test';
import { macKey, macText, NO_MAC } from '../../../src/leases/mac-key.ts';

test('a MAC becomes its 48-bit number and back, in either case', () => {
  assert.equal(macKey('00:00:00:00:00:00'), 0);
  assert.equal(macKey('ff:ff:ff:ff:ff:ff'), 2 ** 48 - 1);
  assert.equal(macKey('02:1a:b0:00:00:05'), 0x021ab0000005);
  assert.equal(macKey('02:1A:B0:00:00:05'), 0x021ab0000005);
  for (const mac of ['00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '02:1a:b0:00:00:05', '80:00:00:00:00:01', '00:00:01:00:00:00']) {
    assert.equal(macText(macKey(mac)), mac);
  }
});

test('no MAC is its own key; anything else that is not a MAC is NaN', () => {
  assert.equal(macKey(''), NO_MAC);
  assert.equal(macText(NO_MAC), '');
  for (const bad of ['02:1a:b0:00:00', '02:1a:b0:00:00:05:06', '02-1a-b0-00-00-05', '02:1a:b0:00:00:0g', ' 2:1a:b0:00:00:05', 'web']) {
    assert.ok(Number.isNaN(macKey(bad)), bad);
  }
});
