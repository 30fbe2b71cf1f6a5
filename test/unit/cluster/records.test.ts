import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  classifyKey,
  encodeHostRecord,
  encodeNameRecord,
  MAX_RECORD_BYTES,
  parseHostRecord,
  parseNameRecord,
  parsePrefix6,
  parseSubnet4,
  prefixes6Overlap,
  subnetsOverlap,
} from '../../../src/cluster/records.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const ip = (t: string): number => parseIPv4(t) as number;
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const HOST = { v: 1, host: 'a', bridge: 'br0', subnet4: '10.0.3.0/24', prefix6: 'fd12:3456:789a:1::/64', address: '192.0.2.11', domain: 'lxc' };
const NAME = { v: 1, name: 'web', host: 'a', kind: 'lease', a: ['10.0.3.5'], aaaa: ['fd12:3456:789a:1::5'] };

test('a host record round-trips through its JSON, as the contract lays it out', () => {
  const parsed = parseHostRecord('a', json(HOST));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value, {
    host: 'a',
    bridge: 'br0',
    network: ip('10.0.3.0'),
    prefixLength: 24,
    prefix6: { network: 'fd12:3456:789a:1::', prefixLength: 64 },
    address: ip('192.0.2.11'),
    domain: 'lxc',
  });
  assert.deepEqual(JSON.parse(encodeHostRecord(parsed.value)), HOST);
  assert.ok(parseHostRecord('a', json({ ...HOST, prefix6: null })).ok, 'IPv4 only');
});

test('a hostile host record is refused with a named reason', () => {
  const reasons: [unknown, string][] = [
    [{ ...HOST, host: 'b' }, 'host-mismatch'],
    [{ ...HOST, v: 2 }, 'version'],
    [{ ...HOST, bridge: 'a'.repeat(16) }, 'bridge'],
    [{ ...HOST, subnet4: '10.0.3.1/24' }, 'subnet4'],
    [{ ...HOST, subnet4: '10.0.0.0/0' }, 'subnet4'],
    [{ ...HOST, subnet4: 7 }, 'subnet4'],
    [{ ...HOST, prefix6: 'fd12::1/64' }, 'prefix6'],
    [{ ...HOST, prefix6: 64 }, 'prefix6'],
    [{ ...HOST, address: '0.0.0.0' }, 'address'],
    [{ ...HOST, address: '192.0.2.300' }, 'address'],
    [{ ...HOST, domain: 'l xc' }, 'domain'],
    [[HOST], 'not-an-object'],
  ];
  for (const [value, reason] of reasons) assert.deepEqual(parseHostRecord('a', json(value)), { ok: false, error: reason }, JSON.stringify(value));
  assert.deepEqual(parseHostRecord('a', Buffer.from('{"v":1,')), { ok: false, error: 'not-json' });
  assert.deepEqual(parseHostRecord('a', Buffer.from([0x7b, 0xff, 0x7d])), { ok: false, error: 'not-json' }, 'invalid UTF-8');
  assert.deepEqual(parseHostRecord('a', Buffer.alloc(MAX_RECORD_BYTES + 1, 0x20)), { ok: false, error: 'too-large' });
});

test('a name record round-trips; a hostile one is refused with a named reason', () => {
  const parsed = parseNameRecord('web', json(NAME));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value, { name: 'web', host: 'a', kind: 'lease', a: [ip('10.0.3.5')], aaaa: ['fd12:3456:789a:1::5'] });
  assert.deepEqual(JSON.parse(encodeNameRecord(parsed.value)), NAME);
  const reasons: [unknown, string][] = [
    [{ ...NAME, name: 'www' }, 'name-mismatch'],
    [{ ...NAME, host: 'A_B' }, 'host'],
    [{ ...NAME, kind: 'static' }, 'kind'],
    [{ ...NAME, a: '10.0.3.5' }, 'a'],
    [{ ...NAME, a: ['10.0.3.5', 'x'] }, 'a'],
    [{ ...NAME, a: Array.from({ length: 9 }, (_, i) => `10.0.3.${i + 1}`) }, 'a'],
    [{ ...NAME, aaaa: ['::ffff:10.0.3.5'] }, 'aaaa'],
    [{ ...NAME, a: [], aaaa: [] }, 'no-address'],
  ];
  for (const [value, reason] of reasons) assert.deepEqual(parseNameRecord('web', json(value)), { ok: false, error: reason }, JSON.stringify(value));
});

test('keys: only labels under hosts/ and names/ are ours', () => {
  assert.deepEqual(classifyKey('/lxc-dhcpd/v1/hosts/a'), { kind: 'host', label: 'a' });
  assert.deepEqual(classifyKey('/lxc-dhcpd/v1/names/web-1'), { kind: 'name', label: 'web-1' });
  for (const key of ['/lxc-dhcpd/v1/names/Web', '/lxc-dhcpd/v1/names/a/b', '/lxc-dhcpd/v1/names/', '/lxc-dhcpd/v1/other/a', '/x']) {
    assert.equal(classifyKey(key), null, key);
  }
});

test('subnets and prefixes overlap when the shorter holds the other', () => {
  const s = (t: string) => parseSubnet4(t) ?? assert.fail(t);
  assert.ok(subnetsOverlap(s('10.0.0.0/16'), s('10.0.3.0/24')));
  assert.ok(subnetsOverlap(s('10.0.3.0/24'), s('10.0.3.0/24')));
  assert.ok(!subnetsOverlap(s('10.0.3.0/24'), s('10.0.4.0/24')));
  const p = (t: string) => parsePrefix6(t) ?? assert.fail(t);
  assert.ok(prefixes6Overlap(p('fd00::/48'), p('fd00:0:0:1::/64')));
  assert.ok(!prefixes6Overlap(p('fd00:0:0:2::/64'), p('fd00:0:0:1::/64')));
});
