import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_DNSMASQ_CONF_BYTES, MAX_DNSMASQ_LINE_LENGTH, parseDnsmasqConf } from '../../../src/config/dnsmasq-conf.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const ip = (t: string) => parseIPv4(t) as number;
const FILE = '/etc/lxc/dnsmasq.conf';

// What LXC users put in LXC_DHCP_CONFILE: reservations by container name (LXC makes a random MAC per container),
// a few by MAC, records for services, upstreams, and a line copied from a dnsmasq howto we cannot serve.
const LXC_CONF = `# /etc/lxc/dnsmasq.conf
dhcp-host=mail1,10.0.3.100
dhcp-host=web,10.0.3.101
dhcp-host = 00:16:3E:12:34:56 , 10.0.3.50 , db   # the database
dhcp-host=00:16:3e:aa:bb:cc,10.0.3.51,[fd00:3::51],cache,12h
dhcp-host=00:16:3e:00:00:01,00:16:3e:00:00:02,10.0.3.52
domain=lxc
local=/lxc/
no-resolv
server=192.0.2.53
server=2001:db8::53#5353
host-record=printer,10.0.3.9,fd00:3::9
cname=www,web
txt-record=_token,"v=spf1 a, -all",second
srv-host=_http._tcp,web,8080,1,5
address=/nas/10.0.3.10
dhcp-option=option:router,0.0.0.0
dhcp-option=121,192.168.10.0/24,10.0.3.200,0.0.0.0/0,10.0.3.1
dhcp-lease-max=200
no-ping
dhcp-boot=pxelinux.0
log-queries
`;

test('a realistic LXC_DHCP_CONFILE maps onto reservations, records, upstreams and routes', () => {
  const r = parseDnsmasqConf(LXC_CONF, FILE, 'ignored');
  assert.ok(r.ok, r.ok ? '' : r.error);
  const s = r.value;
  assert.deepEqual(s.nameReservations, [
    { name: 'mail1', ip: ip('10.0.3.100') },
    { name: 'web', ip: ip('10.0.3.101') },
  ]);
  assert.deepEqual(s.reservations, [
    { mac: '00:16:3e:12:34:56', ip: ip('10.0.3.50'), name: 'db' },
    { mac: '00:16:3e:aa:bb:cc', ip: ip('10.0.3.51'), name: 'cache', ip6: 'fd00:3::51' },
    { mac: '00:16:3e:00:00:01', ip: ip('10.0.3.52'), name: null },
  ]);
  assert.equal(s.domain, 'lxc');
  assert.equal(s.noResolv, true);
  assert.equal(s.ping, false);
  assert.equal(s.leaseMax, 200);
  assert.equal(s.range, null);
  assert.deepEqual(s.upstreams, [
    { address: '192.0.2.53', port: 53, family: 4 },
    { address: '2001:db8::53', port: 5353, family: 6 },
  ]);
  assert.deepEqual(s.routes, [{ destination: ip('192.168.10.0'), prefixLength: 24, gateway: ip('10.0.3.200') }]);
  assert.deepEqual(s.records, [
    { name: 'printer.lxc', type: 'A', data: '10.0.3.9' },
    { name: 'printer.lxc', type: 'AAAA', data: 'fd00:3::9' },
    { name: 'www.lxc', type: 'CNAME', data: 'web.lxc' },
    { name: '_token.lxc', type: 'TXT', data: ['v=spf1 a, -all'] },
    { name: '_token.lxc', type: 'TXT', data: ['second'] },
    { name: '_http._tcp.lxc', type: 'SRV', data: { priority: 1, weight: 5, port: 8080, target: 'web.lxc' } },
    { name: 'nas.lxc', type: 'A', data: '10.0.3.10' },
  ]);
  assert.deepEqual(
    s.unsupported.map((u) => [u.line, u.option]),
    [
      [5, 'dhcp-host'],
      [6, 'dhcp-host'],
      [16, 'address'],
      [21, 'dhcp-boot'],
      [22, 'log-queries'],
    ],
  );
  assert.match(s.unsupported[0]?.reason as string, /per-host lease time/);
  assert.match(s.unsupported[1]?.reason as string, /reserved for 00:16:3e:00:00:01 only/);
  assert.deepEqual(s.unsupported[3], { file: FILE, line: 21, option: 'dhcp-boot', reason: 'not an option lxc-dhcpd reads' });
});

test("lxc-net's own dnsmasq arguments copied into a conf file are listed with what lxc-dhcpd does instead", () => {
  const r = parseDnsmasqConf('interface=lxcbr0\nbind-interfaces\ndhcp-authoritative\nstrict-order\n', FILE, 'lxc');
  assert.ok(r.ok);
  assert.deepEqual(
    r.value.unsupported.map((u) => `${u.line} ${u.reason}`),
    ['1 lxc-dhcpd serves only its --bridge', '2 lxc-dhcpd serves only its --bridge', '3 always on in lxc-dhcpd', '4 not an option lxc-dhcpd reads'],
  );
});

