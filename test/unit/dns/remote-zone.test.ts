import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rcode } from '../../../src/dns/message.ts';
import { NameQuestion } from '../../../src/dns/question.ts';
import { type RemoteName, type RemoteNames, RemoteNameZone, RemoteReverseZone } from '../../../src/dns/remote-zone.ts';
import { LocalZones, WireAnswer, type Zone } from '../../../src/dns/zone.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { inSubnet, parseIPv4 } from '../../../src/net/address.ts';

const ip = (t: string): number => parseIPv4(t) as number;
const NOW = 1_700_000_000_000;

/** Another host b with 10.0.4.0/24 and fd00:0:0:4::/64. */
const remote: RemoteNames & { stale: boolean } = {
  stale: false,
  lookup: (label) =>
    (
      ({
        web: { a: [ip('10.0.4.5')], aaaa: ['fd00:0:0:4::5'] },
        two: { a: [ip('10.0.4.6'), ip('10.0.4.7')], aaaa: [] },
        local: { a: [ip('10.0.4.8')], aaaa: [] },
      }) as Record<string, RemoteName>
    )[label],
  reverse4: (addr) => (inSubnet(addr, ip('10.0.4.0'), 24) ? (addr === ip('10.0.4.5') ? 'web' : null) : undefined),
  reverse6: (addr) => (addr.startsWith('fd00:0:0:4:') ? (addr === 'fd00:0:0:4::5' ? 'web' : null) : undefined),
  ttl() {
    return this.stale ? 1 : 5;
  },
};

function zones(): LocalZones {
  const names = new HostNames();
  names.claim('02:1a:b0:00:00:01', ip('10.0.3.100'), 'local', NOW + 3_600_000);
  let z: LocalZones | null = null;
  const soa = () => (z as LocalZones).domainSoa();
  const more: Zone[] = [new RemoteNameZone(remote, 'lxc', soa), new RemoteReverseZone(remote, 4, 'lxc', soa), new RemoteReverseZone(remote, 6, 'lxc', soa)];
  z = new LocalZones({ domain: 'lxc', serverIp: ip('10.0.3.1'), prefixLength: 24, soaTtl: 30, recordTtl: 30 }, names, () => NOW, more);
  return z;
}

const data = (a: { answers: unknown[] } | null): unknown[] => (a?.answers ?? []).map((r) => (r as { data: unknown }).data);

test("a remote name answers A (one address: the wire shape the fast path writes) and AAAA, with the view's TTL", () => {
  const z = zones();
  const wire = z.answerFor(new NameQuestion({ name: 'Web.lxc', type: 'A', class: 'IN' }), true);
  assert.ok(wire instanceof WireAnswer && wire.kind === 'address' && wire.address === ip('10.0.4.5') && wire.ttl === 5);
  assert.deepEqual(data(z.answer({ name: 'web.lxc', type: 'AAAA', class: 'IN' })), ['fd00:0:0:4::5']);
  assert.deepEqual(data(z.answer({ name: 'two.lxc', type: 'A', class: 'IN' })), ['10.0.4.6', '10.0.4.7']);
  remote.stale = true;
  const stale = z.answer({ name: 'web.lxc', type: 'A', class: 'IN' }) ?? assert.fail('no answer');
  assert.equal((stale.answers[0] as { ttl: number }).ttl, 1, 'capped while stale');
  remote.stale = false;
});

test('a local name wins over a remote one; an unknown name stays NXDOMAIN; NODATA carries the domain SOA', () => {
  const z = zones();
  assert.deepEqual(data(z.answer({ name: 'local.lxc', type: 'A', class: 'IN' })), ['10.0.3.100']);
  assert.equal(z.answer({ name: 'nosuch.lxc', type: 'A', class: 'IN' })?.rcode, Rcode.NxDomain);
  const nodata = z.answer({ name: 'two.lxc', type: 'AAAA', class: 'IN' });
  assert.equal(nodata?.rcode, Rcode.NoError);
  assert.equal(nodata?.answers.length, 0);
  assert.equal(nodata?.authorities[0]?.type, 'SOA');
});

test("PTRs of the other hosts' subnets and prefixes; trusted clients only", () => {
  const z = zones();
  assert.deepEqual(data(z.answer({ name: '5.4.0.10.in-addr.arpa', type: 'PTR', class: 'IN' })), ['web.lxc']);
  assert.equal(z.answer({ name: '9.4.0.10.in-addr.arpa', type: 'PTR', class: 'IN' })?.rcode, Rcode.NxDomain);
  assert.equal(z.answer({ name: '9.9.0.10.in-addr.arpa', type: 'PTR', class: 'IN' }), null, "nobody's subnet: not ours");
  assert.deepEqual(data(z.answer({ name: `5.${'0.'.repeat(15)}4.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa`, type: 'PTR', class: 'IN' })), ['web.lxc']);
  assert.equal(z.answerFor(new NameQuestion({ name: '5.4.0.10.in-addr.arpa', type: 'PTR', class: 'IN' }), false), 'refused');
});
