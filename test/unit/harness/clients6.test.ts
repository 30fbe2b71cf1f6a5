/**
 * The pure parts of the IPv6 harness (test/harness/clients6.ts): rdisc6 output read field by field, tcpdump -vv packets
 * classified with their checksum verdicts, and the capture check failing on bad checksums, on packets tcpdump gave no
 * verdict for and on captures that saw too little. The texts are what dnsmasq 2.90 and the clients printed on this
 * machine (ipv6-peer-dnsmasq.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTcpdumpVerbose } from '../../harness/capture.ts';
import {
  assertChecksumsGood6,
  checkChecksums6,
  classify6,
  inPrefix6,
  ipv6Groups,
  lease6FromEvent,
  parseRdisc6,
  randomUlaPrefix,
} from '../../harness/clients6.ts';

const RDISC6 = `Soliciting ff02::2 (ff02::2) on eth0...

Hop limit                 :           64 (      0x40)
Stateful address conf.    :          Yes
Stateful other conf.      :          Yes
Mobile home agent         :           No
Router preference         :       medium
Neighbor discovery proxy  :           No
Router lifetime           :         1800 (0x00000708) seconds
Reachable time            :  unspecified (0x00000000)
Retransmit time           :  unspecified (0x00000000)
 Prefix                   : fd00:db8:1::/64
  On-link                 :          Yes
  Autonomous address conf.:           No
  Valid time              :         3600 (0x00000e10) seconds
  Pref. time              :     infinite (0xffffffff)
 MTU                      :         1500 bytes (valid)
 Source link-layer address: FA:57:BC:0C:D8:9E
 DNS search list          : lxc 
  DNS search list lifetime:         3600 (0x00000e10) seconds
 Recursive DNS server     : fe80::f857:bcff:fe0c:d89e
  DNS server lifetime     :         3600 (0x00000e10) seconds
 from fe80::f857:bcff:fe0c:d89e
`;

const RA_OK = `15:33:18.862683 IP6 (class 0xc0, flowlabel 0x2b992, hlim 255, next-header ICMPv6 (58) payload length: 88) fe80::f857:bcff:fe0c:d89e > fe80::1a:b0ff:fe00:1: [icmp6 sum ok] ICMP6, router advertisement, length 88
	hop limit 64, Flags [managed, other stateful], pref medium, router lifetime 1800s, reachable time 0ms, retrans timer 0ms
	  prefix info option (3), length 32 (4): fd00:db8:1::/64, Flags [onlink], valid time 3600s, pref. time 3600s`;
const RS = `15:33:18.862269 IP6 (flowlabel 0xa0799, hlim 255, next-header ICMPv6 (58) payload length: 8) fe80::1a:b0ff:fe00:1 > ff02::2: [icmp6 sum ok] ICMP6, router solicitation, length 8`;
const SOLICIT = `15:33:19.606273 IP6 (flowlabel 0x8f50a, hlim 1, next-header UDP (17) payload length: 60) fe80::1a:b0ff:fe00:1.546 > ff02::1:2.547: [bad udp cksum 0xacef -> 0x9b4f!] dhcp6 solicit (xid=136b9c (elapsed-time 0))`;
const ADVERTISE_BAD = `15:33:19.606611 IP6 (class 0xc0, flowlabel 0x5b4f1, hlim 64, next-header UDP (17) payload length: 130) fe80::f857:bcff:fe0c:d89e.547 > fe80::1a:b0ff:fe00:1.546: [bad udp cksum 0x38b4 -> 0x5822!] dhcp6 advertise (xid=136b9c (IA_NA IAID:2952790017 T1:1800 T2:3150 (IA_ADDR fd00:db8:1::113 pltime:3600 vltime:3600)))`;
const REPLY_OK = `15:33:20.698125 IP6 (class 0xc0, flowlabel 0x5b4f1, hlim 64, next-header UDP (17) payload length: 125) fe80::f857:bcff:fe0c:d89e.547 > fe80::1a:b0ff:fe00:1.546: [udp sum ok] dhcp6 reply (xid=5dccf5 (status-code Success))`;
const REPLY_NO_VERDICT = `15:33:21.000000 IP6 (hlim 64, next-header UDP (17) payload length: 125) fe80::f857:bcff:fe0c:d89e.547 > fe80::1a:b0ff:fe00:1.546: dhcp6 reply (xid=5dccf6)`;

const packets = (...texts: string[]) => parseTcpdumpVerbose(texts.join('\n'));

describe('parseRdisc6', () => {
  it('reads flags, lifetimes, prefix, MTU, RDNSS and DNSSL', () => {
    const [ra] = parseRdisc6(RDISC6);
    assert.ok(ra);
    assert.deepEqual(
      { hop: ra.hopLimit, m: ra.managed, o: ra.other, pref: ra.preference, life: ra.routerLifetime, mtu: ra.mtu },
      { hop: 64, m: true, o: true, pref: 'medium', life: 1800, mtu: 1500 },
    );
    assert.deepEqual(ra.prefixes, [{ prefix: 'fd00:db8:1::/64', onLink: true, autonomous: false, validLifetime: 3600, preferredLifetime: 0xffffffff }]);
    assert.deepEqual([ra.rdnss, ra.rdnssLifetime, ra.dnssl, ra.dnsslLifetime], [['fe80::f857:bcff:fe0c:d89e'], 3600, ['lxc'], 3600]);
    assert.equal(ra.sourceLinkLayer, 'fa:57:bc:0c:d8:9e');
    assert.equal(ra.from, 'fe80::f857:bcff:fe0c:d89e');
  });

  it('gives nothing without a "from" line, and leaves absent options empty', () => {
    assert.deepEqual(parseRdisc6('Soliciting ff02::2 (ff02::2) on eth0...\n'), []);
    const [bare] = parseRdisc6('Stateful other conf.      :          Yes\nRouter lifetime           :            0 (0x00000000) seconds\n from fe80::1\n');
    assert.deepEqual([bare?.other, bare?.routerLifetime, bare?.rdnss, bare?.dnssl, bare?.mtu, bare?.prefixes], [true, 0, [], [], null, []]);
  });
});

describe('classify6 and the capture check', () => {
  it('classifies RA, RS, DHCPv6 from client and from server, with their checksum verdicts', () => {
    const kinds = packets(RA_OK, RS, SOLICIT, ADVERTISE_BAD, REPLY_OK, REPLY_NO_VERDICT).map(classify6);
    assert.deepEqual(
      kinds.map((p) => [p.kind, p.checksum, p.dhcp6Type]),
      [
        ['ra', 'ok', null],
        ['rs', 'ok', null],
        ['dhcp6-client', 'bad', 'solicit'],
        ['dhcp6-server', 'bad', 'advertise'],
        ['dhcp6-server', 'ok', 'reply'],
        ['dhcp6-server', 'none', 'reply'],
      ],
    );
    assert.deepEqual([kinds[0]?.source, kinds[0]?.destination], ['fe80::f857:bcff:fe0c:d89e', 'fe80::1a:b0ff:fe00:1']);
    assert.deepEqual([kinds[3]?.source, kinds[3]?.destination], ['fe80::f857:bcff:fe0c:d89e', 'fe80::1a:b0ff:fe00:1']);
  });

  it('passes good RAs and replies, ignoring what clients sent', () => {
    const result = assertChecksumsGood6(packets(RS, RA_OK, SOLICIT, REPLY_OK));
    assert.deepEqual(result.counts, { ra: 1, 'dhcp6-server': 1 });
  });

  it('fails on a bad reply checksum, on a reply without verdict, and on too few packets', () => {
    assert.throws(() => assertChecksumsGood6(packets(RA_OK, ADVERTISE_BAD, REPLY_OK)), /bad checksum: .*dhcp6|bad checksum: 15:33:19\.606611/);
    assert.throws(() => assertChecksumsGood6(packets(RA_OK, REPLY_NO_VERDICT)), /no checksum verdict/);
    assert.throws(() => assertChecksumsGood6(packets(RA_OK)), /0 dhcp6-server packet\(s\) captured, want at least 1/);
    assert.throws(() => assertChecksumsGood6([]), /0 ra packet\(s\)/);
    assert.throws(() => assertChecksumsGood6(packets(RA_OK, REPLY_OK), { ra: 1, 'dhcp6-server': 2 }), /1 dhcp6-server packet\(s\) captured, want at least 2/);
    assert.equal(checkChecksums6(packets(RA_OK, ADVERTISE_BAD), ['ra']).bad.length, 0, 'only the kinds asked for are judged');
  });
});

describe('addresses and leases', () => {
  it('expands, tests prefixes and makes RFC 5952 ULA prefixes', () => {
    assert.deepEqual(ipv6Groups('fd00:db8:1::113'), [0xfd00, 0xdb8, 1, 0, 0, 0, 0, 0x113]);
    assert.ok(inPrefix6('fd00:db8:1:0:1a:b0ff:fe00:1', 'fd00:db8:1::/64'));
    assert.ok(!inPrefix6('fd00:db8:2::1', 'fd00:db8:1::/64'));
    for (let i = 0; i < 50; i++) {
      const ula = randomUlaPrefix();
      assert.match(ula.prefix, /^fd[0-9a-f]{2}:(?:[1-9a-f][0-9a-f]{0,3}|0):(?:[1-9a-f][0-9a-f]{0,3}|0):1::\/64$/, ula.prefix);
      assert.ok(inPrefix6(ula.bridgeAddress, ula.prefix));
    }
  });

  it('reads each client hook environment into one lease shape (domain names without the trailing dot)', () => {
    const dhclient = lease6FromEvent('dhclient6', {
      name: 'BOUND6',
      env: { new_ip6_address: 'fd00::113', new_dhcp6_name_servers: 'fd00::1', new_dhcp6_domain_search: 'lxc. example.org.', new_max_life: '3600' },
    });
    assert.deepEqual([dhclient.address, dhclient.dns, dhclient.domainSearch, dhclient.validLifetime], ['fd00::113', ['fd00::1'], ['lxc', 'example.org'], 3600]);
    const stateless = lease6FromEvent('dhclient6', { name: 'RENEW6', env: { new_dhcp6_name_servers: 'fd00::1' } });
    assert.deepEqual([stateless.address, stateless.validLifetime], [null, null]);
    const dhcpcd = lease6FromEvent('dhcpcd6', { name: 'BOUND6', env: { new_dhcp6_ia_na1_ia_addr1: 'fd00::1b4', new_dhcp6_ia_na1_ia_addr1_vltime: '600' } });
    assert.deepEqual([dhcpcd.address, dhcpcd.validLifetime], ['fd00::1b4', 600]);
    const udhcpc6 = lease6FromEvent('udhcpc6', { name: 'bound', env: { ipv6: 'fd00::5', dns: 'fd00::1', search: 'lxc', lease: '600' } });
    assert.deepEqual([udhcpc6.address, udhcpc6.dns, udhcpc6.domainSearch, udhcpc6.validLifetime], ['fd00::5', ['fd00::1'], ['lxc'], 600]);
  });
});