test('the domain comes from the caller when the file sets none, and records follow it', () => {
  const r = parseDnsmasqConf('host-record=printer,10.0.3.9\ndhcp-range=10.0.3.2,10.0.3.254,255.255.255.0,30m\n', FILE, 'example');
  assert.ok(r.ok);
  assert.deepEqual(r.value.records, [{ name: 'printer.example', type: 'A', data: '10.0.3.9' }]);
  assert.deepEqual(r.value.range, { first: ip('10.0.3.2'), last: ip('10.0.3.254'), netmask: ip('255.255.255.0'), leaseSeconds: 1800 });
  const option15 = parseDnsmasqConf('dhcp-option=15,corp\ncname=a,b\n', FILE, 'lxc');
  assert.ok(option15.ok);
  assert.equal(option15.value.domain, 'corp');
  assert.deepEqual(option15.value.records, [{ name: 'a.corp', type: 'CNAME', data: 'b.corp' }]);
});

test('what lxc-dhcpd cannot serve is listed once each with file, line and reason, never dropped', () => {
  const text = [
    'dhcp-host=id:01:02:03:04:05:06:07,10.0.3.60',
    'dhcp-host=00:16:3e:00:00:09,ignore',
    'dhcp-host=set:red,00:16:3e:00:00:0a,10.0.3.61',
    'dhcp-host=00:16:3e:*:*:*,ignore',
    'dhcp-host=lonely',
    'dhcp-range=::,ra-only',
    'dhcp-range=10.0.3.2,10.0.3.254',
    'dhcp-range=10.0.3.2,10.0.3.254',
    'dhcp-option=option:router,10.0.3.254',
    'dhcp-option=6,1.1.1.1',
    'dhcp-option=42,0.0.0.0',
    'dhcp-option=26,1400',
    'dhcp-option=tag:red,3,10.0.3.1',
    'dhcp-option=option:tftp-server,x',
    'dhcp-option=119,lxc,example.com',
    'server=/corp/192.0.2.1',
    'server=192.0.2.1@eth0',
    'local=/3.0.10.in-addr.arpa/',
    'address=/#/10.0.3.1',
    'conf-file=/etc/dnsmasq.d/more.conf',
    'conf-dir=/etc/dnsmasq.d',
    'dhcp-option=option:router,0.0.0.0',
    'dhcp-option=6,0.0.0.0',
    'dhcp-option=119,lxc',
    'dhcp-host=00:16:3e:00:00:0b,id:*,10.0.3.62',
    'host-record=ttl,10.0.3.70,300',
  ].join('\n');
  const r = parseDnsmasqConf(text, FILE, 'lxc');
  assert.ok(r.ok, r.ok ? '' : r.error);
  const lines = r.value.unsupported.map((u) => u.line);
  assert.deepEqual(lines, [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 26]);
  const reasonOf = (line: number) => r.value.unsupported.find((u) => u.line === line)?.reason ?? '';
  assert.match(reasonOf(1), /client id/);
  assert.match(reasonOf(2), /no per-host ignore/);
  assert.match(reasonOf(9), /bridge address as router/);
  assert.match(reasonOf(15), /search list lxc,example.com/);
  assert.match(reasonOf(18), /local domain 3.0.10.in-addr.arpa/);
  assert.match(reasonOf(20), /included files are not read/);
  assert.match(reasonOf(26), /TTL 300/);
  assert.deepEqual(r.value.reservations, [{ mac: '00:16:3e:00:00:0b', ip: ip('10.0.3.62'), name: null }], 'id:* is what we do anyway');
  assert.deepEqual(r.value.records, [{ name: 'ttl.lxc', type: 'A', data: '10.0.3.70' }]);
});

test('a wrong value is one error naming file and line', () => {
  const cases: [string, RegExp][] = [
    ['dhcp-host=00:16:3e:00:00:01,10.0.3.300', /10.0.3.300 is not an IPv4 address/],
    ['dhcp-host=00:16:3e:00:00:01,10.0.3.5,we b', /is not a MAC, address/],
    ['dhcp-host=01:00:5e:00:00:01,10.0.3.5', /multicast/],
    ['dhcp-host=web,10.0.3.5,10.0.3.6', /two IPv4 addresses/],
    ['dhcp-host=web,db,10.0.3.5', /two host names/],
    ['dhcp-host=00:16:3e:00:00:01,10.0.3.5,[fe80::1]', /not a unicast address/],
    ['dhcp-range=10.0.3.9,10.0.3.2', /put the lower address first/],
    ['dhcp-range=10.0.3.2,10.0.3.254,forever', /is not FIRST,LAST/],
    ['dhcp-option=3,router.lxc', /takes IPv4 addresses/],
    ['dhcp-option=121,10.1.0.0/16', /pairs/],
    ['dhcp-option=121,10.1.0.1/16,10.0.3.1', /host bits set/],
    ['dhcp-lease-max=many', /is not a number of leases/],
    ['domain=not_a_domain', /is not a domain name/],
    ['server=dns.example.com', /is not an upstream/],
    ['server=192.0.2.1#99999', /port/],
    ['host-record=printer', /is not NAME/],
    ['host-record=printer,10.0.3.999', /is not an IPv4 address/],
    ['cname=www', /is not ALIAS/],
    ['no-ping=yes', /takes no value/],
    ['address=nas,10.0.3.1', /is not \/NAME\/ADDRESS/],
  ];
  for (const [line, pattern] of cases) {
    const r = parseDnsmasqConf(`# conf\n${line}\n`, FILE, 'lxc');
    assert.equal(r.ok, false, line);
    const error = (r as { error: string }).error;
    assert.ok(error.startsWith(`${FILE}:2: `), `${line}: ${error}`);
    assert.match(error, pattern, line);
  }
});

