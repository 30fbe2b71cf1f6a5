import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BOOTP_HEADER_LENGTH, FILE_OFFSET, MessageType, Option, SNAME_OFFSET } from '../../../src/dhcp/constants.ts';
import { type DhcpMessage, emptyMessage, type ParseResult, parseDhcpMessage, serializeDhcpMessage } from '../../../src/dhcp/message.ts';
import { FQDN_FLAG_E, FQDN_FLAG_S } from '../../../src/dhcp/options.ts';
import { parseIPv4 } from '../../../src/net/address.ts';
import { buildUdpFrame, finishUdpFrame, parseUdpFrame, UDP_FRAME_HEADROOM, udpChecksumOk } from '../../../src/wire/frame.ts';
import { readPcapFile } from '../../harness/pcap.ts';

const PACKETS = join(import.meta.dirname, '..', '..', '..', 'packets');
const OPTIONS_START = BOOTP_HEADER_LENGTH + 4;

function ip(text: string): number {
  const v = parseIPv4(text);
  if (v === null) throw new Error(`bad test address ${text}`);
  return v;
}

// ---- Expectations, copied from packets/README.md ----
// The README lists the options of each frame in wire order, leaving out option 53 (the message type is named
// instead). `codes: null` marks frames whose option list the README does not give; `prefix` a list given only in part.
interface Expected {
  type: MessageType;
  codes: number[] | null;
  prefix?: number[];
}
const D = MessageType.Discover;
const O = MessageType.Offer;
const R = MessageType.Request;
const A = MessageType.Ack;
const REL = MessageType.Release;
const DEC = MessageType.Decline;
const INF = MessageType.Inform;

const EXPECTED: Record<string, Expected[]> = {
  'udhcpc-hostname.pcap': [
    { type: D, codes: [57, 55, 12, 60, 61] },
    { type: O, codes: [54, 51, 58, 59, 1, 28, 3, 6, 15] },
    { type: R, codes: [50, 54, 57, 55, 12, 60, 61] },
    { type: A, codes: [54, 51, 58, 59, 1, 28, 3, 6, 15, 12] },
    { type: R, codes: [57, 55, 12, 60, 61] },
    { type: A, codes: [54, 51, 58, 59, 1, 28, 3, 6, 15, 12] },
    { type: REL, codes: [54, 61] },
  ],
  'dhclient-hostname.pcap': [
    { type: D, codes: [12, 55] },
    { type: O, codes: [54, 51, 58, 59, 1, 28, 3, 6, 15] },
    { type: R, codes: [54, 50, 12, 55] },
    { type: A, codes: [54, 51, 58, 59, 1, 28, 3, 6, 15, 12] },
    { type: R, codes: [12, 55] },
    { type: A, codes: [54, 51, 58, 59, 1, 28, 3, 6, 15, 12] },
    { type: REL, codes: [54, 12] },
  ],
  'dhclient-clientid.pcap': [
    { type: D, codes: [12, 55, 61] },
    { type: O, codes: null },
    { type: R, codes: [54, 50, 12, 55, 61] },
    { type: A, codes: null },
    { type: R, codes: [12, 55, 61] },
    { type: A, codes: null },
    { type: REL, codes: [54, 12, 61] },
  ],
  'dhcpcd-duid.pcap': [
    { type: D, codes: [55, 57, 61, 60, 12, 145] },
    { type: O, codes: [54, 51, 58, 59, 1, 28, 3] },
    { type: R, codes: [50, 54, 55, 57, 61, 60, 12, 145] },
    { type: A, codes: [54, 51, 58, 59, 1, 28, 3, 12] },
    { type: R, codes: [55, 57, 61, 60, 12, 145] },
    { type: A, codes: [54, 51, 58, 59, 1, 28, 3, 12] },
    { type: REL, codes: [54, 61] },
  ],
  'dhcpcd-fqdn.pcap': [
    { type: D, codes: [55, 57, 61, 60, 81, 145] },
    { type: O, codes: [54, 51, 58, 59, 1, 28, 3, 12, 81] },
    { type: R, codes: [50, 54, 55, 57, 61, 60, 81, 145] },
    { type: A, codes: [54, 51, 58, 59, 1, 28, 3, 12, 81] },
    { type: REL, codes: [54, 61] },
  ],
  'dhcpcd-rapid-commit.pcap': [
    { type: D, codes: [55, 57, 61, 60, 80, 12, 145] },
    { type: A, codes: [54, 51, 80, 58, 59, 1, 28, 3, 12] },
    { type: REL, codes: [54, 61] },
  ],
  'dhcpcd-inform.pcap': [
    { type: INF, codes: [55, 57, 61, 60, 12, 145] },
    { type: A, codes: [54, 1, 28, 3, 12] },
  ],
  'dhcpcd-decline.pcap': [
    { type: D, codes: [55, 57, 61, 60, 12, 145] },
    { type: O, codes: null },
    { type: R, codes: null, prefix: [50, 54] },
    { type: A, codes: null },
    { type: DEC, codes: [50, 54, 61] },
  ],
};

