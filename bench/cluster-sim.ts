// Issue 16 item 7 (second and third figures): a simulated cluster of HOSTS hosts × NAMES names published through a
// real etcd (Debian etcd-server, one member in its own namespace, test/harness/etcd.ts) by child processes that use
// the daemon's own publisher code (src/cluster/publisher.ts: the same create-if-absent transactions, each key on its
// simulated host's etcd lease), while one real lxc-dhcpd (--cluster-etcd, in a host namespace on the wan) watches.
// Prints that daemon's RSS and CPU before, while and after the names arrive (and while idle with them), then DNS
// queries per second (dnsperf from a container on its bridge) on a remote name and on a local name (a reservation):
// the goal is remote ≥ 95 % of local (no etcd on the query path). Run as root; everything is removed at the end.
//
//   node --import tsx bench/cluster-sim.ts [--hosts=100] [--names=100] [--children=4] [--seconds=10] [--json]
//
// Child mode (spawned by the bench itself, in the host namespace, which reaches etcd over the wan):
//   node --import tsx bench/cluster-sim.ts --child --endpoint=URL --first=I --count=N --names=M
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { EtcdClient, type HostLease } from '../src/cluster/etcd.ts';
import { NamePublisher } from '../src/cluster/publisher.ts';
import { encodeHostRecord, hostKey, type NameRecord } from '../src/cluster/records.ts';
import { createClusterHosts, digShort } from '../test/harness/cluster-hosts.ts';
import { startEtcdCluster } from '../test/harness/etcd.ts';
import { LXC_DHCPD_BIN } from '../test/harness/lxc-dhcpd.ts';
import type { SpawnedProcess } from '../test/harness/netns.ts';
import { type DnsperfResult, runDnsperf } from './lib/dnsperf.ts';

function arg(name: string, fallback: number): number {
  const found = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : Number(found.slice(name.length + 3));
}
function textArg(name: string): string {
  return (
    process.argv
      .slice(2)
      .find((a) => a.startsWith(`--${name}=`))
      ?.slice(name.length + 3) ?? ''
  );
}

/** Simulated host i: `sim<i>`, 172.16.i.0/24 (172.16.0.0/12 overlaps no bench host's 10.x subnet), address 198.18.1.i. */
const simHost = (i: number): string => `sim${i}`;
const simName = (i: number, j: number): string => `s${i}n${j}`;
/** dnsperf rounds per name (local, remote, local, ...). */
const ROUNDS = 2;
/** TTL of the simulated hosts' etcd leases (their keepalives are etcd's load, not the daemon's). */
const SIM_TTL_SECONDS = 10;

async function child(): Promise<void> {
  const first = arg('first', 0);
  const count = arg('count', 25);
  const names = arg('names', 100);
  const client = new EtcdClient({ endpoints: [textArg('endpoint')], tls: null });
  const leases: HostLease[] = [];
  const started = performance.now();
  for (let i = first; i < first + count; i++) {
    const lease = await client.grantLease(SIM_TTL_SECONDS);
    leases.push(lease);
    const host = simHost(i);
    const record = {
      host,
      bridge: 'br0',
      network: ((172 << 24) | (16 << 16) | (i << 8)) >>> 0,
      prefixLength: 24,
      prefix6: null,
      address: ((198 << 24) | (18 << 16) | (1 << 8) | i) >>> 0,
      domain: 'lxc',
    };
    await client.put(hostKey(host), encodeHostRecord(record), lease.id);
    const publisher = new NamePublisher({ self: host, writer: client, onLost: (n, h) => process.stderr.write(`lost ${n} to ${h}\n`) });
    const desired = new Map<string, NameRecord>();
    for (let j = 0; j < names; j++) desired.set(simName(i, j), { name: simName(i, j), host, kind: 'lease', a: [(record.network | (j + 10)) >>> 0], aaaa: [] });
    await publisher.sync(desired, lease.id);
  }
  process.stdout.write(`PUBLISHED ${Math.round(performance.now() - started)}\n`);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  for (const lease of leases) await lease.revoke();
  client.close();
}

/** The daemon's RSS (kB) and CPU seconds (user + system) from /proc. */
function usage(pid: number): { rssKb: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // Fields 14 and 15 of proc(5) (utime, stime) are at 11 and 12 after the ") " split.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssKb, cpuSeconds: ticks / 100 };
}

