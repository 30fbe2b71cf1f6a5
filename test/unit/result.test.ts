// src/result.ts: the shared Checked<T> and its two constructors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Checked, fail, ok } from '../../src/result.ts';

test('ok() carries the value, fail() the sentence; the two narrow on .ok', () => {
  const good: Checked<number> = ok(3);
  const bad: Checked<number> = fail('--x 4 is not 3: give 3');
  assert.deepEqual(good, { ok: true, value: 3 });
  assert.deepEqual(bad, { ok: false, error: '--x 4 is not 3: give 3' });
  assert.equal(good.ok ? good.value : null, 3);
  assert.equal(bad.ok ? null : bad.error, '--x 4 is not 3: give 3');
});
