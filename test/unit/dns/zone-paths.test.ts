/**
 * One answer path: a zone answers the parsed question view (question.ts) once, and the UDP fast path, the general
 * path over UDP and the general path over TCP all send what it returned. Shown with a zone the server has never seen,
 * fed by a record source the way a static-records zone would be, with record kinds the built-in zones do not have.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { parseDnsRecords, type StaticRecord } from '../../../src/config/dns-records.ts';
import { QueryReader } from '../../../src/dns/fast-path.ts';
import type { Answer, Question } from '../../../src/dns/message.ts';
import { NameQuestion, type ZoneApex, type ZoneQuestion, zoneApex } from '../../../src/dns/question.ts';
import { DnsServer, type RecursionResult, type Recursor } from '../../../src/dns/server.ts';
import { Type, typeNumber } from '../../../src/dns/vocabulary.ts';
import { wireName } from '../../../src/dns/wire-name.ts';
import { type LocalAnswer, LocalZones, WireAnswer, type Zone, type ZoneAnswer } from '../../../src/dns/zone.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { ip } from './fixture.ts';

/** Records by lower-case owner name: what a zone is told, by whoever keeps them. */
type RecordSource = ReadonlyMap<string, readonly Answer[]>;

const SOA: Answer = {
  type: 'SOA',
  name: 'home.arpa',
  ttl: 30,
  class: 'IN',
  data: { mname: 'ns.lxc', rname: 'hostmaster.lxc', serial: 1, refresh: 14_400, retry: 3_600, expire: 1_209_600, minimum: 30 },
};

/** A zone answering from a record source: A records as wire answers, every other kind as record objects. */
class RecordSourceZone implements Zone {
  readonly apex: ZoneApex = zoneApex('home.arpa', wireName('home.arpa'));
  readonly trustedOnly = false;
  private readonly wire = new WireAnswer();
  constructor(private readonly source: RecordSource) {}

  answer(q: ZoneQuestion): ZoneAnswer | null {
    if (q.belowApex(this.apex) < 0) return null;
    const records = this.source.get(q.lowerName());
    if (records === undefined) return this.negative(3);
    const asked = q.askedName();
    const matching = records.filter((r) => q.type === Type.ANY || typeNumber(r.type) === q.type);
    if (matching.length === 0) return this.negative(0);
    if (matching.length === 1 && matching[0]!.type === 'A') {
      const [a, b, c, d] = String(matching[0]!.data).split('.').map(Number);
      Object.assign(this.wire, { kind: 'address', rcode: 0, address: ((a! << 24) | (b! << 16) | (c! << 8) | d!) >>> 0, ttl: matching[0]!.ttl });
      return this.wire;
    }
    const answers = matching.map((r) => ({ ...r, name: asked }) as Answer);
    return { rcode: 0, answers, authorities: [], additionals: [] } satisfies LocalAnswer;
  }

  private negative(rcode: number): LocalAnswer {
    return { rcode, answers: [], authorities: [SOA], additionals: [] };
  }
}

const SOURCE: RecordSource = new Map<string, Answer[]>([
  ['printer.home.arpa', [{ type: 'A', name: 'printer.home.arpa', ttl: 60, class: 'IN', data: '10.0.0.9' }]],
  [
    'svc.home.arpa',
    [
      { type: 'TXT', name: 'svc.home.arpa', ttl: 60, class: 'IN', data: ['v=1 hello'] },
      { type: 'AAAA', name: 'svc.home.arpa', ttl: 60, class: 'IN', data: '2001:db8::9' },
      { type: 'SRV', name: 'svc.home.arpa', ttl: 60, class: 'IN', data: { priority: 1, weight: 5, port: 8080, target: 'printer.home.arpa' } },
      { type: 'A', name: 'svc.home.arpa', ttl: 60, class: 'IN', data: '10.0.0.10' },
    ],
  ],
  ['alias.home.arpa', [{ type: 'CNAME', name: 'alias.home.arpa', ttl: 60, class: 'IN', data: 'printer.home.arpa' }]],
]);

/** A cache holding an upstream answer for every name: it must never win over a zone's own name. */
class EverythingCached implements Recursor {
  async resolve(): Promise<RecursionResult> {
    return this.result();
  }
  cached(): RecursionResult | null {
    return this.result();
  }
  private result(): RecursionResult {
    return {
      ok: true,
      rcode: 0,
      answers: [{ type: 'A', name: 'printer.home.arpa', ttl: 99, class: 'IN', data: '203.0.113.1' }],
      authorities: [],
      additionals: [],
      source: 'cache',
    };
  }
}

function makeServer(zones: readonly Zone[], records: readonly StaticRecord[] = []): DnsServer {
  const now = Date.now();
  const names = new HostNames();
  names.claim('02:1a:b0:00:00:01', ip('10.0.0.100'), 'test', now + 3_600_000);
  const config = { domain: 'lxc', serverIp: ip('10.0.0.1'), prefixLength: 24, soaTtl: 30, recordTtl: 30, records };
  const local = new LocalZones(config, names, () => now, zones);
  return new DnsServer({
    address: ip('10.0.0.1'),
    port: 0,
    subnet: { ip: ip('10.0.0.1'), prefixLength: 24 },
    zones: local,
    recursor: new EverythingCached(),
    log: { warn: () => undefined, debug: () => undefined },
  });
}

