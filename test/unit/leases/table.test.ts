import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import Database from 'better-sqlite3';
import type { Lease } from '../../../src/leases/lease.ts';
import { MemoryLeaseStore } from '../../../src/leases/memory-store.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore, readLeasesReadOnly } from '../../../src/leases/store.ts';
import { type BindRequest, LeaseTable } from '../../../src/leases/table.ts';

const MAC_A = '02:00:00:00:00:0a';
const MAC_B = '02:00:00:00:00:0b';
const MAC_C = '02:00:00:00:00:0c';
const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

interface Fixture {
  path: string;
  store: LeaseStore;
  pool: AddressPool;
  table: LeaseTable;
  clock: { now: number };
}

function fixture(t: TestContext, first = 100, last = 109): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-table-'));
  const path = join(dir, 'leases.db');
  const store = LeaseStore.open(path);
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = { now: T0 };
  const pool = new AddressPool(first, last);
  const table = new LeaseTable({ store, pool, now: () => clock.now });
  table.load();
  return { path, store, pool, table, clock };
}

function request(ip: number, mac: string, durationMs = HOUR): BindRequest {
  return { ip, mac, clientId: null, hostname: null, durationMs };
}

/** Every index agrees with the records: the invariant the DHCP server relies on. */
function assertConsistent(f: Fixture, ips: Iterable<number>): void {
  for (const ip of ips) {
    const lease = f.table.byIp(ip);
    if (lease !== undefined && lease.mac !== '') {
      const latest = f.table.byMac(lease.mac);
      assert.ok(latest !== undefined, `byMac(${lease.mac}) finds a record`);
      assert.deepEqual(f.table.byIp(latest.ip), latest, `byMac(${lease.mac}) is a current record`);
      assert.equal(latest.mac, lease.mac);
      assert.ok(latest.updatedAt >= lease.updatedAt, `byMac(${lease.mac}) is its most recent record`);
    }
    if (f.pool.contains(ip)) {
      const holds = lease !== undefined && (lease.state === 'bound' || lease.state === 'declined');
      assert.equal(f.pool.isFree(ip), !holds, `pool state of ${ip} matches its record (${lease?.state ?? 'none'})`);
    }
  }
}

test('bind records a bound lease, takes the address and stages it', (t) => {
  const f = fixture(t);
  const lease = f.table.bind({ ip: 103, mac: MAC_A, clientId: Buffer.from([1, 9]), hostname: 'web', durationMs: HOUR });
  assert.deepEqual(lease, {
    ip: 103,
    mac: MAC_A,
    clientId: Buffer.from([1, 9]),
    hostname: 'web',
    state: 'bound',
    expiresAt: T0 + HOUR,
    updatedAt: T0,
  });
  assert.deepEqual(f.table.byIp(103), lease);
  assert.deepEqual(f.table.byMac(MAC_A), lease);
  assert.notEqual(f.table.byIp(103), f.table.byIp(103), 'each call gives its own snapshot');
  assert.equal(f.table.isActive(lease), true);
  assert.equal(f.table.activeCount, 1);
  assert.deepEqual([...f.table.active()], [lease]);
  assert.equal(f.pool.isFree(103), false);
  assert.equal(f.store.pendingCount, 1);
  assert.equal(f.table.commit(), 1);
  assert.deepEqual(readLeasesReadOnly(f.path), [lease]);
});

test('bind rejects a non-positive duration', (t) => {
  const f = fixture(t);
  assert.throws(() => f.table.bind(request(100, MAC_A, 0)), RangeError);
  assert.throws(() => f.table.bind(request(100, MAC_A, Number.NaN)), RangeError);
  assert.equal(f.pool.isFree(100), true);
});

test('renewing keeps the address taken once and moves the expiry', (t) => {
  const f = fixture(t);
  f.table.bind(request(100, MAC_A));
  const freeAfterFirst = f.pool.freeCount;
  f.clock.now = T0 + HOUR / 2;
  const renewed = f.table.bind(request(100, MAC_A));
  assert.equal(renewed.expiresAt, T0 + HOUR / 2 + HOUR);
  assert.equal(f.pool.freeCount, freeAfterFirst);
  f.clock.now = T0 + HOUR; // the first lease's old expiry: must not expire the renewed one
  assert.deepEqual(f.table.expireDue(), []);
  assert.equal(f.table.nextExpiryAt(), T0 + HOUR / 2 + HOUR);
  assert.equal(f.table.isActive(renewed), true);
});

