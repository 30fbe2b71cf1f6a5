import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BRIDGE_PORT_MAX_AGE_MS, BRIDGE_PORT_REQUERY_MS, BridgePortCache } from '../../../src/wire/bridge-ports.ts';

/** A cache over a kernel whose port list is `kernel` (mutable by the test). */
function cache(initial: number[]): { c: BridgePortCache; clock: { t: number }; kernel: Set<number>; errors: Error[] } {
  const clock = { t: 1000 };
  const errors: Error[] = [];
  const kernel = new Set(initial);
  const c = new BridgePortCache({
    query: () => [...kernel],
    queryOne: (ifindex) => kernel.has(ifindex),
    now: () => clock.t,
    onError: (e) => errors.push(e),
  });
  return { c, clock, kernel, errors };
}

test('known ports are answered from the cache; 0 and non-integers are never ports', () => {
  const { c } = cache([5, 6]);
  assert.equal(c.has(5), true);
  assert.equal(c.has(6), true);
  assert.equal(c.queries, 1);
  assert.equal(c.has(0), false);
  assert.equal(c.has(-1), false);
  assert.equal(c.has(5.5), false);
  assert.equal(c.queries + c.lookups, 1);
});

test('an unknown ifindex is asked about alone, at once (a new container)', () => {
  const { c, kernel } = cache([5]);
  assert.equal(c.has(5), true);
  kernel.add(9);
  assert.equal(c.has(9), true);
  assert.equal(c.queries, 1, 'no second dump');
  assert.equal(c.lookups, 1);
  assert.equal(c.has(9), true);
  assert.equal(c.lookups, 1, 'remembered');
});

test('a flood of unknown ifindexes costs at most one lookup per interval and no dump beyond one per maximum age', () => {
  const { c, clock } = cache([5]);
  c.has(5);
  for (let i = 0; i < 10_000; i++) {
    assert.equal(c.has(100 + i), false);
    clock.t += 0.1; // 10 000 frames in 1000 ms
  }
  const allowed = Math.ceil(1000 / BRIDGE_PORT_REQUERY_MS) + 1;
  assert.ok(c.lookups <= allowed, `${c.lookups} lookups for 10 000 off-bridge frames, at most ${allowed} allowed`);
  assert.ok(c.queries <= 2, `${c.queries} dumps`);
});

test('a cached port is dropped once the list is older than the maximum age (the container stopped)', () => {
  const { c, clock, kernel } = cache([5, 6]);
  assert.equal(c.has(5), true);
  kernel.delete(5);
  clock.t += BRIDGE_PORT_MAX_AGE_MS - 1;
  assert.equal(c.has(5), true, 'still fresh');
  clock.t += 1;
  assert.equal(c.has(5), false, 'fetched again after the maximum age');
});

test('failed queries keep the previous answer, answer false for unknown ones, and are reported', () => {
  const clock = { t: 0 };
  const errors: Error[] = [];
  let fail = false;
  const c = new BridgePortCache({
    query: () => {
      if (fail) throw new Error('ETIMEDOUT');
      return [5];
    },
    queryOne: () => {
      throw new Error('ETIMEDOUT');
    },
    now: () => clock.t,
    onError: (e) => errors.push(e),
  });
  assert.equal(c.has(5), true);
  fail = true;
  clock.t += BRIDGE_PORT_MAX_AGE_MS;
  assert.equal(c.has(5), true, 'old answer kept');
  assert.equal(c.has(7), false);
  assert.equal(errors.length, 2);
});
