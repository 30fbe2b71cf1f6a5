/**
 * The LeaseStore contract (src/leases/store-contract.ts), one suite run against every implementation: the SQLite
 * store and the in-memory store, each with and without group commit. "What a crash keeps" is, for SQLite, what a
 * separate read-only connection reads from the file (a SIGKILLed process keeps exactly that: group-commit.test.ts and
 * store.test.ts kill real writers); for the memory store, its snapshot().
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { Lease } from '../../../src/leases/lease.ts';
import type { Lease6Store, StoredLease6 } from '../../../src/leases/lease6.ts';
import { macKey, NO_MAC } from '../../../src/leases/mac-key.ts';
import { MemoryLeaseStore } from '../../../src/leases/memory-store.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { BOUND, DECLINED } from '../../../src/leases/records.ts';
import { readLeases6ReadOnly, readLeasesReadOnly, LeaseStore as Stores } from '../../../src/leases/store.ts';
import type { LeaseStore as LeaseStoreContract, StoredLease } from '../../../src/leases/store-contract.ts';
import { LeaseTable } from '../../../src/leases/table.ts';

/** Both halves: every store here keeps IPv4 and IPv6 leases. */
type LeaseStore = LeaseStoreContract & Lease6Store;

interface Opened {
  store: LeaseStore;
  /** What a crash right now would keep. */
  crashView(): Lease[];
  /** The same for IPv6 leases. */
  crashView6(): StoredLease6[];
  /** Closes the store and opens a new one on the same storage (a restart). */
  restart(): LeaseStore;
}

interface Subject {
  name: string;
  open(t: TestContext): Opened;
}

