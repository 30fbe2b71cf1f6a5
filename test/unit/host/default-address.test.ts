import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRange } from '../../../src/config/range.ts';
import { defaultBridgeAddress } from '../../../src/host/default-address.ts';
import { formatIPv4 } from '../../../src/net/address.ts';

function choose(range: string, prefixLength?: number): string {
  const parsed = parseRange(range);
  if (!parsed.ok) assert.fail(parsed.error);
  const result = defaultBridgeAddress(parsed.value, prefixLength);
  return result.ok ? `${formatIPv4(result.value.ip)}/${result.value.prefixLength}` : `error: ${result.error}`;
}

describe('defaultBridgeAddress', () => {
  it('takes the first address of the /24 holding the range', () => {
    assert.equal(choose('10.0.0.100-200'), '10.0.0.1/24');
    assert.equal(choose('192.168.7.2-254'), '192.168.7.1/24');
  });

  it('takes the last host address when the range starts at the first', () => {
    assert.equal(choose('10.0.0.1-200'), '10.0.0.254/24');
  });

  it('honours a smaller network given with --netmask', () => {
    assert.equal(choose('10.0.0.100-120', 25), '10.0.0.1/25');
    assert.equal(choose('10.0.0.130-140', 28), '10.0.0.129/28');
  });

  it('accepts a larger network when the range spans several /24s', () => {
    assert.equal(choose('10.0.0.100-10.0.1.50', 23), '10.0.0.1/23');
    assert.match(choose('10.0.0.100-10.0.1.50'), /^error: --range 10.0.0.100-10.0.1.50 does not fit in one \/24/);
  });

  it('refuses ranges holding the network or broadcast address, or every host address', () => {
    assert.match(choose('10.0.0.0-200'), /network or broadcast address of 10.0.0.0\/24/);
    assert.match(choose('10.0.0.2-255'), /network or broadcast address/);
    assert.match(choose('10.0.0.1-254'), /covers every address of 10.0.0.0\/24/);
    assert.match(choose('10.0.0.1-2', 31), /prefix length from 1 to 30/);
  });
});
