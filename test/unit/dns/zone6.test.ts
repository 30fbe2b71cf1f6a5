/**
 * AAAA of container names and the /64's ip6.arpa zone, answered through Zone.answer: the fast path, the general path
 * over UDP and over TCP give the same answer for each question; who is trusted on IPv6.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { parseDnsRecords } from '../../../src/config/dns-records.ts';
import { ip6ArpaName, ip6ArpaZone } from '../../../src/dns/ip6-reverse.ts';
import type { Question } from '../../../src/dns/message.ts';
import { DnsServer } from '../../../src/dns/server.ts';
import { LocalZones } from '../../../src/dns/zone.ts';
import { Learned6 } from '../../../src/leases/learned6.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { parseIPv6 } from '../../../src/net/address6.ts';
import { ip } from './fixture.ts';

const SERVER6 = 'fd42:1:2:3::1';
const C1 = '02:1a:b0:00:00:01';
const C2 = '02:1a:b0:00:00:02';
const C1_ADDRESSES = ['fd42:1:2:3:a8b1:22ff:fe33:4455', 'fd42:1:2:3:1111:2222:3333:4444'];

function setUp(opts: { ipv6?: boolean; records?: string[] } = {}) {
  const now = Date.now();
  const names = new HostNames();
  names.claim(C1, ip('10.0.0.100'), 'one', now + 3_600_000);
  names.claim(C2, ip('10.0.0.101'), 'two', now + 3_600_000); // no IPv6
  const learned = new Learned6();
  for (const a of C1_ADDRESSES) learned.seen(C1, a);
  learned.seen('02:1a:b0:00:00:09', 'fd42:1:2:3::99'); // a MAC with no name
  const parsed = parseDnsRecords(opts.records ?? [], 'lxc');
  assert.ok(parsed.ok);
  const zones = new LocalZones(
    {
      domain: 'lxc',
      serverIp: ip('10.0.0.1'),
      prefixLength: 24,
      soaTtl: 30,
      recordTtl: 30,
      records: parsed.value,
      ...(opts.ipv6 === false ? {} : { ipv6: { serverIp: SERVER6, addresses: learned } }),
    },
    names,
    () => now,
  );
  const server = new DnsServer({
    address: ip('10.0.0.1'),
    port: 0,
    subnet: { ip: ip('10.0.0.1'), prefixLength: 24 },
    zones,
    recursor: null,
    log: { warn: () => undefined, debug: () => undefined },
    moreTrusted: ['fd42:1:2:3::/64'],
    linkLocalInterface: 'br0',
    hostAddresses: () => [],
  });
  return { server, zones, learned, names };
}

function query(name: string, type: string): Buffer {
  return dnsPacket.encode({ id: 0x1357, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' } as Question] });
}

interface DecodedRecord {
  type: string;
  name: string;
  data?: unknown;
}
interface Decoded {
  rcode?: string;
  flag_aa?: boolean;
  answers?: DecodedRecord[];
  authorities?: DecodedRecord[];
  additionals?: DecodedRecord[];
}
const decode = (b: Buffer): Decoded => dnsPacket.decode(b) as unknown as Decoded;

/** The answer by every entry point, asserted equal; the fast path may decline (then the general path answers). */
async function ask(server: DnsServer, name: string, type: string, client = 'fd42:1:2:3::abc'): Promise<Decoded> {
  const q = query(name, type);
  const udp = (await server.handle(q, { address: client, port: 1, transport: 'udp' })) as Buffer;
  const tcp = (await server.handle(q, { address: client, port: 1, transport: 'tcp' })) as Buffer;
  const fast = server.answerFast(q, client);
  const decoded = decode(udp);
  assert.deepEqual(decode(tcp), decoded, `${name} ${type}: TCP = UDP`);
  if (fast !== null) assert.deepEqual(decode(fast), decoded, `${name} ${type}: fast path = general path`);
  return decoded;
}

