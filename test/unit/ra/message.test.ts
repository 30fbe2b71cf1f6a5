import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIPv6 } from '../../../src/net/address6.ts';
import { encodeRouterAdvertisement, MAX_RA_LENGTH, parseRouterSolicitation, type RouterAdvertisement } from '../../../src/ra/message.ts';
import { buildIcmpv6Frame, icmpv6ChecksumOk, parseIpv6Frame } from '../../../src/wire/frame6.ts';

const addr = (text: string): Buffer => parseIPv6(text) ?? assert.fail(text);
const HOST_LL = addr('fe80::1a:b0ff:fe00:5');
const ALL_ROUTERS = addr('ff02::2');
const HOST_MAC = '02:1a:b0:00:00:05';

/** An RS as a host sends it, through the real frame builder and parser (checksum computed over the pseudo-header). */
function solicitation(opts: { src?: Buffer; hopLimit?: number; code?: number; options?: Buffer; length?: number } = {}) {
  const body = Buffer.concat([Buffer.from([133, opts.code ?? 0, 0, 0, 0, 0, 0, 0]), opts.options ?? Buffer.alloc(0)]);
  const message = opts.length === undefined ? body : body.subarray(0, opts.length);
  const frame = buildIcmpv6Frame(
    { srcMac: HOST_MAC, dstMac: '33:33:00:00:00:02', src: opts.src ?? HOST_LL, dst: ALL_ROUTERS, hopLimit: opts.hopLimit ?? 255 },
    message,
  );
  const parsed = parseIpv6Frame(frame);
  assert.ok(parsed.ok && parsed.packet.nextHeader === 58);
  return parsed.packet;
}
const sllao = Buffer.from([1, 1, 0x02, 0x1a, 0xb0, 0, 0, 5]);

function failure(packet: ReturnType<typeof solicitation>): string {
  const result = parseRouterSolicitation(packet);
  assert.ok(!result.ok, 'expected the solicitation to be refused');
  return result.reason;
}

test('a well-formed router solicitation parses, with and without the source link-layer option', () => {
  const plain = parseRouterSolicitation(solicitation());
  assert.ok(plain.ok);
  assert.equal(plain.rs.sourceLinkLayer, null);
  assert.deepEqual(plain.rs.src, HOST_LL);
  const withOption = parseRouterSolicitation(solicitation({ options: sllao }));
  assert.ok(withOption.ok);
  assert.equal(withOption.rs.sourceLinkLayer, '02:1a:b0:00:00:05');
  // An unknown option is skipped (RFC 4861 §4.1: receivers MUST silently ignore options they do not recognise).
  assert.ok(parseRouterSolicitation(solicitation({ options: Buffer.concat([Buffer.from([200, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), sllao]) })).ok);
  assert.ok(parseRouterSolicitation(solicitation({ src: Buffer.alloc(16) })).ok, 'from :: without the option');
});

test('RFC 4861 §6.1.1: each validity rule refuses with its own reason', () => {
  assert.equal(failure(solicitation({ hopLimit: 254 })), 'rs-hop-limit');
  assert.equal(failure(solicitation({ hopLimit: 1 })), 'rs-hop-limit');
  assert.equal(failure(solicitation({ code: 1 })), 'rs-code');
  assert.equal(failure(solicitation({ length: 7 })), 'rs-short');
  assert.equal(failure(solicitation({ options: Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]) })), 'rs-option-length-zero');
  assert.equal(failure(solicitation({ options: Buffer.from([1, 2, 0, 0, 0, 0, 0, 0]) })), 'rs-option-truncated');
  assert.equal(failure(solicitation({ options: Buffer.from([1]) })), 'rs-option-truncated');
  assert.equal(failure(solicitation({ src: Buffer.alloc(16), options: sllao })), 'rs-source-link-layer-from-unspecified');
  const bad = solicitation();
  const corrupted = { ...bad, message: Buffer.from(bad.message) };
  corrupted.message[4] = 1; // a reserved byte changed after the checksum was computed
  assert.equal(failure(corrupted), 'rs-checksum');
  assert.equal(failure({ ...bad, src: addr('fe80::99') }), 'rs-checksum', 'the checksum covers the source address');
  const advert = { ...bad, message: Buffer.from(bad.message) };
  advert.message[0] = 134;
  assert.equal(failure(advert), 'rs-not-solicitation');
});

