/**
 * ReadyQueue on its own, without SQLite or a server: a fake pool (a list of free addresses), a fake prober whose
 * probes the test settles by hand, and a hand-moved clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProbeResult } from '../../../src/dhcp/probe.ts';
import { MAX_READY, ReadyQueue, type ReadyQueueOptions } from '../../../src/dhcp/ready-queue.ts';

class FakePool {
  readonly free: number[];
  readonly released: number[] = [];
  constructor(first: number, count: number) {
    this.free = Array.from({ length: count }, (_, i) => first + i);
  }
  allocate(): number | null {
    return this.free.shift() ?? null;
  }
  release(ip: number): void {
    this.released.push(ip);
    this.free.push(ip);
  }
}

class FakeProber {
  readonly probes = new Map<number, (r: ProbeResult) => void>();
  probe(ip: number): Promise<ProbeResult> {
    return new Promise((resolve) => this.probes.set(ip, resolve));
  }
  settle(ip: number, result: ProbeResult): void {
    const resolve = this.probes.get(ip);
    assert.ok(resolve, `a probe of ${ip} was sent`);
    resolve(result);
  }
}

function setup(over: Partial<ReadyQueueOptions> = {}, poolSize = 100) {
  const pool = new FakePool(1000, poolSize);
  const prober = new FakeProber();
  const clock = { now: 1_000_000 };
  const inUse: number[] = [];
  const leasedBefore = new Set<number>();
  const queue = new ReadyQueue({
    pool,
    prober,
    wasLeased: (ip) => leasedBefore.has(ip),
    target: 4,
    probeTimeoutMs: 100,
    freshMs: 60_000,
    now: () => clock.now,
    onInUse: (ip) => inUse.push(ip),
    ...over,
  });
  return { pool, prober, clock, inUse, leasedBefore, queue };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('refill probes the target number of addresses ahead, in pool order, and not again while full', () => {
  const { prober, queue } = setup();
  queue.refill();
  assert.deepEqual([...prober.probes.keys()], [1000, 1001, 1002, 1003]);
  assert.equal(queue.size, 4);
  queue.refill();
  assert.equal(prober.probes.size, 4);
});

test('take hands out the oldest address, with its probe running or finished; has/remove follow it', async () => {
  const { prober, queue } = setup();
  queue.refill();
  prober.settle(1000, 'free');
  await tick();
  const first = queue.take();
  assert.equal(first?.ip, 1000);
  assert.notEqual(first?.probedAt, null);
  const second = queue.take();
  assert.equal(second?.ip, 1001);
  assert.equal(second?.probedAt, null, 'its probe still runs');
  assert.equal(queue.has(1001), false);
  assert.equal(queue.has(1002), true);
  queue.remove(1002);
  assert.equal(queue.has(1002), false);
  assert.equal(queue.take()?.ip, 1003);
});

test('an address that answers its probe leaves the queue and is reported once', async () => {
  const { prober, queue, inUse } = setup();
  queue.refill();
  prober.settle(1001, 'in-use');
  await tick();
  assert.deepEqual(inUse, [1001]);
  assert.equal(queue.has(1001), false);
  assert.equal(queue.size, 3);
});

test('stale probe results go back to the pool, at take and at dropStale', async () => {
  const { prober, queue, pool, clock } = setup({ freshMs: 1000 });
  queue.refill();
  for (const ip of [1000, 1001, 1002]) prober.settle(ip, 'free');
  await tick();
  clock.now += 1001;
  queue.dropStale();
  assert.deepEqual(pool.released, [1000, 1001, 1002]);
  assert.equal(queue.size, 1, 'the address still being probed stays');
  prober.settle(1003, 'free');
  await tick();
  clock.now += 1001;
  assert.equal(queue.take(), null);
  assert.deepEqual(pool.released, [1000, 1001, 1002, 1003]);
});

test('an address we leased before is not probed ahead: it goes back to the pool and the refill stops', () => {
  const { prober, queue, pool, leasedBefore } = setup();
  leasedBefore.add(1002);
  queue.refill();
  assert.deepEqual([...prober.probes.keys()], [1000, 1001]);
  assert.deepEqual(pool.released, [1002]);
});

test('the queue grows to three probe times of the observed demand, up to MAX_READY', () => {
  const { prober, queue, clock } = setup({ probeTimeoutMs: 500 }, 10_000);
  queue.refill();
  // 200 new clients in one second: 200/s × 3 × 0.5 s = 300 addresses must be ready.
  for (let n = 0; n < 200; n++) {
    clock.now += 4;
    queue.take();
  }
  queue.refill();
  assert.equal(queue.size, 300);
  const big = setup({ probeTimeoutMs: 10_000 }, MAX_READY + 100);
  for (let n = 0; n < 1000; n++) big.queue.take();
  big.queue.refill();
  assert.equal(big.queue.size, MAX_READY);
  assert.equal(prober.probes.size, 4 + 300, 'the first four plus the refill');
});

test('no prober or a zero target: nothing is taken from the pool', () => {
  const off = setup({ prober: null });
  off.queue.refill();
  assert.equal(off.queue.size, 0);
  assert.equal(off.pool.free.length, 100);
  const zero = setup({ target: 0 });
  zero.queue.refill();
  assert.equal(zero.pool.free.length, 100);
});
