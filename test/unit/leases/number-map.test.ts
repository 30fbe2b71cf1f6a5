import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NumberMap } from '../../../src/leases/number-map.ts';

test('set, setIfAbsent, get, overwrite and delete agree with a Map over addresses and 48-bit MACs, through growth', () => {
  const map = new NumberMap();
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
    if (op < 2) {
      map.set(key, step);
      reference.set(key, step);
    } else if (op === 2) {
      assert.equal(map.setIfAbsent(key, step), reference.get(key));
      if (!reference.has(key)) reference.set(key, step);
    } else {
      assert.equal(map.delete(key), reference.delete(key));
    }
    if (step % 97 === 0) {
      for (const [k, v] of reference) assert.equal(map.get(k), v);
    }
    assert.equal(map.size, reference.size);
  }
  for (const base of bases) for (let i = 0; i < 300; i++) assert.equal(map.get(base + i), reference.get(base + i));
});

test('invalid keys are never found and cannot be set', () => {
  const map = new NumberMap(4);
  map.set(0, 1);
  assert.equal(map.get(-1), undefined);
  assert.equal(map.get(Number.NaN), undefined);
  assert.equal(map.delete(-1), false);
  assert.throws(() => map.set(-1, 0), RangeError);
  assert.throws(() => map.set(1.5, 0), RangeError);
  assert.throws(() => map.set(2 ** 53, 0), RangeError);
  assert.equal(map.get(0), 1);
});
