/**
 * `--bare-names` (src/dns/bare-name-zone.ts): a container's single-label name answered as NAME.lxc is, over the fast
 * path, the general path over UDP and over TCP alike; other single-label address questions NXDOMAIN to trusted
 * clients and never forwarded, REFUSED to outsiders; other zones keep their names; off, single labels are forwarded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { parseDnsRecords } from '../../../src/config/dns-records.ts';
import type { Answer, Question } from '../../../src/dns/message.ts';
import { DnsServer, type RecursionResult, type Recursor } from '../../../src/dns/server.ts';
import { LocalZones } from '../../../src/dns/zone.ts';
import { Learned6 } from '../../../src/leases/learned6.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { ip } from './fixture.ts';

const TRUSTED = '10.0.0.100';
const OUTSIDER = '192.0.2.50';
const C1_IPV6 = 'fd42:1:2:3:a8b1:22ff:fe33:4455';

/** An upstream that answers everything with 203.0.113.1 and writes down every name it was asked (cache included). */
class RecordingUpstream implements Recursor {
  readonly asked: string[] = [];
  async resolve(question: Question): Promise<RecursionResult> {
    this.asked.push(question.name);
    const answers: Answer[] = [{ type: 'A', name: question.name, ttl: 99, class: 'IN', data: '203.0.113.1' }];
    return { ok: true, rcode: 0, answers, authorities: [], additionals: [], source: 'upstream' };
  }
  cached(question: Question): RecursionResult | null {
    this.asked.push(question.name);
    return null;
  }
}

function setUp(opts: { bareNames?: boolean; records?: string[] } = {}) {
  const now = Date.now();
  const names = new HostNames();
  names.setReservations([{ mac: '02:00:00:00:00:05', ip: ip('10.0.0.5'), name: 'resv' }]);
  names.claim('02:1a:b0:00:00:01', ip('10.0.0.100'), 'web', now + 3_600_000);
  names.claim('02:1a:b0:00:00:02', ip('10.0.0.101'), 'nov6', now + 3_600_000);
  const learned = new Learned6();
  learned.seen('02:1a:b0:00:00:01', C1_IPV6);
  const records = parseDnsRecords(opts.records ?? [], 'lxc');
  assert.ok(records.ok);
  const zones = new LocalZones(
    {
      domain: 'lxc',
      serverIp: ip('10.0.0.1'),
      prefixLength: 24,
      soaTtl: 30,
      recordTtl: 30,
      records: records.value,
      ipv6: { serverIp: 'fd42:1:2:3::1', addresses: learned },
      ...(opts.bareNames === undefined ? {} : { bareNames: opts.bareNames }),
    },
    names,
    () => now,
  );
  const upstream = new RecordingUpstream();
  const server = new DnsServer({
    address: ip('10.0.0.1'),
    port: 0,
    subnet: { ip: ip('10.0.0.1'), prefixLength: 24 },
    zones,
    recursor: upstream,
    log: { warn: () => undefined, debug: () => undefined },
    hostAddresses: () => [],
  });
  return { server, upstream };
}

