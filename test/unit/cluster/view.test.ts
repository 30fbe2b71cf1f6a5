import assert from 'node:assert/strict';
import { test } from 'node:test';
import { overlappingHost } from '../../../src/cluster/cluster.ts';
import { hostKey, nameKey, parseHostRecord } from '../../../src/cluster/records.ts';
import { CLUSTER_MAX_HOSTS, CLUSTER_MAX_NAMES, ClusterView, type PeerRoute, STALE_REMOTE_TTL } from '../../../src/cluster/view.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const ip = (t: string): number => parseIPv4(t) as number;
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const host = (name: string, subnet4: string, address: string, prefix6: string | null = null): Buffer =>
  json({ v: 1, host: name, bridge: 'br0', subnet4, prefix6, address, domain: 'lxc' });
const name = (label: string, holder: string, a: string[], aaaa: string[] = [], kind = 'lease'): Buffer =>
  json({ v: 1, name: label, host: holder, kind, a, aaaa });

function view(): ClusterView {
  const v = new ClusterView('me', { ttl: 5 });
  v.apply(hostKey('me'), host('me', '10.0.3.0/24', '192.0.2.10'));
  v.apply(hostKey('b'), host('b', '10.0.4.0/24', '192.0.2.11', 'fd00:0:0:4::/64'));
  v.apply(nameKey('web'), name('web', 'b', ['10.0.4.5'], ['fd00:0:0:4::5']));
  v.apply(nameKey('mine'), name('mine', 'me', ['10.0.3.7']));
  return v;
}

test('remote names: other hosts only, by name and by address within their subnets', () => {
  const v = view();
  assert.deepEqual(v.lookup('web')?.a, [ip('10.0.4.5')]);
  assert.equal(v.lookup('mine'), undefined, "our own names are the local zones'");
  assert.equal(v.reverse4(ip('10.0.4.5')), 'web');
  assert.equal(v.reverse4(ip('10.0.4.6')), null, "in b's subnet, no name: NXDOMAIN");
  assert.equal(v.reverse4(ip('10.0.3.7')), undefined, 'our own subnet is not remote');
  assert.equal(v.reverse4(ip('10.0.5.1')), undefined, "no host's subnet");
  assert.equal(v.reverse6('fd00:0:0:4::5'), 'web');
  assert.equal(v.reverse6('fd00:0:0:4::6'), null);
  assert.equal(v.reverse6('fd00:0:0:5::5'), undefined);
});

test("a remote name is answered only with addresses of its holder's subnet, and only while its host record exists", () => {
  const v = view();
  v.apply(nameKey('elsewhere'), name('elsewhere', 'b', ['8.8.8.8']));
  assert.equal(v.lookup('elsewhere'), undefined, "outside b's 10.0.4.0/24");
  v.apply(nameKey('ours'), name('ours', 'b', ['10.0.3.9']));
  assert.equal(v.lookup('ours'), undefined, 'an address of our own subnet, published by b');
  v.apply(nameKey('orphan'), name('orphan', 'gone', ['10.0.9.1']));
  assert.equal(v.lookup('orphan'), undefined, 'no host record for its holder');
  assert.deepEqual(v.lookup('web')?.a, [ip('10.0.4.5')], 'a name inside its holder subnet still answers');
});

test('a put replaces a name and its addresses; a delete removes them', () => {
  const v = view();
  v.apply(nameKey('web'), name('web', 'b', ['10.0.4.9']));
  assert.equal(v.reverse4(ip('10.0.4.5')), null, 'the old address left with the old record');
  assert.equal(v.reverse4(ip('10.0.4.9')), 'web');
  v.apply(nameKey('web'), null);
  assert.equal(v.lookup('web'), undefined);
  assert.equal(v.reverse4(ip('10.0.4.9')), null);
});

test('hostile values are dropped and counted; a name that stops parsing is forgotten', () => {
  const v = view();
  assert.equal(v.apply(nameKey('web'), Buffer.from('garbage')), 'name');
  assert.equal(v.lookup('web'), undefined);
  v.apply('/lxc-dhcpd/v1/names/UPPER', name('UPPER', 'b', ['10.0.4.1']));
  v.apply(hostKey('c'), host('c', '10.0.5.1/24', '192.0.2.12'));
  assert.deepEqual(Object.fromEntries(v.dropped), { 'name-not-json': 1, 'bad-key': 1, 'host-subnet4': 1 });
});

test('the view is bounded: hosts and names beyond the limits are dropped and counted', () => {
  assert.deepEqual([CLUSTER_MAX_HOSTS, CLUSTER_MAX_NAMES], [1024, 262_144], "the contract's bounds");
  const v = new ClusterView('me', { maxHosts: 2, maxNames: 2 });
  for (const [i, h] of ['a', 'b', 'c'].entries()) v.apply(hostKey(h), host(h, `10.0.${i}.0/24`, '192.0.2.1'));
  for (const n of ['x', 'y', 'z']) v.apply(nameKey(n), name(n, 'a', ['10.0.0.9']));
  assert.equal(v.hostCount, 2);
  assert.equal(v.nameCount, 2);
  assert.deepEqual(Object.fromEntries(v.dropped), { 'hosts-full': 1, 'names-full': 1 });
  v.apply(nameKey('x'), name('x', 'a', ['10.0.0.8']));
  assert.equal(v.lookup('x')?.a[0], ip('10.0.0.8'), 'a held name may still change at the limit');
});

test('peers: every other host, told on every host change', () => {
  const v = view();
  const seen: (readonly PeerRoute[])[] = [];
  v.onPeersChanged((p) => seen.push(p));
  v.apply(hostKey('c'), host('c', '10.0.5.0/24', '192.0.2.12'));
  v.apply(nameKey('other'), name('other', 'c', ['10.0.5.5']));
  v.apply(hostKey('b'), null);
  assert.equal(seen.length, 2, 'names do not change peers');
  assert.deepEqual(seen[1], [{ host: 'c', network: ip('10.0.5.0'), prefixLength: 24, via: ip('192.0.2.12') }]);
});

test('the TTL is capped while the view is stale', () => {
  const v = view();
  assert.equal(v.ttl(), 5);
  v.setStale(true);
  assert.equal(v.ttl(), STALE_REMOTE_TTL);
  v.setStale(false);
  assert.equal(v.ttl(), 5);
});

test('a full read replaces everything', () => {
  const v = view();
  v.replaceAll([{ key: hostKey('me'), value: host('me', '10.0.3.0/24', '192.0.2.10') }]);
  assert.equal(v.lookup('web'), undefined);
  assert.deepEqual(v.peers(), []);
});

test('overlap: the first other host whose subnet holds or is held by ours', () => {
  const rec = (label: string, value: Buffer) => {
    const parsed = parseHostRecord(label, value);
    assert.ok(parsed.ok);
    return parsed.value;
  };
  const me = rec('me', host('me', '10.0.3.0/24', '192.0.2.10', 'fd00:0:0:3::/64'));
  assert.equal(overlappingHost(me, [rec('me', host('me', '10.0.3.0/24', '192.0.2.10'))]), null, 'our own earlier record');
  assert.equal(overlappingHost(me, [rec('b', host('b', '10.0.4.0/24', '192.0.2.11'))]), null);
  assert.equal(overlappingHost(me, [rec('b', host('b', '10.0.0.0/16', '192.0.2.11'))])?.host.host, 'b');
  assert.equal(overlappingHost(me, [rec('c', host('c', '10.0.9.0/24', '192.0.2.12', 'fd00:0:0:3::/64'))])?.what, 'fd00:0:0:3::/64');
});