/** DHCP payloads of every frame of one capture. */
const payloads = new Map<string, Buffer[]>();
for (const name of Object.keys(EXPECTED)) {
  const file = await readPcapFile(join(PACKETS, name));
  payloads.set(
    name,
    file.frames.map((f, i) => {
      const udp = parseUdpFrame(f.data);
      if (!udp.ok) throw new Error(`${name} frame ${i + 1}: ${udp.reason}`);
      return Buffer.from(udp.datagram.payload);
    }),
  );
}

function payload(name: string, frameNumber: number): Buffer {
  const p = payloads.get(name)?.[frameNumber - 1];
  if (!p) throw new Error(`no frame ${frameNumber} in ${name}`);
  return p;
}

function parsed(data: Buffer): DhcpMessage {
  const r = parseDhcpMessage(data);
  if (!r.ok) assert.fail(`parse failed: ${r.reason} (${r.detail})`);
  return r.message;
}

function frame(name: string, frameNumber: number): DhcpMessage {
  return parsed(payload(name, frameNumber));
}

function allPayloads(): { label: string; data: Buffer }[] {
  const out: { label: string; data: Buffer }[] = [];
  for (const [name, list] of payloads) for (const [i, data] of list.entries()) out.push({ label: `${name}#${i + 1}`, data });
  return out;
}

/** Byte offset of the first instance of an option in the main options area (walking the real TLV structure). */
function optionOffset(data: Buffer, code: number): number {
  let i = OPTIONS_START;
  while (i < data.length) {
    const c = data[i] as number;
    if (c === Option.Pad) {
      i++;
      continue;
    }
    if (c === Option.End) break;
    if (c === code) return i;
    i += 2 + (data[i + 1] as number);
  }
  throw new Error(`option ${code} not found`);
}

/** Offset of the END option of the main options area. */
function endOffset(data: Buffer): number {
  let i = OPTIONS_START;
  while (data[i] !== Option.End) {
    if (data[i] === Option.Pad) i++;
    else i += 2 + (data[i + 1] as number);
    if (i >= data.length) throw new Error('no END');
  }
  return i;
}

function sameOptions(a: DhcpMessage, b: DhcpMessage): void {
  assert.deepEqual(a.options.codes(), b.options.codes());
  for (const code of a.options.codes()) assert.deepEqual(b.options.get(code), a.options.get(code), `option ${code}`);
}

function sameHeader(a: DhcpMessage, b: DhcpMessage): void {
  for (const key of ['op', 'htype', 'hlen', 'hops', 'xid', 'secs', 'flags', 'ciaddr', 'yiaddr', 'siaddr', 'giaddr'] as const) {
    assert.equal(b[key], a[key], key);
  }
  assert.deepEqual(b.chaddr, a.chaddr);
}

// ---- Every real frame ----

test('every capture file in packets/ has expectations here', () => {
  const files = readdirSync(PACKETS)
    .filter((f) => f.endsWith('.pcap'))
    .sort();
  assert.deepEqual(files, Object.keys(EXPECTED).sort());
});

for (const [name, frames] of Object.entries(EXPECTED)) {
  test(`${name}: every frame parses with the message type and options the README lists`, () => {
    const list = payloads.get(name) ?? [];
    assert.equal(list.length, frames.length, 'frame count');
    frames.forEach((expected, i) => {
      const m = parsed(list[i] as Buffer);
      assert.equal(m.options.messageType, expected.type, `frame ${i + 1} type`);
      const codes = m.options.codes().filter((c) => c !== Option.MessageType);
      assert.ok(m.options.has(Option.MessageType));
      if (expected.codes !== null) assert.deepEqual(codes, expected.codes, `frame ${i + 1} options`);
      if (expected.prefix) assert.deepEqual(codes.slice(0, expected.prefix.length), expected.prefix, `frame ${i + 1}`);
      // Clients send BOOTREQUEST, the server BOOTREPLY.
      const fromServer = expected.type === O || expected.type === A;
      assert.equal(m.op, fromServer ? 2 : 1, `frame ${i + 1} op`);
      assert.equal(m.htype, 1);
      assert.equal(m.hlen, 6);
    });
  });
}