test('isActive is false for an expired-by-time bound lease and for other states', (t) => {
  const f = fixture(t);
  const lease = f.table.bind(request(100, MAC_A));
  f.clock.now = T0 + HOUR;
  assert.equal(f.table.isActive(lease), false);
  assert.deepEqual([...f.table.active()], []);
  assert.equal(f.table.isActive({ ...lease, state: 'released', expiresAt: T0 + 2 * HOUR }), false);
});

test('bind throws when another MAC actively holds the address, allows it once that lease ran out', (t) => {
  const f = fixture(t);
  f.table.bind(request(101, MAC_A));
  assert.throws(() => f.table.bind(request(101, MAC_B)), /bound to/);
  assert.equal(f.table.byIp(101)?.mac, MAC_A);
  assert.equal(f.table.byMac(MAC_B), undefined);

  f.clock.now = T0 + HOUR; // ran out, expireDue not yet called
  const taken = f.table.bind(request(101, MAC_B));
  assert.equal(taken.mac, MAC_B);
  assert.equal(f.table.byMac(MAC_A), undefined, 'the old owner no longer points at an address it lost');
  assert.deepEqual(f.table.expireDue(), [], 'the superseded lease is not expired later');
  assert.equal(f.table.activeCount, 1);
  assertConsistent(f, [101]);
});

test('bind moving a MAC to another address releases the old one', (t) => {
  const f = fixture(t);
  f.table.bind(request(100, MAC_A));
  f.clock.now = T0 + 1000;
  const moved = f.table.bind(request(105, MAC_A));
  const old = f.table.byIp(100);
  assert.deepEqual(old, {
    ip: 100,
    mac: MAC_A,
    clientId: null,
    hostname: null,
    state: 'released',
    expiresAt: T0 + 1000,
    updatedAt: T0 + 1000,
  });
  assert.deepEqual(f.table.byMac(MAC_A), moved);
  assert.equal(f.pool.isFree(100), true);
  assert.equal(f.pool.isFree(105), false);
  assert.equal(f.table.activeCount, 1);
  assert.deepEqual([...f.table.active()], [moved]);
  assert.equal(f.store.pendingCount, 2);
  assertConsistent(f, [100, 105]);
});

test('bind accepts an address the caller already allocated from the pool', (t) => {
  const f = fixture(t);
  const offered = f.pool.allocate();
  assert.equal(offered, 100);
  const freeBefore = f.pool.freeCount;
  const lease = f.table.bind(request(100, MAC_A));
  assert.equal(lease.state, 'bound');
  assert.equal(f.pool.freeCount, freeBefore);
  f.table.release(100);
  assert.equal(f.pool.isFree(100), true);
});

test('bind of a reserved (excluded) or out-of-range address keeps it as a record only', (t) => {
  const f = fixture(t);
  f.pool.exclude(104);
  const freeBefore = f.pool.freeCount;
  f.table.bind(request(104, MAC_A));
  f.table.bind(request(200, MAC_B));
  assert.equal(f.pool.freeCount, freeBefore);
  assert.equal(f.table.activeCount, 2);
  f.table.release(104);
  f.table.release(200);
  assert.equal(f.pool.isFree(104), false, 'an excluded address never becomes free');
  assert.equal(f.pool.freeCount, freeBefore);
});

test('release frees the address and keeps the record for the returning client', (t) => {
  const f = fixture(t);
  f.table.bind(request(102, MAC_A));
  f.clock.now = T0 + 5000;
  const released = f.table.release(102);
  assert.deepEqual(released, {
    ip: 102,
    mac: MAC_A,
    clientId: null,
    hostname: null,
    state: 'released',
    expiresAt: T0 + 5000,
    updatedAt: T0 + 5000,
  });
  assert.equal(f.pool.isFree(102), true);
  assert.equal(f.table.activeCount, 0);
  assert.deepEqual(f.table.byMac(MAC_A), released);
  assert.equal(f.table.release(102), undefined, 'nothing bound any more');
  assert.equal(f.table.release(107), undefined, 'never bound');

  const back = f.table.bind(request(102, MAC_A));
  assert.equal(back.state, 'bound');
  assert.equal(f.pool.isFree(102), false);
  assertConsistent(f, [102]);
});