test('parseRouterSolicitation never throws on mangled messages', () => {
  const base = solicitation({ options: sllao });
  for (let i = 0; i < 3000; i++) {
    const message = Buffer.from(base.message.subarray(0, 1 + Math.floor(Math.random() * base.message.length)));
    for (let j = 0; j < 3; j++) message[Math.floor(Math.random() * message.length)] = Math.floor(Math.random() * 256);
    parseRouterSolicitation({ ...base, message });
  }
});

interface DecodedRa {
  curHopLimit: number;
  flags: number;
  routerLifetime: number;
  reachable: number;
  retrans: number;
  options: Map<number, Buffer[]>;
}

/** A decoder written from RFC 4861 §4.2 for the tests, independent of the encoder. */
function decodeRa(message: Buffer): DecodedRa {
  assert.equal(message[0], 134);
  assert.equal(message[1], 0);
  const options = new Map<number, Buffer[]>();
  let at = 16;
  while (at < message.length) {
    const length = (message[at + 1] as number) * 8;
    assert.ok(length > 0 && at + length <= message.length, `option at ${at} is well formed`);
    const list = options.get(message[at] as number) ?? [];
    list.push(message.subarray(at, at + length));
    options.set(message[at] as number, list);
    at += length;
  }
  assert.equal(at, message.length, 'options end exactly at the end');
  return {
    curHopLimit: message[4] as number,
    flags: message[5] as number,
    routerLifetime: message.readUInt16BE(6),
    reachable: message.readUInt32BE(8),
    retrans: message.readUInt32BE(12),
    options,
  };
}

const base: RouterAdvertisement = {
  mode: 'stateless',
  routerLifetime: 1800,
  sourceMac: '02:1a:b0:00:00:01',
  mtu: 1500,
  prefix: { prefix: addr('fd00:db8:1::1'), validLifetime: 86400, preferredLifetime: 14400 },
  dnsServers: [addr('fd00:db8:1::1')],
  domains: ['lxc'],
  dnsLifetime: 1800,
};

test('encodeRouterAdvertisement writes the header and every option as RFC 4861 and RFC 8106 lay them out', () => {
  const ra = decodeRa(encodeRouterAdvertisement(base));
  assert.equal(ra.curHopLimit, 64);
  assert.equal(ra.flags, 0x40, 'stateless: O only');
  assert.equal(ra.routerLifetime, 1800);
  assert.equal(ra.reachable, 0);
  assert.equal(ra.retrans, 0);
  assert.equal(ra.options.get(1)?.[0]?.toString('hex'), '0101021ab0000001');
  assert.equal(ra.options.get(5)?.[0]?.toString('hex'), '05010000000005dc');
  const prefix = ra.options.get(3)?.[0] ?? assert.fail('prefix option');
  assert.equal(prefix.length, 32);
  assert.equal(prefix[2], 64);
  assert.equal(prefix[3], 0xc0, 'L and A');
  assert.equal(prefix.readUInt32BE(4), 86400);
  assert.equal(prefix.readUInt32BE(8), 14400);
  assert.equal(prefix.readUInt32BE(12), 0);
  assert.equal(prefix.subarray(16).toString('hex'), 'fd000db8000100000000000000000000', 'host bits cleared');
  const rdnss = ra.options.get(25)?.[0] ?? assert.fail('RDNSS option');
  assert.equal(rdnss[1], 3);
  assert.equal(rdnss.readUInt32BE(4), 1800);
  assert.equal(rdnss.subarray(8).toString('hex'), 'fd000db8000100000000000000000001');
  const dnssl = ra.options.get(31)?.[0] ?? assert.fail('DNSSL option');
  assert.equal(dnssl.length, 16);
  assert.equal(dnssl.readUInt32BE(4), 1800);
  assert.equal(dnssl.subarray(8).toString('hex'), '036c786300000000', '"lxc" then padding');
});

