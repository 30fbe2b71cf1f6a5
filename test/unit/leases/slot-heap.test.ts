import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlotHeap } from '../../../src/leases/slot-heap.ts';

function lcg(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
}

test('appended then heapified: comes out in time order, equal times lowest slot first', () => {
  const at: number[] = [];
  const heap = new SlotHeap((slot) => at[slot] as number, 4);
  const random = lcg(7);
  for (let slot = 0; slot < 500; slot++) {
    at.push(1_700_000_000_000 + random(50));
    heap.append(slot);
  }
  heap.heapify();
  const expected = at.map((time, slot) => ({ time, slot })).sort((a, b) => a.time - b.time || a.slot - b.slot);
  const popped: number[] = [];
  for (let slot = heap.peek(); slot !== -1; slot = heap.peek()) {
    popped.push(slot);
    heap.remove(slot);
  }
  assert.deepEqual(
    popped,
    expected.map((e) => e.slot),
  );
  assert.equal(heap.size, 0);
});

test('updates move a slot to its new time, removals take it out, against a sorted reference (renewals, expiries)', () => {
  const at: number[] = new Array(300).fill(0);
  const heap = new SlotHeap((slot) => at[slot] as number);
  const inHeap = new Set<number>();
  const random = lcg(99);
  for (let step = 0; step < 20_000; step++) {
    const slot = random(300);
    if (random(3) > 0) {
      at[slot] = random(1000);
      heap.update(slot);
      inHeap.add(slot);
    } else {
      heap.remove(slot);
      inHeap.delete(slot);
    }
    const first = [...inHeap].sort((a, b) => (at[a] as number) - (at[b] as number) || a - b)[0] ?? -1;
    assert.equal(heap.peek(), first);
    assert.equal(heap.size, inHeap.size);
    assert.equal(heap.has(slot), inHeap.has(slot));
  }
});
