/**
 * Issue 16 end to end (item 6): a 3-member etcd cluster and three "hosts" on one wan, each running lxc-dhcpd with
 * --cluster-etcd and a real DHCP client (busybox udhcpc) on its own bridge. Checks: a container's name answered on the
 * other hosts (A and PTR) and pinged by name through the system resolver; routes with our protocol and the peer set on
 * every host; no NAT between hosts (a UDP listener on host 2 sees host 1's container address); a name taken on one
 * host is not taken over by another; a host whose subnet overlaps another's is refused with one line naming it; and at
 * exit every route of ours and our table are gone and the host records leave etcd.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { RTPROT_LXC_DHCPD } from '../../src/host/cluster-routes.ts';
import { type DhcpClient, udhcpc } from '../harness/clients.ts';
import { type ClusterHost, type ClusterHosts, createClusterHosts, digShort, routesOfProtocol, waitForAnswer } from '../harness/cluster-hosts.ts';
import { type EtcdCluster, startEtcdCluster } from '../harness/etcd.ts';
import type { Container } from '../harness/netns.ts';

/** Short, so a departed host's records go quickly; the daemons keep the lease alive every TTL/3. */
const TTL_SECONDS = 2;

let etcd: EtcdCluster;
let cluster: ClusterHosts;
let h1: ClusterHost;
let h2: ClusterHost;
let h3: ClusterHost;
const clients: DhcpClient[] = [];
let web1: DhcpClient;
let web2: DhcpClient;

const containerOf = (host: ClusterHost, n: number): Container => host.topology.containers[n] ?? assert.fail(`${host.name} has no container ${n}`);

before(async () => {
  etcd = await startEtcdCluster({ members: 3 });
  cluster = await createClusterHosts(etcd, { hosts: 3, containers: 2 });
  [h1, h2, h3] = cluster.hosts as [ClusterHost, ClusterHost, ClusterHost];
  for (const host of cluster.hosts) await host.start({ ttlSeconds: TTL_SECONDS });
  web1 = await udhcpc(containerOf(h1, 0), { hostname: 'web1' });
  web2 = await udhcpc(containerOf(h2, 0), { hostname: 'web2' });
  clients.push(web1, web2, await udhcpc(containerOf(h3, 0), { hostname: 'web3' }));
});

after(async () => {
  for (const client of clients) await client.stop().catch(() => undefined);
  await cluster?.destroy();
  await etcd?.destroy();
});

test('a container on one host is answered by name (A and PTR) on the others', async () => {
  await waitForAnswer(h2, containerOf(h2, 0).ns, 'web1.lxc', (a) => a.includes(web1.lease.ip));
  await waitForAnswer(h3, containerOf(h3, 0).ns, 'web1.lxc', (a) => a.includes(web1.lease.ip));
  await waitForAnswer(h1, containerOf(h1, 0).ns, 'web2.lxc', (a) => a.includes(web2.lease.ip));
  const ptr = await digShort(h3, containerOf(h3, 0).ns, web2.lease.ip.split('.').reverse().join('.').concat('.in-addr.arpa'), 'PTR');
  assert.deepEqual(ptr, ['web2.lxc.']);
  assert.deepEqual(await digShort(h1, containerOf(h1, 0).ns, 'nosuchname.lxc'), [], 'an unknown name stays unknown');
});

test('every host routes the other two subnets with our protocol and lists them in its peer set', async () => {
  for (const host of cluster.hosts) {
    const others = cluster.hosts.filter((h) => h !== host);
    const expected = others.map((o) => `${o.subnet} via ${o.address} dev wan0`).sort();
    const deadline = Date.now() + 10_000;
    let routes = await routesOfProtocol(host, RTPROT_LXC_DHCPD);
    while (JSON.stringify(routes.sort()) !== JSON.stringify(expected) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      routes = await routesOfProtocol(host, RTPROT_LXC_DHCPD);
    }
    assert.deepEqual(routes.sort(), expected, `${host.name}'s routes`);
    const set = await host.exec(host.topology.hostNs, ['nft', 'list', 'set', 'ip', 'lxc-dhcpd', 'cluster_peers']);
    for (const other of others) assert.ok(set.stdout.includes(other.subnet), `${host.name}'s set has ${other.subnet}: ${set.stdout}`);
  }
});