test('M and O flags follow the DHCPv6 mode', () => {
  assert.equal(decodeRa(encodeRouterAdvertisement({ ...base, mode: 'stateful' })).flags, 0xc0);
  assert.equal(decodeRa(encodeRouterAdvertisement({ ...base, mode: 'stateless' })).flags, 0x40);
  assert.equal(decodeRa(encodeRouterAdvertisement({ ...base, mode: 'none' })).flags, 0x00);
});

test('optional options are left out, and several DNS servers and domains are encoded in order', () => {
  const bare = decodeRa(encodeRouterAdvertisement({ ...base, mtu: null, dnsServers: [], domains: [] }));
  assert.deepEqual([...bare.options.keys()].sort(), [1, 3]);
  const many = decodeRa(encodeRouterAdvertisement({ ...base, dnsServers: [addr('fd00::1'), addr('fd00::2')], domains: ['lxc', 'example.org.'] }));
  const rdnss = many.options.get(25)?.[0] ?? assert.fail('RDNSS');
  assert.equal(rdnss[1], 5);
  assert.equal(rdnss.subarray(24, 40).toString('hex'), 'fd000000000000000000000000000002');
  const dnssl = many.options.get(31)?.[0] ?? assert.fail('DNSSL');
  // 8 + 5 ("lxc") + 13 ("example.org") = 26 -> 32 bytes, 4 units
  assert.equal(dnssl[1], 4);
  assert.equal(dnssl.subarray(8, 26).toString('hex'), Buffer.from('\x03lxc\x00\x07example\x03org\x00', 'latin1').toString('hex'));
  assert.ok(dnssl.subarray(26).every((b) => b === 0));
});

test('the final RA fields encode (router lifetime 0, prefix deprecated, DNS lifetime 0)', () => {
  const ra = decodeRa(
    encodeRouterAdvertisement({ ...base, routerLifetime: 0, prefix: { ...base.prefix, validLifetime: 7200, preferredLifetime: 0 }, dnsLifetime: 0 }),
  );
  assert.equal(ra.routerLifetime, 0);
  assert.equal(ra.options.get(3)?.[0]?.readUInt32BE(8), 0);
  assert.equal(ra.options.get(25)?.[0]?.readUInt32BE(4), 0);
});

test('an RA framed by frame6 carries a correct checksum', () => {
  const frame = buildIcmpv6Frame(
    { srcMac: base.sourceMac, dstMac: '33:33:00:00:00:01', src: addr('fe80::1'), dst: addr('ff02::1'), hopLimit: 255 },
    encodeRouterAdvertisement(base),
  );
  assert.ok(icmpv6ChecksumOk(frame));
});

test('configurations that cannot be encoded are RangeErrors', () => {
  assert.throws(() => encodeRouterAdvertisement({ ...base, routerLifetime: 70000 }), RangeError);
  assert.throws(() => encodeRouterAdvertisement({ ...base, domains: ['a..b'] }), RangeError);
  assert.throws(() => encodeRouterAdvertisement({ ...base, domains: [`${'x'.repeat(64)}.lxc`] }), RangeError);
  assert.throws(() => encodeRouterAdvertisement({ ...base, prefix: { ...base.prefix, preferredLifetime: 90000 } }), RangeError);
  const tooMany = Array.from({ length: 80 }, (_, i) => addr(`fd00::${i + 1}`));
  assert.throws(() => encodeRouterAdvertisement({ ...base, dnsServers: tooMany }), RangeError);
  assert.ok(encodeRouterAdvertisement({ ...base, dnsServers: tooMany.slice(0, 60) }).length <= MAX_RA_LENGTH);
});
