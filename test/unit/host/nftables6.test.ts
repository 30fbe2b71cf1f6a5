import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { describe, it } from 'node:test';
import { parseNetlinkMessages } from '../../../src/host/netlink-encoding.ts';
import {
  immediateVerdict,
  matchCtStateEstablishedRelated,
  matchIcmpv6Type,
  matchInterfaceName,
  matchIpv6Prefix64,
  NF_ACCEPT,
  NFT_CMP_EQ,
} from '../../../src/host/nftables-expressions.ts';
import {
  buildDeleteBatch,
  buildTableBatch,
  encodeNewRule,
  NF_INET_FORWARD,
  NF_INET_LOCAL_IN,
  NF_INET_POST_ROUTING,
  NFPROTO_IPV6,
} from '../../../src/host/nftables-messages.ts';
import { lxcDhcpdChains6, lxcDhcpdRules6, type Ruleset6Options } from '../../../src/host/nftables6.ts';
import { parseIPv6 } from '../../../src/net/address6.ts';

const hex = (text: string): string => text.replace(/\s+/g, '');
const payloadOf = (message: Buffer): Buffer => parseNetlinkMessages(message)[0]?.payload ?? assert.fail('no message');
const prefix = parseIPv6('fd12:3456:789a::') ?? assert.fail('bad prefix');

// NEWRULE payloads transcribed from `nft --debug=mnl add rule ip6 lxc-dhcpd ...` (nftables 1.0.6).
// forward oifname "lxbr0" ct state established,related accept
const NFT_FORWARD_ESTABLISHED = hex(`
  0a000000 0e000100 6c78632d 64686370 64000000 0c000200 666f7277 61726400
  20010480
  24000180 09000100 6d657461 00000000 14000280 08000200 00000007 08000100 00000001
  38000180 08000100 636d7000 2c000280 08000100 00000001 08000200 00000000
           18000380 14000100 6c786272 30000000 00000000 00000000
  20000180 07000100 63740000 14000280 08000200 00000000 08000100 00000001
  44000180 0c000100 62697477 69736500 34000280 08000100 00000001 08000200 00000001 08000300 00000004
           0c000480 08000100 06000000 0c000580 08000100 00000000
  2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000001 0c000380 08000100 00000000
  30000180 0e000100 696d6d65 64696174 65000000 1c000280 08000100 00000000 10000280 0c000280 08000100 00000001`);
// input iifname "lxbr0" icmpv6 type nd-router-solicit accept
const NFT_INPUT_ROUTER_SOLICIT = hex(`
  0a000000 0e000100 6c78632d 64686370 64000000 0a000200 696e7075 74000000
  40010480
  24000180 09000100 6d657461 00000000 14000280 08000200 00000006 08000100 00000001
  38000180 08000100 636d7000 2c000280 08000100 00000001 08000200 00000000
           18000380 14000100 6c786272 30000000 00000000 00000000
  24000180 09000100 6d657461 00000000 14000280 08000200 00000010 08000100 00000001
  2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000000 0c000380 05000100 3a000000
  34000180 0c000100 7061796c 6f616400 24000280 08000100 00000001 08000200 00000002 08000300 00000000 08000400 00000001
  2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000000 0c000380 05000100 85000000
  30000180 0e000100 696d6d65 64696174 65000000 1c000280 08000100 00000000 10000280 0c000280 08000100 00000001`);

const options: Ruleset6Options = { bridge: 'lxbr0', prefix, nat6: true, firewall: true };

describe('the ip6 lxc-dhcpd rules, byte for byte against nft', { skip: endianness() !== 'LE' && 'transcribed on a little-endian host' }, () => {
  it('ct state established,related (conntrack state bits in host order)', () => {
    const message = encodeNewRule(1, NFPROTO_IPV6, 'lxc-dhcpd', 'forward', [
      ...matchInterfaceName('oifname', 'lxbr0'),
      ...matchCtStateEstablishedRelated(),
      immediateVerdict(NF_ACCEPT),
    ]);
    assert.equal(payloadOf(message).toString('hex'), NFT_FORWARD_ESTABLISHED);
  });

  it('icmpv6 type nd-router-solicit', () => {
    const message = encodeNewRule(1, NFPROTO_IPV6, 'lxc-dhcpd', 'input', [
      ...matchInterfaceName('iifname', 'lxbr0'),
      ...matchIcmpv6Type(133),
      immediateVerdict(NF_ACCEPT),
    ]);
    assert.equal(payloadOf(message).toString('hex'), NFT_INPUT_ROUTER_SOLICIT);
  });

  it('the rules the daemon installs contain those same expressions', () => {
    const rules = lxcDhcpdRules6(options);
    const established = rules.find((r) => r.text === 'oifname "lxbr0" ct state established,related accept') ?? assert.fail('no established rule');
    assert.equal(payloadOf(encodeNewRule(1, NFPROTO_IPV6, 'lxc-dhcpd', 'forward', established.expressions)).toString('hex'), NFT_FORWARD_ESTABLISHED);
  });
});

