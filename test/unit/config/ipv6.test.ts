import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { daemonIpv6, nat6Enabled, parseIpv6Flags, parseIpv6Mode, parseRange6, resolveRange6 } from '../../../src/config/ipv6.ts';
import { formatIPv6, parseIPv6 } from '../../../src/net/address6.ts';

const v6 = (text: string): Buffer => parseIPv6(text) ?? assert.fail(`bad address ${text}`);
const errorOf = (r: { ok: boolean; error?: string }): string => (r.ok ? assert.fail('expected an error') : (r.error ?? ''));

describe('--ipv6', () => {
  it('absent is auto, not explicit; auto and none are keywords', () => {
    assert.deepEqual(parseIpv6Mode(undefined), { ok: true, value: { kind: 'auto', explicit: false } });
    assert.deepEqual(parseIpv6Mode('auto'), { ok: true, value: { kind: 'auto', explicit: true } });
    assert.deepEqual(parseIpv6Mode('None'), { ok: true, value: { kind: 'none' } });
  });

  it('ADDR/64 gives the address', () => {
    const r = parseIpv6Mode('2001:db8:1:2::1/64');
    assert.ok(r.ok && r.value.kind === 'static');
    if (r.ok && r.value.kind === 'static') assert.equal(formatIPv6(r.value.address.address), '2001:db8:1:2::1');
  });

  it('refuses every prefix length but 64, saying why (SLAAC, RFC 4862 / RFC 7421)', () => {
    for (const length of [48, 56, 80, 112, 128]) {
      assert.match(
        errorOf(parseIpv6Mode(`fd00:1::1/${length}`)),
        /only \/64 prefixes work, SLAAC needs a 64-bit interface identifier \(RFC 4862 §5\.5\.3, RFC 7421\)/,
      );
    }
  });

  it('refuses text that is no address, and addresses a router cannot use', () => {
    assert.match(errorOf(parseIpv6Mode('yes')), /is not auto, none or an IPv6 address with \/64/);
    assert.match(errorOf(parseIpv6Mode('fd00::1')), /is not auto, none or an IPv6 address with \/64/);
    assert.match(errorOf(parseIpv6Mode('10.0.0.1/64')), /is not auto, none or an IPv6 address/);
    assert.match(errorOf(parseIpv6Mode('fe80::1/64')), /link-local/);
    assert.match(errorOf(parseIpv6Mode('ff02::1/64')), /multicast/);
    assert.match(errorOf(parseIpv6Mode('fd00:1:2:3::/64')), /subnet-router anycast/);
    assert.match(errorOf(parseIpv6Mode('::1/64')), /routable/);
  });
});

