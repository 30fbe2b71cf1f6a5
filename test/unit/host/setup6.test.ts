import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HostSetup6Error, type HostSetup6Options, setupHost6 } from '../../../src/host/setup6.ts';

/** A fake /proc/sys/net/ipv6 whose all.disable_ipv6 is `disabled`: setupHost6 decides before any netlink call. */
function fakeRoot(disabled: string): string {
  const root = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-setup6-'));
  mkdirSync(join(root, 'conf', 'all'), { recursive: true });
  writeFileSync(join(root, 'conf', 'all', 'disable_ipv6'), `${disabled}\n`);
  return root;
}
const quiet = { info: (): undefined => undefined };

describe('when IPv6 cannot be set up', () => {
  it('IPv6 disabled in the namespace: the default auto gives a warning and IPv6 off', async () => {
    const root = fakeRoot('1');
    const result = await setupHost6({ bridge: 'lxbr0', mode: { kind: 'auto', explicit: false }, nat6: null, firewall: true, sysctlRoot: root }, quiet);
    assert.ok('off' in result);
    if ('off' in result) assert.match(result.off, /^IPv6 off: IPv6 is disabled in this network namespace .*: enable it, or pass --ipv6 none$/);
    rmSync(root, { recursive: true });
  });

  it('IPv6 disabled in the namespace: an explicit auto or ADDR/64 is an error', async () => {
    const root = fakeRoot('1');
    const modes: HostSetup6Options['mode'][] = [
      { kind: 'auto', explicit: true },
      { kind: 'static', address: { address: Buffer.from('fd000000000000010000000000000001', 'hex'), prefixLength: 64 } },
    ];
    for (const mode of modes) {
      await assert.rejects(setupHost6({ bridge: 'lxbr0', mode, nat6: null, firewall: true, sysctlRoot: root }, quiet), HostSetup6Error);
    }
    rmSync(root, { recursive: true });
  });

  it('no machine id: the default auto gives a warning telling to pass --ipv6 ADDR/64; an explicit auto fails', async () => {
    const root = fakeRoot('0');
    const machineIdPath = join(root, 'no-machine-id');
    const implicit = await setupHost6(
      { bridge: 'lxbr0', mode: { kind: 'auto', explicit: false }, nat6: null, firewall: true, sysctlRoot: root, machineIdPath },
      quiet,
    );
    assert.ok('off' in implicit && /give one with --ipv6 ADDR\/64/.test(implicit.off));
    await assert.rejects(
      setupHost6({ bridge: 'lxbr0', mode: { kind: 'auto', explicit: true }, nat6: null, firewall: true, sysctlRoot: root, machineIdPath }, quiet),
      /cannot be read \(ENOENT\): give one with --ipv6 ADDR\/64/,
    );
    rmSync(root, { recursive: true });
  });
});