test('udhcpc: hostname, client-id 01+MAC, max message size, parameter request list', () => {
  const discover = frame('udhcpc-hostname.pcap', 1);
  assert.equal(discover.options.hostname, 'ct-udhcpc');
  assert.deepEqual(discover.options.clientId, Buffer.from([0x01, 0x02, 0x1a, 0xb0, 0, 0, 0x01]));
  assert.equal(discover.options.maxMessageSize, 576);
  assert.deepEqual(discover.options.parameterRequestList, [1, 3, 6, 12, 15, 28, 42]);
  assert.equal(discover.options.getText(Option.VendorClassIdentifier), 'udhcp 1.35.0');
  assert.equal(discover.xid, 0x2ded3d5d);
  assert.deepEqual(discover.chaddr.subarray(0, 6), Buffer.from([0x02, 0x1a, 0xb0, 0, 0, 0x01]));
  assert.equal(discover.options.requestedIp, undefined);
  assert.equal(discover.options.rapidCommit, false);
});

test('udhcpc: selecting REQUEST carries requested IP and server id; renewal carries ciaddr only', () => {
  const selecting = frame('udhcpc-hostname.pcap', 3);
  assert.equal(selecting.options.requestedIp, ip('10.0.0.154'));
  assert.equal(selecting.options.serverIdentifier, ip('10.0.0.1'));
  assert.equal(selecting.ciaddr, 0);
  const renewing = frame('udhcpc-hostname.pcap', 5);
  assert.equal(renewing.ciaddr, ip('10.0.0.154'));
  assert.equal(renewing.options.requestedIp, undefined);
  assert.equal(renewing.options.serverIdentifier, undefined);
});

test('dnsmasq OFFER: yiaddr, server id, lease times, subnet, domain', () => {
  const offer = frame('udhcpc-hostname.pcap', 2);
  assert.equal(offer.yiaddr, ip('10.0.0.154'));
  assert.equal(offer.siaddr, ip('10.0.0.1'));
  assert.equal(offer.options.serverIdentifier, ip('10.0.0.1'));
  assert.equal(offer.options.getUint32(Option.LeaseTime), 3600);
  assert.equal(offer.options.getUint32(Option.RenewalTime), 1800);
  assert.equal(offer.options.getUint32(Option.RebindingTime), 3150);
  assert.equal(offer.options.getIPv4(Option.SubnetMask), ip('255.255.255.0'));
  assert.equal(offer.options.getIPv4(Option.BroadcastAddress), ip('10.0.0.255'));
  assert.deepEqual(offer.options.getIPv4List(Option.Router), [ip('10.0.0.1')]);
  assert.equal(offer.options.getText(Option.DomainName), 'lxc');
});

test('dhclient: 7-byte client identifier with zero bytes is read intact', () => {
  for (const n of [1, 3, 5, 7]) {
    const m = frame('dhclient-clientid.pcap', n);
    assert.deepEqual(m.options.clientId, Buffer.from([0x00, 0x11, 0x00, 0x22, 0x00, 0x33, 0x00]), `frame ${n}`);
  }
  const discover = frame('dhclient-clientid.pcap', 1);
  assert.equal(discover.options.hostname, 'ct-dhclient-id');
  assert.deepEqual(discover.options.parameterRequestList, [1, 28, 3, 15, 6, 12]);
  const selecting = frame('dhclient-clientid.pcap', 3);
  assert.equal(selecting.options.requestedIp, ip('10.0.0.155'));
  assert.equal(selecting.options.serverIdentifier, ip('10.0.0.1'));
  assert.equal(frame('dhclient-clientid.pcap', 5).ciaddr, ip('10.0.0.155'));
  assert.equal(frame('dhclient-hostname.pcap', 1).options.hostname, 'ct-dhclient');
});