function sqlite(groupCommit: boolean): Subject {
  return {
    name: `SqliteLeaseStore${groupCommit ? ' (group commit)' : ''}`,
    open(t) {
      const dir = mkdtempSync(join(tmpdir(), 'store-contract-'));
      const path = join(dir, 'leases.db');
      const opened: LeaseStore[] = [Stores.open(path, { groupCommit })];
      t.after(() => {
        for (const store of opened) store.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return {
        store: opened[0] as LeaseStore,
        crashView: () => readLeasesReadOnly(path),
        crashView6: () => readLeases6ReadOnly(path),
        restart() {
          (opened[0] as LeaseStore).close();
          const next = Stores.open(path, { groupCommit });
          opened.push(next);
          return next;
        },
      };
    },
  };
}

function memory(groupCommit: boolean): Subject {
  return {
    name: `MemoryLeaseStore${groupCommit ? ' (group commit)' : ''}`,
    open() {
      const store = new MemoryLeaseStore({ groupCommit });
      return {
        store,
        crashView: () => [...store.snapshot().leases],
        crashView6: () => [...(store.snapshot().leases6 ?? [])],
        restart() {
          store.close();
          return new MemoryLeaseStore({ groupCommit, from: store.snapshot() });
        },
      };
    },
  };
}

const SUBJECTS: readonly Subject[] = [sqlite(false), sqlite(true), memory(false), memory(true)];

function lease(ip: number, overrides: Partial<Lease> = {}): Lease {
  return {
    ip,
    mac: '02:00:00:00:00:01',
    clientId: null,
    hostname: `h${ip}`,
    state: 'bound',
    expiresAt: 1_700_000_600_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

function committed(store: LeaseStore): Promise<void> {
  return new Promise((resolve, reject) => store.commitThen((error) => (error ? reject(error) : resolve())));
}

for (const subject of SUBJECTS) {
  const name = (what: string): string => `${subject.name}: ${what}`;

  test(name('staged changes are not durable until commit(); commit() is; the last stage of an address wins'), (t) => {
    const { store, crashView } = subject.open(t);
    store.stage(lease(1, { hostname: 'first' }));
    store.stage(lease(1, { hostname: 'second', clientId: Buffer.from([1, 2, 3]) }));
    store.stage(lease(2, { state: 'declined', mac: '' }));
    assert.equal(store.pendingCount, 2);
    assert.deepEqual(crashView(), []);
    assert.equal(store.commit(), 2);
    assert.equal(store.pendingCount, 0);
    assert.equal(store.commit(), 0, 'nothing staged, nothing written');
    assert.deepEqual(crashView(), [lease(1, { hostname: 'second', clientId: Buffer.from([1, 2, 3]) }), lease(2, { state: 'declined', mac: '' })]);
    store.stageDelete(1);
    store.stageDelete(2);
    store.stage(lease(2, { state: 'released' }));
    assert.equal(store.commit(), 2);
    assert.deepEqual(crashView(), [lease(2, { state: 'released' })]);
  });

  test(name('commitThen: done(null) runs once, in call order, only when everything staged before it is durable'), async (t) => {
    const { store, crashView } = subject.open(t);
    const calls: { label: string; durableIps: number[] }[] = [];
    const pending: Promise<void>[] = [];
    let ip = 1;
    for (const label of ['a', 'b', 'c']) {
      for (let i = 0; i < 3; i++) store.stage(lease(ip++));
      const stagedBefore = ip - 1;
      pending.push(
        new Promise<void>((resolve, reject) => {
          let runs = 0;
          store.commitThen((error) => {
            if (error) return reject(error);
            runs++;
            const durableIps = crashView().map((l) => l.ip);
            calls.push({ label, durableIps });
            if (runs !== 1) reject(new Error(`done of ${label} ran ${runs} times`));
            for (let n = 1; n <= stagedBefore; n++) {
              if (!durableIps.includes(n)) reject(new Error(`done of ${label} ran before lease ${n} was durable`));
            }
            resolve();
          });
        }),
      );
    }
    await Promise.all(pending);
    assert.deepEqual(
      calls.map((c) => c.label),
      ['a', 'b', 'c'],
    );
    assert.equal(store.syncInFlight, false, 'nothing waits once every done ran');
    assert.deepEqual(
      crashView().map((l) => l.ip),
      [1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  test(name('syncInFlight holds until the last done ran; with nothing pending done runs at once'), async (t) => {
    const { store } = subject.open(t);
    let immediate = false;
    store.commitThen(() => (immediate = true));
    assert.equal(immediate, true);
    assert.equal(store.syncInFlight, false);
    store.stage(lease(5));
    let ran = false;
    const done = new Promise<void>((resolve) =>
      store.commitThen(() => {
        ran = true;
        resolve();
      }),
    );
    assert.equal(store.syncInFlight, !ran, 'in flight exactly while its done has not run');
    await done;
    assert.equal(store.syncInFlight, false);
  });

  test(name('a batch with a row the store cannot take is all-or-nothing and stays staged; done gets the error'), async (t) => {
    const { store, crashView } = subject.open(t);
    for (let ip = 1; ip <= 20; ip++) store.stage(lease(ip));
    store.stage(lease(21, { state: 'bogus' as Lease['state'] }));
    assert.throws(() => store.commit());
    assert.deepEqual(crashView(), []);
    assert.equal(store.pendingCount, 21);
    await assert.rejects(committed(store));
    assert.deepEqual(crashView(), [], 'nothing of the failed batch is durable');
    assert.equal(store.pendingCount, 21, 'the batch is still staged: no ACK was sent for it and it is not lost');
    store.stage(lease(21));
    await committed(store);
    assert.equal(crashView().length, 21);
  });

  test(name('load() visits durable leases in address order as named records, count first'), async (t) => {
    const opened = subject.open(t);
    opened.store.stage(lease(0x0a000009, { mac: '02:AB:00:00:00:02', clientId: Buffer.from([0xab, 0x01]), hostname: null }));
    opened.store.stage(lease(0x0a000003, { state: 'declined', mac: '' }));
    opened.store.stage(lease(0x0a000005, { state: 'expired' }));
    await committed(opened.store);
    opened.store.stage(lease(0x0a000001)); // staged, never committed before the restart: close() commits it
    const store = opened.restart();
    assert.equal(store.leaseCount(), 4);
    store.stage(lease(0x0a000002));
    assert.equal(store.leaseCount(), 4, 'a staged lease is not counted');
    store.stageDelete(0x0a000002);
    const seen: StoredLease[] = [];
    const order: string[] = [];
    store.load(
      (record) => {
        order.push('row');
        seen.push({ ...record });
      },
      (count) => order.push(`count ${count}`),
    );
    assert.deepEqual(order, ['count 4', 'row', 'row', 'row', 'row']);
    assert.deepEqual(seen, [
      {
        ip: 0x0a000001,
        macKey: macKey('02:00:00:00:00:01'),
        clientIdHex: null,
        hostname: 'h167772161',
        stateCode: BOUND,
        expiresAt: 1_700_000_600_000,
        updatedAt: 1_700_000_000_000,
      },
      {
        ip: 0x0a000003,
        macKey: NO_MAC,
        clientIdHex: null,
        hostname: 'h167772163',
        stateCode: DECLINED,
        expiresAt: 1_700_000_600_000,
        updatedAt: 1_700_000_000_000,
      },
      {
        ip: 0x0a000005,
        macKey: macKey('02:00:00:00:00:01'),
        clientIdHex: null,
        hostname: 'h167772165',
        stateCode: 2,
        expiresAt: 1_700_000_600_000,
        updatedAt: 1_700_000_000_000,
      },
      {
        ip: 0x0a000009,
        macKey: macKey('02:ab:00:00:00:02'),
        clientIdHex: 'ab01',
        hostname: null,
        stateCode: BOUND,
        expiresAt: 1_700_000_600_000,
        updatedAt: 1_700_000_000_000,
      },
    ]);
    store.close();
  });

  test(name('expireLapsed rewrites bound and declined leases whose time is up as expired at their expiry, at once'), async (t) => {
    const opened = subject.open(t);
    const now = 1_700_000_600_000;
    opened.store.stage(lease(1, { expiresAt: now }));
    opened.store.stage(lease(2, { state: 'declined', mac: '', expiresAt: now - 5 }));
    opened.store.stage(lease(3, { expiresAt: now + 1 }));
    opened.store.stage(lease(4, { state: 'released', expiresAt: now - 9, updatedAt: now - 9 }));
    await committed(opened.store);
    assert.equal(opened.store.expireLapsed(now), 2);
    assert.equal(opened.store.pendingCount, 0, 'nothing staged');
    const store = opened.restart();
    const seen: [number, number, number][] = [];
    store.load((record) => seen.push([record.ip, record.stateCode, record.updatedAt]));
    assert.deepEqual(seen, [
      [1, 2, now],
      [2, 2, now - 5],
      [3, BOUND, 1_700_000_000_000],
      [4, 1, now - 9],
    ]);
    store.close();
  });

  test(name('close() commits what is staged and runs the callbacks still waiting'), async (t) => {
    const opened = subject.open(t);
    opened.store.stage(lease(1));
    const first = committed(opened.store);
    opened.store.stage(lease(2));
    let secondRan = false;
    opened.store.commitThen((error) => {
      assert.equal(error, null);
      secondRan = true;
    });
    opened.store.stage(lease(3));
    const reopened = opened.restart();
    assert.equal(secondRan, true, 'a waiting callback ran by close()');
    await first;
    const ips: number[] = [];
    reopened.load((record) => ips.push(record.ip));
    assert.deepEqual(ips, [1, 2, 3]);
    reopened.close();
  });

  test(name('reservations: one per MAC, an address and a name have one owner, kept across a restart'), (t) => {
    const opened = subject.open(t);
    const { store } = opened;
    store.saveReservation({ mac: '02:00:00:00:00:0b', ip: 20, name: 'web' });
    store.saveReservation({ mac: '02:00:00:00:00:0a', ip: 10, name: null });
    store.saveReservation({ mac: '02:00:00:00:00:0c', ip: 30, name: null });
    store.saveReservation({ mac: '02:00:00:00:00:0b', ip: 21, name: 'www' }); // same MAC: replaces
    assert.throws(() => store.saveReservation({ mac: '02:00:00:00:00:0d', ip: 10, name: null }));
    assert.throws(() => store.saveReservation({ mac: '02:00:00:00:00:0d', ip: 40, name: 'www' }));
    assert.equal(store.deleteReservation('02:00:00:00:00:0c'), true);
    assert.equal(store.deleteReservation('02:00:00:00:00:0c'), false);
    const expected = [
      { mac: '02:00:00:00:00:0a', ip: 10, name: null },
      { mac: '02:00:00:00:00:0b', ip: 21, name: 'www' },
    ];
    assert.deepEqual(store.loadReservations(), expected);
    const reopened = opened.restart();
    assert.deepEqual(reopened.loadReservations(), expected);
    reopened.close();
  });

  test(name('a LeaseTable on this store: bindings acknowledged through commitThen come back after a restart'), async (t) => {
    const opened = subject.open(t);
    const clock = { now: 1_700_000_000_000 };
    const table = new LeaseTable({ store: opened.store, pool: new AddressPool(100, 109), now: () => clock.now });
    table.load();
    const a = table.bind({ ip: 100, mac: '02:00:00:00:00:0a', clientId: Buffer.from([1, 0xfe]), hostname: 'alpha', durationMs: 3_600_000 });
    const b = table.bind({ ip: 101, mac: '02:00:00:00:00:0b', clientId: null, hostname: null, durationMs: 3_600_000 });
    await new Promise<void>((resolve, reject) => table.commitThen((error) => (error ? reject(error) : resolve())));
    assert.deepEqual(opened.crashView(), [a, b]);
    const store = opened.restart();
    const pool = new AddressPool(100, 109);
    const again = new LeaseTable({ store, pool, now: () => clock.now });
    again.load();
    assert.deepEqual(again.byMac('02:00:00:00:00:0a'), a);
    assert.deepEqual(again.byIp(101), b);
    assert.equal(again.activeCount, 2);
    assert.equal(pool.isFree(100), false);
    store.close();
  });
}

// ---- The IPv6 half (Lease6Store, lease6.ts): same store, same commits. ----

function lease6(ip: string, overrides: Partial<StoredLease6> = {}): StoredLease6 {
  return {
    ip,
    mac: '02:00:00:00:00:01',
    iaid: 1,
    duidHex: '000300010200000000' + '01',
    hostname: 'web',
    state: 'bound',
    expiresAt: 1_700_000_600_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

for (const subject of SUBJECTS) {
  const name = (what: string): string => `${subject.name} (IPv6): ${what}`;

  test(name('staged IPv6 leases are not durable until commit(); one commit takes both families; the last stage wins'), (t) => {
    const { store, crashView, crashView6 } = subject.open(t);
    store.stage6(lease6('fd00::10', { hostname: 'first' }));
    store.stage6(lease6('fd00::10', { hostname: 'second', iaid: 0xffffffff }));
    store.stage6(lease6('fd00::9', { state: 'declined', mac: '', hostname: null }));
    store.stage(lease(1));
    assert.equal(store.pendingCount, 3, 'IPv4 and IPv6 addresses with a staged change');
    assert.deepEqual(crashView6(), []);
    assert.equal(store.commit(), 3);
    assert.equal(store.pendingCount, 0);
    assert.deepEqual(crashView6(), [
      lease6('fd00::9', { state: 'declined', mac: '', hostname: null }),
      lease6('fd00::10', { hostname: 'second', iaid: 0xffffffff }),
    ]);
    assert.equal(crashView().length, 1);
    store.stageDelete6('fd00::9');
    store.stageDelete6('fd00::10');
    store.stage6(lease6('fd00::10', { expiresAt: 1_700_000_900_000 }));
    assert.equal(store.commit(), 2);
    assert.deepEqual(crashView6(), [lease6('fd00::10', { expiresAt: 1_700_000_900_000 })]);
  });

  test(name('commitThen: done runs only after the IPv6 rows staged before it are durable, in call order'), async (t) => {
    const { store, crashView6 } = subject.open(t);
    const seen: string[] = [];
    const batch = (label: string, ips: string[]): Promise<void> => {
      for (const ip of ips) store.stage6(lease6(ip));
      const mustBeDurable = [...new Set([...seen, ...ips])];
      seen.push(...ips);
      return new Promise<void>((resolve, reject) =>
        store.commitThen((error) => {
          if (error) return reject(error);
          const durable = crashView6().map((l) => l.ip);
          const missing = mustBeDurable.filter((ip) => !durable.includes(ip));
          if (missing.length > 0) return reject(new Error(`done of ${label} ran before ${missing.join(', ')} was durable`));
          resolve();
        }),
      );
    };
    // Only IPv6 staged: a store that counted IPv4 rows alone would call done at once, before anything is durable.
    const first = batch('a', ['2001:db8::1']);
    const second = batch('b', ['2001:db8::2', '2001:db8::3']);
    await Promise.all([first, second]);
    assert.equal(store.syncInFlight, false);
    assert.deepEqual(
      crashView6().map((l) => l.ip),
      ['2001:db8::1', '2001:db8::2', '2001:db8::3'],
    );
  });

  test(name('a batch with a bad IPv6 row is all-or-nothing for both families and stays staged; done gets the error'), async (t) => {
    const { store, crashView, crashView6 } = subject.open(t);
    store.stage(lease(1));
    store.stage6(lease6('fd00::1'));
    store.stage6(lease6('fd00::2', { mac: 'not a mac' }));
    assert.throws(() => store.commit(), /fd00::2/);
    await assert.rejects(committed(store), /fd00::2/);
    assert.deepEqual(crashView(), []);
    assert.deepEqual(crashView6(), []);
    assert.equal(store.pendingCount, 3, 'still staged: no Reply was sent for it and it is not lost');
    store.stage6(lease6('fd00::2'));
    await committed(store);
    assert.equal(crashView().length, 1);
    assert.equal(crashView6().length, 2);
  });

  test(name('loadLeases6() after a restart: every durable lease in address order, close() commits what is staged'), async (t) => {
    const opened = subject.open(t);
    opened.store.stage6(lease6('fd00::a', { duidHex: '00030001020000000002', mac: '02:00:00:00:00:02' }));
    opened.store.stage6(lease6('fd00::1:0'));
    await committed(opened.store);
    opened.store.stage6(lease6('fd00::9', { hostname: null }));
    const store = opened.restart();
    assert.deepEqual(store.loadLeases6(), [
      lease6('fd00::9', { hostname: null }),
      lease6('fd00::a', { duidHex: '00030001020000000002', mac: '02:00:00:00:00:02' }),
      lease6('fd00::1:0'),
    ]);
    store.close();
  });

  test(name('a reservation may name an IPv6 address: kept across a restart, one owner per IPv6 address'), (t) => {
    const opened = subject.open(t);
    const { store } = opened;
    store.saveReservation({ mac: '02:00:00:00:00:0a', ip: 10, name: 'web', ip6: 'fd00::a' });
    store.saveReservation({ mac: '02:00:00:00:00:0b', ip: 11, name: null });
    assert.throws(() => store.saveReservation({ mac: '02:00:00:00:00:0c', ip: 12, name: null, ip6: 'fd00::a' }));
    store.saveReservation({ mac: '02:00:00:00:00:0b', ip: 11, name: null, ip6: 'fd00::b' });
    const expected = [
      { mac: '02:00:00:00:00:0a', ip: 10, name: 'web', ip6: 'fd00::a' },
      { mac: '02:00:00:00:00:0b', ip: 11, name: null, ip6: 'fd00::b' },
    ];
    assert.deepEqual(store.loadReservations(), expected);
    store.saveReservation({ mac: '02:00:00:00:00:0b', ip: 11, name: null }); // without ip6 again: the IPv6 part goes
    const reopened = opened.restart();
    assert.deepEqual(reopened.loadReservations(), [expected[0], { mac: '02:00:00:00:00:0b', ip: 11, name: null }]);
    reopened.close();
  });
}