test('containers ping each other across hosts by name, through the system resolver', async () => {
  const ns = containerOf(h1, 0).ns;
  // ip netns exec binds /etc/netns/NS/resolv.conf over /etc/resolv.conf: the container asks its own host.
  writeFileSync(`/etc/netns/${ns}/resolv.conf`, `nameserver ${h1.bridgeAddress}\nsearch lxc\n`);
  const byName = await h1.exec(ns, ['ping', '-c', '2', '-W', '2', 'web2.lxc']);
  assert.equal(byName.code, 0, byName.stdout + byName.stderr);
  assert.match(byName.stdout, new RegExp(`from web2\\.lxc \\(${web2.lease.ip.replaceAll('.', '\\.')}\\)`));
  const bare = await h1.exec(ns, ['ping', '-c', '1', '-W', '2', 'web2']);
  assert.equal(bare.code, 0, `the search domain finds web2: ${bare.stdout}${bare.stderr}`);
});

test('no NAT between hosts: the peer sees the container its own address', async () => {
  const listenerNs = containerOf(h2, 0).ns;
  const listener = h2.topology.spawn(listenerNs, [
    process.execPath,
    '-e',
    "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>console.log('FROM '+r.address));s.bind(40000,()=>console.log('LISTENING'))",
  ]);
  try {
    await listener.waitForOutput(/LISTENING/, { stream: 'stdout', timeoutMs: 10_000 });
    const send = await h1.exec(containerOf(h1, 0).ns, ['bash', '-c', `echo hello > /dev/udp/${web2.lease.ip}/40000`]);
    assert.equal(send.code, 0, send.stderr);
    const [, source] = await listener.waitForOutput(/FROM (\S+)/, { stream: 'stdout', timeoutMs: 5000 });
    assert.equal(source, web1.lease.ip, `not ${h1.address} (masquerade) but the container's own address`);
  } finally {
    await listener.stop();
  }
});

test('a name held on one host is not taken over from another host', async () => {
  const thief = await udhcpc(containerOf(h2, 1), { hostname: 'web1' });
  clients.push(thief);
  // Give the publisher time to try; the name must still be h1's everywhere else, and in etcd.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.deepEqual(await digShort(h3, containerOf(h3, 0).ns, 'web1.lxc'), [web1.lease.ip]);
  assert.deepEqual(await digShort(h1, containerOf(h1, 0).ns, 'web1.lxc'), [web1.lease.ip]);
  const record = await etcd.etcdctl(['get', '--print-value-only', '/lxc-dhcpd/v1/names/web1']);
  assert.match(record.stdout, /"host":"h1"/);
  assert.ok(!record.stdout.includes(thief.lease.ip), 'the second holder was not published');
});

test('a host whose subnet overlaps another host is refused, with one line naming that host', async () => {
  const extra = await createClusterHosts(etcd, { hosts: 1, containers: 0, firstIndex: 4, subnetOctets: [41], prefix: `${h1.topology.prefix}x` });
  try {
    const h4 = extra.hosts[0] ?? assert.fail('no h4');
    const daemon = h4.spawnDaemon({ ttlSeconds: TTL_SECONDS });
    const status = await Promise.race([daemon.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 20_000))]);
    assert.notEqual(status, null, `h4 still running:\n${daemon.stderr}`);
    assert.notEqual(status?.code, 0);
    const lines = daemon.stderr.split('\n').filter((line) => /overlap/i.test(line));
    assert.equal(lines.length, 1, daemon.stderr);
    assert.match(lines[0] ?? '', /\bh1\b/);
    assert.deepEqual(await digShort(h3, containerOf(h3, 0).ns, 'web1.lxc'), [web1.lease.ip], 'h1 keeps its subnet and names');
    assert.deepEqual(
      await routesOfProtocol(h3, RTPROT_LXC_DHCPD),
      [`${h1.subnet} via ${h1.address} dev wan0`, `${h2.subnet} via ${h2.address} dev wan0`],
      'no route to the refused host',
    );
  } finally {
    await extra.destroy();
  }
});

test('at exit each daemon removes its routes and table, and its host record leaves etcd', async () => {
  for (const client of clients.splice(0)) await client.stop();
  for (const host of cluster.hosts) {
    const status = await host.stop('SIGTERM');
    assert.equal(status?.code, 0, `${host.name} exited cleanly`);
    assert.deepEqual(await routesOfProtocol(host, RTPROT_LXC_DHCPD), [], `${host.name}: no route of ours`);
    const tables = await host.exec(host.topology.hostNs, ['nft', 'list', 'tables']);
    assert.doesNotMatch(tables.stdout, /lxc-dhcpd/, `${host.name}: our tables are gone`);
  }
  const records = await etcd.etcdctl(['get', '--prefix', '--keys-only', '/lxc-dhcpd/v1/']);
  assert.equal(records.stdout.trim(), '', 'no host or name left in etcd');
});
