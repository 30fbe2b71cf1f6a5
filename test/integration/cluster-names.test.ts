/**
 * The cluster's names against a real etcd (Debian etcd-server, one member in its own namespace) and two hosts, each a
 * namespace running lxc-dhcpd with --cluster-etcd and a real DHCP client (busybox udhcpc) on its own bridge: the name
 * a container got on h1 is answered on h2 (A, PTR) and listed by `lxc-dhcpd cluster --json`; with etcd stopped h2
 * still answers it from its last view with a capped TTL and its own names as before, and after etcd returns both
 * names are published again; a SIGKILLed h1's names leave h2 within TTL + 1 s and return when it restarts; h1 cut off
 * from etcd longer than its TTL loses its names on h2, and on its return re-publishes them, except a name h2 took
 * meanwhile (dropped on h1, logged). The three-member and routes suite is cluster.test.ts / cluster-faults.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DhcpClient, udhcpc } from '../harness/clients.ts';
import { type ClusterHost, type ClusterHosts, createClusterHosts, digShort, waitForAnswer } from '../harness/cluster-hosts.ts';
import { type EtcdCluster, startEtcdCluster, WAN_GATEWAY } from '../harness/etcd.ts';
import { LXC_DHCPD_BIN } from '../harness/lxc-dhcpd.ts';
import type { Container } from '../harness/netns.ts';

const TTL_SECONDS = 2;

let etcd: EtcdCluster;
let cluster: ClusterHosts;
let h1: ClusterHost;
let h2: ClusterHost;
const clients: DhcpClient[] = [];
let web1: DhcpClient;
let web2: DhcpClient;

const containerOf = (host: ClusterHost, n: number): Container => host.topology.containers[n] ?? assert.fail(`${host.name} has no container ${n}`);

before(async () => {
  etcd = await startEtcdCluster({ members: 1 });
  cluster = await createClusterHosts(etcd, { hosts: 2, containers: 2 });
  [h1, h2] = cluster.hosts as [ClusterHost, ClusterHost];
  for (const host of cluster.hosts) await host.start({ ttlSeconds: TTL_SECONDS, extraArgs: ['--no-cluster-routes'] });
  web1 = await udhcpc(containerOf(h1, 0), { hostname: 'web1' });
  web2 = await udhcpc(containerOf(h2, 0), { hostname: 'web2' });
  clients.push(web1, web2);
});

after(async () => {
  for (const client of clients) await client.stop().catch(() => undefined);
  await cluster?.destroy();
  await etcd?.destroy();
});

interface Report {
  self: string;
  connected: boolean;
  lost: { name: string; holder: string }[];
  hosts: { host: string; subnet4: string; names: { name: string; a: string[] }[] }[];
}

/** `lxc-dhcpd cluster --json` of the daemon on `host`. */
async function clusterReport(host: ClusterHost): Promise<Report> {
  const socket = host.daemon?.controlSocket ?? assert.fail(`${host.name} runs no daemon`);
  const listed = await host.exec(host.topology.hostNs, [process.execPath, LXC_DHCPD_BIN, 'cluster', '--control-socket', socket, '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  return JSON.parse(listed.stdout) as Report;
}

/** `dig` with the answer's TTL: the TTL of the first A record, or null. */
async function answerTtl(host: ClusterHost, ns: string, name: string): Promise<number | null> {
  const result = await host.exec(ns, ['dig', `@${host.bridgeAddress}`, '+noall', '+answer', '+time=1', '+tries=1', name, 'A'], 5000);
  const m = /\s(\d+)\s+IN\s+A\s/.exec(result.stdout);
  return m ? Number(m[1]) : null;
}

test('a name given out on h1 is answered on h2 (A and PTR) and listed by lxc-dhcpd cluster', async () => {
  await waitForAnswer(h2, containerOf(h2, 0).ns, 'web1.lxc', (a) => a.includes(web1.lease.ip));
  await waitForAnswer(h1, containerOf(h1, 0).ns, 'web2.lxc', (a) => a.includes(web2.lease.ip));
  const ptr = await digShort(h2, containerOf(h2, 0).ns, `${web1.lease.ip.split('.').reverse().join('.')}.in-addr.arpa`, 'PTR');
  assert.deepEqual(ptr, ['web1.lxc.']);
  assert.deepEqual(await digShort(h2, containerOf(h2, 0).ns, 'nosuchname.lxc'), [], 'an unknown name stays unknown');
  const report = await clusterReport(h2);
  assert.equal(report.self, 'h2');
  assert.equal(report.connected, true);
  const one = report.hosts.find((h) => h.host === 'h1') ?? assert.fail(JSON.stringify(report));
  assert.equal(one.subnet4, h1.subnet);
  assert.deepEqual(
    one.names.map((n) => [n.name, n.a]),
    [['web1', [web1.lease.ip]]],
  );
});

test('etcd down: remote names from the last view with a capped TTL, local names as before; back: published again', async () => {
  await etcd.stopAll();
  try {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.deepEqual(await digShort(h2, containerOf(h2, 0).ns, 'web1.lxc'), [web1.lease.ip], 'the last view answers');
    assert.deepEqual(await digShort(h2, containerOf(h2, 0).ns, 'web2.lxc'), [web2.lease.ip], 'local names are untouched');
    const ttl = await answerTtl(h2, containerOf(h2, 0).ns, 'web1.lxc');
    assert.ok(ttl !== null && ttl <= 1, `remote TTL capped while etcd is down: ${ttl}`);
    assert.match(h2.daemon?.process.stderr ?? '', /etcd unreachable/);
  } finally {
    await etcd.restartAll();
  }
  for (const host of [h1, h2]) {
    const deadline = Date.now() + 20_000;
    while (!(await clusterReport(host)).connected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await clusterReport(host)).connected, true, `${host.name} reconnected`);
    assert.match(host.daemon?.process.stderr ?? '', /etcd reachable again/);
  }
  const record = (await etcd.etcdctl(['get', '--print-value-only', '/lxc-dhcpd/v1/names/web1'])).stdout;
  assert.match(record, /"host":"h1"/, "web1 is still h1's in etcd");
  await waitForAnswer(h1, containerOf(h1, 0).ns, 'web2.lxc', (a) => a.includes(web2.lease.ip));
  assert.equal(await answerTtl(h2, containerOf(h2, 0).ns, 'web1.lxc'), TTL_SECONDS, 'the TTL is the cluster TTL again');
});

test("a SIGKILLed host's names leave the other host within TTL + 1 s, and return when it restarts", async () => {
  await waitForAnswer(h2, containerOf(h2, 0).ns, 'web1.lxc', (a) => a.includes(web1.lease.ip));
  await h1.stop('SIGKILL');
  const killedAt = Date.now();
  await waitForAnswer(h2, containerOf(h2, 0).ns, 'web1.lxc', (a) => a.length === 0, { timeoutMs: 15_000, intervalMs: 50 });
  const took = Date.now() - killedAt;
  // etcd expires a lease on its own clock; TTL + 1 s is the bound, plus the dig poll's own time.
  assert.ok(took <= (TTL_SECONDS + 1) * 1000 + 500, `web1 left h2 after ${took} ms`);
  await h1.start({ ttlSeconds: TTL_SECONDS, extraArgs: ['--no-cluster-routes'] });
  await waitForAnswer(h2, containerOf(h2, 0).ns, 'web1.lxc', (a) => a.includes(web1.lease.ip));
});

test('cut off longer than its TTL: names leave the others; back, re-published, but a name taken meanwhile is dropped', async () => {
  const down = await h1.exec(h1.topology.hostNs, ['ip', 'link', 'set', 'wan0', 'down']);
  assert.equal(down.code, 0, down.stderr);
  try {
    await waitForAnswer(h2, containerOf(h2, 0).ns, 'web1.lxc', (a) => a.length === 0, { timeoutMs: 15_000 });
    const taker = await udhcpc(containerOf(h2, 1), { hostname: 'web1' });
    clients.push(taker);
    await waitForAnswer(h2, containerOf(h2, 0).ns, 'web1.lxc', (a) => a.includes(taker.lease.ip));
    assert.deepEqual(await digShort(h1, containerOf(h1, 0).ns, 'web1.lxc'), [web1.lease.ip], 'h1 answers its own container meanwhile');
  } finally {
    await h1.exec(h1.topology.hostNs, ['ip', 'link', 'set', 'wan0', 'up']);
    await h1.exec(h1.topology.hostNs, ['ip', 'route', 'replace', 'default', 'via', WAN_GATEWAY]);
  }
  const deadline = Date.now() + 30_000;
  let report = await clusterReport(h1);
  while (!(report.connected && report.lost.length > 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    report = await clusterReport(h1);
  }
  assert.deepEqual(report.lost, [{ name: 'web1', holder: 'h2' }], JSON.stringify(report));
  assert.match(h1.daemon?.process.stderr ?? '', /name web1 is held by host h2/);
  const record = (await etcd.etcdctl(['get', '--print-value-only', '/lxc-dhcpd/v1/names/web1'])).stdout;
  assert.match(record, /"host":"h2"/);
  assert.ok(
    (await clusterReport(h2)).hosts.some((h) => h.host === 'h1'),
    'h1 published its host record again',
  );
});