test('dhcpcd: option 81 flags S|E and the partial name; RFC 4361 client id; max size 1472', () => {
  const discover = frame('dhcpcd-fqdn.pcap', 1);
  const raw = discover.options.get(Option.ClientFqdn);
  assert.ok(raw);
  assert.equal(raw[0], 0x05);
  const fqdn = discover.options.clientFqdn;
  assert.ok(fqdn);
  assert.equal(fqdn.flags, FQDN_FLAG_S | FQDN_FLAG_E);
  assert.equal(fqdn.wireFormat, true);
  assert.equal(fqdn.name, 'ct-dhcpcd-fqdn');
  assert.equal(discover.options.maxMessageSize, 1472);
  assert.deepEqual(discover.options.parameterRequestList, [1, 3, 12, 28, 33, 51, 58, 59]);
  const id = discover.options.clientId;
  assert.ok(id);
  assert.equal(id.length, 19);
  assert.equal(id[0], 0xff);
  assert.deepEqual(id.subarray(1, 5), Buffer.from([0xb0, 0, 0, 0x03]));
  assert.deepEqual(id.subarray(13), Buffer.from([0x02, 0x1a, 0xb0, 0, 0, 0x03]));
  // dnsmasq's answer: full name, RCODEs 255.
  const offerFqdn = frame('dhcpcd-fqdn.pcap', 2).options.clientFqdn;
  assert.ok(offerFqdn);
  assert.equal(offerFqdn.name, 'ct-dhcpcd-fqdn.lxc');
});

test('dhcpcd: rapid commit flag on the DISCOVER and on the ACK; other DISCOVERs have none', () => {
  assert.equal(frame('dhcpcd-rapid-commit.pcap', 1).options.rapidCommit, true);
  assert.equal(frame('dhcpcd-rapid-commit.pcap', 2).options.rapidCommit, true);
  assert.equal(frame('dhcpcd-duid.pcap', 1).options.rapidCommit, false);
  assert.equal(frame('dhcpcd-rapid-commit.pcap', 2).yiaddr, ip('10.0.0.156'));
});

test('dhcpcd: rebinding REQUEST, INFORM ciaddr, DECLINE requested address', () => {
  const rebind = frame('dhcpcd-duid.pcap', 5);
  assert.equal(rebind.ciaddr, ip('10.0.0.156'));
  assert.equal(rebind.options.serverIdentifier, undefined);
  const selecting = frame('dhcpcd-duid.pcap', 3);
  assert.equal(selecting.options.requestedIp, ip('10.0.0.156'));
  assert.equal(selecting.options.serverIdentifier, ip('10.0.0.1'));
  const inform = frame('dhcpcd-inform.pcap', 1);
  assert.equal(inform.ciaddr, ip('10.0.0.50'));
  const informAck = frame('dhcpcd-inform.pcap', 2);
  assert.equal(informAck.yiaddr, 0);
  assert.equal(informAck.options.has(Option.LeaseTime), false);
  const decline = frame('dhcpcd-decline.pcap', 5);
  assert.equal(decline.options.requestedIp, ip('10.0.0.150'));
  assert.equal(decline.options.serverIdentifier, ip('10.0.0.1'));
  assert.equal(frame('dhcpcd-decline.pcap', 2).yiaddr, ip('10.0.0.150'));
});

// ---- Round trip ----

test('serialize(parse(real)) parses back to the same header and options, ≥ 300 bytes, ending with END', () => {
  for (const { label, data } of allPayloads()) {
    const first = parsed(data);
    const { data: out, omitted } = serializeDhcpMessage(first);
    assert.deepEqual(omitted, [], label);
    assert.ok(out.length >= 300, `${label}: ${out.length} bytes`);
    const second = parsed(out);
    sameHeader(first, second);
    // Option order may change (essential options first), values must not.
    assert.deepEqual([...second.options.codes()].sort(), [...first.options.codes()].sort(), label);
    for (const code of first.options.codes()) assert.deepEqual(second.options.get(code), first.options.get(code), `${label} ${code}`);
    const end = endOffset(out);
    assert.ok(
      out.subarray(end + 1).every((b) => b === 0),
      `${label}: only PAD after END`,
    );
    // Exactly the options' bytes are used: header + cookie + TLVs + END.
    let tlv = 0;
    for (const [, v] of first.options.entries()) tlv += 2 + v.length;
    assert.equal(end, OPTIONS_START + tlv, label);
  }
});

// ---- Malformed variants ----

