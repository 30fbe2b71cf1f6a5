// The IPv6 part of our dnsmasq-format lease file against the one a real dnsmasq (2.90, DHCPv6 on) writes for the same
// clients: the `duid` line and the `EXPIRY IAID ADDRESS HOSTNAME CLIENT-DUID` lines, byte for byte and in dnsmasq's
// order. The records are built from what the test knows: the container's MAC, the address ISC dhclient -6 reported,
// its DUID-LL (`-D LL`: 00:03:00:01 and the MAC) and IAID (the MAC's last four bytes, ISC dhclient's choice); only the
// server DUID (dnsmasq makes its own) and the expiry second (checked to be 1 h after the exchange) come from its file.

import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatDnsmasqLeases } from '../../src/leases/dnsmasq-format.ts';
import type { StoredLease6 } from '../../src/leases/lease6.ts';
import { type Dnsmasq, startDnsmasq } from '../harness/dnsmasq.ts';
import { adoptPid, type Container, createTopology, randomPrefix, run, type Topology } from '../harness/netns.ts';

const LEASE_SECONDS = 3600;
const PREFIX = 'fd00:6::';

/** IPv6 on in a namespace the topology made (it turns it off), without duplicate address detection delays. */
async function enableIPv6(topology: Topology, ns: string, ifname: string): Promise<void> {
  await topology.exec(ns, [
    'sysctl',
    '-q',
    '-w',
    `net.ipv6.conf.${ifname}.accept_dad=0`,
    'net.ipv6.conf.default.accept_dad=0',
    `net.ipv6.conf.${ifname}.accept_ra=0`,
  ]);
  await topology.exec(ns, [
    'sysctl',
    '-q',
    '-w',
    'net.ipv6.conf.all.disable_ipv6=0',
    'net.ipv6.conf.default.disable_ipv6=0',
    `net.ipv6.conf.${ifname}.disable_ipv6=0`,
  ]);
}

interface Got {
  container: Container;
  address: string;
  before: number;
  after: number;
}

/** ISC dhclient -6 -1 with a DUID-LL; resolves with the address its script was handed (BOUND6). */
async function dhclient6(container: Container): Promise<Got> {
  const dir = mkdtempSync(join(container.tmpDir, 'dhclient6-'));
  const script = join(dir, 'script');
  writeFileSync(script, `#!/bin/sh\nif [ "$reason" = BOUND6 ]; then echo "$new_ip6_address" > "${dir}/address"; fi\nexit 0\n`);
  chmodSync(script, 0o755);
  writeFileSync(join(dir, 'conf'), 'timeout 15;\n');
  const pidFile = join(dir, 'pid');
  const t0 = Date.now();
  const argv = [
    'dhclient',
    '-6',
    '-v',
    '-1',
    '-D',
    'LL',
    '-cf',
    join(dir, 'conf'),
    '-sf',
    script,
    '-pf',
    pidFile,
    '-lf',
    join(dir, 'leases'),
    container.ifname,
  ];
  const result = await run(['ip', 'netns', 'exec', container.ns, ...argv], { timeoutMs: 25_000 });
  const t1 = Date.now();
  try {
    adoptPid(container.ns, Number(readFileSync(pidFile, 'utf8').trim()));
  } catch {
    // no daemon left behind
  }
  assert.equal(result.code, 0, `dhclient -6 in ${container.ns}: ${result.stdout}${result.stderr}`);
  return { container, address: readFileSync(join(dir, 'address'), 'utf8').trim(), before: t0, after: t1 };
}

describe('dnsmasq lease file compatibility, IPv6 part (real dnsmasq 2.90 with DHCPv6, ISC dhclient -6)', { timeout: 120_000 }, () => {
  let topology: Topology;
  let dnsmasq: Dnsmasq;

  before(async () => {
    topology = await createTopology({ containers: 2, prefix: randomPrefix('lxl6-') });
    await enableIPv6(topology, topology.hostNs, topology.bridge);
    await topology.exec(topology.hostNs, ['ip', '-6', 'addr', 'add', `${PREFIX}1/64`, 'dev', topology.bridge, 'nodad']);
    for (const c of topology.containers) await enableIPv6(topology, c.ns, c.ifname);
    dnsmasq = await startDnsmasq(topology, { extraArgs: [`--dhcp-range=${PREFIX}100,${PREFIX}1ff,64,${LEASE_SECONDS}`] });
  });

  after(async () => {
    await dnsmasq?.stop();
    await topology?.destroy();
  });

  it('writes the same duid line and IPv6 lines as dnsmasq for two clients', async () => {
    const got: Got[] = [];
    for (const container of topology.containers) {
      got.push(await dhclient6(container));
      await new Promise((resolve) => setTimeout(resolve, 20)); // distinct updatedAt per binding
    }
    let text = '';
    for (let i = 0; i < 100 && text.split('\n').filter(Boolean).length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      text = dnsmasq.leases();
    }
    const lines = text.split('\n');
    const serverDuid = /^duid ([0-9a-f:]+)$/.exec(lines[0] ?? '')?.[1];
    assert.ok(serverDuid, `no duid line first in dnsmasq's file:\n${text}`);

    const leases6: StoredLease6[] = got.map((g) => {
      const line = lines.find((l) => l.split(' ')[2] === g.address);
      assert.ok(line, `dnsmasq has no line for ${g.address}:\n${text}`);
      const seconds = Number(line.split(' ')[0]);
      const low = Math.floor(g.before / 1000) + LEASE_SECONDS;
      const high = Math.floor(g.after / 1000) + LEASE_SECONDS;
      assert.ok(seconds >= low && seconds <= high, `expiry ${seconds} outside [${low}, ${high}]`);
      const macHex = g.container.mac.replace(/:/g, '');
      return {
        ip: g.address,
        mac: g.container.mac,
        iaid: Number.parseInt(macHex.slice(4), 16),
        duidHex: `00030001${macHex}`,
        hostname: null,
        state: 'bound',
        expiresAt: seconds * 1000,
        updatedAt: g.after,
      };
    });
    const ours = formatDnsmasqLeases([], Date.now(), { serverDuid: Buffer.from(serverDuid.replace(/:/g, ''), 'hex'), leases6 });
    assert.equal(ours, text, `ours:\n${ours}\ndnsmasq's:\n${text}`);
  });
});
