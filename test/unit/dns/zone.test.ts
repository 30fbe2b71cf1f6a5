import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rcode } from '../../../src/dns/message.ts';
import { LocalZones, ptrNameToIp, reverseZoneName } from '../../../src/dns/zone.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const ip = (t: string): number => parseIPv4(t) as number;
const NOW = 1_700_000_000_000;

function setup(): { names: HostNames; zones: LocalZones } {
  const names = new HostNames();
  names.setReservations([{ mac: '02:00:00:00:00:05', ip: ip('10.0.0.5'), name: 'web' }]);
  names.claim('02:1a:b0:00:00:01', ip('10.0.0.100'), 'test', NOW + 3_600_000);
  names.claim('02:1a:b0:00:00:02', ip('10.0.0.101'), 'short', NOW + 10_000);
  const zones = new LocalZones({ domain: 'lxc', serverIp: ip('10.0.0.1'), prefixLength: 24, soaTtl: 30, recordTtl: 30 }, names, () => NOW);
  return { names, zones };
}

test('reverse zone names follow the octet boundary above the subnet', () => {
  assert.equal(reverseZoneName(ip('10.0.0.1'), 24), '0.0.10.in-addr.arpa');
  assert.equal(reverseZoneName(ip('172.16.5.1'), 16), '16.172.in-addr.arpa');
  assert.equal(reverseZoneName(ip('172.16.5.1'), 20), '16.172.in-addr.arpa');
  assert.equal(reverseZoneName(ip('192.168.1.1'), 28), '1.168.192.in-addr.arpa');
  assert.equal(ptrNameToIp('100.0.0.10.in-addr.arpa'), ip('10.0.0.100'));
  assert.equal(ptrNameToIp('300.0.0.10.in-addr.arpa'), null);
});

test('A record of a lease, case-insensitive, asked case echoed, TTL capped by the lease', () => {
  const { zones } = setup();
  const a = zones.answer({ name: 'TeSt.LXC', type: 'A', class: 'IN' });
  assert.ok(a);
  assert.equal(a.rcode, Rcode.NoError);
  assert.deepEqual(
    a.answers.map((r) => [r.name, r.type, (r as { data: string }).data, (r as { ttl: number }).ttl]),
    [['TeSt.LXC', 'A', '10.0.0.100', 30]],
  );
  const short = zones.answer({ name: 'short.lxc', type: 'A', class: 'IN' });
  assert.equal((short!.answers[0] as { ttl: number }).ttl, 10, 'never longer than the remaining lease');
});

test('reservations resolve before any lease exists, and PTR answers', () => {
  const { zones } = setup();
  assert.equal((zones.answer({ name: 'web.lxc', type: 'A', class: 'IN' })!.answers[0] as { data: string }).data, '10.0.0.5');
  const ptr = zones.answer({ name: '100.0.0.10.in-addr.arpa', type: 'PTR', class: 'IN' });
  assert.equal((ptr!.answers[0] as { data: string }).data, 'test.lxc');
  const ns = zones.answer({ name: '1.0.0.10.in-addr.arpa', type: 'PTR', class: 'IN' });
  assert.equal((ns!.answers[0] as { data: string }).data, 'ns.lxc');
});

test('NODATA for an existing name of another type, NXDOMAIN for a missing one, both with SOA', () => {
  const { zones } = setup();
  const aaaa = zones.answer({ name: 'test.lxc', type: 'AAAA', class: 'IN' });
  assert.equal(aaaa?.rcode, Rcode.NoError);
  assert.equal(aaaa?.answers.length, 0);
  assert.equal(aaaa?.authorities[0]?.type, 'SOA');
  const missing = zones.answer({ name: 'nosuch.lxc', type: 'A', class: 'IN' });
  assert.equal(missing?.rcode, Rcode.NxDomain);
  assert.equal(missing?.authorities[0]?.type, 'SOA');
  assert.equal((missing!.authorities[0] as { data: { minimum: number } }).data.minimum, 30);
  assert.equal(zones.answer({ name: 'a.test.lxc', type: 'A', class: 'IN' })?.rcode, Rcode.NxDomain);
  assert.equal(zones.answer({ name: '200.0.0.10.in-addr.arpa', type: 'PTR', class: 'IN' })?.rcode, Rcode.NxDomain);
});

test('apex has SOA and NS; names outside our zones are not ours', () => {
  const { zones } = setup();
  assert.equal(zones.answer({ name: 'lxc', type: 'SOA', class: 'IN' })?.answers[0]?.type, 'SOA');
  const ns = zones.answer({ name: 'lxc.', type: 'NS', class: 'IN' });
  assert.equal((ns!.answers[0] as { data: string }).data, 'ns.lxc');
  assert.equal((ns!.additionals[0] as { data: string }).data, '10.0.0.1');
  assert.equal(zones.answer({ name: '0.0.10.in-addr.arpa', type: 'SOA', class: 'IN' })?.answers[0]?.type, 'SOA');
  assert.equal(zones.answer({ name: 'example.com', type: 'A', class: 'IN' }), null);
  assert.equal(zones.answer({ name: 'notlxc', type: 'A', class: 'IN' }), null);
  assert.equal(zones.answer({ name: '1.0.0.11.in-addr.arpa', type: 'PTR', class: 'IN' }), null);
});