function expectFailure(r: ParseResult, reason: string, label: string): void {
  assert.equal(r.ok, false, `${label}: parsed`);
  if (!r.ok) {
    assert.equal(r.reason, reason, `${label}: ${r.detail}`);
    assert.ok(r.detail.length > 0);
  }
}

test('truncation at every length never throws and gives a named reason', () => {
  const data = payload('dhcpcd-fqdn.pcap', 1);
  const end = endOffset(data);
  const reasons = new Set<string>();
  for (let length = 0; length <= end; length++) {
    const r = parseDhcpMessage(data.subarray(0, length));
    assert.equal(r.ok, false, `length ${length}`);
    if (r.ok) continue;
    if (length < OPTIONS_START) assert.equal(r.reason, 'short-packet', `length ${length}`);
    else assert.ok(r.reason === 'option-truncated' || r.reason === 'missing-end', `length ${length}: ${r.reason}`);
    reasons.add(r.reason);
  }
  assert.deepEqual([...reasons].sort(), ['missing-end', 'option-truncated', 'short-packet']);
  // Up to and including END it parses.
  assert.equal(parseDhcpMessage(data.subarray(0, end + 1)).ok, true);
});

test('bad magic cookie', () => {
  const data = Buffer.from(payload('udhcpc-hostname.pcap', 1));
  data[BOOTP_HEADER_LENGTH + 3] = 0x64;
  expectFailure(parseDhcpMessage(data), 'bad-magic-cookie', 'cookie');
});

test('an option whose length runs past the end', () => {
  const data = Buffer.from(payload('udhcpc-hostname.pcap', 1));
  const at = optionOffset(data, Option.ClientIdentifier);
  const cut = data.subarray(0, at + 2 + 3); // keep 3 of the 7 value bytes
  expectFailure(parseDhcpMessage(cut), 'option-truncated', 'cut value');
  const lengthOnly = Buffer.from(data.subarray(0, at + 1));
  expectFailure(parseDhcpMessage(lengthOnly), 'option-truncated', 'no length byte');
  // Length byte claiming more than the buffer holds.
  const long = Buffer.from(data);
  long[at + 1] = 0xff;
  expectFailure(parseDhcpMessage(long.subarray(0, at + 100)), 'option-truncated', 'long length');
});

test('missing END: options overwritten by PAD up to the end of the buffer', () => {
  const data = Buffer.from(payload('dhclient-hostname.pcap', 1));
  const end = endOffset(data);
  data[end] = Option.Pad;
  expectFailure(parseDhcpMessage(data), 'missing-end', 'no END');
});

test('PAD bytes between options parse identically', () => {
  const original = payload('dhcpcd-duid.pcap', 3);
  const m = parsed(original);
  const parts: Buffer[] = [original.subarray(0, OPTIONS_START), Buffer.from([0, 0, 0])];
  for (const [code, value] of m.options.entries()) {
    parts.push(Buffer.from([code, value.length]), value, Buffer.from([0]));
  }
  parts.push(Buffer.from([Option.End]));
  const padded = Buffer.concat(parts);
  assert.notDeepEqual(padded, original.subarray(0, padded.length));
  const again = parsed(padded);
  sameHeader(m, again);
  sameOptions(m, again);
});

function withOptions(base: Buffer, optionBytes: number[]): Buffer {
  const data = Buffer.alloc(OPTIONS_START + optionBytes.length);
  base.copy(data, 0, 0, OPTIONS_START);
  Buffer.from(optionBytes).copy(data, OPTIONS_START);
  return data;
}

test('option overload (52): options in file and sname are read, in the order options, file, sname', () => {
  const base = Buffer.from(payload('udhcpc-hostname.pcap', 1));
  const data = withOptions(base, [53, 1, 1, 52, 1, 3, 12, 2, 0x61, 0x62, 255]);
  data.fill(0, SNAME_OFFSET, FILE_OFFSET + 128);
  Buffer.from([12, 2, 0x63, 0x64, 50, 4, 10, 0, 0, 7, 255]).copy(data, FILE_OFFSET);
  Buffer.from([12, 1, 0x65, 61, 3, 1, 2, 3]).copy(data, SNAME_OFFSET); // no END in sname: accepted
  const m = parsed(data);
  assert.equal(m.options.messageType, MessageType.Discover);
  assert.equal(m.options.hostname, 'abcde');
  assert.equal(m.options.requestedIp, ip('10.0.0.7'));
  assert.deepEqual(m.options.clientId, Buffer.from([1, 2, 3]));
  assert.equal(m.file.length, 0);
  assert.equal(m.sname.length, 0);

  // Overload 1: only file; sname is a name again.
  const fileOnly = Buffer.from(data);
  fileOnly[OPTIONS_START + 5] = 1;
  Buffer.from('boot-server\0').copy(fileOnly, SNAME_OFFSET);
  const f = parsed(fileOnly);
  assert.equal(f.options.hostname, 'abcd');
  assert.equal(f.options.clientId, undefined);
  assert.equal(f.sname.subarray(0, 11).toString(), 'boot-server');
  assert.equal(f.file.length, 0);
});

