import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Lease } from '../../../src/leases/lease.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import { LeaseTable } from '../../../src/leases/table.ts';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const T = 1_700_000_000_000;

test('a renewal keeps the name and moves its end; a new address or name replaces the entry', () => {
  const names = new HostNames();
  assert.deepEqual(names.claim(A, 100, 'Web', T + 10), { granted: true });
  assert.deepEqual(names.lookup('WEB'), { name: 'web', ip: 100, mac: A, source: 'lease', expiresAt: T + 10 });
  names.claim(A, 100, 'web', T + 20);
  assert.equal(names.lookup('web')?.expiresAt, T + 20);
  assert.equal(names.size, 1);
  names.claim(A, 101, 'web', T + 30);
  assert.equal(names.reverse(100), undefined);
  assert.equal(names.reverse(101)?.name, 'web');
  names.claim(A, 101, 'db', T + 40);
  assert.equal(names.lookup('web'), undefined);
  assert.equal(names.lookup('db')?.ip, 101);
  names.claim(A, 101, null, T + 50);
  assert.equal(names.lookup('db'), undefined);
  assert.equal(names.size, 0);
});

test('a held name is refused and the newcomer loses its old name; removal needs the right address', () => {
  const names = new HostNames();
  names.claim(A, 100, 'web', T + 10);
  names.claim(B, 101, 'old', T + 10);
  const refused = names.claim(B, 101, 'web', T + 10);
  assert.deepEqual(refused, { granted: false, heldBy: { name: 'web', ip: 100, mac: A, source: 'lease', expiresAt: T + 10 } });
  assert.equal(names.lookup('old'), undefined);
  assert.equal(names.heldByOther('web', B)?.mac, A);
  assert.equal(names.heldByOther('web', A), undefined);
  names.removeLease(A, 999);
  assert.equal(names.lookup('web')?.ip, 100);
  names.removeLease(A, 100);
  assert.equal(names.lookup('web'), undefined);
  assert.equal(names.claim(B, 101, 'web', T + 10).granted, true);
});

test('an address taken over by another MAC points at the newcomer; the old entry keeps its name until removed', () => {
  const names = new HostNames();
  names.claim(A, 100, 'a', T + 10);
  names.claim(B, 100, 'b', T + 20);
  assert.equal(names.reverse(100)?.name, 'b');
  assert.equal(names.lookup('a')?.ip, 100);
  names.removeLease(A);
  assert.equal(names.reverse(100)?.name, 'b', "removing the old entry leaves the newcomer's PTR");
  names.claim(A, 100, 'a', T + 30);
  names.claim(A, 100, 'a', T + 40);
  assert.equal(names.reverse(100)?.name, 'a', 'a renewal points the address back at its claimant, as a new claim would');
});

test('entries freed and reused many times stay consistent with a plain model', () => {
  const names = new HostNames(8);
  const model = new Map<string, { ip: number; name: string }>();
  let state = 77;
  const random = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  const macs = Array.from({ length: 40 }, (_, i) => `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`);
  for (let step = 0; step < 4000; step++) {
    const mac = macs[random(macs.length)] as string;
    if (random(4) === 0) {
      names.removeLease(mac);
      model.delete(mac);
      continue;
    }
    const name = `n${random(60)}`;
    const ip = 1000 + random(80);
    const holder = [...model.entries()].find(([m, e]) => m !== mac && e.name === name);
    const result = names.claim(mac, ip, name, T);
    assert.equal(result.granted, holder === undefined);
    if (holder === undefined) model.set(mac, { ip, name });
    else model.delete(mac);
    for (const [m, e] of model) assert.equal(names.lookup(e.name)?.mac, m);
    assert.equal(names.size, model.size);
  }
});

test('claimActiveLeases registers the names of active leases as claim() would, first lease first', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-names-'));
  const store = LeaseStore.open(join(dir, 'leases.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const rows: Lease[] = [
    { ip: 100, mac: A, clientId: null, hostname: 'Shared', state: 'bound', expiresAt: T + 1000, updatedAt: T },
    { ip: 101, mac: B, clientId: null, hostname: 'shared', state: 'bound', expiresAt: T + 1000, updatedAt: T },
    { ip: 102, mac: '02:00:00:00:00:0c', clientId: null, hostname: 'gone', state: 'bound', expiresAt: T - 1, updatedAt: T - 10 },
    { ip: 103, mac: '02:00:00:00:00:0d', clientId: null, hostname: 'left', state: 'released', expiresAt: T, updatedAt: T },
    { ip: 104, mac: '02:00:00:00:00:0e', clientId: null, hostname: null, state: 'bound', expiresAt: T + 1000, updatedAt: T },
    { ip: 105, mac: '02:00:00:00:00:0f', clientId: null, hostname: 'db', state: 'bound', expiresAt: T + 1000, updatedAt: T },
  ];
  for (const row of rows) store.stage(row);
  store.commit();
  const table = new LeaseTable({ store, pool: new AddressPool(100, 109), now: () => T });
  table.load();

  const names = new HostNames(table.activeCount);
  names.setReservations([{ mac: '02:00:00:00:00:99', ip: 150, name: 'db' }]);
  names.claimActiveLeases(table);
  const expected = new HostNames();
  expected.setReservations([{ mac: '02:00:00:00:00:99', ip: 150, name: 'db' }]);
  for (const lease of table.active()) if (lease.hostname !== null) expected.claim(lease.mac, lease.ip, lease.hostname, lease.expiresAt);

  for (const name of ['shared', 'gone', 'left', 'db']) assert.deepEqual(names.lookup(name), expected.lookup(name), name);
  for (let ip = 100; ip <= 105; ip++) assert.deepEqual(names.reverse(ip), expected.reverse(ip), String(ip));
  assert.equal(names.lookup('shared')?.mac, A);
  assert.equal(names.lookup('gone'), undefined);
  assert.equal(names.lookup('db')?.source, 'reservation');
  assert.equal(names.size, expected.size);
});

test('claimActiveLeases registers in batches; any use of the index first finishes the registration', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-names-'));
  const store = LeaseStore.open(join(dir, 'leases.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 10; i++) {
    store.stage({
      ip: 100 + i,
      mac: `02:00:00:00:00:${(0x10 + i).toString(16)}`,
      clientId: null,
      hostname: `h${i}`,
      state: 'bound',
      expiresAt: T + 1000,
      updatedAt: T,
    });
  }
  store.commit();
  const now = { value: T };
  const table = new LeaseTable({ store, pool: new AddressPool(100, 120), now: () => now.value });
  table.load();

  const stepped = new HostNames();
  stepped.claimActiveLeases(table);
  assert.equal(stepped.registerPending(4), false);
  assert.equal(stepped.registerPending(4), false);
  assert.equal(stepped.registerPending(4), true);
  assert.equal(stepped.registerPending(4), true, 'nothing left');
  assert.equal(stepped.size, 10);

  const forced = new HostNames();
  forced.claimActiveLeases(table);
  assert.equal(forced.registerPending(3), false);
  table.release(109); // ended before its name was registered: as if it had ended after
  assert.equal(forced.lookup('h9'), undefined);
  assert.equal(forced.lookup('h0')?.ip, 100);
  assert.equal(forced.size, 9, 'the lookup registered every remaining name');
  assert.equal(forced.registerPending(3), true);

  const claimed = new HostNames();
  claimed.claimActiveLeases(table);
  const refused = claimed.claim('02:00:00:00:00:99', 130, 'h5', T + 1000);
  assert.equal(refused.granted, false, 'a claim sees the names still pending');
});