const ptrName = (address: string): string => ip6ArpaName(parseIPv6(address) as Buffer);
const ZONE6 = ip6ArpaZone(parseIPv6(SERVER6) as Buffer);

test('the ip6.arpa zone of the /64 is in nibble format (RFC 3596 §2.5)', () => {
  assert.equal(ZONE6, '3.0.0.0.2.0.0.0.1.0.0.0.2.4.d.f.ip6.arpa');
  assert.equal(ptrName('fd42:1:2:3::1'), `1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.${ZONE6}`);
  assert.equal(setUp().zones.reverseZone6, ZONE6);
  assert.equal(setUp({ ipv6: false }).zones.reverseZone6, null);
});

test('NAME AAAA answers every address the container uses, with AA; A is unchanged', async () => {
  const { server } = setUp();
  const r = await ask(server, 'one.lxc', 'AAAA');
  assert.equal(r.rcode, 'NOERROR');
  assert.equal(r.flag_aa, true);
  assert.deepEqual(
    r.answers?.map((a) => [a.type, a.name, a.data]),
    C1_ADDRESSES.map((a) => ['AAAA', 'one.lxc', a]),
  );
  const a = await ask(server, 'One.LXC', 'A');
  assert.deepEqual(
    a.answers?.map((x) => [x.name, x.data]),
    [['One.LXC', '10.0.0.100']],
  );
  const ns = await ask(server, 'ns.lxc', 'AAAA');
  assert.deepEqual(
    ns.answers?.map((x) => x.data),
    [SERVER6],
  );
});

test('a name without IPv6 addresses, and every name without IPv6 configured, answers AAAA with NODATA + SOA', async () => {
  const cases: [DnsServer, string][] = [
    [setUp().server, 'two.lxc'],
    [setUp({ ipv6: false }).server, 'two.lxc'],
    [setUp({ ipv6: false }).server, 'one.lxc'],
  ];
  for (const [server, name] of cases) {
    const r = await ask(server, name, 'AAAA');
    assert.equal(r.rcode, 'NOERROR', name);
    assert.equal(r.flag_aa, true, name);
    assert.equal(r.answers?.length, 0, name);
    assert.equal(r.authorities?.[0]?.type, 'SOA', name);
  }
  const missing = await ask(setUp().server, 'nosuch.lxc', 'AAAA');
  assert.equal(missing.rcode, 'NXDOMAIN');
  assert.equal(missing.authorities?.[0]?.type, 'SOA');
});

test('addresses learned later answer at once, and the SOA serial moves with them', async () => {
  const { server, learned } = setUp();
  const serial = async (): Promise<number> => {
    const soa = (await ask(server, 'lxc', 'SOA')).answers?.[0];
    const data = soa?.data as { serial: number } | undefined;
    assert.ok(data !== undefined);
    return data.serial;
  };
  const before = await serial();
  learned.seen(C2, 'fd42:1:2:3::202');
  assert.deepEqual(
    (await ask(server, 'two.lxc', 'AAAA')).answers?.map((a) => a.data),
    ['fd42:1:2:3::202'],
  );
  assert.notEqual(await serial(), before);
  learned.failed('fd42:1:2:3::202');
  assert.equal((await ask(server, 'two.lxc', 'AAAA')).answers?.length, 0);
});

test('a static --dns-record AAAA never overrides a container name, and answers a free name', async () => {
  const { server } = setUp({ records: ['two.lxc,AAAA,2001:db8::2', 'printer.lxc,AAAA,2001:db8::9'] });
  assert.equal((await ask(server, 'two.lxc', 'AAAA')).answers?.length, 0);
  assert.deepEqual(
    (await ask(server, 'printer.lxc', 'AAAA')).answers?.map((a) => a.data),
    ['2001:db8::9'],
  );
});

