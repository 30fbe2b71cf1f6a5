/**
 * The multi-host harness itself (test/harness/etcd.ts, cluster-hosts.ts): a 3-member etcd cluster in its own
 * namespaces is healthy; with one member killed the other two still serve a put and a get; the killed member rejoins;
 * two "hosts" on the wan reach the etcd members and each other, and nothing is left behind after destroy().
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type ClusterHosts, createClusterHosts } from '../harness/cluster-hosts.ts';
import { type EtcdCluster, startEtcdCluster } from '../harness/etcd.ts';
import { run } from '../harness/netns.ts';

let etcd: EtcdCluster;
let hosts: ClusterHosts;

before(async () => {
  etcd = await startEtcdCluster({ members: 3 });
  hosts = await createClusterHosts(etcd, { hosts: 2, containers: 0 });
});

after(async () => {
  await hosts?.destroy();
  await etcd?.destroy();
});

test('three members report healthy and agree on the member list', async () => {
  const health = await etcd.etcdctl(['endpoint', 'health']);
  assert.equal(health.code, 0, health.stderr);
  assert.equal((`${health.stdout}${health.stderr}`.match(/is healthy/g) ?? []).length, 3);
  const list = await etcd.etcdctl(['member', 'list']);
  assert.equal(list.stdout.trim().split('\n').length, 3, list.stdout);
});

test('one member killed: the other two still serve a put and a get; it rejoins on restart', async () => {
  await etcd.kill(0);
  assert.notEqual(etcd.members[0]?.process?.exitStatus, null, 'member 1 is gone');
  // If member 1 led, the other two elect a leader first (an election timeout, 1 s, longer on a loaded machine): the
  // survivors' health check commits a proposal, so it passes once there is a leader again.
  await etcd.waitHealthy();
  const survivors = etcd.endpoints.slice(1);
  const put = await etcd.etcdctl(['put', '/harness/k', 'v1'], { endpoints: survivors });
  assert.equal(put.code, 0, put.stderr);
  const get = await etcd.etcdctl(['get', '--print-value-only', '/harness/k'], { endpoints: survivors });
  assert.equal(get.stdout.trim(), 'v1');
  const dead = await etcd.etcdctl(['get', '/harness/k'], { endpoints: etcd.endpoints.slice(0, 1) });
  assert.notEqual(dead.code, 0, 'the killed member answers nothing');
  await etcd.restart(0);
  await etcd.waitHealthy();
  const again = await etcd.etcdctl(['get', '--print-value-only', '/harness/k'], { endpoints: etcd.endpoints.slice(0, 1) });
  assert.equal(again.stdout.trim(), 'v1', 'the restarted member caught up');
});

test('hosts on the wan reach the etcd members and each other', async () => {
  const [h1, h2] = hosts.hosts;
  assert.ok(h1 && h2);
  const ping = await h1.exec(h1.topology.hostNs, ['ping', '-c1', '-W2', h2.address]);
  assert.equal(ping.code, 0, ping.stdout);
  const fromHost = await etcd.etcdctl(['endpoint', 'health'], { ns: h2.topology.hostNs });
  assert.equal(fromHost.code, 0, fromHost.stderr);
});

test('destroy() removes every namespace and data directory', async () => {
  const namespaces = [etcd.wanNs, ...etcd.members.map((m) => m.ns), ...hosts.hosts.flatMap((h) => h.topology.namespaces)];
  const dataDirs = etcd.members.map((m) => m.dataDir);
  await hosts.destroy();
  await etcd.destroy();
  const listed = (await run(['ip', 'netns', 'list'])).stdout;
  for (const ns of namespaces) assert.ok(!listed.split('\n').some((line) => line.split(' ')[0] === ns), `${ns} removed`);
  for (const dir of dataDirs) assert.ok(!existsSync(dir), `${dir} removed`);
});
