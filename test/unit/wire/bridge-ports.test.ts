import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BRIDGE_PORT_MAX_AGE_MS, BRIDGE_PORT_REQUERY_MS, BridgePortCache } from '../../../src/wire/bridge-ports.ts';

function cache(ports: number[][]): { c: BridgePortCache; clock: { t: number }; errors: Error[] } {
  const clock = { t: 1000 };
  const errors: Error[] = [];
  let answer = 0;
  const c = new BridgePortCache({
    query: () => {
      const next = ports[Math.min(answer++, ports.length - 1)];
      if (next === undefined) throw new Error('netlink down');
      return next;
    },
    now: () => clock.t,
    onError: (e) => errors.push(e),
  });
  return { c, clock, errors };
}

test('known ports are answered from the cache; 0 and non-integers are never ports', () => {
  const { c } = cache([[5, 6]]);
  assert.equal(c.has(5), true);
  assert.equal(c.has(6), true);
  assert.equal(c.queries, 1);
  assert.equal(c.has(0), false);
  assert.equal(c.has(-1), false);
  assert.equal(c.has(5.5), false);
  assert.equal(c.queries, 1);
});

test('an unknown ifindex re-queries at once when the last query is older than the interval (a new container)', () => {
  const { c, clock } = cache([[5], [5, 9]]);
  assert.equal(c.has(5), true);
  clock.t += BRIDGE_PORT_REQUERY_MS;
  assert.equal(c.has(9), true);
  assert.equal(c.queries, 2);
});

test('a flood of unknown ifindexes costs at most one query per interval', () => {
  const { c, clock } = cache([[5]]);
  c.has(5);
  for (let i = 0; i < 10_000; i++) {
    assert.equal(c.has(100 + i), false);
    clock.t += 0.1; // 10 000 frames in 1000 ms
  }
  const allowed = Math.ceil(1000 / BRIDGE_PORT_REQUERY_MS) + 1;
  assert.ok(c.queries <= allowed, `${c.queries} queries for 10 000 off-bridge frames, at most ${allowed} allowed`);
});

test('a cached port is dropped once the cache is older than the maximum age (the container stopped)', () => {
  const { c, clock } = cache([[5, 6], [6]]);
  assert.equal(c.has(5), true);
  clock.t += BRIDGE_PORT_MAX_AGE_MS - 1;
  assert.equal(c.has(5), true, 'still fresh');
  clock.t += 1;
  assert.equal(c.has(5), false, 'refreshed after the maximum age');
});

test('a failed query keeps the previous answer and is reported', () => {
  const { c, clock, errors } = cache([[5]]);
  assert.equal(c.has(5), true);
  const failing = new BridgePortCache({ query: () => { throw new Error('ETIMEDOUT'); }, now: () => clock.t, onError: (e) => errors.push(e) });
  assert.equal(failing.has(5), false);
  assert.equal(errors.length, 1);
});
