import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { manualResolverHint, resolvedRegisterCalls, resolvedRevertCall, resolvedRunning } from '../../../src/host/resolved.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

test('the D-Bus calls that register the bridge link with systemd-resolved', () => {
  const calls = resolvedRegisterCalls(7, parseIPv4('10.0.0.1') as number, 'lxc');
  const dest = ['org.freedesktop.resolve1', '/org/freedesktop/resolve1', 'org.freedesktop.resolve1.Manager'];
  assert.deepEqual(calls, [
    ['call', ...dest, 'SetLinkDNS', 'ia(iay)', '7', '1', '2', '4', '10', '0', '0', '1'],
    ['call', ...dest, 'SetLinkDomains', 'ia(sb)', '7', '1', 'lxc', 'true'],
    ['call', ...dest, 'SetLinkDNSSEC', 'is', '7', 'no'],
    ['call', ...dest, 'SetLinkDNSOverTLS', 'is', '7', 'no'],
  ]);
  assert.deepEqual(resolvedRevertCall(7), ['call', ...dest, 'RevertLink', 'i', '7']);
});

test('resolved is detected by its runtime directory; the manual hint names the exact commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resolved-'));
  assert.equal(resolvedRunning(dir), false);
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.53\n');
  assert.equal(resolvedRunning(dir), true);
  assert.equal(
    manualResolverHint('br0', parseIPv4('10.0.0.1') as number, 'lxc'),
    `to resolve *.lxc from the host: with systemd-resolved run "resolvectl dns br0 10.0.0.1; resolvectl domain br0 '~lxc'"; otherwise put "nameserver 10.0.0.1" first in /etc/resolv.conf (dhclient: "prepend domain-name-servers 10.0.0.1;")`,
  );
});