function query(name: string, type: string, edns = false): Buffer {
  const additionals = edns
    ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as Answer]
    : [];
  return dnsPacket.encode({ id: 0x2468, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' } as Question], additionals });
}

const NAMES = ['printer.home.arpa', 'Printer.Home.Arpa', 'svc.home.arpa', 'alias.home.arpa', 'nosuch.home.arpa', 'a.b.home.arpa'];
const TYPES = ['A', 'AAAA', 'TXT', 'SRV', 'CNAME', 'MX', 'ANY'];

test('a new zone with new record kinds answers the same over the fast path, UDP and TCP, and wins over the cache', async () => {
  const s = makeServer([new RecordSourceZone(SOURCE)]);
  for (const name of NAMES) {
    for (const type of TYPES) {
      for (const edns of [false, true]) {
        const q = query(name, type, edns);
        const what = `${name} ${type} edns=${edns}`;
        const fast = s.answerFast(q, '10.0.0.100');
        assert.ok(fast, `${what}: the fast path answers from the zone`);
        const udp = await s.handle(q, { address: '10.0.0.100', port: 1, transport: 'udp' });
        const tcp = await s.handle(q, { address: '10.0.0.100', port: 1, transport: 'tcp' });
        const decoded = dnsPacket.decode(fast);
        assert.deepEqual(decoded, dnsPacket.decode(udp as Buffer), `${what}: fast = general over UDP`);
        assert.deepEqual(decoded, dnsPacket.decode(tcp as Buffer), `${what}: fast = general over TCP`);
        assert.equal((decoded as { flag_aa: boolean }).flag_aa, true, `${what}: authoritative, not the cache's`);
        assert.ok(!decoded.answers?.some((r) => r.type === 'A' && r.data === '203.0.113.1'), `${what}: nothing from the cache`);
      }
    }
  }
  const svc = dnsPacket.decode(s.answerFast(query('svc.home.arpa', 'ANY'), '10.0.0.100') as Buffer);
  assert.deepEqual(
    svc.answers?.map((r) => r.type),
    ['TXT', 'AAAA', 'SRV', 'A'],
  );
  assert.equal((dnsPacket.decode(s.answerFast(query('nosuch.home.arpa', 'TXT'), '10.0.0.100') as Buffer) as { rcode?: string }).rcode, 'NXDOMAIN');
});

test('--dns-record names answer the same over the fast path, UDP and TCP, and win over the cache', async () => {
  const records = parseDnsRecords(
    [
      'printer,A,10.0.0.9',
      'printer,AAAA,2001:db8::9',
      'printer,TXT,hi',
      'alias,CNAME,test',
      '_ipp._tcp,SRV,0 5 631 printer',
      'db.example.com,A,192.0.2.7',
      'test,TXT,hidden',
    ],
    'lxc',
  );
  assert.ok(records.ok);
  const s = makeServer([], records.value);
  for (const name of ['printer.lxc', 'Alias.lxc', '_ipp._tcp.lxc', '_tcp.lxc', 'test.lxc', 'db.example.com', 'nosuch.lxc']) {
    for (const type of TYPES) {
      const q = query(name, type, true);
      const fast = s.answerFast(q, '10.0.0.100');
      assert.ok(fast, `${name} ${type}: the fast path answers from the zones`);
      const decoded = dnsPacket.decode(fast);
      assert.deepEqual(decoded, dnsPacket.decode((await s.handle(q, { address: '10.0.0.100', port: 1, transport: 'udp' })) as Buffer), `${name} ${type}: UDP`);
      assert.deepEqual(decoded, dnsPacket.decode((await s.handle(q, { address: '10.0.0.100', port: 1, transport: 'tcp' })) as Buffer), `${name} ${type}: TCP`);
      assert.equal((decoded as { flag_aa: boolean }).flag_aa, true, `${name} ${type}: authoritative, not the cache's`);
    }
  }
  const test = dnsPacket.decode(s.answerFast(query('test.lxc', 'TXT'), '10.0.0.100') as Buffer);
  assert.equal(test.answers?.length, 0, "a container's name is its own: the static TXT of that name is hidden");
});

test("without the zone the same questions are the cache's (the comparison above can fail)", () => {
  const s = makeServer([]);
  const fast = s.answerFast(query('printer.home.arpa', 'A'), '10.0.0.100');
  assert.ok(fast);
  const decoded = dnsPacket.decode(fast);
  assert.equal((decoded as { flag_aa: boolean }).flag_aa, false);
  assert.equal((decoded.answers?.[0] as { data?: unknown } | undefined)?.data, '203.0.113.1');
});

test('the two views of a question (bytes and decoded) tell a zone the same things', () => {
  const apexes = [
    zoneApex('lxc', wireName('lxc')),
    zoneApex('0.0.10.in-addr.arpa', wireName('0.0.10.in-addr.arpa')),
    zoneApex('home.arpa', wireName('home.arpa')),
  ];
  const reader = new QueryReader();
  for (const name of ['Test.LXC', 'lxc', 'a.b.lxc', 'xlxc', '5.0.0.10.in-addr.ARPA', 'example.com', 'svc.Home.arpa', 'home.arpa']) {
    for (const type of ['A', 'PTR', 'ANY', 'TXT']) {
      const q = query(name, type);
      assert.ok(reader.read(q, 0, q.length), name);
      const decoded = new NameQuestion({ name, type, class: 'IN' } as Question);
      assert.equal(reader.type, decoded.type, `${name} ${type}: type`);
      assert.equal(reader.askedName(), decoded.askedName(), `${name}: asked name`);
      assert.equal(reader.lowerName(), decoded.lowerName(), `${name}: lower-case name`);
      assert.equal(reader.lowerLabelAt(0), decoded.lowerLabelAt(0), `${name}: first label`);
      for (const apex of apexes) assert.equal(reader.belowApex(apex), decoded.belowApex(apex), `${name} below ${apex.name}`);
    }
  }
});
