/**
 * Real dhcpcd declining an address it finds in use, rapid commit with a real client, and reservations from a hosts
 * file re-read on SIGHUP without losing leases.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startCapture } from '../harness/capture.ts';
import { type DhcpClient, dhcpcd, udhcpc } from '../harness/clients.ts';
import { leasesJson } from '../harness/leases-cli.ts';
import { type RunningLxcDhcpd, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, type Topology } from '../harness/netns.ts';

let topology: Topology;
let daemon: RunningLxcDhcpd;
let hostsFile: string;
const clients: DhcpClient[] = [];

before(async () => {
  topology = await createTopology({ containers: 4 });
  hostsFile = join(topology.tmpDir, 'hosts');
  writeFileSync(hostsFile, '# reservations\n02:1a:b0:00:00:03,10.0.0.30,first # the third container\n');
  // Probing off on purpose: the squatter's address is offered, and the client itself must find the conflict.
  daemon = await startLxcDhcpd(topology, { range: '10.0.0.100-110', extraArgs: ['--hosts-file', hostsFile] });
});

after(async () => {
  for (const c of clients) await c.stop().catch(() => undefined);
  await topology?.destroy();
});

test('dhcpcd declines an address that is in use; the address is quarantined and the client gets another', async () => {
  const squatter = topology.containers[0] as Container;
  await topology.exec(squatter.ns, ['ip', 'addr', 'add', '10.0.0.100/24', 'dev', 'eth0'], { check: true });
  const client = await dhcpcd(topology.containers[1] as Container, { arpProbe: true, timeoutSec: 30 });
  clients.push(client);
  await daemon.waitForLog(/DHCPDECLINE 10\.0\.0\.100 02:1a:b0:00:00:02 .*quarantined/, 5000);
  assert.notEqual(client.lease.ip, '10.0.0.100');
  const rows = await leasesJson(daemon.leaseDb, true);
  assert.equal(rows.find((r) => r.ip === '10.0.0.100')?.state, 'declined');
});

test('rapid commit: dhcpcd asking for it gets an ACK straight to its DISCOVER', async () => {
  const container = topology.containers[3] as Container;
  const capture = await startCapture(container.ns, container.ifname);
  const client = await dhcpcd(container, { rapidCommit: true });
  clients.push(client);
  const replies = (await capture.stop()).filter((p) => p.source?.port === 67);
  assert.deepEqual(
    replies.map((p) => p.dhcpType),
    ['ACK'],
  );
  assert.equal(replies[0]?.checksum, 'ok');
  await daemon.waitForLog(/DHCPACK \S+ 02:1a:b0:00:00:04 .*rapid commit/, 5000);
});

test('hosts-file reservations apply, and SIGHUP re-reads them without dropping leases', async () => {
  const third = await udhcpc(topology.containers[2] as Container);
  clients.push(third);
  assert.equal(third.lease.ip, '10.0.0.30');
  const before = await leasesJson(daemon.leaseDb);

  writeFileSync(hostsFile, '02:1a:b0:00:00:03,10.0.0.31,moved\n');
  daemon.process.signal('SIGHUP');
  await daemon.waitForLog(/reloaded 1 reservations/, 5000);
  const afterReload = await leasesJson(daemon.leaseDb);
  assert.deepEqual(afterReload.map((r) => r.ip).sort(), before.map((r) => r.ip).sort(), 'no lease lost on reload');

  // Its old address is no longer its reservation: the renewal is NAKed and the client comes back for the new one.
  await third.stop();
  const again = await udhcpc(topology.containers[2] as Container);
  clients.push(again);
  assert.equal(again.lease.ip, '10.0.0.31');
  const row = (await leasesJson(daemon.leaseDb)).find((r) => r.mac === '02:1a:b0:00:00:03');
  assert.equal(row?.hostname, 'moved');

  writeFileSync(hostsFile, 'not a reservation\n');
  daemon.process.signal('SIGHUP');
  await daemon.waitForLog(/reload failed, keeping the old reservations: .*hosts:1/, 5000);
});