test('conflicts between lines are errors naming the file', () => {
  const twice = parseDnsmasqConf('dhcp-host=web,10.0.3.5\ndhcp-host=web,10.0.3.6\n', FILE, 'lxc');
  assert.match((twice as { error: string }).error, /^\/etc\/lxc\/dnsmasq.conf: name web is reserved twice/);
  const sameIp = parseDnsmasqConf('dhcp-host=00:16:3e:00:00:01,10.0.3.5\ndhcp-host=web,10.0.3.5\n', FILE, 'lxc');
  assert.match((sameIp as { error: string }).error, /IP 10.0.3.5 is reserved twice/);
  const macTwice = parseDnsmasqConf('dhcp-host=00:16:3e:00:00:01,10.0.3.5\ndhcp-host=00:16:3e:00:00:01,10.0.3.6\n', FILE, 'lxc');
  assert.match((macTwice as { error: string }).error, /MAC 00:16:3e:00:00:01 is reserved twice/);
  const cname = parseDnsmasqConf('host-record=www,10.0.3.5\ncname=www,web\n', FILE, 'lxc');
  assert.match((cname as { error: string }).error, /^\/etc\/lxc\/dnsmasq.conf:2: www.lxc has other records: a CNAME cannot share/);
  const cnameFirst = parseDnsmasqConf('# c\ncname=www,web\nhost-record=www,10.0.3.5\n', FILE, 'lxc');
  assert.match((cnameFirst as { error: string }).error, /^\/etc\/lxc\/dnsmasq.conf:3: www.lxc has a CNAME \(line 2\)/);
});

test('comments, quotes and whitespace are read as dnsmasq reads them', () => {
  const r = parseDnsmasqConf('  # indented comment\r\ntxt-record=t,"a # not a comment","quote \\" and \\\\"  # comment\nserver=192.0.2.1#53#x\n', FILE, 'lxc');
  assert.equal(r.ok, false, 'a # without whitespace before it is part of the value');
  const ok = parseDnsmasqConf('  # indented comment\r\ntxt-record=t,"a # not a comment","quote \\" and \\\\"  # comment\r\n', FILE, 'lxc');
  assert.ok(ok.ok, ok.ok ? '' : ok.error);
  assert.deepEqual(ok.value.records, [
    { name: 't.lxc', type: 'TXT', data: ['a # not a comment'] },
    { name: 't.lxc', type: 'TXT', data: ['quote " and \\'] },
  ]);
  const open = parseDnsmasqConf('txt-record=t,"open\n', FILE, 'lxc');
  assert.match((open as { error: string }).error, /:1: .*unclosed quote/);
});

test('hostile files: size, NUL bytes and very long lines are bounded errors', () => {
  const huge = parseDnsmasqConf(`#${'x'.repeat(MAX_DNSMASQ_CONF_BYTES)}\n`, FILE, 'lxc');
  assert.match((huge as { error: string }).error, /larger than 1048576 bytes/);
  const nul = parseDnsmasqConf('no-ping\ndhcp-host=web\0,10.0.3.5\n', FILE, 'lxc');
  assert.match((nul as { error: string }).error, /^\/etc\/lxc\/dnsmasq.conf:2: contains a NUL byte/);
  const long = parseDnsmasqConf(`txt-record=t,${'a'.repeat(MAX_DNSMASQ_LINE_LENGTH)}\n`, FILE, 'lxc');
  assert.match((long as { error: string }).error, /:1: longer than 4096 characters/);
  const tooLongTxt = parseDnsmasqConf(`txt-record=t,${'a'.repeat(2000)}\n`, FILE, 'lxc');
  assert.match((tooLongTxt as { error: string }).error, /:1: .*longer than 1024 bytes/);
  const many = Array.from({ length: 5000 }, (_, i) => `dhcp-host=c${i},10.${(i >> 8) & 255}.${i & 255}.9`).join('\n');
  const r = parseDnsmasqConf(many, FILE, 'lxc');
  assert.ok(r.ok, 'five thousand name reservations are read');
  assert.equal(r.value.nameReservations.length, 5000);
});
