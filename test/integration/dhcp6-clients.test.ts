/**
 * The DHCPv6 server's decisions against a real client (ISC dhclient -6) in namespaces: stateful (Solicit, Advertise,
 * Request, Reply with an address of --range6), two cloned containers with one DUID getting two addresses, and
 * stateless (-S: Information-request gets the DNS server and the domain). The server runs behind a test-only kernel
 * UDP socket (test/harness/dhcp6-udp-server.ts); the daemon's packet-socket path is the lead's wiring.
 */

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { type Container, createTopology, type Topology } from '../harness/netns.ts';

const SERVER_SCRIPT = resolve(import.meta.dirname, '..', 'harness', 'dhcp6-udp-server.ts');
const BRIDGE_MAC = '02:1a:b0:ff:00:01';
const BRIDGE_ADDRESS = 'fd42:13:13:13::1';
const RANGE = 'fd42:13:13:13::100-fd42:13:13:13::1ff';

async function enableIpv6(t: Topology, ns: string, ifname: string): Promise<void> {
  await t.exec(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
  await t.exec(ns, [
    'sysctl',
    '-q',
    '-w',
    `net.ipv6.conf.${ifname}.disable_ipv6=0`,
    `net.ipv6.conf.${ifname}.accept_dad=0`,
    `net.ipv6.conf.${ifname}.accept_ra=0`,
  ]);
}

async function setUp(range: string | null) {
  const t = await createTopology({ containers: 2, bridgeAddress: null });
  await t.exec(t.hostNs, ['ip', 'link', 'set', t.bridge, 'address', BRIDGE_MAC]);
  await enableIpv6(t, t.hostNs, t.bridge);
  for (const c of t.containers) await enableIpv6(t, c.ns, c.ifname);
  // Re-toggling the links makes the kernel give each its EUI-64 link-local address now that IPv6 is on.
  await t.exec(t.hostNs, ['ip', 'link', 'set', t.bridge, 'down']);
  await t.exec(t.hostNs, ['ip', 'link', 'set', t.bridge, 'up']);
  await t.exec(t.hostNs, ['ip', '-6', 'addr', 'add', `${BRIDGE_ADDRESS}/64`, 'dev', t.bridge, 'nodad']);
  for (const c of t.containers) {
    await t.exec(c.ns, ['ip', 'link', 'set', c.ifname, 'down']);
    await t.exec(c.ns, ['ip', 'link', 'set', c.ifname, 'up']);
  }
  const argv = ['node', '--import', 'tsx', SERVER_SCRIPT, t.bridge, BRIDGE_MAC, BRIDGE_ADDRESS, ...(range === null ? [] : [range])];
  const server = t.spawn(t.hostNs, argv, { timeoutMs: 60_000 });
  await server.waitForOutput(/^ready$/m, { timeoutMs: 20_000 });
  return { t, server };
}

/** dhclient -6 once in the foreground; its script writes the environment it was given. */
async function dhclient6(t: Topology, c: Container, extra: string[], duid?: string): Promise<string> {
  const dir = c.tmpDir;
  const script = join(dir, 'script6.sh');
  writeFileSync(script, `#!/bin/sh\nenv | grep -E '^(reason|new_)' >> ${join(dir, 'env6')}\nexit 0\n`, { mode: 0o755 });
  writeFileSync(join(dir, 'dh6.conf'), 'send fqdn.fqdn "box";\n');
  if (duid !== undefined) writeFileSync(join(dir, 'lease6'), `default-duid "${duid}";\n`);
  const argv = [
    'dhclient',
    '-6',
    '-1',
    '-v',
    ...extra,
    '-cf',
    join(dir, 'dh6.conf'),
    '-sf',
    script,
    '-pf',
    join(dir, 'pid6'),
    '-lf',
    join(dir, 'lease6'),
    c.ifname,
  ];
  const r = await t.exec(c.ns, ['timeout', '25', ...argv], { check: false });
  // With -1 dhclient stays as a daemon after a binding (stateless -S exits after its Reply): stop it by its pid file.
  const pid = existsSync(join(dir, 'pid6')) ? Number.parseInt(readFileSync(join(dir, 'pid6'), 'utf8'), 10) : Number.NaN;
  if (Number.isInteger(pid)) await t.exec(c.ns, ['kill', String(pid)], { check: false });
  let env = '';
  try {
    env = readFileSync(join(dir, 'env6'), 'utf8');
  } catch {
    throw new Error(`dhclient -6 ran no script:\n${r.stdout}\n${r.stderr}`);
  }
  return env;
}

const field = (env: string, name: string): string[] => [...env.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1] as string);

test('dhclient -6 gets an address of --range6; a clone with the same DUID gets another one', { timeout: 120_000 }, async () => {
  const { t, server } = await setUp(RANGE);
  try {
    const a = t.containers[0] as Container;
    const b = t.containers[1] as Container;
    const envA = await dhclient6(t, a, []);
    const ipA = field(envA, 'new_ip6_address')[0];
    assert.ok(ipA?.startsWith('fd42:13:13:13::1'), `${envA}\n${server.stdout}`);
    assert.deepEqual(field(envA, 'new_dhcp6_name_servers'), [BRIDGE_ADDRESS]);
    assert.deepEqual(field(envA, 'new_dhcp6_domain_search'), ['lxc.']);
    // The clone: the same DUID (dhclient keeps it in its lease file), another MAC.
    const duid = /default-duid "([^"]*)"/.exec(readFileSync(join(a.tmpDir, 'lease6'), 'utf8'))?.[1];
    assert.ok(duid, 'dhclient wrote its DUID');
    const envB = await dhclient6(t, b, [], duid);
    const ipB = field(envB, 'new_ip6_address')[0];
    assert.ok(ipB?.startsWith('fd42:13:13:13::1'), `${envB}\n${server.stdout}`);
    assert.notEqual(ipA, ipB);
    assert.match(server.stdout, /"type":"BIND".*"hostname":"box"/);
  } finally {
    await t.destroy();
  }
});

test('dhclient -6 -S (stateless) gets the DNS server and the domain from an Information-request', { timeout: 120_000 }, async () => {
  const { t, server } = await setUp(null);
  try {
    const env = await dhclient6(t, t.containers[0] as Container, ['-S']);
    assert.deepEqual(field(env, 'new_dhcp6_name_servers'), [BRIDGE_ADDRESS], `${env}\n${server.stdout}`);
    assert.deepEqual(field(env, 'new_dhcp6_domain_search'), ['lxc.']);
    assert.equal(field(env, 'new_ip6_address').length, 0);
  } finally {
    await t.destroy();
  }
});
