/** Learned6: limits, the leave rule (FAILED at once, deletion after a grace or at lease end), moves, DHCPv6 source. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LEARNED6_MAX_ADDRESSES_PER_MAC, LEARNED6_UNCONFIRMED_MS, Learned6, type Learned6Change } from '../../../src/leases/learned6.ts';

const A = '02:1a:b0:00:00:01';
const B = '02:1a:b0:00:00:02';

function registry(opts: { maxMacs?: number } = {}) {
  let now = 1_000_000;
  const changes: Learned6Change[] = [];
  const r = new Learned6({ now: () => now, onChange: (c) => changes.push(c), ...opts });
  return { r, changes, advance: (ms: number) => (now += ms) };
}

test('a sighting is answered in RFC 5952 text both ways, and counts as a change', () => {
  const { r, changes } = registry();
  r.seen(A.toUpperCase(), 'FD42:0001:0002:0003:0000:0000:0000:0010');
  assert.deepEqual(r.addressesOf(A), ['fd42:1:2:3::10']);
  assert.equal(r.macOf('fd42:1:2:3::10'), A);
  assert.deepEqual(changes, [{ kind: 'added', mac: A, address: 'fd42:1:2:3::10', reason: 'neighbour' }]);
  const version = r.version;
  r.seen(A, 'fd42:1:2:3::10');
  assert.equal(r.version, version, 'seeing it again changes nothing');
  r.seen('not a mac', 'fd42::1');
  r.seen(A, 'not an address');
  assert.equal(r.size, 1, 'junk is ignored');
});

test('FAILED removes at once; a deletion keeps the address for the grace period, then sweep removes it', () => {
  const { r, advance } = registry();
  r.seen(A, 'fd42::1');
  r.seen(A, 'fd42::2');
  r.failed('fd42::1');
  assert.deepEqual(r.addressesOf(A), ['fd42::2']);
  r.unconfirmed('fd42::2');
  advance(LEARNED6_UNCONFIRMED_MS - 1);
  r.sweep();
  assert.deepEqual(r.addressesOf(A), ['fd42::2'], 'a quiet container keeps its AAAA through the kernel garbage collection');
  advance(1);
  assert.deepEqual(r.addressesOf(A), [], 'not answered once the grace is over, even before the sweep');
  assert.equal(r.macOf('fd42::2'), undefined);
  r.sweep();
  assert.equal(r.size, 0);
});

test('a sighting during the grace confirms the address again', () => {
  const { r, advance } = registry();
  r.seen(A, 'fd42::1');
  r.unconfirmed('fd42::1');
  advance(LEARNED6_UNCONFIRMED_MS / 2);
  r.seen(A, 'fd42::1');
  advance(LEARNED6_UNCONFIRMED_MS);
  r.sweep();
  assert.deepEqual(r.addressesOf(A), ['fd42::1']);
});

test('the end of the IPv4 lease drops unconfirmed addresses, not present ones', () => {
  const { r } = registry();
  r.seen(A, 'fd42::1');
  r.seen(A, 'fd42::2');
  r.unconfirmed('fd42::2');
  r.forgetMac(A);
  assert.deepEqual(r.addressesOf(A), ['fd42::1']);
});

test('an address seen at another MAC moves (latest wins)', () => {
  const { r, changes } = registry();
  r.seen(A, 'fd42::1');
  r.seen(B, 'fd42::1');
  assert.deepEqual(r.addressesOf(A), []);
  assert.deepEqual(r.addressesOf(B), ['fd42::1']);
  assert.equal(r.macOf('fd42::1'), B);
  assert.equal(r.counters.moved, 1);
  assert.deepEqual(
    changes.map((c) => `${c.kind} ${c.mac} ${c.reason}`),
    [`added ${A} neighbour`, `removed ${A} moved`, `added ${B} neighbour`],
  );
});

test('a DHCPv6 binding holds its address whatever the neighbour table says, until unbound', () => {
  const { r, advance } = registry();
  r.bind(A, 'fd42::100');
  r.seen(A, 'fd42::100');
  r.failed('fd42::100');
  r.unconfirmed('fd42::100');
  advance(LEARNED6_UNCONFIRMED_MS * 2);
  r.sweep();
  r.forgetMac(A);
  assert.deepEqual(r.addressesOf(A), ['fd42::100']);
  r.unbind(B, 'fd42::100');
  assert.deepEqual(r.addressesOf(A), ['fd42::100'], 'another MAC cannot unbind it');
  r.unbind(A, 'fd42::100');
  assert.deepEqual(r.addressesOf(A), []);
});

test('at most LEARNED6_MAX_ADDRESSES_PER_MAC per MAC: the least recently seen unconfirmed one goes first', () => {
  const { r, advance } = registry();
  for (let i = 1; i <= LEARNED6_MAX_ADDRESSES_PER_MAC; i++) {
    r.seen(A, `fd42::${i}`);
    advance(1000);
  }
  r.unconfirmed('fd42::5');
  r.seen(A, 'fd42::99');
  const now = r.addressesOf(A);
  assert.equal(now.length, LEARNED6_MAX_ADDRESSES_PER_MAC);
  assert.ok(!now.includes('fd42::5') && now.includes('fd42::1') && now.includes('fd42::99'));
  r.seen(A, 'fd42::100');
  assert.ok(!r.addressesOf(A).includes('fd42::1'), 'then the least recently seen');
  assert.equal(r.counters.addressesEvicted, 2);
});

test('at most maxMacs MACs: the least recently seen MAC is evicted whole', () => {
  const { r } = registry({ maxMacs: 2 });
  r.seen(A, 'fd42::1');
  r.seen(B, 'fd42::2');
  r.seen(A, 'fd42::3'); // A is now the most recently seen
  r.seen('02:1a:b0:00:00:03', 'fd42::4');
  assert.deepEqual(r.addressesOf(B), []);
  assert.deepEqual(r.addressesOf(A), ['fd42::1', 'fd42::3']);
  assert.equal(r.counters.macsEvicted, 1);
  assert.equal(r.macOf('fd42::2'), undefined);
});

test('a snapshot sees every entry listed and marks present ones it lacks unconfirmed', () => {
  const { r, advance } = registry();
  r.seen(A, 'fd42::1');
  r.seen(A, 'fd42::2');
  r.snapshot([
    { mac: A, address: 'fd42::1' },
    { mac: B, address: 'fd42::3' },
  ]);
  assert.deepEqual(r.addressesOf(B), ['fd42::3']);
  assert.equal(r.list().find((e) => e.address === 'fd42::2')?.neighbour, 'unconfirmed');
  advance(LEARNED6_UNCONFIRMED_MS);
  assert.deepEqual(r.addressesOf(A), ['fd42::1']);
});
