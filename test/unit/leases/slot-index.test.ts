import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashOfText, numberKeys, SlotIndex, textKeys } from '../../../src/leases/slot-index.ts';

/** A column store of keys: slot i holds keys[i]; the index reads them from there, as the lease table's do. */
function numberStore(): { keys: number[]; index: SlotIndex<number> } {
  const keys: number[] = [];
  return { keys, index: new SlotIndex(numberKeys((slot) => keys[slot] as number)) };
}

test('set, setIfAbsent, get, overwrite and delete agree with a Map over addresses and 48-bit MACs, through growth', () => {
  const { keys, index } = numberStore();
  const reference = new Map<number, number>();
  let state = 4242;
  const random = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 4) % n;
  };
  // Keys crowd a few small ranges so probe runs collide, wrap around the table's end and get deleted from the middle.
  const bases = [0, 0x0a000000, 0xc0a80000, 0xffffff00, 0x02dd00000000, 0xfeffffffff00];
  for (let step = 0; step < 40_000; step++) {
    const key = (bases[random(bases.length)] as number) + random(300);
    const op = random(4);
    const slot = keys.push(key) - 1; // a new slot holding the key (slots are never reused here)
    if (op < 2) {
      index.set(key, slot);
      reference.set(key, slot);
    } else if (op === 2) {
      assert.equal(index.setIfAbsent(key, slot), reference.get(key) ?? -1);
      if (!reference.has(key)) reference.set(key, slot);
    } else {
      assert.equal(index.delete(key), reference.delete(key));
    }
    if (step % 97 === 0) {
      for (const [k, v] of reference) assert.equal(index.get(k), v);
    }
    assert.equal(index.size, reference.size);
  }
  for (const base of bases) for (let i = 0; i < 300; i++) assert.equal(index.get(base + i), reference.get(base + i) ?? -1);
});

test('deleteSlot removes a slot only where it is the one indexed under its key', () => {
  const { keys, index } = numberStore();
  keys.push(7, 7, 9);
  index.set(7, 0);
  index.set(7, 1); // slot 1 now indexed under 7; slot 0 holds 7 but is not indexed
  index.set(9, 2);
  assert.equal(index.deleteSlot(0), false);
  assert.equal(index.get(7), 1);
  assert.equal(index.deleteSlot(1), true);
  assert.equal(index.get(7), -1);
  assert.equal(index.get(9), 2);
  assert.equal(index.size, 1);
});

test('keys that are not keys are never found', () => {
  const { keys, index } = numberStore();
  keys.push(0);
  index.set(0, 0);
  assert.equal(index.get(-1), -1);
  assert.equal(index.get(Number.NaN), -1);
  assert.equal(index.delete(-1), false);
  assert.equal(index.get(0), 0);
});

test('text keys: found by an equal string, not by another with the same hash bucket', () => {
  const names: string[] = [];
  const index = new SlotIndex(
    textKeys(
      (slot) => hashOfText(names[slot] as string),
      (slot, key) => names[slot] === key,
    ),
  );
  for (let i = 0; i < 5000; i++) index.set(names[names.push(`host-${i}`) - 1] as string, i);
  for (let i = 0; i < 5000; i++) assert.equal(index.get(`host-${i}`), i);
  assert.equal(index.get('host-5000'), -1);
  for (let i = 0; i < 5000; i += 2) assert.equal(index.deleteSlot(i), true);
  for (let i = 0; i < 5000; i++) assert.equal(index.get(`host-${i}`), i % 2 ? i : -1);
});
