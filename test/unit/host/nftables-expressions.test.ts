// Expected bytes were transcribed from `nft --debug=mnl add rule ...` (nftables 1.0.6) run in a scratch
// network namespace: our encoders must produce exactly what nft itself sends for the same match.

import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { describe, it } from 'node:test';
import {
  IPPROTO_TCP,
  IPPROTO_UDP,
  immediateVerdict,
  interfaceNameBytes,
  masquerade,
  matchDestinationPort,
  matchInterfaceName,
  matchIpv4Prefix,
  NF_ACCEPT,
  NFT_CMP_EQ,
  NFT_CMP_NEQ,
} from '../../../src/host/nftables-expressions.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const concat = (buffers: Buffer[]): string => Buffer.concat(buffers).toString('hex');
const ip = (text: string): number => parseIPv4(text) ?? assert.fail(`bad address ${text}`);

// `iifname lxbr0 accept`
const NFT_META_IIFNAME = hex(`
  24000180 09000100 6d657461 00000000 14000280 08000200 00000006 08000100 00000001`);
const NFT_CMP_EQ_LXBR0 = hex(`
  38000180 08000100 636d7000 2c000280 08000100 00000001 08000200 00000000
  18000380 14000100 6c786272 30000000 00000000 00000000`);
const NFT_IMMEDIATE_ACCEPT = hex(`
  30000180 0e000100 696d6d65 64696174 65000000 1c000280 08000100 00000000
  10000280 0c000280 08000100 00000001`);
// `ip saddr 10.0.0.0/23` (payload 4 bytes + bitwise + cmp)
const NFT_SADDR_SLASH23 = hex(`
  34000180 0c000100 7061796c 6f616400 24000280 08000100 00000001 08000200 00000001
           08000300 0000000c 08000400 00000004
  44000180 0c000100 62697477 69736500 34000280 08000100 00000001 08000200 00000001
           08000300 00000004 0c000480 08000100 fffffe00 0c000580 08000100 00000000
  2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000000
           0c000380 08000100 0a000000`);
// `ip daddr != 10.0.0.0/24` (payload 3 bytes + cmp neq)
const NFT_DADDR_NOT_SLASH24 = hex(`
  34000180 0c000100 7061796c 6f616400 24000280 08000100 00000001 08000200 00000001
           08000300 00000010 08000400 00000003
  2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000001
           0c000380 07000100 0a000000`);
const NFT_MASQ = hex('14000180 09000100 6d617371 00000000 04000280');

describe('nf_tables expressions, byte for byte against nft', { skip: endianness() !== 'LE' && 'transcribed on a little-endian host' }, () => {
  it('iifname "lxbr0" = meta load iifname + cmp of 16 NUL-padded bytes', () => {
    assert.equal(concat(matchInterfaceName('iifname', 'lxbr0')), concat([NFT_META_IIFNAME, NFT_CMP_EQ_LXBR0]));
  });

  it('oifname uses meta key 7', () => {
    const [meta] = matchInterfaceName('oifname', 'lxbr0');
    assert.equal(meta?.toString('hex'), NFT_META_IIFNAME.toString('hex').replace('0800020000000006', '0800020000000007'));
  });

  it('accept verdict', () => {
    assert.equal(immediateVerdict(NF_ACCEPT).toString('hex'), NFT_IMMEDIATE_ACCEPT.toString('hex'));
  });

  it('a prefix that is not byte aligned loads 4 bytes and masks them', () => {
    assert.equal(concat(matchIpv4Prefix('saddr', NFT_CMP_EQ, ip('10.0.0.0'), 23)), NFT_SADDR_SLASH23.toString('hex'));
  });

  it('a byte-aligned prefix loads only the prefix bytes, compared with neq', () => {
    assert.equal(concat(matchIpv4Prefix('daddr', NFT_CMP_NEQ, ip('10.0.0.0'), 24)), NFT_DADDR_NOT_SLASH24.toString('hex'));
  });

  it('host bits of the network are cleared before comparing', () => {
    assert.equal(concat(matchIpv4Prefix('daddr', NFT_CMP_NEQ, ip('10.0.0.1'), 24)), NFT_DADDR_NOT_SLASH24.toString('hex'));
  });

  it('masq carries an empty data attribute', () => {
    assert.equal(masquerade().toString('hex'), NFT_MASQ.toString('hex'));
  });
});

describe('destination port matches', () => {
  it('check meta l4proto, then load 2 bytes at transport offset 2 and compare big-endian', () => {
    const [meta, protocol, payload, port] = matchDestinationPort(IPPROTO_UDP, 67);
    assert.ok(meta?.includes(hex('0800020000000010'))); // NFTA_META_KEY = NFT_META_L4PROTO (16)
    assert.ok(protocol?.includes(hex('0500010011000000'))); // NFTA_DATA_VALUE, 1 byte: 17
    assert.ok(payload?.includes(hex('0800020000000002 0800030000000002 0800040000000002'))); // transport, +2, 2 bytes
    assert.ok(port?.includes(hex('0600010000430000'))); // NFTA_DATA_VALUE, 2 bytes: 0x0043
    const [, tcp, , dns] = matchDestinationPort(IPPROTO_TCP, 53);
    assert.ok(tcp?.includes(hex('0500010006000000')));
    assert.ok(dns?.includes(hex('0600010000350000')));
  });

  it('rejects ports outside 0-65535', () => {
    assert.throws(() => matchDestinationPort(IPPROTO_UDP, 65536), /port 65536/);
  });
});

describe('argument checks', () => {
  it('interface names are 1-15 bytes', () => {
    assert.equal(interfaceNameBytes('br0').toString('hex'), '62723000000000000000000000000000');
    assert.throws(() => interfaceNameBytes(''), /1 to 15 bytes/);
    assert.throws(() => interfaceNameBytes('a-very-long-name'), /1 to 15 bytes/);
  });

  it('prefix lengths are 1-32; /32 loads 4 bytes without a bitwise', () => {
    assert.throws(() => matchIpv4Prefix('saddr', NFT_CMP_EQ, 0, 0), /prefix length 0/);
    assert.throws(() => matchIpv4Prefix('saddr', NFT_CMP_EQ, 0, 33), /prefix length 33/);
    assert.equal(matchIpv4Prefix('saddr', NFT_CMP_EQ, ip('10.0.0.5'), 32).length, 2);
  });
});
