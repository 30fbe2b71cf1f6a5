import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpiryHeap } from '../../../src/leases/expiry-heap.ts';

test('pops in time order, equal times in insertion order', () => {
  const heap = new ExpiryHeap<string>();
  let state = 7;
  const pushed: { at: number; value: string }[] = [];
  for (let i = 0; i < 500; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const at = state % 50;
    const value = `v${i}`;
    heap.push(at, value);
    pushed.push({ at, value });
  }
  assert.equal(heap.size, 500);
  const expected = [...pushed].sort((a, b) => a.at - b.at); // Array.prototype.sort is stable
  assert.equal(heap.peek()?.value, expected[0]?.value);
  const popped: { at: number; value: string }[] = [];
  for (let entry = heap.pop(); entry !== undefined; entry = heap.pop()) popped.push({ at: entry.at, value: entry.value });
  assert.deepEqual(popped, expected);
  assert.equal(heap.size, 0);
  assert.equal(heap.peek(), undefined);
});