test('decline quarantines the address with no owner; quarantine ends through expireDue', (t) => {
  const f = fixture(t);
  f.table.bind(request(103, MAC_A));
  f.clock.now = T0 + 10;
  const declined = f.table.decline(103, 60_000);
  assert.deepEqual(declined, {
    ip: 103,
    mac: '',
    clientId: null,
    hostname: null,
    state: 'declined',
    expiresAt: T0 + 10 + 60_000,
    updatedAt: T0 + 10,
  });
  assert.equal(f.table.byMac(MAC_A), undefined);
  assert.equal(f.table.byMac(''), undefined);
  assert.equal(f.pool.isFree(103), false);
  assert.equal(f.table.activeCount, 0);
  assert.throws(() => f.table.bind(request(103, MAC_B)), /quarantined/);
  assert.equal(f.table.nextExpiryAt(), T0 + 10 + 60_000);

  f.clock.now = T0 + 10 + 59_999;
  assert.deepEqual(f.table.expireDue(), []);
  assert.equal(f.pool.isFree(103), false);

  f.clock.now = T0 + 10 + 60_000;
  const ended = f.table.expireDue();
  assert.deepEqual(ended, [{ ...declined, state: 'expired', updatedAt: T0 + 10 + 60_000 }]);
  assert.equal(f.pool.isFree(103), true);
  assert.equal(f.table.nextExpiryAt(), undefined);
  assert.equal(f.table.bind(request(103, MAC_B)).mac, MAC_B);
});

test('decline of a free address takes it from the pool', (t) => {
  const f = fixture(t);
  f.table.decline(100, 1000);
  assert.equal(f.pool.isFree(100), false);
  assert.equal(f.pool.allocate(), 101);
  assertConsistent(f, [100]);
});

test('expireDue returns due leases earliest first, frees them in that order, leaves the rest', (t) => {
  const f = fixture(t);
  f.table.bind(request(100, MAC_A, 3000));
  f.table.bind(request(101, MAC_B, 1000));
  f.table.decline(102, 2000);
  f.table.bind(request(103, MAC_C, 9000));
  f.table.commit();
  assert.equal(f.table.nextExpiryAt(), T0 + 1000);
  assert.deepEqual(f.table.expireDue(), [], 'nothing is due yet');

  f.clock.now = T0 + 3000;
  const expired = f.table.expireDue();
  assert.deepEqual(
    expired.map((lease) => [lease.ip, lease.state, lease.expiresAt]),
    [
      [101, 'expired', T0 + 1000],
      [102, 'expired', T0 + 2000],
      [100, 'expired', T0 + 3000],
    ],
  );
  assert.equal(f.store.pendingCount, 3);
  assert.equal(f.table.nextExpiryAt(), T0 + 9000);
  assert.equal(f.table.activeCount, 1);
  assert.equal(f.table.byMac(MAC_B)?.state, 'expired', 'an expired lease is still found by MAC');
  for (let ip = 104; ip <= 109; ip++) assert.equal(f.pool.take(ip), true);
  assert.deepEqual([f.pool.allocate(), f.pool.allocate(), f.pool.allocate(), f.pool.allocate()], [101, 102, 100, null]);
});

test('a MAC finds its expired lease after the store is closed, reopened and loaded', (t) => {
  const f = fixture(t);
  f.table.bind({ ip: 106, mac: MAC_A, clientId: Buffer.from('cid'), hostname: 'db', durationMs: HOUR });
  f.table.bind(request(107, MAC_B));
  f.table.commit();
  f.clock.now = T0 + 2 * HOUR;
  assert.equal(f.table.expireDue().length, 2);
  f.table.commit();
  f.store.close();

  const store = LeaseStore.open(f.path);
  t.after(() => store.close());
  const pool = new AddressPool(100, 109);
  const table = new LeaseTable({ store, pool, now: () => T0 + 3 * HOUR });
  table.load();
  const found = table.byMac(MAC_A);
  assert.equal(found?.ip, 106);
  assert.equal(found?.state, 'expired');
  assert.deepEqual(found?.clientId, Buffer.from('cid'));
  assert.equal(found?.hostname, 'db');
  assert.equal(pool.isFree(106), true);
  assert.equal(pool.allocate(), 100, "new clients get never-used addresses before the old owner's");
  assert.equal(table.bind(request(106, MAC_A)).state, 'bound');
});