test('bad overload values and truncated options inside the file field', () => {
  const base = Buffer.from(payload('udhcpc-hostname.pcap', 1));
  for (const value of [[0], [4], [1, 1]]) {
    const data = withOptions(base, [53, 1, 1, 52, value.length, ...value, 255]);
    expectFailure(parseDhcpMessage(data), 'bad-overload', `overload ${value.join(',')}`);
  }
  const data = withOptions(base, [53, 1, 1, 52, 1, 1, 255]);
  data.fill(0, FILE_OFFSET, FILE_OFFSET + 128);
  data[FILE_OFFSET + 126] = 12;
  data[FILE_OFFSET + 127] = 5;
  expectFailure(parseDhcpMessage(data), 'option-truncated', 'in file');
});

test('RFC 3396: a long option split into two instances is concatenated', () => {
  const base = Buffer.from(payload('udhcpc-hostname.pcap', 1));
  const a = Array.from({ length: 255 }, (_, i) => i & 0xff);
  const b = [1, 2, 3, 4, 5];
  const data = withOptions(base, [53, 1, 1, 119, 255, ...a, 12, 1, 0x78, 119, 5, ...b, 255]);
  const m = parsed(data);
  assert.deepEqual(m.options.get(119), Buffer.from([...a, ...b]));
  assert.deepEqual(m.options.codes(), [53, 119, 12]);
  // And it serializes back as two instances that reparse to the same value.
  const out = serializeDhcpMessage(m).data;
  assert.deepEqual(parsed(out).options.get(119), Buffer.from([...a, ...b]));
  const at = optionOffset(out, 119);
  assert.equal(out[at + 1], 255);
  assert.equal(out[at + 2 + 255], 119);
  assert.equal(out[at + 2 + 255 + 1], 5);
});

test('random garbage and random mutations of real frames never throw', () => {
  // xorshift32, fixed seed: the same buffers every run.
  let state = 0x12345678;
  const next = (): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  const reals = allPayloads();
  let okCount = 0;
  let failCount = 0;
  for (let n = 0; n < 4000; n++) {
    let data: Buffer;
    if (n % 2 === 0) {
      data = Buffer.alloc(next() % 700);
      for (let i = 0; i < data.length; i++) data[i] = next() & 0xff;
      // Half of them with a valid cookie, so the option walker gets exercised.
      if (n % 4 === 0 && data.length >= OPTIONS_START) data.writeUInt32BE(0x63825363, BOOTP_HEADER_LENGTH);
    } else {
      const real = (reals[next() % reals.length] as { data: Buffer }).data;
      data = Buffer.from(real);
      const flips = 1 + (next() % 8);
      for (let k = 0; k < flips; k++) {
        const at = OPTIONS_START + (next() % (data.length - OPTIONS_START));
        data[at] = next() & 0xff;
      }
      data = data.subarray(0, next() % (data.length + 1));
    }
    const r = parseDhcpMessage(data);
    if (r.ok) {
      okCount++;
      // Whatever parsed must serialize and parse again.
      assert.equal(parseDhcpMessage(serializeDhcpMessage(r.message).data).ok, true);
    } else {
      failCount++;
      assert.ok(['short-packet', 'bad-magic-cookie', 'option-truncated', 'missing-end', 'bad-overload'].includes(r.reason));
    }
  }
  assert.ok(failCount > 0 && okCount > 0, `ok ${okCount}, failed ${failCount}`);
});

// ---- Serializing under a size limit ----

