/**
 * `lxc-dhcpd --lxc-net` in lxc-net's place (issue 14), against real clients in network namespaces: the lxc package's
 * own /etc/default/lxc-net (Debian 12's, as shipped) with a LXC_DHCP_CONFILE holding a reservation by container name,
 * a host record and a line we do not serve, on lxcbr0 with lxc-net's 10.0.3.1/24: addresses from lxc-net's range,
 * the name reservation, bare names and NAME.lxc from 10.0.3.1, the unserved line reported by file and line; and the
 * switch itself: with an empty database, lxc-net's dnsmasq lease file is imported at the first start, so a container
 * keeps its address. The daemon runs in a private mount namespace whose /var/lib/misc is a test directory.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DhcpClient, udhcpc } from '../harness/clients.ts';
import { LXC_NET_SERVER, lxcNetFile, startLxcNetDaemon } from '../harness/lxc-net.ts';
import { createTopology, type SpawnedProcess, type Topology } from '../harness/netns.ts';

const SERVER = LXC_NET_SERVER;
const WEB_IP = '10.0.3.100';
/** A container's lease as lxc-net's dnsmasq wrote it, imported at the first start. */
const OLD_MAC = '02:1a:b0:00:00:03';
const OLD_IP = '10.0.3.77';

let topology: Topology;
let daemon: SpawnedProcess | null = null;
const clients: DhcpClient[] = [];

async function dig(...query: string[]): Promise<string[]> {
  const r = await topology.exec(topology.hostNs, ['dig', `@${SERVER}`, '+time=2', '+tries=2', '+short', ...query], { timeoutMs: 10_000 });
  assert.equal(r.code, 0, `dig ${query.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

before(async () => {
  topology = await createTopology({ containers: 3, bridge: 'lxcbr0', bridgeAddress: null });
  const dir = join(topology.tmpDir, 'lxc-net');
  mkdirSync(join(dir, 'misc'), { recursive: true });
  const conf = join(dir, 'dnsmasq.conf');
  writeFileSync(conf, `# what LXC users put in LXC_DHCP_CONFILE\ndhcp-host=web,${WEB_IP}\nhost-record=printer.lxc,10.0.3.9\nenable-tftp\n`);
  writeFileSync(join(dir, 'lxc-net'), lxcNetFile(conf));
  // lxc-net's dnsmasq lease file: expiry, MAC, IP, name, client-id
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  writeFileSync(join(dir, 'misc', 'dnsmasq.lxcbr0.leases'), `${expiry} ${OLD_MAC} ${OLD_IP} old *\n`);
  daemon = startLxcNetDaemon(topology, dir);
  await daemon.waitForOutput(/serving DHCP on/, { stream: 'stderr', timeoutMs: 15_000 });
});

after(async () => {
  for (const client of clients) await client.release().catch(() => undefined);
  await daemon?.stop({ signal: 'SIGTERM', graceMs: 3000 });
  await topology?.destroy();
});

test("lxc-net's defaults: lxcbr0 gets 10.0.3.1/24 and a container an address from 10.0.3.2-254", async () => {
  const c = topology.containers[1];
  assert.ok(c);
  const client = await udhcpc(c, { hostname: 'plain' });
  clients.push(client);
  const last = Number(client.lease.ip.split('.')[3]);
  assert.match(client.lease.ip, /^10\.0\.3\.\d+$/);
  assert.ok(last >= 2 && last <= 254 && client.lease.ip !== WEB_IP, client.lease.ip);
  assert.equal(client.lease.router, SERVER);
  const addr = await topology.exec(topology.hostNs, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'lxcbr0'], { check: true });
  assert.match(addr.stdout, /inet 10\.0\.3\.1\/24 /);
});

test('LXC_DHCP_CONFILE: dhcp-host=web,IP reserves by container name; web and web.lxc answer from 10.0.3.1', async () => {
  const c = topology.containers[0];
  assert.ok(c);
  const client = await udhcpc(c, { hostname: 'web' });
  clients.push(client);
  assert.equal(client.lease.ip, WEB_IP);
  assert.deepEqual(await dig('web', 'A'), [WEB_IP], 'bare name, as lxc-net with an empty LXC_DOMAIN answers it');
  assert.deepEqual(await dig('web.lxc', 'A'), [WEB_IP]);
  assert.deepEqual(await dig('printer.lxc', 'A'), ['10.0.3.9'], 'host-record from the conf file');
});

test('a line the conf file has that lxc-dhcpd does not serve is reported once, by file and line', () => {
  const log = daemon?.stderr ?? '';
  assert.match(log, /dnsmasq\.conf:4: enable-tftp not served/);
  assert.equal(log.match(/enable-tftp/g)?.length, 1);
});

test("switching over: lxc-net's dnsmasq leases are imported at the first start, so a container keeps its address", async () => {
  assert.match(daemon?.stderr ?? '', /imported 1 leases from \/var\/lib\/misc\/dnsmasq\.lxcbr0\.leases/);
  const c = topology.containers[2];
  assert.ok(c);
  assert.equal(c.mac, OLD_MAC);
  const client = await udhcpc(c, { hostname: 'old' });
  clients.push(client);
  assert.equal(client.lease.ip, OLD_IP);
});