test('load: unexpired bound and declined are taken, lapsed ones become expired, freed ones queue oldest first', (t) => {
  const f = fixture(t);
  const rows: Lease[] = [
    { ip: 100, mac: MAC_A, clientId: null, hostname: null, state: 'bound', expiresAt: T0 + HOUR, updatedAt: T0 - 10 },
    { ip: 101, mac: MAC_B, clientId: null, hostname: null, state: 'bound', expiresAt: T0 - 500, updatedAt: T0 - 900 },
    { ip: 102, mac: '', clientId: null, hostname: null, state: 'declined', expiresAt: T0 + 60_000, updatedAt: T0 - 5 },
    { ip: 103, mac: '', clientId: null, hostname: null, state: 'declined', expiresAt: T0 - 100, updatedAt: T0 - 200 },
    { ip: 104, mac: MAC_C, clientId: null, hostname: null, state: 'released', expiresAt: T0 - 700, updatedAt: T0 - 700 },
    { ip: 105, mac: MAC_C, clientId: null, hostname: null, state: 'expired', expiresAt: T0 - 300, updatedAt: T0 - 300 },
    { ip: 250, mac: '02:00:00:00:00:ff', clientId: null, hostname: null, state: 'bound', expiresAt: T0 + HOUR, updatedAt: T0 },
  ];
  for (const row of rows) f.store.stage(row);
  f.store.commit();

  const pool = new AddressPool(100, 109);
  const table = new LeaseTable({ store: f.store, pool, now: () => T0 });
  table.load();
  assert.throws(() => table.load(), /once/);

  assert.equal(table.byIp(100)?.state, 'bound');
  assert.equal(table.byIp(101)?.state, 'expired');
  assert.equal(table.byIp(103)?.state, 'expired');
  assert.equal(table.byIp(102)?.state, 'declined');
  assert.equal(table.byIp(250)?.state, 'bound', 'records outside the pool are kept');
  assert.equal(table.byMac(MAC_C)?.ip, 105, 'most recent record of the MAC');
  assert.equal(table.byMac(MAC_B)?.state, 'expired');
  assert.equal(table.activeCount, 2);
  assert.deepEqual(
    [...table.active()].map((lease) => lease.ip).sort((a, b) => a - b),
    [100, 250],
  );
  assert.equal(table.nextExpiryAt(), T0 + 60_000);
  assert.equal(f.store.pendingCount, 0, 'lapsed rows are rewritten by the store, not staged');
  assert.deepEqual(
    readLeasesReadOnly(f.path)
      .filter((lease) => lease.ip === 101 || lease.ip === 103)
      .map((lease) => [lease.ip, lease.state, lease.updatedAt]),
    [
      [101, 'expired', T0 - 500],
      [103, 'expired', T0 - 100],
    ],
    'lapsed bound and declined rows are rewritten as expired at their expiry',
  );

  assert.equal(pool.isFree(100), false);
  assert.equal(pool.isFree(102), false);
  const order: number[] = [];
  for (let next = pool.allocate(); next !== null; next = pool.allocate()) order.push(next);
  // never-used 106..109, then by the time each address became free: 104 (-700), 101 (-500), 105 (-300), 103 (-100)
  assert.deepEqual(order, [106, 107, 108, 109, 104, 101, 105, 103]);
});

