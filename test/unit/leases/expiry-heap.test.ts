import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpiryHeap } from '../../../src/leases/expiry-heap.ts';

test('pops in time order, equal times in insertion order, growing past its first capacity', () => {
  const heap = new ExpiryHeap(4);
  let state = 7;
  const pushed: { at: number; slot: number; tag: number }[] = [];
  for (let i = 0; i < 500; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const at = 1_700_000_000_000 + (state % 50);
    heap.push(at, i, (i * 7) >>> 0);
    pushed.push({ at, slot: i, tag: (i * 7) >>> 0 });
  }
  assert.equal(heap.size, 500);
  const expected = [...pushed].sort((a, b) => a.at - b.at); // Array.prototype.sort is stable
  assert.equal(heap.peekSlot(), expected[0]?.slot);
  const popped: { at: number; slot: number; tag: number }[] = [];
  while (heap.size > 0) {
    popped.push({ at: heap.peekAt() as number, slot: heap.peekSlot(), tag: heap.peekTag() });
    heap.pop();
  }
  assert.deepEqual(popped, expected);
  assert.equal(heap.peekAt(), undefined);
  assert.equal(heap.peekSlot(), -1);
  heap.pop(); // no-op when empty
  assert.equal(heap.size, 0);
});

test('interleaved pushes and pops keep the order (as renewals and expiries do)', () => {
  const heap = new ExpiryHeap();
  const reference: { at: number; slot: number }[] = [];
  let state = 99;
  const random = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  for (let step = 0; step < 5000; step++) {
    if (random(3) > 0) {
      const at = random(1000);
      heap.push(at, step, 0);
      reference.push({ at, slot: step });
      reference.sort((a, b) => a.at - b.at || a.slot - b.slot);
    } else if (reference.length > 0) {
      const first = reference.shift() as { at: number; slot: number };
      assert.equal(heap.peekAt(), first.at);
      assert.equal(heap.peekSlot(), first.slot);
      heap.pop();
    }
    assert.equal(heap.size, reference.length);
  }
});
