/**
 * AddressBook's invariants between pool, lease table and reservations: a reserved address is out of the pool even
 * while another lease holds it; ending a reservation gives the address back only when no lease or quarantine holds it;
 * an abandoned address goes back to the pool unless it is held or the abandoning client's own reservation.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { AddressBook } from '../../../src/leases/address-book.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import { LeaseTable } from '../../../src/leases/table.ts';

const FIRST = 0x0a000064; // 10.0.0.100
const A = 'aa:00:00:00:00:01';
const B = 'aa:00:00:00:00:02';
const C = 'aa:00:00:00:00:03';

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'address-book-'));
  const store = LeaseStore.open(join(dir, 'l.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = { now: 1_700_000_000_000 };
  const pool = new AddressPool(FIRST, FIRST + 9);
  const table = new LeaseTable({ store, pool, now: () => clock.now });
  table.load();
  const book = new AddressBook(pool, table);
  const bind = (mac: string, ip: number) => book.bind({ ip, mac, clientId: null, hostname: null, durationMs: 60_000 });
  return { pool, table, book, bind, clock };
}

test('a reservation takes its address out of the pool; ending it gives a free address back', (t) => {
  const { pool, book } = setup(t);
  book.reserve([{ mac: A, ip: FIRST + 3 }]);
  assert.equal(pool.isFree(FIRST + 3), false);
  assert.equal(book.isReserved(FIRST + 3), true);
  assert.equal(book.reservationOf(A)?.ip, FIRST + 3);
  assert.equal(book.claimUnreserved(FIRST + 3), false, 'nobody claims a reserved address by asking for it');
  book.reserve([]);
  assert.equal(pool.isFree(FIRST + 3), true);
  assert.deepEqual(book.reservations(), []);
});

test('ending a reservation whose address another lease (or a quarantine) holds keeps it out of the pool', (t) => {
  const { pool, book, bind } = setup(t);
  assert.equal(book.claim(FIRST + 4), true);
  bind(B, FIRST + 4);
  assert.equal(book.claim(FIRST + 5), true);
  bind(C, FIRST + 5); // a MAC holds one lease: B's second binding would end its first
  book.decline(FIRST + 5, 600_000);
  book.reserve([
    { mac: A, ip: FIRST + 4 },
    { mac: A, ip: FIRST + 5 },
  ]);
  book.reserve([]);
  assert.equal(pool.isFree(FIRST + 4), false, 'B still leases it');
  assert.equal(pool.isFree(FIRST + 5), false, 'it is quarantined');
  assert.equal(book.heldByOther(FIRST + 4, A)?.mac, B);
  assert.equal(book.heldByOther(FIRST + 4, B), undefined);
});

test("abandon gives an unbound address back, but not a held one or the client's own reservation", (t) => {
  const { pool, book, bind } = setup(t);
  const ip = book.allocate() as number;
  book.abandon(ip, A);
  assert.equal(pool.isFree(ip), true);

  assert.equal(book.claim(FIRST + 6), true);
  bind(B, FIRST + 6);
  book.abandon(FIRST + 6, A);
  assert.equal(pool.isFree(FIRST + 6), false, 'an active lease holds it');
  assert.equal(book.activeLeaseOf(B)?.ip, FIRST + 6);

  book.reserve([{ mac: A, ip: FIRST + 7 }]);
  book.abandon(FIRST + 7, A);
  assert.equal(pool.isFree(FIRST + 7), false, "A's reservation stays A's");
});

test('a released lease is no longer active; expireDue ends leases whose time is up', (t) => {
  const { book, bind, clock } = setup(t);
  assert.equal(book.claim(FIRST), true);
  bind(A, FIRST);
  book.release(FIRST);
  assert.equal(book.activeLeaseOf(A), undefined);
  assert.equal(book.claim(FIRST + 1), true);
  bind(B, FIRST + 1);
  clock.now += 61_000;
  assert.deepEqual(
    book.expireDue().map((l) => l.mac),
    [B],
  );
  assert.equal(book.activeLeaseOf(B), undefined);
});
