/** TokenBuckets (src/dhcp/fair-share.ts) on a hand-driven clock: burst, hourly refill, off switch, bounded table. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_FAIR_SHARE_SOURCES, TokenBuckets } from '../../../src/dhcp/fair-share.ts';

const HOUR_MS = 3_600_000;

test('a source spends its burst, then gets perHour tokens an hour, never more than the burst', () => {
  let now = 0;
  const b = new TokenBuckets({ burst: 4, perHour: 4 }, () => now);
  assert.equal(b.available('a'), 4);
  for (let i = 0; i < 4; i++) assert.equal(b.take('a'), true);
  assert.equal(b.take('a'), false);
  assert.equal(b.available('a'), 0);
  assert.equal(b.available('b'), 4, 'another source has its own bucket');
  now += HOUR_MS / 4 - 1;
  assert.equal(b.take('a'), false);
  now += 1;
  assert.equal(b.take('a'), true);
  now += 10 * HOUR_MS;
  assert.equal(b.available('a'), 4, 'saved up to the burst only');
});

test('a refused take spends nothing', () => {
  let now = 0;
  const b = new TokenBuckets({ burst: 1, perHour: 1 }, () => now);
  assert.equal(b.take('a'), true);
  for (let i = 0; i < 100; i++) assert.equal(b.take('a'), false);
  now += HOUR_MS;
  assert.equal(b.take('a'), true);
});

test('burst 0 turns the limit off and keeps no table', () => {
  const b = new TokenBuckets({ burst: 0, perHour: 0 }, () => 0);
  for (let i = 0; i < 1000; i++) assert.equal(b.take(`s${i % 3}`), true);
  assert.equal(b.available('x'), Number.POSITIVE_INFINITY);
  assert.equal(b.size, 0);
});

test('sweep drops buckets that have refilled to full', () => {
  let now = 0;
  const b = new TokenBuckets({ burst: 2, perHour: 2 }, () => now);
  b.take('a');
  b.take('b');
  b.take('b');
  assert.equal(b.size, 2);
  now += HOUR_MS / 2;
  b.sweep();
  assert.equal(b.size, 1, 'a is full again, b is not');
  now += HOUR_MS / 2;
  b.sweep();
  assert.equal(b.size, 0);
});

test('the table is bounded: full buckets go first, then the least recently used, counted', () => {
  let now = 0;
  let evicted = 0;
  const b = new TokenBuckets(
    { burst: 2, perHour: 2 },
    () => now,
    3,
    () => evicted++,
  );
  b.take('a');
  b.take('b');
  b.take('c');
  assert.equal(b.size, 3);
  b.take('a'); // a is now the most recently used, b the least
  b.take('d');
  assert.equal(b.size, 3);
  assert.equal(evicted, 1);
  assert.equal(b.evictions, 1);
  assert.equal(b.available('b'), 2, 'b was evicted');
  assert.equal(b.available('a'), 0, 'a was kept');
  // After an hour every bucket is full again: room is made without evicting anyone.
  now += HOUR_MS;
  b.take('e');
  assert.equal(evicted, 1);
  assert.equal(b.size, 1);
  assert.ok(MAX_FAIR_SHARE_SOURCES >= 1024, 'room for every port of a bridge (BR_MAX_PORTS)');
});