test('without SQLite: on a MemoryLeaseStore a restart rewrites lapsed records as expired at their expiry and keeps the pool order', () => {
  const first = new MemoryLeaseStore();
  const before = new LeaseTable({ store: first, pool: new AddressPool(100, 109), now: () => T0 - HOUR });
  before.load();
  before.bind(request(100, MAC_A, 2 * HOUR)); // still bound at T0
  before.bind(request(101, MAC_B, HOUR / 2)); // lapses at T0 - HOUR/2
  before.decline(102, HOUR / 4); // quarantine ends at T0 - 3*HOUR/4
  before.commit();

  const store = new MemoryLeaseStore({ from: first.snapshot() });
  const pool = new AddressPool(100, 109);
  const table = new LeaseTable({ store, pool, now: () => T0 });
  table.load();
  assert.equal(table.byIp(100)?.state, 'bound');
  assert.deepEqual(table.byIp(101), {
    ip: 101,
    mac: MAC_B,
    clientId: null,
    hostname: null,
    state: 'expired',
    expiresAt: T0 - HOUR / 2,
    updatedAt: T0 - HOUR / 2,
  });
  assert.equal(table.byIp(102)?.state, 'expired');
  assert.equal(store.pendingCount, 0, 'the two rewrites are written by the store at once, not staged');
  assert.equal(table.activeCount, 1);
  assert.deepEqual(
    store.snapshot().leases.map((l) => [l.ip, l.state, l.updatedAt]),
    [
      [100, 'bound', T0 - HOUR],
      [101, 'expired', T0 - HOUR / 2],
      [102, 'expired', T0 - (3 * HOUR) / 4],
    ],
  );
  const order: number[] = [];
  for (let next = pool.allocate(); next !== null; next = pool.allocate()) order.push(next);
  // never-used 103..109, then freed longest ago first: 102 (quarantine ended first), then 101
  assert.deepEqual(order, [103, 104, 105, 106, 107, 108, 109, 102, 101]);
});

test('random bind/release/decline/expire sequences keep every index consistent with the pool', (t) => {
  const f = fixture(t, 100, 115);
  const macs = [MAC_A, MAC_B, MAC_C, '02:00:00:00:00:0d', '02:00:00:00:00:0e'];
  const ips = Array.from({ length: 20 }, (_, i) => 98 + i);
  let state = 12345;
  const random = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  for (let step = 0; step < 3000; step++) {
    f.clock.now += random(400);
    const ip = ips[random(ips.length)] as number;
    const mac = macs[random(macs.length)] as string;
    const op = random(4);
    if (op === 0) {
      try {
        f.table.bind(request(ip, mac, 200 + random(2000)));
      } catch (error) {
        assert.match(String(error), /bound to|quarantined/);
        const holder = f.table.byIp(ip);
        assert.ok(holder !== undefined && f.clock.now < holder.expiresAt);
      }
    } else if (op === 1) f.table.release(ip);
    else if (op === 2) {
      if (random(4) === 0 && f.table.byIp(ip)?.state !== 'bound') f.table.decline(ip, random(1500));
    } else {
      const next = f.table.nextExpiryAt();
      const due = f.table.expireDue();
      for (const lease of due) assert.ok(lease.expiresAt <= f.clock.now);
      if (due.length > 0) assert.equal(due[0]?.expiresAt, next);
      const after = f.table.nextExpiryAt();
      assert.ok(after === undefined || after > f.clock.now);
    }
    assertConsistent(f, ips);
    assert.equal(f.table.activeCount, ips.filter((a) => f.table.byIp(a)?.state === 'bound').length);
  }
  f.table.commit();
  const stored = new Map(readLeasesReadOnly(f.path).map((lease) => [lease.ip, lease]));
  for (const ip of ips) assert.deepEqual(stored.get(ip), f.table.byIp(ip));

  // A restart at this moment must find the same address for every MAC.
  const secondStore = LeaseStore.open(f.path);
  t.after(() => secondStore.close());
  const reloaded = new LeaseTable({ store: secondStore, pool: new AddressPool(100, 115), now: () => f.clock.now });
  reloaded.load();
  for (const mac of macs) assert.equal(reloaded.byMac(mac)?.ip, f.table.byMac(mac)?.ip, mac);
});

test('byMac falls back to an older record when the latest one is taken over by another MAC', (t) => {
  const f = fixture(t);
  f.table.bind(request(100, MAC_A, 1000));
  f.clock.now = T0 + 10;
  f.table.release(100);
  f.clock.now = T0 + 20;
  f.table.bind(request(101, MAC_A, 1000));
  f.clock.now = T0 + 2000;
  f.table.bind(request(101, MAC_B, 1000));
  assert.equal(f.table.byMac(MAC_A)?.ip, 100);
  assert.equal(f.table.byMac(MAC_A)?.state, 'released');
  assert.equal(f.table.byMac(MAC_B)?.ip, 101);
});