test('PTR of a known address is its MAC name; the server address is ns; unknown ones NXDOMAIN with SOA', async () => {
  const { server } = setUp();
  for (const address of C1_ADDRESSES) {
    const r = await ask(server, ptrName(address), 'PTR');
    assert.equal(r.flag_aa, true);
    assert.deepEqual(
      r.answers?.map((a) => [a.type, a.data]),
      [['PTR', 'one.lxc']],
    );
  }
  assert.deepEqual(
    (await ask(server, ptrName(SERVER6), 'PTR')).answers?.map((a) => a.data),
    ['ns.lxc'],
  );
  for (const address of ['fd42:1:2:3::77', 'fd42:1:2:3::99']) {
    const r = await ask(server, ptrName(address), 'PTR');
    assert.equal(r.rcode, 'NXDOMAIN', `${address}: unknown, or known but nameless`);
    assert.equal(r.authorities?.[0]?.type, 'SOA');
    assert.equal(r.authorities?.[0]?.name, ZONE6);
  }
  const aaaaOfPtrName = await ask(server, ptrName(C1_ADDRESSES[0] as string), 'AAAA');
  assert.equal(aaaaOfPtrName.rcode, 'NOERROR');
  assert.equal(aaaaOfPtrName.answers?.length, 0, 'NODATA for another type');
});

test('inside the ip6.arpa zone: apex SOA/NS, empty non-terminals NODATA, junk NXDOMAIN; outside it not ours', async () => {
  const { server } = setUp();
  const soa = await ask(server, ZONE6, 'SOA');
  assert.equal(soa.answers?.[0]?.type, 'SOA');
  const ns = await ask(server, ZONE6, 'NS');
  assert.deepEqual(
    ns.answers?.map((a) => a.data),
    ['ns.lxc'],
  );
  assert.deepEqual(ns.additionals?.map((a) => a.type).sort(), ['A', 'AAAA']);
  const between = await ask(server, `0.0.0.0.${ZONE6}`, 'PTR');
  assert.equal(between.rcode, 'NOERROR');
  assert.equal(between.answers?.length, 0);
  for (const junk of [`x.${ZONE6}`, `10.0.0.0.${ZONE6}`, `0.${ptrName(SERVER6)}`]) {
    const r = await ask(server, junk, 'PTR');
    assert.equal(r.rcode, 'NXDOMAIN', junk);
    assert.equal(r.authorities?.[0]?.name, ZONE6);
  }
  const other = await ask(server, ptrName('fd42:1:2:4::1'), 'PTR');
  assert.equal(other.rcode, 'REFUSED', 'another /64 is not ours (no forwarder here)');
});

test('IPv6 trust: the /64 and link-local sources on the bridge are trusted; others are outsiders', async () => {
  const { server } = setUp();
  assert.equal(server.mayRecurse('fd42:1:2:3::abc'), true);
  assert.equal(server.mayRecurse('fe80::1%br0'), true);
  assert.equal(server.mayRecurse('fe80::1%eth0'), false, 'link-local from another interface');
  assert.equal(server.mayRecurse('fd42:1:2:4::abc'), false);
  assert.equal(server.mayRecurse('2001:db8::1'), false);
  assert.equal(server.mayRecurse('10.0.0.7'), true);
  const outsider = await ask(server, ptrName(C1_ADDRESSES[0] as string), 'PTR', '2001:db8::1');
  assert.equal(outsider.rcode, 'REFUSED', 'the reverse zone is for trusted clients only');
  const name = await ask(server, 'one.lxc', 'AAAA', '2001:db8::1');
  assert.equal(name.answers?.length, 2, 'names are answered to everyone, as on IPv4');
});

test('HostNames.nameOfMac: reservation first, and only while the name leads back to the MAC', () => {
  const names = new HostNames();
  const now = Date.now();
  names.claim(C1, ip('10.0.0.100'), 'one', now + 1000);
  assert.equal(names.nameOfMac(C1)?.name, 'one');
  names.setReservations([{ mac: C2, ip: ip('10.0.0.5'), name: 'one' }]);
  assert.equal(names.nameOfMac(C1), undefined, 'a reservation took the name');
  assert.equal(names.nameOfMac(C2)?.name, 'one');
  assert.equal(names.nameOfMac('02:00:00:00:00:99'), undefined);
});
