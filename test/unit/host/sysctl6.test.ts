import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { NetworkInterfaceInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bridgeAddress6 } from '../../../src/host/bridge-address.ts';
import {
  changeSysctl,
  defaultRouteInterfaces,
  ipv6Unavailable,
  keepAcceptingRouterAdvertisements,
  restoreSysctl,
  uplinksOf,
} from '../../../src/host/sysctl6.ts';
import { formatIPv6 } from '../../../src/net/address6.ts';

/** A fake /proc/sys/net/ipv6 with conf/NAME/{disable_ipv6,accept_ra,forwarding}. */
function fakeRoot(interfaces: Record<string, { disable_ipv6?: string; accept_ra?: string; forwarding?: string }>): string {
  const root = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-sysctl6-'));
  for (const [name, values] of Object.entries(interfaces)) {
    mkdirSync(join(root, 'conf', name), { recursive: true });
    for (const [key, value] of Object.entries(values)) writeFileSync(join(root, 'conf', name, key), `${value}\n`);
  }
  return root;
}
const read = (root: string, name: string, key: string): string => readFileSync(join(root, 'conf', name, key), 'utf8').trim();

// /proc/net/ipv6_route lines: a default route via wan0 learned by RA, one via eth1, an unreachable default on lo, a /64.
const ROUTES = [
  '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     wan0',
  '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000002 00000400 00000001 00000000 00450003     eth1',
  '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo',
  'fd123456789a00000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001    lxbr0',
  '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000003 00000400 00000001 00000000 00450003    lxbr0',
].join('\n');

describe('IPv6 sysctls', () => {
  it('IPv6 is unavailable when the kernel has none or all.disable_ipv6=1', () => {
    const off = fakeRoot({ all: { disable_ipv6: '1' } });
    const on = fakeRoot({ all: { disable_ipv6: '0' } });
    assert.match(ipv6Unavailable(off) ?? '', /disabled in this network namespace \(net\.ipv6\.conf\.all\.disable_ipv6=1\)/);
    assert.equal(ipv6Unavailable(on), null);
    assert.match(ipv6Unavailable(join(on, 'missing')) ?? '', /the kernel has no IPv6 here/);
    rmSync(off, { recursive: true });
    rmSync(on, { recursive: true });
  });

  it('a change records the old value and restore puts it back; no write when already set', () => {
    const root = fakeRoot({ all: { forwarding: '0' }, lxbr0: { disable_ipv6: '0' } });
    const change = changeSysctl(join(root, 'conf/all/forwarding'), '1');
    assert.deepEqual(change, { path: join(root, 'conf/all/forwarding'), previous: '0', written: '1' });
    assert.equal(read(root, 'all', 'forwarding'), '1');
    assert.equal(changeSysctl(join(root, 'conf/lxbr0/disable_ipv6'), '0'), null);
    assert.equal(restoreSysctl(change ?? assert.fail('no change')), true);
    assert.equal(read(root, 'all', 'forwarding'), '0');
    rmSync(root, { recursive: true });
  });

  it('accept_ra goes from 1 to 2 only (0 stays off, 2 stays), and restore puts 1 back', () => {
    const root = fakeRoot({ wan0: { accept_ra: '1' }, eth1: { accept_ra: '0' }, eth2: { accept_ra: '2' } });
    const changes = keepAcceptingRouterAdvertisements(['wan0', 'eth1', 'eth2', 'gone0'], root);
    assert.deepEqual(
      changes.map((c) => [c.path.slice(root.length), c.previous]),
      [['/conf/wan0/accept_ra', '1']],
    );
    assert.deepEqual(
      ['wan0', 'eth1', 'eth2'].map((n) => read(root, n, 'accept_ra')),
      ['2', '0', '2'],
    );
    for (const change of changes) restoreSysctl(change);
    assert.equal(read(root, 'wan0', 'accept_ra'), '1');
    rmSync(root, { recursive: true });
  });

  it('uplinks are --uplink, else the interfaces holding an IPv6 default route (not lo, not the bridge)', () => {
    assert.deepEqual(defaultRouteInterfaces(ROUTES, 'lxbr0'), ['eth1', 'wan0']);
    assert.deepEqual(uplinksOf('lxbr0', 'wan9', '/nonexistent'), ['wan9']);
    assert.deepEqual(uplinksOf('lxbr0', undefined, '/nonexistent'), []);
  });
});

describe('the bridge IPv6 address with --no-host-setup', () => {
  const entry = (address: string, cidr: string): NetworkInterfaceInfo => ({
    address,
    cidr,
    netmask: 'ffff:ffff:ffff:ffff::',
    family: 'IPv6',
    mac: '02:00:00:00:00:01',
    internal: false,
    scopeid: 0,
  });

  it('takes the first global or ULA /64, skipping link-local and other lengths', () => {
    const found = bridgeAddress6('lxbr0', {
      lxbr0: [entry('fe80::1', 'fe80::1/64'), entry('fd00:9::1', 'fd00:9::1/48'), entry('fd00:1::1', 'fd00:1::1/64')],
    });
    assert.ok(found.ok);
    if (found.ok) assert.equal(formatIPv6(found.address.address), 'fd00:1::1');
  });

  it('without one, IPv6 is off with a warning saying how to add one', () => {
    const found = bridgeAddress6('lxbr0', { lxbr0: [entry('fe80::1', 'fe80::1/64')] });
    assert.equal(found.ok, false);
    if (!found.ok) assert.match(found.warning, /^IPv6 off: bridge lxbr0 has no global or unique local \/64 address/);
  });
});