describe('--range6', () => {
  it('parses an absolute range in one /64', () => {
    const r = parseRange6('fd00:1::100-fd00:1::1ff');
    assert.ok(r.ok);
    if (r.ok) assert.deepEqual(r.value, { first: v6('fd00:1::100'), last: v6('fd00:1::1ff'), relative: false });
  });

  it('parses a range relative to the bridge /64', () => {
    const r = parseRange6('::100-::1ff');
    assert.ok(r.ok && r.value.relative);
  });

  it('refuses reversed ranges, ranges over two /64s and junk', () => {
    assert.match(errorOf(parseRange6('fd00:1::1ff-fd00:1::100')), /reversed/);
    assert.match(errorOf(parseRange6('fd00:1::100-fd00:2::100')), /more than one \/64/);
    assert.match(errorOf(parseRange6('fd00:1::100')), /is not a range/);
    assert.match(errorOf(parseRange6('fd00:1::100-nope')), /"nope" is not an IPv6 address/);
  });

  it('is placed in the bridge /64 and checked against it', () => {
    const bridge = v6('fd00:1::1');
    const relative = resolveRange6({ first: v6('::100'), last: v6('::1ff'), relative: true }, bridge);
    assert.ok(relative.ok);
    if (relative.ok) assert.deepEqual([formatIPv6(relative.value.first), formatIPv6(relative.value.last)], ['fd00:1::100', 'fd00:1::1ff']);
    assert.match(errorOf(resolveRange6({ first: v6('fd00:2::100'), last: v6('fd00:2::1ff'), relative: false }, bridge)), /outside the bridge's fd00:1::\/64/);
    assert.match(errorOf(resolveRange6({ first: v6('::1'), last: v6('::ff'), relative: true }, bridge)), /contains the bridge address fd00:1::1/);
    assert.match(errorOf(resolveRange6({ first: v6('::0'), last: v6('::0'), relative: true }, v6('fd00:1::ffff'))), /subnet-router anycast/);
  });
});

describe('the three flags together', () => {
  it('defaults: auto, no range, NAT66 by prefix', () => {
    assert.deepEqual(parseIpv6Flags({ ipv6: undefined, range6: undefined, nat6: undefined }), {
      ok: true,
      value: { mode: { kind: 'auto', explicit: false }, range6: null, nat6: null },
    });
  });

  it('--range6 with --ipv6 none is an error, as is --nat6 with it', () => {
    assert.match(errorOf(parseIpv6Flags({ ipv6: 'none', range6: '::100-::1ff', nat6: undefined })), /--ipv6 none turns off/);
    assert.match(errorOf(parseIpv6Flags({ ipv6: 'none', range6: undefined, nat6: true })), /--ipv6 none turns off/);
  });

  it('--range6 must lie inside ADDR/64 at parse time', () => {
    assert.match(
      errorOf(parseIpv6Flags({ ipv6: '2001:db8:1::1/64', range6: '2001:db8:2::10-2001:db8:2::20', nat6: undefined })),
      /outside the bridge's 2001:db8:1::\/64/,
    );
    assert.ok(parseIpv6Flags({ ipv6: '2001:db8:1::1/64', range6: '2001:db8:1::10-2001:db8:1::20', nat6: undefined }).ok);
  });

  it('NAT66 defaults to on for a ULA prefix, off for a global one; the flag wins', () => {
    assert.equal(nat6Enabled(null, v6('fd00:1::1')), true);
    assert.equal(nat6Enabled(null, v6('fc00:1::1')), true);
    assert.equal(nat6Enabled(null, v6('2001:db8::1')), false);
    assert.equal(nat6Enabled(false, v6('fd00:1::1')), false);
    assert.equal(nat6Enabled(true, v6('2001:db8::1')), true);
  });
});

describe('the daemon IPv6 once the bridge address is known', () => {
  const flags = (range6: string | undefined, ipv6?: string): Parameters<typeof daemonIpv6>[0] => {
    const parsed = parseIpv6Flags({ ipv6, range6, nat6: undefined });
    return parsed.ok ? parsed.value : assert.fail(parsed.error);
  };

  it('gives the address, its /64 and the range placed in it', () => {
    const r = daemonIpv6(flags('::100-::1ff'), v6('fd3b:4c77:3a73::1'));
    assert.ok(r.ok && r.value !== null);
    if (r.ok && r.value !== null) {
      assert.equal(formatIPv6(r.value.prefix), 'fd3b:4c77:3a73::');
      assert.deepEqual(r.value.range6 && [formatIPv6(r.value.range6.first), formatIPv6(r.value.range6.last)], ['fd3b:4c77:3a73::100', 'fd3b:4c77:3a73::1ff']);
    }
  });

  it('is null with --ipv6 none or without a bridge address (IPv6 off), and stateless without --range6', () => {
    assert.deepEqual(daemonIpv6(flags(undefined, 'none'), null), { ok: true, value: null });
    assert.deepEqual(daemonIpv6(flags('::100-::1ff'), null), { ok: true, value: null });
    const stateless = daemonIpv6(flags(undefined), v6('fd00:1::1'));
    assert.ok(stateless.ok && stateless.value?.range6 === null);
  });

  it('an absolute --range6 outside the auto prefix is an error naming the prefix', () => {
    assert.match(errorOf(daemonIpv6(flags('fd00:9::10-fd00:9::20'), v6('fd00:1::1'))), /outside the bridge's fd00:1::\/64/);
  });
});
