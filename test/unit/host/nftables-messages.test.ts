import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { describe, it } from 'node:test';
import { NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, parseNetlinkMessages } from '../../../src/host/netlink-encoding.ts';
import { immediateVerdict, matchInterfaceName, NF_ACCEPT } from '../../../src/host/nftables-expressions.ts';
import {
  buildDeleteBatch,
  buildInstallBatch,
  encodeBatchBegin,
  encodeBatchEnd,
  encodeNewBaseChain,
  encodeNewRule,
  encodeNewTable,
  lxcDhcpdChains,
  lxcDhcpdRules,
  NF_INET_FORWARD,
  NFPROTO_IPV4,
  NFT_MSG_DELTABLE,
  NFT_MSG_NEWCHAIN,
  NFT_MSG_NEWRULE,
  NFT_MSG_NEWTABLE,
  nftablesMessageType,
  parseChainMessage,
  parseTableMessage,
  type RulesetOptions,
} from '../../../src/host/nftables-messages.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const ip = (text: string): number => parseIPv4(text) ?? assert.fail(`bad address ${text}`);
const payloadOf = (message: Buffer): Buffer => {
  const [parsed] = parseNetlinkMessages(message);
  return parsed?.payload ?? assert.fail('no message');
};
const headerOf = (message: Buffer): { type: number; flags: number; seq: number } => {
  const [parsed] = parseNetlinkMessages(message);
  if (!parsed) assert.fail('no message');
  return { type: parsed.type, flags: parsed.flags, seq: parsed.seq };
};

// Payloads (after the 16-byte netlink header) transcribed from `nft --debug=mnl` (nftables 1.0.6).
// add chain ip lxc-dhcpd forward { type filter hook forward priority 0; policy accept; }
const NFT_NEWCHAIN_FORWARD = hex(`
  02000000
  0e000100 6c78632d 64686370 64000000
  0c000300 666f7277 61726400
  0b000700 66696c74 65720000
  08000500 00000001
  14000480 08000100 00000002 08000200 00000000`);
// add rule ip lxc-dhcpd forward iifname lxbr0 accept
const NFT_NEWRULE_FORWARD_IIFNAME_ACCEPT = hex(`
  02000000
  0e000100 6c78632d 64686370 64000000
  0c000200 666f7277 61726400
  90000480
  24000180 09000100 6d657461 00000000 14000280 08000200 00000006 08000100 00000001
  38000180 08000100 636d7000 2c000280 08000100 00000001 08000200 00000000
           18000380 14000100 6c786272 30000000 00000000 00000000
  30000180 0e000100 696d6d65 64696174 65000000 1c000280 08000100 00000000
           10000280 0c000280 08000100 00000001`);

const options: RulesetOptions = { bridge: 'lxbr0', subnet: ip('10.0.0.0'), prefixLength: 24, nat: true, firewall: true };

describe('nf_tables messages', { skip: endianness() !== 'LE' && 'transcribed on a little-endian host' }, () => {
  it('NEWCHAIN for a base chain matches nft', () => {
    const message = encodeNewBaseChain(5, NFPROTO_IPV4, {
      table: 'lxc-dhcpd',
      name: 'forward',
      type: 'filter',
      hook: NF_INET_FORWARD,
      priority: 0,
      policy: NF_ACCEPT,
    });
    assert.equal(payloadOf(message).toString('hex'), NFT_NEWCHAIN_FORWARD.toString('hex'));
    assert.deepEqual(headerOf(message), { type: 0x0a03, flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, seq: 5 });
  });

  it('NEWRULE matches nft and appends', () => {
    const message = encodeNewRule(6, NFPROTO_IPV4, 'lxc-dhcpd', 'forward', [...matchInterfaceName('iifname', 'lxbr0'), immediateVerdict(NF_ACCEPT)]);
    assert.equal(payloadOf(message).toString('hex'), NFT_NEWRULE_FORWARD_IIFNAME_ACCEPT.toString('hex'));
    assert.deepEqual(headerOf(message), { type: 0x0a06, flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, seq: 6 });
  });

  it('batch begin/end name the nf_tables subsystem in res_id, big-endian', () => {
    assert.equal(encodeBatchBegin(1).toString('hex'), '14000000' + '1000' + '0100' + '01000000' + '00000000' + '0000000a');
    assert.equal(encodeBatchEnd(9).toString('hex'), '14000000' + '1100' + '0100' + '09000000' + '00000000' + '0000000a');
  });

  it('NEWTABLE carries the name and zero flags', () => {
    assert.equal(payloadOf(encodeNewTable(1, NFPROTO_IPV4, 'lxc-dhcpd')).toString('hex'), '02000000' + '0e0001006c78632d6468637064000000' + '0800020000000000');
  });
});

