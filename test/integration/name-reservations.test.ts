/**
 * Reservations by host name (`--host NAME,IP` and a hosts-file line, issue 14 item 3) against real clients in network
 * namespaces: the first container sending the name gets the reserved address and the DNS name answers it; a second
 * container sending the same name gets a pool address and no DNS name; the reservation then follows the MAC on renewal.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DhcpClient, dhclient, udhcpc } from '../harness/clients.ts';
import { leasesJson } from '../harness/leases-cli.ts';
import { type RunningLxcDhcpd, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { createTopology, type Topology } from '../harness/netns.ts';

const SERVER = '10.0.0.1';
const WEB_IP = '10.0.0.50';
/** Inside the dynamic range (10.0.0.100-200): never handed out from the pool. */
const DB_IP = '10.0.0.150';

let topology: Topology;
let daemon: RunningLxcDhcpd;
const clients: DhcpClient[] = [];

before(async () => {
  topology = await createTopology({ containers: 3 });
  const hostsFile = join(topology.tmpDir, 'hosts');
  writeFileSync(hostsFile, `# by container name, as lxc-net users write dhcp-host=NAME,IP\ndb,${DB_IP}\n`);
  daemon = await startLxcDhcpd(topology, { extraArgs: ['--host', `web,${WEB_IP}`, '--hosts-file', hostsFile, '--lease-time', '120'] });
});

after(async () => {
  for (const client of clients) await client.release().catch(() => undefined);
  await topology?.destroy();
});

/** A records of `name` from the daemon's DNS server, asked from the host namespace (the test's own). */
async function digA(name: string): Promise<string[]> {
  const r = await topology.exec(topology.hostNs, ['dig', `@${SERVER}`, '+time=2', '+tries=2', '+short', name, 'A'], { timeoutMs: 10_000 });
  assert.equal(r.code, 0, `dig ${name} got no answer from the daemon: ${r.stdout}${r.stderr}`);
  return r.stdout.split('\n').filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l));
}

test('udhcpc sending "web" gets the address reserved for web, and web.lxc answers it', async () => {
  const [a] = topology.containers;
  assert.ok(a);
  const client = await udhcpc(a, { hostname: 'web' });
  clients.push(client);
  assert.equal(client.lease.ip, WEB_IP);
  assert.deepEqual(await digA('web.lxc'), [WEB_IP]);
  const row = (await leasesJson(daemon.leaseDb)).find((r) => r.mac === a.mac);
  assert.equal(row?.ip, WEB_IP);
  assert.equal(row?.hostname, 'web');
});

test('dhclient sending "web" too gets a pool address and no DNS name; web.lxc still answers the first', async () => {
  const [, b] = topology.containers;
  assert.ok(b);
  const client = await dhclient(b, { hostname: 'web' });
  clients.push(client);
  assert.notEqual(client.lease.ip, WEB_IP);
  assert.match(client.lease.ip, /^10\.0\.0\.(1\d\d|200)$/);
  assert.notEqual(client.lease.ip, DB_IP, 'the name-reserved address in the range is not handed out from the pool');
  const row = (await leasesJson(daemon.leaseDb)).find((r) => r.mac === b.mac);
  assert.equal(row?.hostname ?? null, null);
  assert.deepEqual(await digA('web.lxc'), [WEB_IP]);
  await daemon.waitForLog(/name "web" is held by the lease of 02:1a:b0:00:00:01; no DNS name given/, 5000);
});

test('dhclient sending "DB" gets the address a hosts-file line reserves for db, inside the range', async () => {
  const c = topology.containers[2];
  assert.ok(c);
  const client = await dhclient(c, { hostname: 'DB' });
  clients.push(client);
  assert.equal(client.lease.ip, DB_IP);
  assert.deepEqual(await digA('db.lxc'), [DB_IP]);
});

test('the reservation follows the MAC: the first container renews its address and keeps its name', async () => {
  const first = clients[0];
  assert.ok(first);
  assert.equal((await first.renew()).ip, WEB_IP);
  assert.deepEqual(await digA('web.lxc'), [WEB_IP]);
});
