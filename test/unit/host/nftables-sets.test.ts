import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { describe, it } from 'node:test';
import { NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, parseNetlinkMessages } from '../../../src/host/netlink-encoding.ts';
import { immediateVerdict, matchIpv4InSet, NF_ACCEPT } from '../../../src/host/nftables-expressions.ts';
import { encodeInsertRule, NFPROTO_IPV4 } from '../../../src/host/nftables-messages.ts';
import {
  buildClusterSetBatch,
  buildPeerSetBatch,
  CLUSTER_PEERS_SET,
  clusterRuleTexts,
  encodeFlushSet,
  encodeNewIntervalSet,
  encodeSetElements,
  intervalElements,
} from '../../../src/host/nftables-sets.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const hex = (text: string): string => text.replace(/\s+/g, '');
const ip = (text: string): number => parseIPv4(text) ?? assert.fail(`bad address ${text}`);
const parsed = (message: Buffer): { type: number; flags: number; payload: string } => {
  const [first] = parseNetlinkMessages(message);
  if (!first) assert.fail('no message');
  return { type: first.type, flags: first.flags, payload: first.payload.toString('hex') };
};

// Payloads (after the 16-byte netlink header) transcribed from `nft --debug=mnl` (nftables 1.0.6, x86-64).
// add set ip lxc-dhcpd cluster_peers { type ipv4_addr; flags interval; }
const NFT_NEWSET = hex(`02000000 0e000100 6c78632d 64686370 64000000 12000200 636c7573 7465725f 70656572 73000000
  08000300 00000004 08000400 00000007 08000500 00000004 08000a00 00000001 0a000d00 00040200 00000000`);
// insert rule ip lxc-dhcpd postrouting ip daddr @cluster_peers accept
const NFT_INSERT_LOOKUP_RULE = hex(`02000000 0e000100 6c78632d 64686370 64000000 10000200 706f7374 726f7574 696e6700
  a0000480 34000180 0c000100 7061796c 6f616400 24000280 08000100 00000001 08000200 00000001 08000300 00000010
  08000400 00000004 38000180 0b000100 6c6f6f6b 75700000 28000280 08000200 00000001 12000100 636c7573 7465725f
  70656572 73000000 08000400 00000001 30000180 0e000100 696d6d65 64696174 65000000 1c000280 08000100 00000000
  10000280 0c000280 08000100 00000001`);
// add element ip lxc-dhcpd cluster_peers { 10.41.0.0/24, 10.50.0.0/16 }
const NFT_NEWSETELEM = hex(`02000000 0e000100 6c78632d 64686370 64000000 12000200 636c7573 7465725f 70656572 73000000
  08000400 00000001 6c000380 18000180 08000300 00000001 0c000180 08000100 00000000 10000280 0c000180 08000100
  0a290000 18000380 08000300 00000001 0c000180 08000100 0a290100 10000480 0c000180 08000100 0a320000 18000580
  08000300 00000001 0c000180 08000100 0a330000`);
// flush set ip lxc-dhcpd cluster_peers
const NFT_FLUSH = hex('02000000 12000200 636c7573 7465725f 70656572 73000000 0e000100 6c78632d 64686370 64000000');

describe('cluster set messages match nft', { skip: endianness() !== 'LE' && 'transcribed on a little-endian host' }, () => {
  it('NEWSET: an ipv4_addr interval set with nft userdata', () => {
    const message = parsed(encodeNewIntervalSet(7, CLUSTER_PEERS_SET));
    assert.equal(message.payload, NFT_NEWSET);
    assert.equal(message.type, 0x0a09);
    assert.equal(message.flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK);
  });

  it('the lookup rule, inserted at the head (no NLM_F_APPEND)', () => {
    const message = parsed(
      encodeInsertRule(8, NFPROTO_IPV4, 'lxc-dhcpd', 'postrouting', [...matchIpv4InSet('daddr', CLUSTER_PEERS_SET, 1), immediateVerdict(NF_ACCEPT)]),
    );
    assert.equal(message.payload, NFT_INSERT_LOOKUP_RULE);
    assert.equal(message.flags & NLM_F_APPEND, 0);
  });

  it('NEWSETELEM: two prefixes as intervals, with the leading 0.0.0.0 end element', () => {
    const elements = intervalElements([
      { network: ip('10.50.0.0'), prefixLength: 16 },
      { network: ip('10.41.0.0'), prefixLength: 24 },
    ]);
    assert.equal(parsed(encodeSetElements(9, CLUSTER_PEERS_SET, elements, 1)).payload, NFT_NEWSETELEM);
  });

  it('flush: DELSETELEM without elements', () => {
    const message = parsed(encodeFlushSet(10, CLUSTER_PEERS_SET));
    assert.equal(message.payload, NFT_FLUSH);
    assert.equal(message.type, 0x0a0e);
  });
});

describe('interval elements', () => {
  it('adjacent prefixes keep both ends; host bits are masked; a prefix up to the top has no end', () => {
    const elements = intervalElements([
      { network: ip('10.41.1.7'), prefixLength: 24 },
      { network: ip('10.41.0.0'), prefixLength: 24 },
      { network: ip('240.0.0.0'), prefixLength: 4 },
    ]);
    assert.deepEqual(elements, [
      { key: 0, end: true },
      { key: ip('10.41.0.0'), end: false },
      { key: ip('10.41.1.0'), end: true },
      { key: ip('10.41.1.0'), end: false },
      { key: ip('10.41.2.0'), end: true },
      { key: ip('240.0.0.0'), end: false },
    ]);
  });

  it('no prefixes: no elements', () => {
    assert.deepEqual(intervalElements([]), []);
  });
});

describe('cluster batches', () => {
  const kinds = (batch: { description: string }[]): string[] => batch.map((m) => m.description.split(' ')[0] ?? '');

  it('creation: the set, then one rule per existing chain, in one batch', () => {
    const batch = buildClusterSetBatch('br0', { postrouting: true, forward: true }, 100);
    assert.deepEqual(kinds(batch), ['BATCH_BEGIN', 'NEWSET', 'NEWRULE', 'NEWRULE', 'BATCH_END']);
    assert.deepEqual(
      batch.map((m) => m.seq),
      [100, 101, 102, 103, 104],
    );
    assert.deepEqual(kinds(buildClusterSetBatch('br0', { postrouting: false, forward: true }, 1)), ['BATCH_BEGIN', 'NEWSET', 'NEWRULE', 'BATCH_END']);
    assert.deepEqual(clusterRuleTexts('br0', { postrouting: true, forward: true }), [
      'postrouting: ip daddr @cluster_peers accept',
      'forward: ip saddr @cluster_peers oifname "br0" accept',
    ]);
  });

  it('replacing the peers: flush then add, atomically; no peers is a flush alone', () => {
    const batch = buildPeerSetBatch([{ network: ip('10.42.0.0'), prefixLength: 24 }], 1);
    assert.deepEqual(kinds(batch), ['BATCH_BEGIN', 'DELSETELEM', 'NEWSETELEM', 'BATCH_END']);
    assert.match(batch[2]?.description ?? '', /\{ 10\.42\.0\.0\/24 \}/);
    assert.deepEqual(kinds(buildPeerSetBatch([], 1)), ['BATCH_BEGIN', 'DELSETELEM', 'BATCH_END']);
  });
});
