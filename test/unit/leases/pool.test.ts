import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressPool } from '../../../src/leases/pool.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

function ip(text: string): number {
  const value = parseIPv4(text);
  if (value === null) throw new Error(`bad test address ${text}`);
  return value;
}

function allocateAll(pool: AddressPool): number[] {
  const out: number[] = [];
  for (let next = pool.allocate(); next !== null; next = pool.allocate()) out.push(next);
  return out;
}

test('constructor rejects first > last and reports size', () => {
  assert.throws(() => new AddressPool(ip('10.0.0.9'), ip('10.0.0.1')), RangeError);
  const pool = new AddressPool(ip('10.0.0.1'), ip('10.0.0.10'));
  assert.equal(pool.size, 10);
  assert.equal(pool.freeCount, 10);
  const single = new AddressPool(ip('10.0.0.5'), ip('10.0.0.5'));
  assert.equal(single.size, 1);
  assert.equal(single.allocate(), ip('10.0.0.5'));
  assert.equal(single.allocate(), null);
});

test('contains and isFree respect the inclusive range', () => {
  const pool = new AddressPool(ip('10.0.0.2'), ip('10.0.0.4'));
  assert.equal(pool.contains(ip('10.0.0.1')), false);
  assert.equal(pool.contains(ip('10.0.0.2')), true);
  assert.equal(pool.contains(ip('10.0.0.4')), true);
  assert.equal(pool.contains(ip('10.0.0.5')), false);
  assert.equal(pool.isFree(ip('10.0.0.1')), false);
  assert.equal(pool.isFree(ip('10.0.0.3')), true);
  assert.equal(pool.take(ip('10.0.0.5')), false);
});

test('allocates never-used addresses lowest first, then exhausts to null', () => {
  const pool = new AddressPool(ip('192.168.1.10'), ip('192.168.1.14'));
  assert.deepEqual(
    allocateAll(pool),
    [10, 11, 12, 13, 14].map((n) => ip(`192.168.1.${n}`)),
  );
  assert.equal(pool.freeCount, 0);
  assert.equal(pool.allocate(), null);
});

test('take splits the never-used space and allocation skips taken addresses', () => {
  const pool = new AddressPool(1, 10);
  assert.equal(pool.take(5), true);
  assert.equal(pool.take(5), false, 'taking a taken address fails');
  assert.equal(pool.take(1), true);
  assert.equal(pool.take(10), true);
  assert.equal(pool.isFree(5), false);
  assert.equal(pool.freeCount, 7);
  assert.deepEqual(allocateAll(pool), [2, 3, 4, 6, 7, 8, 9]);
});

test('previously-used addresses come after never-used ones, freed longest ago first', () => {
  const pool = new AddressPool(1, 6);
  assert.deepEqual([pool.allocate(), pool.allocate(), pool.allocate()], [1, 2, 3]);
  pool.release(2);
  pool.release(1);
  pool.release(3);
  assert.equal(pool.freeCount, 6);
  assert.deepEqual(allocateAll(pool), [4, 5, 6, 2, 1, 3]);
});

test('release of a free or out-of-range address changes nothing', () => {
  const pool = new AddressPool(1, 3);
  pool.release(2);
  pool.release(99);
  assert.equal(pool.freeCount, 3);
  assert.deepEqual(allocateAll(pool), [1, 2, 3]);
});

test('take removes a previously-used address from the queue (its old owner returns)', () => {
  const pool = new AddressPool(1, 3);
  allocateAll(pool);
  pool.release(1);
  pool.release(2);
  pool.release(3);
  assert.equal(pool.take(2), true);
  assert.equal(pool.isFree(2), false);
  assert.deepEqual(allocateAll(pool), [1, 3]);
});

test('exclude keeps an address out of allocate and take; idempotent; unexclude frees it at the queue end', () => {
  const pool = new AddressPool(1, 4);
  pool.exclude(2);
  pool.exclude(2);
  assert.equal(pool.isExcluded(2), true);
  assert.equal(pool.freeCount, 3);
  assert.equal(pool.isFree(2), false);
  assert.equal(pool.take(2), false);
  assert.equal(pool.allocate(), 1);
  pool.release(1);
  pool.release(2); // excluded: must not enter the queue
  pool.unexclude(2);
  pool.unexclude(2);
  assert.equal(pool.isExcluded(2), false);
  assert.equal(pool.isFree(2), true);
  assert.deepEqual(allocateAll(pool), [3, 4, 1, 2]);
});

test('excluding a taken address keeps it out of the pool after release', () => {
  const pool = new AddressPool(1, 2);
  assert.equal(pool.take(1), true);
  pool.exclude(1);
  pool.release(1);
  assert.equal(pool.isFree(1), false);
  assert.deepEqual(allocateAll(pool), [2]);
});

test('exclude of a previously-used address removes it from the queue', () => {
  const pool = new AddressPool(1, 2);
  allocateAll(pool);
  pool.release(1);
  pool.release(2);
  pool.exclude(1);
  assert.equal(pool.freeCount, 1);
  assert.deepEqual(allocateAll(pool), [2]);
});