function query(name: string, type: string, edns = false): Buffer {
  const additionals = edns
    ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as Answer]
    : [];
  return dnsPacket.encode({ id: 0x1357, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' } as Question], additionals });
}

type Decoded = dnsPacket.Packet & { rcode?: string; flag_aa?: boolean };

/** The answer over the fast path, checked equal to the general path's over UDP and TCP. */
async function answerEverywhere(server: DnsServer, name: string, type: string, client: string, edns = false): Promise<Decoded> {
  const q = query(name, type, edns);
  const what = `${name} ${type} edns=${edns} from ${client}`;
  const udp = dnsPacket.decode((await server.handle(q, { address: client, port: 1, transport: 'udp' })) as Buffer);
  const tcp = dnsPacket.decode((await server.handle(q, { address: client, port: 1, transport: 'tcp' })) as Buffer);
  assert.deepEqual(tcp, udp, `${what}: UDP = TCP`);
  const fast = server.answerFast(q, client);
  if (fast !== null) assert.deepEqual(dnsPacket.decode(fast), udp, `${what}: fast path = UDP`);
  return udp as Decoded;
}

/** Whether `name` reached the upstream (a function: an earlier assert.deepEqual narrows the array itself). */
const forwarded = (upstream: RecordingUpstream, name: string): boolean => upstream.asked.includes(name);
const soaOwners = (d: Decoded): string[] => (d.authorities ?? []).filter((r) => r.type === 'SOA').map((r) => r.name);
const addresses = (d: Decoded, type: string): unknown[] => (d.answers ?? []).filter((r) => r.type === type).map((r) => (r as { data: unknown }).data);

test('a bare container name answers A, AAAA and ANY as NAME.lxc does, owner as asked, AA, on every path', async () => {
  const { server, upstream } = setUp({ bareNames: true });
  for (const edns of [false, true]) {
    const a = await answerEverywhere(server, 'web', 'A', TRUSTED, edns);
    assert.equal(a.rcode, 'NOERROR');
    assert.equal(a.flag_aa, true);
    assert.deepEqual(
      a.answers?.map((r) => [r.name, r.type]),
      [['web', 'A']],
    );
    assert.deepEqual(addresses(a, 'A'), ['10.0.0.100']);
    assert.ok(server.answerFast(query('web', 'A', edns), TRUSTED), 'the fast path answers it itself');
    const aaaa = await answerEverywhere(server, 'web', 'AAAA', TRUSTED, edns);
    assert.ok(server.answerFast(query('web', 'AAAA', edns), TRUSTED), 'the fast path answers AAAA itself');
    assert.deepEqual(addresses(aaaa, 'AAAA'), [C1_IPV6]);
    assert.equal(aaaa.flag_aa, true);
    const any = await answerEverywhere(server, 'web', 'ANY', TRUSTED, edns);
    assert.deepEqual(addresses(any, 'A'), ['10.0.0.100']);
    // Exactly what web.lxc gets, but for the owner name.
    const qualified = await answerEverywhere(server, 'web.lxc', 'AAAA', TRUSTED, edns);
    assert.deepEqual(
      aaaa.answers?.map((r) => ({ ...r, name: 'x' })),
      qualified.answers?.map((r) => ({ ...r, name: 'x' })),
    );
  }
  const resv = await answerEverywhere(server, 'resv', 'A', TRUSTED);
  assert.deepEqual(addresses(resv, 'A'), ['10.0.0.5'], 'a reservation is a container name too');
  assert.deepEqual(upstream.asked, [], 'nothing was forwarded');
});

test('bare names are case-insensitive and keep the case asked', async () => {
  const { server } = setUp({ bareNames: true });
  const a = await answerEverywhere(server, 'WeB', 'A', TRUSTED);
  assert.deepEqual(
    a.answers?.map((r) => r.name),
    ['WeB'],
  );
  assert.deepEqual(addresses(a, 'A'), ['10.0.0.100']);
});

test('NODATA with the domain SOA: AAAA of a name without IPv6, and other types of a container name', async () => {
  const { server, upstream } = setUp({ bareNames: true });
  for (const [name, type] of [
    ['nov6', 'AAAA'],
    ['web', 'MX'],
    ['web', 'TXT'],
  ] as const) {
    const d = await answerEverywhere(server, name, type, TRUSTED, true);
    assert.equal(d.rcode, 'NOERROR', `${name} ${type}`);
    assert.equal(d.answers?.length, 0, `${name} ${type}`);
    assert.equal(d.flag_aa, true, `${name} ${type}`);
    assert.deepEqual(soaOwners(d), ['lxc'], `${name} ${type}`);
  }
  assert.deepEqual(upstream.asked, []);
});

test('an unknown single label: NXDOMAIN with the SOA to trusted clients, never forwarded; its other types go upstream', async () => {
  const { server, upstream } = setUp({ bareNames: true });
  for (const type of ['A', 'AAAA', 'ANY']) {
    for (const name of ['nosuch', 'NoSuch', 'ns', 'localhost', 'com']) {
      const d = await answerEverywhere(server, name, type, TRUSTED, true);
      assert.ok(server.answerFast(query(name, type, true), TRUSTED), `${name} ${type}: the fast path answers it itself`);
      assert.equal(d.rcode, 'NXDOMAIN', `${name} ${type}`);
      assert.equal(d.flag_aa, true, `${name} ${type}`);
      assert.deepEqual(soaOwners(d), ['lxc'], `${name} ${type}`);
    }
  }
  assert.deepEqual(upstream.asked, [], 'no single-label address question went upstream');
  // A TLD's infrastructure (what a validating resolver asks) is not ours: forwarded as before.
  const ns = await server.handle(query('com', 'NS'), { address: TRUSTED, port: 1, transport: 'udp' });
  assert.equal((dnsPacket.decode(ns as Buffer) as Decoded).flag_aa, false);
  assert.ok(forwarded(upstream, 'com'), 'com NS was forwarded');
});

test('outsiders: a container bare name answered as NAME.lxc is, any other single label REFUSED as before', async () => {
  const { server, upstream } = setUp({ bareNames: true });
  const known = await answerEverywhere(server, 'web', 'A', OUTSIDER);
  const qualified = await answerEverywhere(server, 'web.lxc', 'A', OUTSIDER);
  assert.equal(known.rcode, qualified.rcode);
  assert.deepEqual(addresses(known, 'A'), ['10.0.0.100']);
  for (const type of ['A', 'AAAA', 'MX']) {
    const d = await answerEverywhere(server, 'nosuch', type, OUTSIDER);
    assert.equal(d.rcode, 'REFUSED', `nosuch ${type}`);
    assert.equal(d.answers?.length, 0);
  }
  assert.deepEqual(upstream.asked, []);
});

test('bare names never take a name from another zone: the apex, two-label names, a dotless static record', async () => {
  const { server, upstream } = setUp({ bareNames: true, records: ['web.,A,192.0.2.9', 'printer,A,10.0.0.9'] });
  const web = await answerEverywhere(server, 'web', 'A', TRUSTED);
  assert.deepEqual(addresses(web, 'A'), ['192.0.2.9'], 'the static record of the dotless name `web.` wins');
  const apex = await answerEverywhere(server, 'lxc', 'A', TRUSTED);
  assert.equal(apex.rcode, 'NOERROR', "the domain's apex stays the lease zone's (NODATA)");
  const printer = await answerEverywhere(server, 'printer', 'A', TRUSTED);
  assert.equal(printer.rcode, 'NXDOMAIN', 'a static record inside --domain is no container: its bare name is not ours');
  assert.deepEqual(upstream.asked, []);
  await server.handle(query('foo.bar', 'A'), { address: TRUSTED, port: 1, transport: 'udp' });
  assert.ok(forwarded(upstream, 'foo.bar'), 'a two-label name is forwarded as before');
});

test('off (the default): single labels are forwarded for trusted clients and REFUSED to outsiders, as before', async () => {
  for (const bareNames of [undefined, false]) {
    const { server, upstream } = setUp(bareNames === undefined ? {} : { bareNames });
    const d = (await answerEverywhere(server, 'web', 'A', TRUSTED)) as Decoded;
    assert.equal(d.flag_aa, false);
    assert.deepEqual(addresses(d, 'A'), ['203.0.113.1']);
    assert.ok(forwarded(upstream, 'web'));
    assert.equal((await answerEverywhere(server, 'web', 'A', OUTSIDER)).rcode, 'REFUSED');
  }
});