test('maxLength: optional options are dropped and listed, essential ones kept', () => {
  const m = emptyMessage();
  m.op = 2;
  m.xid = 0xabcdef01;
  m.options.setMessageType(MessageType.Ack);
  m.options.setIPv4(Option.ServerIdentifier, ip('10.0.0.1'));
  m.options.setUint32(Option.LeaseTime, 3600);
  m.options.set(Option.VendorClassIdentifier, Buffer.alloc(38, 0x41));
  m.options.set(224, Buffer.alloc(30, 0x42));
  m.options.setText(Option.HostName, 'ab');
  // 300 bytes: 59 of room after the cookie and END; essentials take 3+6+6 = 15, leaving 44.
  // 60 takes 40 of them; 224 (32) then no longer fits; 12 (4) fills the room exactly.
  const { data, omitted } = serializeDhcpMessage(m, { maxLength: 300 });
  assert.equal(data.length, 300);
  const back = parsed(data);
  assert.equal(back.options.messageType, MessageType.Ack);
  assert.equal(back.options.serverIdentifier, ip('10.0.0.1'));
  assert.equal(back.options.getUint32(Option.LeaseTime), 3600);
  assert.deepEqual(omitted, [224]);
  assert.deepEqual(back.options.codes(), [53, 54, 51, 60, 12]);

  // A custom essential set keeps 224 instead of 60.
  const custom = serializeDhcpMessage(m, { maxLength: 300, essential: new Set([53, 54, 51, 224]) });
  assert.deepEqual(custom.omitted, [60]);
  assert.deepEqual(parsed(custom.data).options.get(224), Buffer.alloc(30, 0x42));
  assert.equal(parsed(custom.data).options.hostname, 'ab');

  // Essential options survive even when put after a huge optional one.
  const big = emptyMessage();
  big.options.set(43, Buffer.alloc(250, 1));
  big.options.setMessageType(MessageType.Offer);
  big.options.setUint32(Option.LeaseTime, 60);
  const r = serializeDhcpMessage(big, { maxLength: 300 });
  assert.deepEqual(r.omitted, [43]);
  assert.equal(parsed(r.data).options.getUint32(Option.LeaseTime), 60);
});

test('values over 255 bytes are split into several instances', () => {
  const m = emptyMessage();
  m.options.setMessageType(MessageType.Offer);
  const value = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7) & 0xff));
  m.options.set(121, value);
  const { data, omitted } = serializeDhcpMessage(m);
  assert.deepEqual(omitted, []);
  let at = optionOffset(data, 121);
  const lengths: number[] = [];
  while (data[at] === 121) {
    lengths.push(data[at + 1] as number);
    at += 2 + (data[at + 1] as number);
  }
  assert.deepEqual(lengths, [255, 255, 90]);
  assert.equal(data[at], Option.End);
  assert.deepEqual(parsed(data).options.get(121), value);
});

test('empty option values serialize as code + zero length', () => {
  const m = emptyMessage();
  m.options.setMessageType(MessageType.Ack);
  m.options.set(Option.RapidCommit, Buffer.alloc(0));
  const data = serializeDhcpMessage(m).data;
  const at = optionOffset(data, Option.RapidCommit);
  assert.equal(data[at + 1], 0);
  assert.equal(parsed(data).options.rapidCommit, true);
});

test('headroom: the same message bytes, preceded by free room, so finishUdpFrame gives the frame buildUdpFrame gives', () => {
  for (const { label, data } of allPayloads()) {
    const message = parsed(data);
    const plain = serializeDhcpMessage(message, { maxLength: 576 - 28 });
    const roomy = serializeDhcpMessage(message, { maxLength: 576 - 28, headroom: UDP_FRAME_HEADROOM });
    assert.deepEqual(roomy.data, plain.data, label);
    assert.equal(roomy.withHeadroom.length, UDP_FRAME_HEADROOM + plain.data.length, label);
    const endpoints = { srcMac: '02:00:00:00:00:01', dstMac: 'AA:bb:cc:dd:ee:0F', srcIp: 0x0a000001, dstIp: 0x0a000002, srcPort: 67, dstPort: 67, ttl: 64 };
    const built = buildUdpFrame({ ...endpoints, payload: plain.data });
    assert.deepEqual(finishUdpFrame(roomy.withHeadroom, endpoints), built, label);
    assert.ok(udpChecksumOk(built), label);
    assert.deepEqual(built.subarray(0, 6), Buffer.from([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f]), `${label}: upper-case MAC written as bytes`);
  }
});
