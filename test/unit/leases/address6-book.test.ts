/**
 * The IPv6 address book on its own (no packets): allocation keyed on (frame MAC, DUID, IAID) — clones with one DUID
 * and many DUIDs behind one MAC alike — and no reaching another MAC's binding with its DUID, range exhaustion, the
 * per-client bound, Decline probation, expiry, reservations, durable records through a Lease6Store, and a 2^64 range that is
 * never materialised.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Address6Book,
  DECLINE_PROBATION_MS,
  MAX_BINDINGS_PER_CLIENT,
  OFFER6_HOLD_MS,
  type Owner6,
  type Range6,
  type Reservation6,
} from '../../../src/leases/address6-book.ts';
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

/** One DUID-LL for every MAC unless a test says otherwise: the book must not need distinct DUIDs (clones share one). */
const DUID = '00030001020000000001';
const DUID_2 = '00030001020000000002';
const o = (mac: string, iaid = 1, duidHex = DUID): Owner6 => ({ mac, duidHex, iaid });
const bind = (b: Address6Book, mac: string, iaid = 1, validMs = 3_600_000, duidHex = DUID) => b.bind({ ...o(mac, iaid, duidHex), hostname: null, validMs });

test('an offer is held for its owner and becomes the binding; it is never given to another', () => {
  const { b } = book();
  const offer = b.offer(o(A, 1));
  assert.ok(offer.ok);
  assert.ok(b.inRange(offer.ip));
  const again = b.offer(o(A, 1));
  assert.deepEqual(again, offer);
  const other = b.offer(o(B, 1));
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

test('MAX_BINDINGS_PER_CLIENT bounds what one (MAC, DUID) holds, offers and bindings together', () => {
  const { b } = book({ first: 'fd00::1', last: 'fd00::ff' });
  assert.ok(bind(b, A, 0).ok);
  for (let iaid = 1; iaid < MAX_BINDINGS_PER_CLIENT; iaid++) assert.ok(b.offer(o(A, iaid)).ok);
  assert.deepEqual(b.offer(o(A, 99)), { ok: false, reason: 'client-limit' });
  assert.deepEqual(bind(b, A, 99), { ok: false, reason: 'client-limit' });
  assert.equal(b.refusals['client-limit'], 2);
  // Another DUID behind the same MAC, and the same DUID behind another MAC, are other clients with their own count.
  assert.ok(b.offer(o(A, 99, DUID_2)).ok);
  assert.ok(b.offer(o(B, 99)).ok);
  // What a client gives back counts no more.
  const held = b.bindingOf(o(A, 0));
  assert.ok(held && b.release(o(A, 0), held.ip));
  assert.ok(b.offer(o(A, 99)).ok);
});

test('two DUIDs behind one MAC are two clients: two addresses, each renews, releases and declines only its own', () => {
  const { b, clock } = book();
  const one = bind(b, A, 1, 3_600_000, DUID);
  const two = bind(b, A, 1, 3_600_000, DUID_2);
  assert.ok(one.ok && two.ok);
  assert.notEqual(one.lease.ip, two.lease.ip);
  assert.equal(two.lease.mac, A);
  assert.equal(two.lease.duidHex, DUID_2);
  clock.now += 1000;
  assert.equal(b.renew(o(A, 1, DUID_2), 10_000)?.ip, two.lease.ip);
  assert.equal(b.release(o(A, 1, DUID_2), one.lease.ip), undefined);
  assert.equal(b.decline(o(A, 1, DUID_2), one.lease.ip), undefined);
  assert.equal(b.bindingOf(o(A, 1, DUID))?.ip, one.lease.ip);
  assert.equal(b.release(o(A, 1, DUID_2), two.lease.ip)?.ip, two.lease.ip);
  assert.equal(b.bindingOf(o(A, 1, DUID_2)), undefined);
  assert.equal(b.bindingOf(o(A, 1, DUID))?.ip, one.lease.ip);
});

test('clones: one DUID and IAID behind two MACs get two addresses', () => {
  const { b } = book();
  const a = bind(b, A);
  const c = bind(b, B);
  assert.ok(a.ok && c.ok);
  assert.notEqual(a.lease.ip, c.lease.ip);
  assert.deepEqual([b.bindingOf(o(A))?.mac, b.bindingOf(o(B))?.mac], [A, B]);
});

test("another client's DUID and IAID sent from another MAC reach nothing of its binding", () => {
  const { b, store } = book();
  const r = bind(b, A);
  assert.ok(r.ok);
  store.commit();
  assert.equal(b.bindingOf(o(B)), undefined);
  assert.equal(b.holds(o(B)), false);
  assert.equal(b.renew(o(B), 10_000), undefined);
  assert.equal(b.release(o(B), r.lease.ip), undefined);
  assert.equal(b.decline(o(B), r.lease.ip), undefined);
  assert.equal(store.staged.size, 0);
  assert.deepEqual(b.bindingOf(o(A)), r.lease);
});

test('renew extends, release frees, and both are staged', () => {
  const { b, clock, store } = book();
  const r = bind(b, A);
  assert.ok(r.ok);
  clock.now += 1000;
  assert.equal(b.renew(o(A, 1), 10_000)?.expiresAt, clock.now + 10_000);
  assert.equal(b.renew(o(B, 1), 10_000), undefined);
  assert.equal(b.release(o(A, 1), 'fd00::99'), undefined);
  assert.equal(b.release(o(A, 1), r.lease.ip)?.ip, r.lease.ip);
  assert.equal(store.staged.get(r.lease.ip), null);
  assert.equal(b.bindingOf(o(A, 1)), undefined);
});

test('decline: probation like Kea (a day), then the address is free again', () => {
  const { b, clock, store } = book({ first: 'fd00::10', last: 'fd00::10' });
  const r = bind(b, A);
  assert.ok(r.ok);
  assert.ok(b.decline(o(A, 1), r.lease.ip));
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
  assert.ok(b.offer(o(B, 1)).ok);
  clock.now += 5000;
  assert.equal(b.bindingOf(o(A, 1)), undefined);
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
    const r = b.offer(o(mac, 1));
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
  assert.ok(b.decline(o(A, 1), 'fd00::10'));
  assert.equal(store.staged.get('fd00::10'), null);
  const again = bind(b, A);
  assert.ok(again.ok && again.lease.ip === 'fd00::10');
});

test('load() rebuilds owners from (mac, duidHex, iaid) and their per-client counts', () => {
  const { b, store, clock } = book({ first: 'fd00::1', last: 'fd00::ff' });
  for (let iaid = 0; iaid < MAX_BINDINGS_PER_CLIENT; iaid++) assert.ok(bind(b, A, iaid, 3_600_000, DUID_2).ok);
  store.commit();
  const again = new Address6Book({ range: { first: 'fd00::1', last: 'fd00::ff' }, store, now: () => clock.now });
  assert.equal(again.load(), MAX_BINDINGS_PER_CLIENT);
  assert.ok(again.bindingOf(o(A, 0, DUID_2)));
  assert.equal(again.bindingOf(o(A, 0, DUID)), undefined);
  assert.deepEqual(again.offer(o(A, 99, DUID_2)), { ok: false, reason: 'client-limit' });
  assert.ok(again.offer(o(A, 99, DUID)).ok);
});

test('load() takes in durable records: bindings keep their owner, probation keeps its address out', () => {
  const { b, store, clock } = book({ first: 'fd00::10', last: 'fd00::11' });
  assert.ok(bind(b, A).ok);
  const declined = bind(b, B);
  assert.ok(declined.ok);
  b.decline(o(B, 1), declined.lease.ip);
  store.commit();
  const again = new Address6Book({ range: { first: 'fd00::10', last: 'fd00::11' }, store, now: () => clock.now });
  assert.equal(again.load(), 2);
  assert.ok(again.bindingOf(o(A, 1)));
  assert.deepEqual(again.offer(o(C, 1)), { ok: false, reason: 'range-full' });
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
