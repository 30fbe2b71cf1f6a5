/**
 * `--dns-record`s as answered by LocalZones: each type, NXDOMAIN/NODATA around them, CNAMEs followed inside our
 * zones, a container's name winning over a static one, and the fast path, UDP and TCP giving the same bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { parseDnsRecords } from '../../../src/config/dns-records.ts';
import type { Answer, Question } from '../../../src/dns/message.ts';
import { DnsServer } from '../../../src/dns/server.ts';
import { LocalZones } from '../../../src/dns/zone.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { ip } from './fixture.ts';

const FLAGS = [
  'printer,A,10.0.0.9',
  'printer,AAAA,2001:db8::9',
  'printer,TXT,model=laser',
  'www,CNAME,web',
  'docs,CNAME,printer',
  'ext,CNAME,example.org.',
  'loop1,CNAME,loop2',
  'loop2,CNAME,loop1',
  '_ipp._tcp,SRV,0 5 631 printer',
  'web,A,10.0.0.250',
  'web,TXT,static',
  'db.example.com,A,192.0.2.7',
];

function zones(): { zones: LocalZones; names: HostNames; now: number } {
  const now = Date.now();
  const names = new HostNames();
  names.claim('02:1a:b0:00:00:01', ip('10.0.0.100'), 'web', now + 3_600_000);
  const records = parseDnsRecords(FLAGS, 'lxc');
  assert.ok(records.ok);
  const zones = new LocalZones(
    { domain: 'lxc', serverIp: ip('10.0.0.1'), prefixLength: 24, soaTtl: 30, recordTtl: 30, records: records.value },
    names,
    () => now,
  );
  return { zones, names, now };
}

function ask(z: LocalZones, name: string, type: string): { rcode: number; answers: Answer[]; authorities: Answer[] } {
  const a = z.answer({ name, type, class: 'IN' } as Question);
  assert.ok(a, `${name} ${type} is ours`);
  return a;
}

const data = (answers: Answer[]): unknown[] => answers.map((r) => [r.type, (r as { data: unknown }).data]);

test('each type answers with the asked name as owner, and only the asked type', () => {
  const { zones: z } = zones();
  assert.deepEqual(data(ask(z, 'Printer.LXC', 'A').answers), [['A', '10.0.0.9']]);
  assert.equal(ask(z, 'Printer.LXC', 'A').answers[0]!.name, 'Printer.LXC');
  assert.deepEqual(data(ask(z, 'printer.lxc', 'AAAA').answers), [['AAAA', '2001:db8::9']]);
  const txt = ask(z, 'printer.lxc', 'TXT').answers;
  assert.deepEqual(
    txt.map((r) => [r.type, ((r as { data: unknown }).data as (string | Buffer)[]).map(String)]),
    [['TXT', ['model=laser']]],
  );
  assert.deepEqual(data(ask(z, '_ipp._tcp.lxc', 'SRV').answers), [['SRV', { priority: 0, weight: 5, port: 631, target: 'printer.lxc' }]]);
  assert.deepEqual(data(ask(z, 'db.example.com', 'A').answers), [['A', '192.0.2.7']]);
  assert.deepEqual(
    ask(z, 'printer.lxc', 'ANY').answers.map((r) => r.type),
    ['A', 'AAAA', 'TXT'],
  );
});

test('NODATA and NXDOMAIN around static names; the SOA only inside --domain', () => {
  const { zones: z } = zones();
  const nodata = ask(z, 'printer.lxc', 'MX');
  assert.deepEqual([nodata.rcode, nodata.answers.length, nodata.authorities.map((r) => [r.type, r.name])], [0, 0, [['SOA', 'lxc']]]);
  const ent = ask(z, '_tcp.lxc', 'SRV');
  assert.deepEqual([ent.rcode, ent.answers.length], [0, 0], 'an empty non-terminal above a SRV name: NODATA');
  assert.equal(ask(z, 'nosuch.lxc', 'A').rcode, 3);
  assert.equal(ask(z, 'x.printer.lxc', 'A').rcode, 3);
  const outside = ask(z, 'db.example.com', 'TXT');
  assert.deepEqual([outside.rcode, outside.answers.length, outside.authorities.length], [0, 0, 0]);
  assert.equal(z.answer({ name: 'other.example.com', type: 'A', class: 'IN' } as Question), null, 'not ours: forwarded');
  assert.equal(z.answer({ name: 'example.com', type: 'A', class: 'IN' } as Question), null);
});

test('a CNAME is given for every type and followed inside our zones, to static and lease names', () => {
  const { zones: z } = zones();
  assert.deepEqual(data(ask(z, 'www.lxc', 'A').answers), [
    ['CNAME', 'web.lxc'],
    ['A', '10.0.0.100'],
  ]);
  assert.deepEqual(data(ask(z, 'docs.lxc', 'AAAA').answers), [
    ['CNAME', 'printer.lxc'],
    ['AAAA', '2001:db8::9'],
  ]);
  assert.deepEqual(data(ask(z, 'www.lxc', 'CNAME').answers), [['CNAME', 'web.lxc']]);
  const toNothing = ask(z, 'docs.lxc', 'MX');
  assert.deepEqual([toNothing.rcode, data(toNothing.answers), toNothing.authorities.map((r) => r.type)], [0, [['CNAME', 'printer.lxc']], ['SOA']]);
  assert.deepEqual(data(ask(z, 'ext.lxc', 'A').answers), [['CNAME', 'example.org']], "a foreign target is the resolver's to follow");
  assert.deepEqual(
    data(ask(z, 'loop1.lxc', 'A').answers),
    [
      ['CNAME', 'loop2.lxc'],
      ['CNAME', 'loop1.lxc'],
    ],
    'a loop ends',
  );
});

test('a container holding the name wins over the static records; they answer again once it is gone', () => {
  const { zones: z, names } = zones();
  assert.deepEqual(data(ask(z, 'web.lxc', 'A').answers), [['A', '10.0.0.100']]);
  const txt = ask(z, 'web.lxc', 'TXT');
  assert.deepEqual([txt.rcode, txt.answers.length], [0, 0], "the whole name is the container's: its static TXT is hidden");
  names.removeLease('02:1a:b0:00:00:01');
  assert.deepEqual(data(ask(z, 'web.lxc', 'A').answers), [['A', '10.0.0.250']]);
  assert.equal(ask(z, 'web.lxc', 'TXT').answers.length, 1);
});

function server(z: LocalZones): DnsServer {
  return new DnsServer({
    address: ip('10.0.0.1'),
    port: 0,
    subnet: { ip: ip('10.0.0.1'), prefixLength: 24 },
    zones: z,
    recursor: null,
    log: { warn: () => undefined, debug: () => undefined },
  });
}

test('the fast path, UDP and TCP give the same answers for static records', async () => {
  const s = server(zones().zones);
  const names = [
    'printer.lxc',
    'PRINTER.lxc',
    'www.lxc',
    'docs.lxc',
    'ext.lxc',
    'loop1.lxc',
    '_ipp._tcp.lxc',
    '_tcp.lxc',
    'web.lxc',
    'db.example.com',
    'nosuch.lxc',
  ];
  for (const name of names) {
    for (const type of ['A', 'AAAA', 'TXT', 'SRV', 'CNAME', 'MX', 'ANY']) {
      const q = dnsPacket.encode({ id: 7, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' } as Question] });
      const udp = await s.handle(q, { address: '10.0.0.100', port: 1, transport: 'udp' });
      const tcp = await s.handle(q, { address: '10.0.0.100', port: 1, transport: 'tcp' });
      const fast = s.answerFast(q, '10.0.0.100');
      const general = dnsPacket.decode(udp as Buffer);
      assert.equal((general as { flag_aa: boolean }).flag_aa, true, `${name} ${type}: authoritative`);
      assert.deepEqual(dnsPacket.decode(tcp as Buffer), general, `${name} ${type}: TCP = UDP`);
      if (fast) assert.deepEqual(dnsPacket.decode(fast), general, `${name} ${type}: fast = general`);
      else assert.fail(`${name} ${type}: the fast path answers our own names`);
    }
  }
});