describe('the ip6 lxc-dhcpd ruleset', () => {
  it('ip6 saddr PREFIX/64 loads 8 bytes at offset 8 of the IPv6 header', () => {
    const [load, compare] = matchIpv6Prefix64('saddr', NFT_CMP_EQ, prefix);
    assert.ok(load?.includes(Buffer.from(hex('08000300 00000008 08000400 00000008'), 'hex')), 'offset 8, length 8');
    assert.ok(compare?.includes(Buffer.from('fd123456789a0000', 'hex')), 'the first 8 bytes of the prefix');
  });

  it('has NAT66, ND/MLD, DHCPv6 and DNS input, and forwarding to and from the bridge, in that order', () => {
    assert.deepEqual(
      lxcDhcpdRules6(options).map((r) => `${r.chain}: ${r.text}`),
      [
        'postrouting: ip6 saddr fd12:3456:789a::/64 oifname != "lxbr0" masquerade',
        'input: iifname "lxbr0" icmpv6 type nd-router-solicit accept',
        'input: iifname "lxbr0" icmpv6 type nd-router-advert accept',
        'input: iifname "lxbr0" icmpv6 type nd-neighbor-solicit accept',
        'input: iifname "lxbr0" icmpv6 type nd-neighbor-advert accept',
        'input: iifname "lxbr0" icmpv6 type mld-listener-query accept',
        'input: iifname "lxbr0" icmpv6 type mld-listener-report accept',
        'input: iifname "lxbr0" icmpv6 type mld-listener-done accept',
        'input: iifname "lxbr0" icmpv6 type mld2-listener-report accept',
        'input: iifname "lxbr0" udp dport 547 accept',
        'input: iifname "lxbr0" udp dport 53 accept',
        'input: iifname "lxbr0" tcp dport 53 accept',
        'forward: iifname "lxbr0" accept',
        'forward: oifname "lxbr0" ct state established,related accept',
      ],
    );
  });

  it('masquerades only out of --uplink when given; no NAT66 rule or chain without nat6', () => {
    assert.equal(lxcDhcpdRules6({ ...options, uplink: 'wan0' })[0]?.text, 'ip6 saddr fd12:3456:789a::/64 oifname "wan0" masquerade');
    assert.ok(lxcDhcpdRules6({ ...options, nat6: false }).every((r) => r.chain !== 'postrouting'));
    assert.deepEqual(
      lxcDhcpdChains6({ nat6: false, firewall: true }).map((c) => [c.name, c.hook]),
      [
        ['input', NF_INET_LOCAL_IN],
        ['forward', NF_INET_FORWARD],
      ],
    );
    assert.deepEqual(
      lxcDhcpdChains6({ nat6: true, firewall: false }).map((c) => [c.name, c.type, c.hook, c.priority]),
      [['postrouting', 'nat', NF_INET_POST_ROUTING, 100]],
    );
  });

  it('the install and delete batches are for the ip6 family only (the ip table is left alone)', () => {
    const batch = buildTableBatch(NFPROTO_IPV6, lxcDhcpdChains6(options), lxcDhcpdRules6(options), 10);
    assert.equal(batch.length, 2 + 3 + 3 + 14);
    assert.match(batch[1]?.description ?? '', /^NEWTABLE ip6 lxc-dhcpd/);
    for (const message of batch.slice(1, -1)) assert.equal(payloadOf(message.bytes)[0], NFPROTO_IPV6, message.description);
    const deletion = buildDeleteBatch(50, NFPROTO_IPV6);
    assert.equal(deletion[2]?.description, 'DELTABLE ip6 lxc-dhcpd');
    assert.equal(payloadOf(deletion[2]?.bytes ?? Buffer.alloc(0))[0], NFPROTO_IPV6);
  });
});