test('markPreviouslyUsed moves a never-used address behind the never-used space', () => {
  const pool = new AddressPool(1, 5);
  pool.markPreviouslyUsed(3);
  pool.markPreviouslyUsed(1);
  pool.markPreviouslyUsed(3); // already in the queue: keeps its place
  assert.equal(pool.take(4), true);
  pool.markPreviouslyUsed(4); // taken: no effect
  assert.equal(pool.freeCount, 4);
  assert.equal(pool.isFree(3), true);
  assert.deepEqual(allocateAll(pool), [2, 5, 3, 1]);
});

test('a /16 pool: scattered takes, full allocation order and exhaustion', () => {
  const first = ip('10.1.0.0');
  const last = ip('10.1.255.255');
  const pool = new AddressPool(first, last);
  assert.equal(pool.size, 65536);
  const taken = new Set<number>();
  for (let offset = 7; offset < 65536; offset += 13) {
    assert.equal(pool.take(first + offset), true);
    taken.add(first + offset);
  }
  assert.equal(pool.freeCount, 65536 - taken.size);
  for (let offset = 0; offset < 65536; offset += 4099) pool.markPreviouslyUsed(first + offset);
  const expectedFresh: number[] = [];
  for (let a = first; a <= last; a++) if (!taken.has(a) && (a - first) % 4099 !== 0) expectedFresh.push(a);
  const expectedReused: number[] = [];
  for (let offset = 0; offset < 65536; offset += 4099) if (!taken.has(first + offset)) expectedReused.push(first + offset);
  const got = allocateAll(pool);
  assert.deepEqual(got, [...expectedFresh, ...expectedReused]);
  assert.equal(pool.freeCount, 0);
  assert.equal(pool.allocate(), null);
});

test('a /8 pool is constructed without per-address state', () => {
  const pool = new AddressPool(ip('10.0.0.1'), ip('10.255.255.254'));
  assert.equal(pool.size, 16777214);
  assert.equal(pool.freeCount, 16777214);
  assert.equal(pool.neverUsedRunCount, 1);
  assert.equal(pool.take(ip('10.128.0.0')), true);
  assert.equal(pool.neverUsedRunCount, 2);
  assert.equal(pool.allocate(), ip('10.0.0.1'));
  assert.equal(pool.isFree(ip('10.255.255.254')), true);
});

/** Deterministic PRNG so a failing sequence can be replayed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Naive array model of the documented semantics, used to check random operation sequences. */
class ModelPool {
  readonly neverUsed: number[] = [];
  readonly reused: number[] = [];
  readonly excluded = new Set<number>();
  constructor(
    readonly first: number,
    readonly last: number,
  ) {
    for (let a = first; a <= last; a++) this.neverUsed.push(a);
  }
  contains(a: number): boolean {
    return a >= this.first && a <= this.last;
  }
  isFree(a: number): boolean {
    return this.neverUsed.includes(a) || this.reused.includes(a);
  }
  removeFree(a: number): boolean {
    const n = this.neverUsed.indexOf(a);
    if (n >= 0) {
      this.neverUsed.splice(n, 1);
      return true;
    }
    const r = this.reused.indexOf(a);
    if (r >= 0) {
      this.reused.splice(r, 1);
      return true;
    }
    return false;
  }
  take(a: number): boolean {
    return this.contains(a) && this.removeFree(a);
  }
  allocate(): number | null {
    return this.neverUsed.shift() ?? this.reused.shift() ?? null;
  }
  release(a: number): void {
    if (this.contains(a) && !this.excluded.has(a) && !this.isFree(a)) this.reused.push(a);
  }
  exclude(a: number): void {
    if (!this.contains(a) || this.excluded.has(a)) return;
    this.excluded.add(a);
    this.removeFree(a);
  }
  unexclude(a: number): void {
    if (this.excluded.delete(a)) this.reused.push(a);
  }
  markPreviouslyUsed(a: number): void {
    const n = this.neverUsed.indexOf(a);
    if (n >= 0) {
      this.neverUsed.splice(n, 1);
      this.reused.push(a);
    }
  }
}

test('random operation sequences match a naive model', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const random = mulberry32(seed);
    const pool = new AddressPool(100, 160);
    const model = new ModelPool(100, 160);
    const pick = (): number => 95 + Math.floor(random() * 70);
    for (let step = 0; step < 2000; step++) {
      const a = pick();
      const op = Math.floor(random() * 6);
      const where = `seed ${seed} step ${step} op ${op} addr ${a}`;
      if (op === 0) assert.equal(pool.take(a), model.take(a), where);
      else if (op === 1) assert.equal(pool.allocate(), model.allocate(), where);
      else if (op === 2) {
        pool.release(a);
        model.release(a);
      } else if (op === 3) {
        if (random() < 0.5) {
          pool.exclude(a);
          model.exclude(a);
        } else {
          pool.unexclude(a);
          model.unexclude(a);
        }
      } else if (op === 4) {
        pool.markPreviouslyUsed(a);
        model.markPreviouslyUsed(a);
      } else assert.equal(pool.isFree(a), model.isFree(a), where);
      assert.equal(pool.freeCount, model.neverUsed.length + model.reused.length, where);
    }
  }
});