test('returned leases are snapshots: later changes of the address do not reach them', (t) => {
  const f = fixture(t);
  const bound = f.table.bind({ ip: 104, mac: MAC_A, clientId: Buffer.from([1, 2]), hostname: 'a', durationMs: HOUR });
  const seen = f.table.byMac(MAC_A);
  f.clock.now = T0 + 5;
  f.table.release(104);
  f.table.decline(104, 1000);
  assert.equal(bound.state, 'bound');
  assert.equal(seen?.state, 'bound');
  assert.equal(seen?.mac, MAC_A);
  assert.deepEqual(seen?.clientId, Buffer.from([1, 2]));
  assert.equal(f.table.byIp(104)?.state, 'declined');
});

test('bind refuses what is not a MAC; byMac of one finds nothing', (t) => {
  const f = fixture(t);
  assert.throws(() => f.table.bind(request(100, '')), RangeError);
  assert.throws(() => f.table.bind(request(100, 'web')), RangeError);
  assert.throws(() => f.table.bind(request(-1, MAC_A)), RangeError);
  assert.equal(f.pool.isFree(100), true);
  assert.equal(f.table.byMac('web'), undefined);
  assert.equal(f.table.byIp(1.5), undefined);
});

test('thousands of addresses beyond what was loaded: every index still answers', (t) => {
  const f = fixture(t, 10_000, 19_999);
  const mac = (i: number): string => `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  for (let i = 0; i < 5000; i++) {
    f.clock.now = T0 + i;
    const ip = f.pool.allocate() as number;
    f.table.bind({ ip, mac: mac(i), clientId: i % 2 ? Buffer.from([i & 255]) : null, hostname: `h${i}`, durationMs: 10_000 });
  }
  assert.equal(f.table.activeCount, 5000);
  for (let i = 0; i < 5000; i++) {
    const lease = f.table.byMac(mac(i));
    assert.equal(lease?.ip, 10_000 + i);
    assert.equal(lease?.hostname, `h${i}`);
    assert.deepEqual(lease?.clientId, i % 2 ? Buffer.from([i & 255]) : null);
  }
  f.clock.now = T0 + 10_000 + 2499;
  const expired = f.table.expireDue();
  assert.deepEqual(
    expired.map((lease) => lease.ip),
    Array.from({ length: 2500 }, (_, i) => 10_000 + i),
  );
  assert.equal(f.table.activeCount, 2500);
  assert.equal([...f.table.active()].length, 2500);
  f.table.commit();
});

test('load refuses a row with a bad MAC or state, naming its address; takes upper-case MACs as the same MAC', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-table-load-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'leases.db');
  const seed = LeaseStore.open(path);
  seed.stage({ ip: 100, mac: '02:00:00:00:00:AA', clientId: Buffer.from([0xab]), hostname: 'up', state: 'bound', expiresAt: T0 + HOUR, updatedAt: T0 });
  seed.commit();
  seed.close();
  const store = LeaseStore.open(path);
  const table = new LeaseTable({ store, pool: new AddressPool(100, 109), now: () => T0 });
  table.load();
  assert.equal(table.byMac('02:00:00:00:00:aa')?.ip, 100);
  assert.equal(table.byIp(100)?.mac, '02:00:00:00:00:aa');
  assert.deepEqual(table.byIp(100)?.clientId, Buffer.from([0xab]));
  store.close();

  for (const [column, value, message] of [
    ['mac', 'not-a-mac', /lease row 101: bad MAC/],
    ['state', 'gone', /lease 101: unknown state/],
  ] as const) {
    const bad = LeaseStore.open(path);
    bad.stage({ ip: 101, mac: MAC_B, clientId: null, hostname: null, state: 'bound', expiresAt: T0 + HOUR, updatedAt: T0 });
    bad.commit();
    bad.close();
    // Another program wrote the file: what the table refuses must never reach it.
    const raw = new Database(path);
    raw.pragma('ignore_check_constraints = ON');
    raw.prepare(`UPDATE leases SET ${column} = ? WHERE ip = 101`).run(value);
    raw.close();
    const reopened = LeaseStore.open(path);
    const broken = new LeaseTable({ store: reopened, pool: new AddressPool(100, 109), now: () => T0 });
    assert.throws(() => broken.load(), message);
    reopened.close();
    const fix = new Database(path);
    fix.prepare('DELETE FROM leases WHERE ip = 101').run();
    fix.close();
  }
});