describe('the lxc-dhcpd ruleset', () => {
  it('lists the rules lxc-net installs, in nft syntax', () => {
    assert.deepEqual(
      lxcDhcpdRules({ ...options, uplink: 'eth0' }).map((rule) => `${rule.chain}: ${rule.text}`),
      [
        'postrouting: ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 oifname "eth0" masquerade',
        'input: iifname "lxbr0" udp dport 67 accept',
        'input: iifname "lxbr0" udp dport 53 accept',
        'input: iifname "lxbr0" tcp dport 53 accept',
        'forward: iifname "lxbr0" accept',
        'forward: oifname "lxbr0" accept',
      ],
    );
  });

  it('nat alone has only postrouting; firewall alone only input and forward', () => {
    assert.deepEqual(
      lxcDhcpdChains({ nat: true, firewall: false }).map((chain) => [chain.name, chain.type, chain.hook, chain.priority, chain.policy]),
      [['postrouting', 'nat', 4, 100, 1]],
    );
    assert.deepEqual(
      lxcDhcpdChains({ nat: false, firewall: true }).map((chain) => [chain.name, chain.type, chain.hook, chain.priority, chain.policy]),
      [
        ['input', 'filter', 1, 0, 1],
        ['forward', 'filter', 2, 0, 1],
      ],
    );
    assert.deepEqual(new Set(lxcDhcpdRules({ ...options, nat: false }).map((rule) => rule.chain)), new Set(['input', 'forward']));
    assert.deepEqual(
      lxcDhcpdRules({ ...options, firewall: false }).map((rule) => rule.chain),
      ['postrouting'],
    );
  });

  it('the install batch replaces the table atomically: begin, NEWTABLE, DELTABLE, NEWTABLE, chains, rules, end', () => {
    const batch = buildInstallBatch(options, 100);
    assert.deepEqual(
      batch.map((message) => message.seq),
      batch.map((_, index) => 100 + index),
    );
    const types = batch.map((message) => headerOf(message.bytes).type);
    const T = nftablesMessageType;
    assert.deepEqual(types, [
      0x10,
      T(NFT_MSG_NEWTABLE),
      T(NFT_MSG_DELTABLE),
      T(NFT_MSG_NEWTABLE),
      T(NFT_MSG_NEWCHAIN),
      T(NFT_MSG_NEWCHAIN),
      T(NFT_MSG_NEWCHAIN),
      T(NFT_MSG_NEWRULE),
      T(NFT_MSG_NEWRULE),
      T(NFT_MSG_NEWRULE),
      T(NFT_MSG_NEWRULE),
      T(NFT_MSG_NEWRULE),
      T(NFT_MSG_NEWRULE),
      0x11,
    ]);
    // Every table/chain/rule message asks for an ACK, so failures can be matched to their message.
    for (const message of batch.slice(1, -1)) assert.ok((headerOf(message.bytes).flags & NLM_F_ACK) !== 0, message.description);
    assert.equal(batch[7]?.description, 'NEWRULE ip lxc-dhcpd postrouting: ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 masquerade');
    // Every message names only our table (attribute 1 is the table name in table, chain and rule messages).
    for (const message of batch.slice(1, -1)) assert.equal(parseTableMessage(payloadOf(message.bytes)).name, 'lxc-dhcpd');
  });

  it('the delete batch is NEWTABLE + DELTABLE so a missing table is not an error', () => {
    const batch = buildDeleteBatch(7);
    assert.deepEqual(
      batch.map((message) => headerOf(message.bytes).type),
      [0x10, nftablesMessageType(NFT_MSG_NEWTABLE), nftablesMessageType(NFT_MSG_DELTABLE), 0x11],
    );
  });
});

describe('reading chain dumps', () => {
  it('parses family, table, name, hook, priority, policy and type', () => {
    // Docker-style chain, as a dump would return it (priority -5 to check the sign).
    const message = encodeNewBaseChain(1, NFPROTO_IPV4, { table: 'filter', name: 'FORWARD', type: 'filter', hook: NF_INET_FORWARD, priority: -5, policy: 0 });
    assert.deepEqual(parseChainMessage(payloadOf(message)), {
      family: NFPROTO_IPV4,
      table: 'filter',
      name: 'FORWARD',
      hook: NF_INET_FORWARD,
      priority: -5,
      policy: 0,
      type: 'filter',
    });
  });

  it('a regular chain has no hook or policy', () => {
    const parsed = parseChainMessage(Buffer.concat([hex('02000000'), hex('0800 0100 6e617400'), hex('0800 0300 666f6f00')]));
    assert.deepEqual(parsed, { family: 2, table: 'nat', name: 'foo' });
  });
});