test('name ownership: a held name is not taken over; it frees when the lease ends; reservations win', () => {
  const { names, zones } = setup();
  const denied = names.claim('02:1a:b0:00:00:09', ip('10.0.0.150'), 'test', NOW + 3_600_000);
  assert.equal(denied.granted, false);
  assert.equal((zones.answer({ name: 'test.lxc', type: 'A', class: 'IN' })!.answers[0] as { data: string }).data, '10.0.0.100');
  assert.equal(names.claim('02:1a:b0:00:00:09', ip('10.0.0.150'), 'web', NOW + 1).granted, false, 'reserved name');
  names.removeLease('02:1a:b0:00:00:01');
  assert.equal(zones.answer({ name: 'test.lxc', type: 'A', class: 'IN' })?.rcode, Rcode.NxDomain);
  assert.equal(zones.answer({ name: '100.0.0.10.in-addr.arpa', type: 'PTR', class: 'IN' })?.rcode, Rcode.NxDomain);
  assert.equal(names.claim('02:1a:b0:00:00:09', ip('10.0.0.150'), 'test', NOW + 3_600_000).granted, true);
  const serialBefore = names.serial;
  names.removeLease('02:1a:b0:00:00:09', ip('10.0.0.151'));
  assert.equal(names.serial, serialBefore, 'removal for another address is ignored');
});

test('a reservation added later takes over a leased name: A and PTR follow it, the lease keeps only its address', () => {
  const { names, zones } = setup();
  names.setReservations([
    { mac: '02:00:00:00:00:05', ip: ip('10.0.0.5'), name: 'web' },
    { mac: '02:00:00:00:00:07', ip: ip('10.0.0.7'), name: 'test' },
  ]);
  assert.equal((zones.answer({ name: 'test.lxc', type: 'A', class: 'IN' })!.answers[0] as { data: string }).data, '10.0.0.7');
  assert.equal((zones.answer({ name: '7.0.0.10.in-addr.arpa', type: 'PTR', class: 'IN' })!.answers[0] as { data: string }).data, 'test.lxc');
  assert.equal(zones.answer({ name: '100.0.0.10.in-addr.arpa', type: 'PTR', class: 'IN' })?.rcode, Rcode.NxDomain);
  names.setReservations([]);
  assert.equal((zones.answer({ name: '100.0.0.10.in-addr.arpa', type: 'PTR', class: 'IN' })!.answers[0] as { data: string }).data, 'test.lxc');
});

test('SOA timers are ones DNS linters accept (RFC 1912 §2.2, Zonemaster ZONE01-04); the negative TTL stays 30 s', () => {
  const { zones } = setup();
  for (const apex of ['lxc', '0.0.10.in-addr.arpa']) {
    const soa = zones.answer({ name: apex, type: 'SOA', class: 'IN' })!.answers[0] as {
      data: { refresh: number; retry: number; expire: number; minimum: number };
    };
    const { refresh, retry, expire, minimum } = soa.data;
    assert.ok(refresh >= 14_400 && refresh <= 43_200, `refresh ${refresh}`);
    assert.ok(retry >= 3_600 && retry < refresh, `retry ${retry}`);
    assert.ok(expire >= 1_209_600 && expire <= 2_419_200 && expire > refresh, `expire ${expire}`);
    assert.equal(minimum, 30);
  }
});

test('reverse names outside the subnet but inside the enclosing zone are not ours (/23 and /28)', () => {
  const names = new HostNames();
  names.claim('02:1a:b0:00:00:01', ip('10.0.1.7'), 'test', NOW + 3_600_000);
  const wide = new LocalZones({ domain: 'lxc', serverIp: ip('10.0.0.1'), prefixLength: 23, soaTtl: 30, recordTtl: 30 }, names, () => NOW);
  assert.equal(wide.reverseZone, '0.10.in-addr.arpa');
  assert.equal(wide.answer({ name: '5.2.0.10.in-addr.arpa', type: 'PTR', class: 'IN' }), null, 'a neighbour /24');
  assert.equal(wide.answer({ name: '2.0.10.in-addr.arpa', type: 'NS', class: 'IN' }), null, 'the neighbour /24 node itself');
  assert.equal(wide.answer({ name: 'x.0.10.in-addr.arpa', type: 'PTR', class: 'IN' }), null, 'junk below a node wider than the subnet');
  assert.equal((wide.answer({ name: '7.1.0.10.in-addr.arpa', type: 'PTR', class: 'IN' })!.answers[0] as { data: string }).data, 'test.lxc');
  assert.equal(wide.answer({ name: '1.0.10.in-addr.arpa', type: 'A', class: 'IN' })?.rcode, Rcode.NoError, 'empty non-terminal');
  assert.equal(wide.answer({ name: 'x.7.1.0.10.in-addr.arpa', type: 'A', class: 'IN' })?.rcode, Rcode.NxDomain, 'below an address of ours');
  assert.equal(wide.answer({ name: '0.10.in-addr.arpa', type: 'SOA', class: 'IN' })?.answers[0]?.type, 'SOA');

  const narrow = new LocalZones({ domain: 'lxc', serverIp: ip('192.168.1.17'), prefixLength: 28, soaTtl: 30, recordTtl: 30 }, names, () => NOW);
  assert.equal(narrow.answer({ name: '5.1.168.192.in-addr.arpa', type: 'PTR', class: 'IN' }), null, 'outside 192.168.1.16/28');
  assert.equal(narrow.answer({ name: '20.1.168.192.in-addr.arpa', type: 'PTR', class: 'IN' })?.rcode, Rcode.NxDomain, 'inside, no name');
  assert.equal((narrow.answer({ name: '17.1.168.192.in-addr.arpa', type: 'PTR', class: 'IN' })!.answers[0] as { data: string }).data, 'ns.lxc');

  const exact = new LocalZones({ domain: 'lxc', serverIp: ip('10.0.0.1'), prefixLength: 24, soaTtl: 30, recordTtl: 30 }, names, () => NOW);
  assert.equal(exact.answer({ name: 'junk.0.0.10.in-addr.arpa', type: 'PTR', class: 'IN' })?.rcode, Rcode.NxDomain, 'a /24 zone is all ours');
});