async function bench(): Promise<void> {
  const hosts = arg('hosts', 100);
  const namesPerHost = arg('names', 100);
  const children = Math.max(1, Math.min(arg('children', 4), hosts));
  const seconds = arg('seconds', 10);
  const json = process.argv.includes('--json');
  const etcd = await startEtcdCluster({ members: 1, prefix: `lxs-${randomBytes(3).toString('hex')}` });
  const out: Record<string, unknown> = { hosts, namesPerHost, children, loadBefore: loadavg()[0] };
  try {
    const cluster = await createClusterHosts(etcd, { hosts: 1, containers: 1 });
    const [h] = cluster.hosts;
    const container = h?.topology.containers[0];
    if (!h || !container) throw new Error('no host');
    const localIp = h.bridgeAddress.replace(/\.1$/, '.50');
    // The querying container gets a static address outside the range (no DHCP client needed to ask DNS).
    await h.exec(container.ns, ['ip', 'addr', 'add', `${h.bridgeAddress.replace(/\.1$/, '.60')}/24`, 'dev', 'eth0']);
    const daemon = await h.start({ ttlSeconds: 5, extraArgs: ['--no-cluster-routes', '--host', `02:00:00:00:00:99,${localIp},local1`] });
    const pid = daemon.process.pid;
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('lxc-dhcpd')) throw new Error(`pid ${pid} is not the daemon`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const idle = usage(pid);
    out.before = idle;
    const per = Math.ceil(hosts / children);
    const started = performance.now();
    const kids: SpawnedProcess[] = [];
    for (let k = 0; k * per < hosts; k++) {
      const argv = [process.execPath, '--import', 'tsx', join(import.meta.dirname, 'cluster-sim.ts'), '--child', `--endpoint=${etcd.endpoints[0]}`];
      kids.push(h.topology.spawn(h.topology.hostNs, [...argv, `--first=${k * per}`, `--count=${Math.min(per, hosts - k * per)}`, `--names=${namesPerHost}`]));
    }
    for (const kid of kids) await kid.waitForOutput(/PUBLISHED/, { stream: 'stdout', timeoutMs: 600_000 });
    const published = performance.now() - started;
    // Watch events arrive in revision order: once each child's last name is answered, all of its names are.
    for (let k = 0; k * per < hosts; k++) {
      const last = simName(Math.min((k + 1) * per, hosts) - 1, namesPerHost - 1);
      const deadline = Date.now() + 60_000;
      while ((await digShort(h, container.ns, `${last}.lxc`)).length === 0) {
        if (Date.now() > deadline) {
          const view = await h.exec(h.topology.hostNs, [process.execPath, LXC_DHCPD_BIN, 'cluster', '--control-socket', daemon.controlSocket]);
          const keys = await etcd.etcdctl(['get', '--prefix', '--keys-only', '/lxc-dhcpd/v1/']);
          throw new Error(
            `${last}.lxc never answered; the daemon's view:\n${view.stdout.slice(0, 2000)}${view.stderr}\netcd keys: ${keys.stdout.split('\n').filter(Boolean).length}\n${daemon.process.stderr.slice(-2000)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const seen = performance.now() - started;
    const loaded = usage(pid);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const steady = usage(pid);
    Object.assign(out, {
      publishMs: Math.round(published),
      allVisibleMs: Math.round(seen),
      whileLoading: { rssKb: loaded.rssKb, cpuSeconds: +(loaded.cpuSeconds - idle.cpuSeconds).toFixed(2) },
      idle10sWithNames: { rssKb: steady.rssKb, cpuSeconds: +(steady.cpuSeconds - loaded.cpuSeconds).toFixed(2) },
    });
    const remoteFile = join(h.topology.tmpDir, 'remote.txt');
    const localFile = join(h.topology.tmpDir, 'local.txt');
    writeFileSync(remoteFile, `${simName(Math.floor(hosts / 2), Math.floor(namesPerHost / 2))}.lxc A\n`);
    writeFileSync(localFile, 'local1.lxc A\n');
    // Interleaved, best of ROUNDS each: on a shared machine a single run of either is mostly noise.
    const qps = { local: [] as DnsperfResult[], remote: [] as DnsperfResult[] };
    for (let round = 0; round < ROUNDS; round++) {
      qps.local.push(await runDnsperf(h.topology, container.ns, h.bridgeAddress, localFile, seconds));
      qps.remote.push(await runDnsperf(h.topology, container.ns, h.bridgeAddress, remoteFile, seconds));
    }
    const best = (runs: DnsperfResult[]): DnsperfResult => runs.reduce((x, y) => (y.qps > x.qps ? y : x));
    const local = best(qps.local);
    const remote = best(qps.remote);
    Object.assign(out, {
      qpsLocal: Math.round(local.qps),
      qpsRemote: Math.round(remote.qps),
      remoteOverLocal: +(remote.qps / local.qps).toFixed(3),
      rcodesRemote: remote.rcodes,
      loadAfter: loadavg()[0],
      daemon: LXC_DHCPD_BIN,
    });
    for (const kid of kids) await kid.stop({ signal: 'SIGTERM', graceMs: 10_000 });
    await cluster.destroy();
  } finally {
    await etcd.destroy();
  }
  out.machineBusy = (out.loadBefore as number) > 1 || (out.loadAfter as number) > 1;
  process.stdout.write(json ? `${JSON.stringify(out, null, 2)}\n` : `${formatResult(out)}\n`);
}

function formatResult(o: Record<string, unknown>): string {
  const w = o.whileLoading as { rssKb: number; cpuSeconds: number };
  const s = o.idle10sWithNames as { rssKb: number; cpuSeconds: number };
  const b = o.before as { rssKb: number };
  return [
    `cluster-sim: ${o.hosts} hosts × ${o.namesPerHost} names through etcd (${o.children} publishing processes), one lxc-dhcpd watching`,
    `  published in ${o.publishMs} ms, all visible in the daemon's DNS after ${o.allVisibleMs} ms`,
    `  daemon RSS: ${b.rssKb} kB before, ${w.rssKb} kB with the names, ${s.rssKb} kB after 10 s idle`,
    `  daemon CPU: ${w.cpuSeconds} s while the names arrived, ${s.cpuSeconds} s over 10 s idle with them`,
    `  DNS qps: local name ${o.qpsLocal}, remote name ${o.qpsRemote} → remote/local ${o.remoteOverLocal} (goal ≥ 0.95)`,
    `  load average ${o.loadBefore} → ${o.loadAfter}${o.machineBusy ? ' (machine busy: figures are noisy)' : ''}`,
  ].join('\n');
}

process.stdout.on('error', () => undefined);
if (process.argv.includes('--child')) await child();
else if (process.getuid?.() !== 0) {
  process.stderr.write('cluster-sim: run as root (it builds network namespaces)\n');
  process.exit(2);
} else await bench();
