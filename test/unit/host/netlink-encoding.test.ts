import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { describe, it } from 'node:test';
import {
  alignTo4,
  decodeStringAttribute,
  encodeAttribute,
  encodeNestedAttribute,
  encodeNetlinkMessage,
  encodeNfgenHeader,
  encodeStringAttribute,
  encodeU32BeAttribute,
  NLA_F_NESTED,
  NLMSG_ERROR,
  parseAttributes,
  parseNetlinkError,
  parseNetlinkMessages,
  parseNfgenHeader,
} from '../../../src/host/netlink-encoding.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// Netlink headers are host order; these expectations are written for little-endian hosts (x86, arm64).
const littleEndian = endianness() === 'LE';

describe('netlink attributes', { skip: !littleEndian && 'expected bytes are little-endian' }, () => {
  it('aligns lengths to 4', () => {
    assert.deepEqual([0, 1, 3, 4, 5, 8].map(alignTo4), [0, 4, 4, 4, 8, 8]);
  });

  it('pads the payload but counts only header + payload in the length', () => {
    assert.deepEqual(encodeAttribute(7, Buffer.from([0xaa, 0xbb, 0xcc])), hex('0700 0700 aabbcc 00'));
  });

  it('encodes a string with its NUL and padding', () => {
    assert.deepEqual(encodeStringAttribute(1, 'lxc-dhcpd'), hex('0e00 0100 6c78632d6468637064 00 0000'));
  });

  it('encodes u32 values big-endian', () => {
    assert.deepEqual(encodeU32BeAttribute(5, 1), hex('0800 0500 00000001'));
  });

  it('sets NLA_F_NESTED on nested attributes and sums the children', () => {
    const nested = encodeNestedAttribute(4, [encodeU32BeAttribute(1, 2), encodeU32BeAttribute(2, 0)]);
    assert.deepEqual(nested, hex('1400 0480 0800 0100 00000002 0800 0200 00000000'));
  });

  it('parses what it encodes, stripping flag bits from the type', () => {
    const stream = Buffer.concat([encodeStringAttribute(3, 'forward'), encodeNestedAttribute(4, [encodeU32BeAttribute(1, 9)])]);
    const attributes = parseAttributes(stream);
    assert.equal(decodeStringAttribute(attributes.get(3) ?? Buffer.alloc(0)), 'forward');
    assert.deepEqual(attributes.get(4), hex('0800 0100 00000009'));
    assert.equal(attributes.has(4 | NLA_F_NESTED), false);
  });

  it('rejects an attribute running past the end', () => {
    assert.throws(() => parseAttributes(hex('0c00 0100 aabbccdd')), /malformed netlink attribute/);
  });
});

describe('netlink messages', { skip: !littleEndian && 'expected bytes are little-endian' }, () => {
  it('writes the 16-byte header in host order', () => {
    const message = encodeNetlinkMessage({ type: 0x0a03, flags: 0x0405, seq: 7, payload: hex('02000000') });
    assert.deepEqual(message, hex('14000000 030a 0504 07000000 00000000 02000000'));
  });

  it('splits a datagram holding several messages', () => {
    const first = encodeNetlinkMessage({ type: 2, flags: 0, seq: 1, portId: 9, payload: hex('aabbcc') });
    const second = encodeNetlinkMessage({ type: 3, flags: 2, seq: 2, payload: hex('') });
    const parsed = parseNetlinkMessages(Buffer.concat([first, second]));
    assert.equal(parsed.length, 2);
    assert.deepEqual(
      parsed.map((m) => [m.type, m.flags, m.seq, m.portId, m.payload.toString('hex')]),
      [
        [2, 0, 1, 9, 'aabbcc'],
        [3, 2, 2, 0, ''],
      ],
    );
  });

  it('rejects a truncated message', () => {
    assert.throws(() => parseNetlinkMessages(hex('40000000 0200 0000 01000000 00000000')), /malformed netlink message/);
  });

  it('reads an ACK and an error with an extended-ACK message', () => {
    const echoedHeader = hex('14000000 060a 0500 2a000000 00000000');
    const ack = Buffer.concat([hex('00000000'), echoedHeader]);
    assert.deepEqual(parseNetlinkError(ack, 0x100), { errno: 0, requestType: 0x0a06, requestSeq: 42 });
    // error -95 (EOPNOTSUPP), NLM_F_CAPPED | NLM_F_ACK_TLVS, NLMSGERR_ATTR_MSG "bad"
    const error = Buffer.concat([hex('a1ffffff'), echoedHeader, encodeStringAttribute(1, 'bad')]);
    const report = parseNetlinkError(error, 0x300);
    assert.equal(report.errno, 95);
    assert.equal(report.requestSeq, 42);
    assert.equal(report.message, 'bad');
    assert.equal(NLMSG_ERROR, 2);
  });

  it('encodes and reads struct nfgenmsg with a big-endian resource id', () => {
    assert.deepEqual(encodeNfgenHeader(0, 10), hex('0000000a'));
    assert.deepEqual(encodeNfgenHeader(2), hex('02000000'));
    assert.deepEqual(parseNfgenHeader(hex('0700000a')), { family: 7, version: 0, resourceId: 10 });
  });
});
