/**
 * Issue 4 end to end with the real daemon: `lxc-dhcpd --bridge br0 --range 10.0.0.100-200` on a namespace-host that
 * has only an uplink creates the bridge, turns forwarding on and installs NAT; a container gets a lease and reaches
 * the "wan" with its source rewritten; exit removes what we created; restart after SIGKILL leaves one copy of our
 * rules; bad flags change nothing.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startCapture } from '../harness/capture.ts';
import { udhcpc } from '../harness/clients.ts';
import { LXC_DHCPD_BIN, type RunningLxcDhcpd, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, type Topology } from '../harness/netns.ts';

let topology: Topology;
let container: Container;

async function hostExec(...argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return topology.exec(topology.hostNs, argv, { timeoutMs: 15_000 });
}
const nftOurs = async (): Promise<string> => (await hostExec('nft', 'list', 'table', 'ip', 'lxc-dhcpd')).stdout;
const linkExists = async (name: string): Promise<boolean> => (await hostExec('ip', 'link', 'show', name)).code === 0;

before(async () => {
  topology = await createTopology({ containers: 1, wan: true, bridgeAddress: null });
  container = topology.containers[0] as Container;
  // A host with no bridge at all: only the uplink to the wan.
  await topology.exec(topology.hostNs, ['ip', 'link', 'del', 'br0'], { check: true });
  await topology.exec(topology.hostNs, ['nft', 'add', 'table', 'ip', 'usertable'], { check: true });
  await topology.exec(topology.hostNs, ['nft', 'add', 'chain', 'ip', 'usertable', 'mine', '{ type filter hook input priority 10; policy accept; }'], {
    check: true,
  });
  await topology.exec(topology.hostNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=0'], { check: true });
});

after(async () => {
  await topology?.destroy();
});

async function startDaemon(): Promise<RunningLxcDhcpd> {
  return startLxcDhcpd(topology, { leaseDb: join(topology.tmpDir, 'leases.db') });
}

test('bad flags give one line and change nothing on the host', async () => {
  const userTableBefore = (await hostExec('nft', 'list', 'table', 'ip', 'usertable')).stdout;
  const run = (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    hostExec(process.execPath, LXC_DHCPD_BIN, '--lease-db', join(topology.tmpDir, 'bad.db'), ...args);
  const outside = await run('--bridge', 'br0', '--range', '10.0.1.100-200', '--address', '10.0.0.1/24');
  assert.equal(outside.code, 2);
  assert.equal(outside.stderr.trim().split('\n').length, 1, outside.stderr);
  assert.match(outside.stderr, /^lxc-dhcpd: --range 10\.0\.1\.100-10\.0\.1\.200 is outside --address 10\.0\.0\.1\/24's subnet/);
  const notBridge = await run('--bridge', 'wan0', '--range', '10.0.0.100-200');
  assert.equal(notBridge.code, 2);
  assert.equal(notBridge.stderr.trim().split('\n').length, 1, notBridge.stderr);
  assert.match(notBridge.stderr, /wan0 exists but is not a bridge/);
  const badConfig = join(topology.tmpDir, 'bad.conf');
  writeFileSync(badConfig, 'bridge = br0\nrange = 10.0.0.100-200\nrnage = 10.0.0.100-200\n');
  const typo = await run('--config', badConfig);
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr, `lxc-dhcpd: ${badConfig}:3: unknown option "rnage" (see lxc-dhcpd --help)\n`);
  assert.equal(await linkExists('br0'), false, 'no bridge was created');
  assert.notEqual((await hostExec('nft', 'list', 'table', 'ip', 'lxc-dhcpd')).code, 0, 'no table was created');
  assert.equal((await hostExec('sysctl', '-n', 'net.ipv4.ip_forward')).stdout.trim(), '0');
  assert.equal((await hostExec('nft', 'list', 'table', 'ip', 'usertable')).stdout, userTableBefore);
});

test('one command creates the bridge with its address, turns forwarding on and installs NAT; SIGTERM removes them', async () => {
  const daemon = await startDaemon();
  const link = JSON.parse((await hostExec('ip', '-j', 'addr', 'show', 'br0')).stdout) as {
    flags: string[];
    linkinfo?: unknown;
    addr_info: { family: string; local: string; prefixlen: number }[];
  }[];
  assert.ok(link[0]?.flags.includes('UP'), 'br0 is up');
  assert.deepEqual(
    link[0]?.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    ['10.0.0.1/24'],
  );
  assert.match((await hostExec('ip', '-d', 'link', 'show', 'br0')).stdout, /bridge forward_delay 0 .*stp_state 0/);
  assert.equal((await hostExec('sysctl', '-n', 'net.ipv4.ip_forward')).stdout.trim(), '1');
  const rules = await nftOurs();
  assert.match(rules, /ip saddr 10\.0\.0\.0\/24 ip daddr != 10\.0\.0\.0\/24 masquerade/);
  assert.match(rules, /iifname "br0" udp dport 67 accept/);
  assert.match(rules, /iifname "br0" udp dport 53 accept/);
  assert.match(rules, /iifname "br0" tcp dport 53 accept/);
  assert.match(rules, /iifname "br0" accept/);
  assert.match(rules, /oifname "br0" accept/);
  await daemon.waitForLog(/bridge br0: created/, 5000);

  await daemon.stop();
  assert.equal(daemon.process.exitStatus?.code, 0);
  assert.equal(await linkExists('br0'), false, 'the bridge we created (no ports) is gone');
  assert.notEqual((await hostExec('nft', 'list', 'table', 'ip', 'lxc-dhcpd')).code, 0, 'our table is gone');
  assert.equal((await hostExec('sysctl', '-n', 'net.ipv4.ip_forward')).stdout.trim(), '0', 'forwarding restored');
  assert.match((await hostExec('nft', 'list', 'table', 'ip', 'usertable')).stdout, /chain mine/, 'user table untouched');
});

test('a container gets a lease and reaches the wan with its source rewritten to the uplink address', async () => {
  const daemon = await startDaemon();
  await topology.exec(topology.hostNs, ['ip', 'link', 'set', container.hostIfname, 'master', 'br0'], { check: true });
  const client = await udhcpc(container, { hostname: 'natted' });
  assert.equal(client.lease.router, '10.0.0.1');
  const capture = await startCapture(topology.wanNs as string, 'eth0', 'udp port 9999');
  await topology.exec(
    container.ns,
    [process.execPath, '-e', "const s=require('dgram').createSocket('udp4');s.send('hello',9999,'198.51.100.1',()=>s.close())"],
    { check: true },
  );
  const seen = await capture.waitFor((p) => p.destination?.port === 9999, 5000);
  await capture.stop();
  assert.equal(seen.source?.address, '198.51.100.2', `source rewritten: ${seen.summary}`);
  await client.stop();

  // SIGKILL, then start again: the stale table is replaced, never doubled.
  daemon.process.signal('SIGKILL');
  await daemon.process.exited;
  const again = await startDaemon();
  const rules = await nftOurs();
  assert.equal(rules.match(/masquerade/g)?.length, 1, rules);
  assert.equal(rules.match(/udp dport 67 accept/g)?.length, 1, rules);
  await again.waitForLog(/bridge br0: reused/, 5000);
  await again.stop();
  assert.notEqual((await hostExec('nft', 'list', 'table', 'ip', 'lxc-dhcpd')).code, 0, 'our table is gone');
  assert.equal(await linkExists('br0'), true, 'a bridge with a container attached is kept');
});
