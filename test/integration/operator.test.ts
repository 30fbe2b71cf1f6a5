/**
 * Daily operations against a running daemon: `leases --json`, `release NAME` (lease and DNS name gone within a
 * second), `reserve MAC IP NAME` (applies at the next DISCOVER, persisted), the dnsmasq-format lease file, metrics
 * that move, and `import-dnsmasq` giving every client of a real dnsmasq its old address.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DhcpClient, dhclient, udhcpc } from '../harness/clients.ts';
import { startDnsmasq } from '../harness/dnsmasq.ts';
import { leasesJson } from '../harness/leases-cli.ts';
import { LXC_DHCPD_BIN, type RunningLxcDhcpd, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, run, type Topology } from '../harness/netns.ts';

let topology: Topology;
let daemon: RunningLxcDhcpd;
let leaseFile: string;
const clients: DhcpClient[] = [];

const cli = (...args: string[]) => run([process.execPath, LXC_DHCPD_BIN, ...args, '--control-socket', daemon.controlSocket], { timeoutMs: 15_000 });

async function dig(name: string): Promise<string> {
  const ns = (topology.containers[3] as Container).ns;
  return (await topology.exec(ns, ['dig', '@10.0.0.1', '+time=2', '+tries=1', name], { timeoutMs: 10_000 })).stdout;
}

async function metricsText(): Promise<string> {
  const script = "require('http').get('http://127.0.0.1:9167/metrics',r=>{let b='';r.on('data',d=>b+=d);r.on('end',()=>process.stdout.write(b))})";
  return (await topology.exec(topology.hostNs, [process.execPath, '-e', script], { timeoutMs: 10_000, check: true })).stdout;
}

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

before(async () => {
  topology = await createTopology({ containers: 5 });
  leaseFile = join(topology.tmpDir, 'dnsmasq.leases');
  // These two options come from a config file, as a systemd unit would give them.
  const config = join(topology.tmpDir, 'br0.conf');
  writeFileSync(config, `# lxc-dhcpd config\nmetrics = 127.0.0.1:9167\ndnsmasq-leasefile = ${leaseFile}\n`);
  daemon = await startLxcDhcpd(topology, { extraArgs: ['--config', config] });
});

after(async () => {
  for (const c of clients) await c.stop().catch(() => undefined);
  await topology?.destroy();
});

test('metrics move as a client obtains a lease and a query is answered', async () => {
  const before = await metricsText();
  clients.push(await udhcpc(topology.containers[0] as Container, { hostname: 'alpha' }));
  clients.push(await dhclient(topology.containers[1] as Container, { hostname: 'beta' }));
  clients.push(await udhcpc(topology.containers[3] as Container));
  assert.match(await dig('alpha.lxc'), /status: NOERROR/);
  const after = await metricsText();
  assert.equal(sample(after, 'lxc_dhcpd_dhcp_received_total{type="DISCOVER"}') - sample(before, 'lxc_dhcpd_dhcp_received_total{type="DISCOVER"}'), 3);
  assert.equal(sample(after, 'lxc_dhcpd_dhcp_sent_total{type="ACK"}') - sample(before, 'lxc_dhcpd_dhcp_sent_total{type="ACK"}'), 3);
  assert.equal(sample(after, 'lxc_dhcpd_leases_active{range="10.0.0.100-10.0.0.200"}'), 3);
  assert.ok(sample(after, 'lxc_dhcpd_dns_queries_total{rcode="NOERROR",zone="local"}') >= 1);
});

test('leases --json lists the real clients; the dnsmasq-format file mirrors them', async () => {
  const rows = await leasesJson(daemon.leaseDb);
  assert.deepEqual(rows.map((r) => r.hostname).sort(), ['alpha', 'beta', null].sort());
  const byMac = new Map(rows.map((r) => [r.mac, r]));
  // Written right after each commit (coalesced); poll briefly.
  let text = '';
  for (let i = 0; i < 20 && text.split('\n').filter(Boolean).length < 3; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      text = readFileSync(leaseFile, 'utf8');
    } catch {
      text = '';
    }
  }
  const lines = text.split('\n').filter(Boolean);
  assert.equal(lines.length, 3, text);
  for (const line of lines) {
    const [expiry, mac, ip, hostname, clientId] = line.split(' ');
    const row = byMac.get(mac as string);
    assert.ok(row, line);
    assert.equal(ip, row.ip);
    assert.equal(hostname, row.hostname ?? '*');
    assert.equal(clientId, row.clientId ?? '*');
    assert.ok(Math.abs(Number(expiry) - (Date.now() / 1000 + (row.expiresInSeconds ?? Number.NaN))) < 5, line);
  }
});

test('release by name: the lease and the DNS answer are gone within one second', async () => {
  const out = await cli('release', 'alpha');
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /^released 10\.0\.0\.\d+ of 02:1a:b0:00:00:01 \(alpha\)/);
  const started = Date.now();
  assert.match(await dig('alpha.lxc'), /status: NXDOMAIN/);
  assert.ok(Date.now() - started < 1000);
  const rows = await leasesJson(daemon.leaseDb);
  assert.equal(
    rows.find((r) => r.mac === '02:1a:b0:00:00:01'),
    undefined,
  );
  const again = await cli('release', 'alpha');
  assert.equal(again.code, 2);
  assert.match(again.stderr, /^lxc-dhcpd: no active lease for alpha\n$/);
});

test('reserve makes the running daemon hand that IP to that MAC at its next DISCOVER and serve the name', async () => {
  const c = topology.containers[2] as Container;
  const out = await cli('reserve', c.mac, '10.0.0.42', 'gamma');
  assert.equal(out.code, 0, out.stderr);
  assert.match((await dig('gamma.lxc')).split('\n').find((l) => /\sA\s/.test(l) && !l.startsWith(';')) ?? '', /10\.0\.0\.42$/);
  const client = await udhcpc(c);
  clients.push(client);
  assert.equal(client.lease.ip, '10.0.0.42');
  const live = await cli('leases', '--json');
  const rows = JSON.parse(live.stdout) as { mac: string; type: string; hostname: string | null }[];
  assert.equal(rows.find((r) => r.mac === c.mac)?.type, 'static', live.stdout);
  assert.equal(rows.find((r) => r.mac === c.mac)?.hostname, 'gamma');
  assert.equal(rows.find((r) => r.mac === '02:1a:b0:00:00:02')?.type, 'dynamic');
  const taken = await cli('reserve', '02:1a:b0:00:00:09', '10.0.0.42');
  assert.equal(taken.code, 2);
  assert.match(taken.stderr, /10\.0\.0\.42 is reserved for both/);
  const unreserve = await cli('unreserve', 'gamma');
  assert.equal(unreserve.code, 0, unreserve.stderr);
  const missing = await cli('unreserve', 'gamma');
  assert.match(missing.stderr, /no reservation for gamma/);
});

test('import-dnsmasq: every client of a real dnsmasq keeps its address under lxc-dhcpd', async () => {
  await daemon.stop();
  for (const c of clients.splice(0)) await c.stop();
  const dnsmasq = await startDnsmasq(topology, { range: '10.0.0.150,10.0.0.199,1h' });
  const moving = [topology.containers[0], topology.containers[1], topology.containers[4]] as Container[];
  const before = new Map<string, string>();
  for (const c of moving) {
    const client = await udhcpc(c, { hostname: `mig${c.index}` });
    before.set(c.mac, client.lease.ip);
    await client.stop();
  }
  await dnsmasq.stop();

  const db = join(topology.tmpDir, 'imported.db');
  const imported = await run([
    process.execPath,
    LXC_DHCPD_BIN,
    'import-dnsmasq',
    dnsmasq.leaseFile,
    '--lease-db',
    db,
    '--control-socket',
    join(topology.tmpDir, 'none.sock'),
  ]);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /^imported 3 leases/);
  const rows = await leasesJson(db);
  assert.deepEqual(rows.map((r) => [r.mac, r.ip, r.hostname]).sort(), moving.map((c) => [c.mac, before.get(c.mac), `mig${c.index}`]).sort());

  daemon = await startLxcDhcpd(topology, { leaseDb: db });
  for (const c of moving) {
    const client = await udhcpc(c, { hostname: `mig${c.index}` });
    clients.push(client);
    assert.equal(client.lease.ip, before.get(c.mac), `${c.mac} kept its address`);
  }
  assert.match(await dig('mig5.lxc'), new RegExp(`IN\\s+A\\s+${(before.get('02:1a:b0:00:00:05') as string).replace(/\./g, '\\.')}`));
});
