/**
 * The IPv6 address book on its own (no packets): allocation keyed on MAC and IAID, range exhaustion, the per-MAC
 * bound, Decline probation, expiry, reservations, durable records through a Lease6Store, and a 2^64 range that is
 * never materialised.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Address6Book, DECLINE_PROBATION_MS, MAX_BINDINGS_PER_MAC, OFFER6_HOLD_MS, type Range6, type Reservation6 } from '../../../src/leases/address6-book.ts';
import { MemoryLease6Store } from '../dhcp6/fixture.ts';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';

function book(range: Range6 = { first: 'fd00::10', last: 'fd00::13' }, reservations: Reservation6[] = []) {
  const clock = { now: 1_000_000 };
  const store = new MemoryLease6Store();
  const b = new Address6Book({ range, store, now: () => clock.now });
  b.reserve(reservations);
  return { clock, store, b };
}

const bind = (b: Address6Book, mac: string, iaid = 1, validMs = 3_600_000) => b.bind({ mac, iaid, duidHex: '0003000102', hostname: null, validMs });

test('an offer is held for its owner and becomes the binding; it is never given to another', () => {
  const { b } = book();
  const offer = b.offer(A, 1);
  assert.ok(offer.ok);
  assert.ok(b.inRange(offer.ip));
  const again = b.offer(A, 1);
  assert.deepEqual(again, offer);
  const other = b.offer(B, 1);
  assert.ok(other.ok && other.ip !== offer.ip);
  const bound = bind(b, A);
  assert.ok(bound.ok && bound.lease.ip === offer.ip && bound.isNew);
  assert.equal(b.offerCount, 1);
});

test('one MAC with two IAIDs gets two addresses; the same IAID under two MACs too', () => {
  const { b } = book();
  const ips = [bind(b, A, 1), bind(b, A, 2), bind(b, B, 1)].map((r) => (r.ok ? r.lease.ip : null));
  assert.equal(new Set(ips).size, 3);
});

test('range exhaustion: range-full once every address is held, counted', () => {
  const { b } = book({ first: 'fd00::10', last: 'fd00::11' });
  assert.ok(bind(b, A).ok);
  assert.ok(bind(b, B).ok);
  const r = bind(b, C);
  assert.deepEqual(r, { ok: false, reason: 'range-full' });
  assert.equal(b.refusals['range-full'], 1);
});

test('the whole range is found even when nearly all of it is held (no missed free address)', () => {
  const { b } = book({ first: 'fd00::1', last: 'fd00::40' });
  const seen = new Set<string>();
  for (let i = 0; i < 64; i++) {
    const r = bind(b, `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`);
    assert.ok(r.ok, `client ${i}`);
    seen.add(r.lease.ip);
  }
  assert.equal(seen.size, 64);
  assert.equal(bind(b, C).ok, false);
});

test('MAX_BINDINGS_PER_MAC bounds what one MAC holds (offers and bindings)', () => {
  const { b } = book({ first: 'fd00::1', last: 'fd00::ff' });
  for (let iaid = 0; iaid < MAX_BINDINGS_PER_MAC; iaid++) assert.ok(b.offer(A, iaid).ok);
  assert.deepEqual(b.offer(A, 99), { ok: false, reason: 'mac-limit' });
  assert.ok(b.offer(B, 99).ok);
});

test('renew extends, release frees, and both are staged', () => {
  const { b, clock, store } = book();
  const r = bind(b, A);
  assert.ok(r.ok);
  clock.now += 1000;
  assert.equal(b.renew(A, 1, 10_000)?.expiresAt, clock.now + 10_000);
  assert.equal(b.renew(B, 1, 10_000), undefined);
  assert.equal(b.release(A, 1, 'fd00::99'), undefined);
  assert.equal(b.release(A, 1, r.lease.ip)?.ip, r.lease.ip);
  assert.equal(store.staged.get(r.lease.ip), null);
  assert.equal(b.bindingOf(A, 1), undefined);
});

test('decline: probation like Kea (a day), then the address is free again', () => {
  const { b, clock, store } = book({ first: 'fd00::10', last: 'fd00::10' });
  const r = bind(b, A);
  assert.ok(r.ok);
  assert.ok(b.decline(A, 1, r.lease.ip));
  const record = store.staged.get(r.lease.ip);
  assert.equal(record?.state, 'declined');
  assert.equal(record?.mac, '');
  assert.equal(record?.expiresAt, clock.now + DECLINE_PROBATION_MS);
  assert.deepEqual(bind(b, B), { ok: false, reason: 'range-full' });
  clock.now += DECLINE_PROBATION_MS;
  assert.equal(b.expireDue().length, 1);
  assert.equal(store.staged.get(r.lease.ip), null);
  assert.ok(bind(b, B).ok);
});

test('expiry ends bindings at their valid lifetime and offers after the hold time', () => {
  const { b, clock } = book({ first: 'fd00::10', last: 'fd00::11' });
  assert.ok(bind(b, A, 1, 5000).ok);
  assert.ok(b.offer(B, 1).ok);
  clock.now += 5000;
  assert.equal(b.bindingOf(A, 1), undefined);
  const ended = b.expireDue();
  assert.deepEqual(
    ended.map((l) => l.mac),
    [A],
  );
  assert.equal(b.offerCount, 1);
  clock.now += OFFER6_HOLD_MS;
  b.expireDue();
  assert.equal(b.offerCount, 0);
});

test('a returning client gets the address it had before while it is still free', () => {
  const { b, clock } = book({ first: 'fd00::1', last: 'fd00::ffff' });
  const first = bind(b, A, 1, 1000);
  assert.ok(first.ok);
  clock.now += 2000;
  b.expireDue();
  const second = bind(b, A, 1);
  assert.ok(second.ok && second.lease.ip === first.lease.ip);
});

test('reservations: the MAC gets its address; nobody else is offered it', () => {
  const { b } = book({ first: 'fd00::10', last: 'fd00::11' }, [{ mac: A, ip: 'fd00::0:10' }]);
  for (const mac of [B, C]) {
    const r = b.offer(mac, 1);
    assert.ok(!r.ok || r.ip !== 'fd00::10');
  }
  const r = bind(b, A);
  assert.ok(r.ok && r.lease.ip === 'fd00::10');
  // A reservation may name an address outside the range (still on the /64).
  const { b: b2 } = book({ first: 'fd00::10', last: 'fd00::11' }, [{ mac: A, ip: 'fd00::5' }]);
  const out = bind(b2, A);
  assert.ok(out.ok && out.lease.ip === 'fd00::5');
  assert.throws(() => b2.reserve([{ mac: A, ip: 'not-an-address' }]), RangeError);
});

test("a declined reserved address is not put on probation: it stays its owner's", () => {
  const { b, store } = book({ first: 'fd00::10', last: 'fd00::11' }, [{ mac: A, ip: 'fd00::10' }]);
  assert.ok(bind(b, A).ok);
  assert.ok(b.decline(A, 1, 'fd00::10'));
  assert.equal(store.staged.get('fd00::10'), null);
  const again = bind(b, A);
  assert.ok(again.ok && again.lease.ip === 'fd00::10');
});

test('load() takes in durable records: bindings keep their owner, probation keeps its address out', () => {
  const { b, store, clock } = book({ first: 'fd00::10', last: 'fd00::11' });
  assert.ok(bind(b, A).ok);
  const declined = bind(b, B);
  assert.ok(declined.ok);
  b.decline(B, 1, declined.lease.ip);
  store.commit();
  const again = new Address6Book({ range: { first: 'fd00::10', last: 'fd00::11' }, store, now: () => clock.now });
  assert.equal(again.load(), 2);
  assert.ok(again.bindingOf(A, 1));
  assert.deepEqual(again.offer(C, 1), { ok: false, reason: 'range-full' });
});

test('a 2^64 range is served without being materialised', () => {
  const { b } = book({ first: 'fd00::', last: 'fd00::ffff:ffff:ffff:ffff' });
  const ips = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const r = bind(b, `02:00:00:00:02:${i.toString(16).padStart(2, '0')}`);
    assert.ok(r.ok);
    ips.add(r.lease.ip);
  }
  assert.equal(ips.size, 200);
});

test('a bad range is refused at construction', () => {
  assert.throws(() => book({ first: 'fd00::20', last: 'fd00::10' }), RangeError);
  assert.throws(() => book({ first: 'x', last: 'fd00::10' }), RangeError);
});
