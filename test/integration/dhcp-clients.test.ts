/**
 * Real clients (busybox udhcpc, ISC dhclient, dhcpcd) against the real lxc-dhcpd in network namespaces: leases with the
 * right options, correct UDP checksums on every reply we send, renew, release, restart after SIGKILL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Capture, type CapturedPacket, startCapture } from '../harness/capture.ts';
import { type DhcpClient, dhclient, dhcpcd, udhcpc } from '../harness/clients.ts';
import { leasesJson } from '../harness/leases-cli.ts';
import { type RunningLxcDhcpd, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { createTopology, type Topology } from '../harness/netns.ts';

let topology: Topology;
let daemon: RunningLxcDhcpd;
const captures: Capture[] = [];

before(async () => {
  topology = await createTopology({ containers: 3 });
  daemon = await startLxcDhcpd(topology, { extraArgs: ['--lease-time', '120'] });
  for (const c of topology.containers) captures.push(await startCapture(c.ns, c.ifname));
});

after(async () => {
  await topology?.destroy();
});

function serverReplies(packets: CapturedPacket[]): CapturedPacket[] {
  return packets.filter((p) => p.source?.address === '10.0.0.1' && p.source.port === 67);
}

function assertLeaseOptions(client: DhcpClient): void {
  const lease = client.lease;
  assert.match(lease.ip, /^10\.0\.0\.(1\d\d|200)$/, `${client.kind} got ${lease.ip}`);
  assert.equal(lease.prefixLength, 24);
  assert.equal(lease.router, '10.0.0.1');
  assert.deepEqual(lease.dns, ['10.0.0.1']);
  assert.equal(lease.domain, 'lxc');
  assert.equal(lease.serverId, '10.0.0.1');
}

const clients: DhcpClient[] = [];

test('udhcpc, dhclient and dhcpcd each get a lease with router, DNS server and domain lxc', async () => {
  const [a, b, c] = topology.containers;
  assert.ok(a && b && c);
  clients.push(await udhcpc(a, { hostname: 'ct-udhcpc' }));
  clients.push(await dhclient(b, { hostname: 'ct-dhclient' }));
  clients.push(await dhcpcd(c, { hostname: 'ct-dhcpcd' }));
  for (const client of clients) assertLeaseOptions(client);
  // dhclient asks (test/harness/clients.ts) for mask, broadcast, routers, domain name, DNS servers and host name: what
  // it did not ask for — the search list (119) and the MTU (26), sent to clients with no request list — is left out.
  const asked = (clients[1] as DhcpClient).lease.env;
  assert.equal(asked.new_broadcast_address, '10.0.0.255');
  assert.equal(asked.new_domain_search, undefined, 'option 119 sent though not asked for');
  assert.equal(asked.new_interface_mtu, undefined, 'option 26 sent though not asked for');
  const ips = new Set(clients.map((cl) => cl.lease.ip));
  assert.equal(ips.size, 3, 'three clients, three addresses');

  const rows = await leasesJson(daemon.leaseDb);
  for (const client of clients) {
    const row = rows.find((r) => r.mac === client.container.mac);
    assert.ok(row, `lease of ${client.container.mac} in the database`);
    assert.equal(row.ip, client.lease.ip);
    assert.equal(row.state, 'bound');
  }
  assert.equal(rows.find((r) => r.mac === a.mac)?.hostname, 'ct-udhcpc');
  assert.equal(rows.find((r) => r.mac === b.mac)?.hostname, 'ct-dhclient');
  assert.equal(rows.find((r) => r.mac === c.mac)?.hostname, 'ct-dhcpcd');
});

test('every reply lxc-dhcpd sent carries a correct UDP checksum, as seen inside each container', async () => {
  for (const [i, capture] of captures.entries()) {
    const replies = serverReplies(capture.packets());
    const types = replies.map((p) => p.dhcpType);
    assert.ok(types.includes('ACK'), `container ${i + 1} saw an ACK (saw ${types.join(',')})`);
    for (const reply of replies) {
      assert.equal(reply.checksum, 'ok', `reply ${reply.dhcpType} to container ${i + 1}: ${reply.summary}`);
      assert.equal(reply.ipChecksum, 'ok');
    }
  }
});

test('renewing keeps the address', async () => {
  for (const client of clients) {
    const before = client.lease.ip;
    const renewed = await client.renew();
    assert.equal(renewed.ip, before, `${client.kind} kept its address on renew`);
  }
  await daemon.waitForLog(/DHCPACK \S+ 02:1a:b0:00:00:01 "ct-udhcpc" \(renewing\)/, 5000);
});

test('SIGKILL and restart: every lease survives, renewals keep their addresses', async () => {
  const before = await leasesJson(daemon.leaseDb);
  daemon.process.signal('SIGKILL');
  await daemon.process.exited;
  daemon = await startLxcDhcpd(topology, { leaseDb: daemon.leaseDb, extraArgs: ['--lease-time', '120'] });
  await daemon.waitForLog(/3 active leases/, 5000);
  const afterRestart = await leasesJson(daemon.leaseDb);
  assert.deepEqual(afterRestart.map((r) => [r.mac, r.ip, r.hostname]).sort(), before.map((r) => [r.mac, r.ip, r.hostname]).sort());
  for (const client of clients) {
    const ip = client.lease.ip;
    assert.equal((await client.renew()).ip, ip, `${client.kind} renewed ${ip} after the restart`);
  }
});

test('release frees the lease', async () => {
  for (const client of clients) await client.release();
  const rows = await leasesJson(daemon.leaseDb, true);
  for (const client of clients) {
    const row = rows.find((r) => r.mac === client.container.mac);
    assert.equal(row?.state, 'released', `${client.kind}'s lease is released`);
  }
  assert.equal((await leasesJson(daemon.leaseDb)).length, 0, 'no active leases remain');
  // Replies to renewals after the restart were checked too.
  for (const capture of captures) {
    for (const reply of serverReplies(capture.packets())) assert.equal(reply.checksum, 'ok', reply.summary);
  }
});
