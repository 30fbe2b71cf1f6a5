/**
 * src/host/cluster-routes.ts against a real kernel in a namespace (the library runs in cluster-routes-child.ts under
 * `ip netns exec`; everything is observed from outside with `ip route show proto 213` and `nft list table`): routes to
 * the peers via their addresses with our protocol number, hostile and overlapping peers refused, a route someone else
 * installed left alone, a changed next hop replaced, a departed peer's route removed, the peer set in our table and
 * the rules that use it, and at close only our routes gone and the set empty.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { RTPROT_LXC_DHCPD } from '../../src/host/cluster-routes.ts';
import { createTopology, type SpawnedProcess, type Topology } from '../harness/netns.ts';

const CHILD = resolve(import.meta.dirname, 'cluster-routes-child.ts');

const FIRST = [
  { host: 'h2', subnet: '10.42.0.0/24', via: '198.18.0.22' },
  { host: 'h3', subnet: '10.43.0.0/24', via: '198.18.0.23' },
  { host: 'h4', subnet: '10.44.0.0/24', via: '198.18.0.25' },
  { host: 'overlap', subnet: '10.41.0.128/25', via: '198.18.0.26' },
  { host: 'everything', subnet: '0.0.0.0/0', via: '198.18.0.27' },
  { host: 'hostbits', subnet: '10.45.0.1/24', via: '198.18.0.28' },
  { host: 'loop', subnet: '10.46.0.0/24', via: '10.46.0.1' },
  { host: 'unreachable', subnet: '10.47.0.0/24', via: '192.0.2.1' },
];
const SECOND = [{ host: 'h2', subnet: '10.42.0.0/24', via: '198.18.0.29' }];
const STEPS = [FIRST, SECOND, 'close'];

let topology: Topology;
let child: SpawnedProcess;

async function hostText(argv: string[]): Promise<string> {
  const result = await topology.exec(topology.hostNs, argv, { check: true });
  return result.stdout;
}

const ourRoutes = async (): Promise<string[]> =>
  (await hostText(['ip', 'route', 'show', 'proto', String(RTPROT_LXC_DHCPD)]))
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);

async function step(n: number): Promise<string> {
  const match = await child.waitForOutput(new RegExp(`STEP ${n} done (.*)`), { stream: 'stdout', timeoutMs: 20_000 });
  return match[1] ?? '';
}

function go(n: number): void {
  writeFileSync(join(topology.tmpDir, `go-${n}`), '');
}

before(async () => {
  topology = await createTopology({ containers: 0, bridge: 'br0', bridgeAddress: '10.41.0.1/24' });
  const ip = (...args: string[]): Promise<string> => hostText(['ip', ...args]);
  // A veth pair stands in for the uplink (no dummy module on every kernel); both ends up, so the link has carrier.
  await ip('link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'wan1');
  await ip('addr', 'add', '198.18.0.21/24', 'dev', 'wan0');
  await ip('link', 'set', 'wan0', 'up');
  await ip('link', 'set', 'wan1', 'up');
  // Someone else's route to h4's subnet: ours must not replace it.
  await ip('route', 'add', '10.44.0.0/24', 'via', '198.18.0.24', 'proto', 'static');
  child = topology.spawn(topology.hostNs, [process.execPath, '--import', 'tsx', CHILD], {
    env: { ...process.env, CLUSTER_ROUTES_STEPS: JSON.stringify(STEPS), CLUSTER_ROUTES_DIR: topology.tmpDir },
  });
});

after(async () => {
  await topology?.destroy();
});

test('sync: a route per accepted peer with our protocol, the peers in the set, hostile ones refused once', async () => {
  const dropped = JSON.parse(await step(0)) as Record<string, number>;
  assert.deepEqual(await ourRoutes(), ['10.42.0.0/24 via 198.18.0.22 dev wan0', '10.43.0.0/24 via 198.18.0.23 dev wan0']);
  const all = await hostText(['ip', 'route', 'show']);
  assert.match(all, /10\.44\.0\.0\/24 via 198\.18\.0\.24 dev wan0 proto static/, "someone else's route is untouched");
  assert.deepEqual(dropped, { invalid: 3, 'overlaps-own': 1, 'overlaps-peer': 0, 'over-limit': 0, 'route-exists': 1, 'kernel-refused': 1 });
  for (const host of ['h4', 'overlap', 'everything', 'hostbits', 'loop', 'unreachable']) {
    assert.match(child.stdout, new RegExp(`WARN cluster routes: host ${host} not routed`), host);
  }
  const table = await hostText(['nft', 'list', 'table', 'ip', 'lxc-dhcpd']);
  assert.match(table, /set cluster_peers \{\s+type ipv4_addr\s+flags interval\s+elements = \{ 10\.42\.0\.0\/24, 10\.43\.0\.0\/24 \}/);
  const postrouting = table.slice(table.indexOf('chain postrouting'));
  assert.match(
    postrouting,
    /policy accept;\s+ip daddr @cluster_peers accept\s+ip saddr 10\.41\.0\.0\/24 ip daddr != 10\.41\.0\.0\/24 oifname "wan0" masquerade/,
  );
  const forward = table.slice(table.indexOf('chain forward'));
  assert.match(forward, /policy accept;\s+ip saddr @cluster_peers oifname "br0" accept\s+iifname "br0" accept/);
});

test('sync again: a changed next hop is replaced, a departed peer removed, the set follows', async () => {
  go(0);
  await step(1);
  assert.deepEqual(await ourRoutes(), ['10.42.0.0/24 via 198.18.0.29 dev wan0']);
  const set = await hostText(['nft', 'list', 'set', 'ip', 'lxc-dhcpd', 'cluster_peers']);
  assert.match(set, /elements = \{ 10\.42\.0\.0\/24 \}/);
  assert.doesNotMatch(set, /10\.43/);
});

test('close: our routes are gone, the set is empty, the static route stays', async () => {
  go(1);
  await step(2);
  assert.deepEqual(await ourRoutes(), []);
  const set = await hostText(['nft', 'list', 'set', 'ip', 'lxc-dhcpd', 'cluster_peers']);
  assert.doesNotMatch(set, /elements/);
  assert.match(await hostText(['ip', 'route', 'show']), /10\.44\.0\.0\/24 via 198\.18\.0\.24/);
  go(2);
  await child.waitForOutput(/EXIT/, { stream: 'stdout', timeoutMs: 10_000 });
});
