// Where a DHCP rate is lost: runs perfdhcp (known clients) against one server at the given rates and prints, per rate,
// the completion, the server's CPU use, how busy the whole machine was, how many packets perfdhcp actually sent, and
// the kernel's UDP counters in the load namespace (RcvbufErrors there = replies dropped because perfdhcp did not read
// its socket fast enough). Not part of `npm run bench`; for finding the limit, see docs/performance.md.
//
//   node --import tsx bench/saturate.ts lxc|kea|dnsmasq RATE[,RATE...] [-- extra lxc-dhcpd flags]

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTopology, type Topology } from '../test/harness/netns.ts';
import { runPerfdhcp } from './lib/perfdhcp.ts';
import { NET, startDnsmasq, startKea, startLxcDhcpd, waitIdle } from './lib/servers.ts';

const which = process.argv[2] ?? 'lxc';
const rates = (process.argv[3] ?? '4000,8000').split(',').map(Number);
const SECONDS = 3;

function cpuTicks(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** [all jiffies, idle jiffies] of the machine. */
function machineTicks(): [number, number] {
  const v = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  return [v.reduce((a, b) => a + b, 0), (v[3] ?? 0) + (v[4] ?? 0)];
}

async function udpCounters(topology: Topology, ns: string): Promise<Record<string, number>> {
  const lines = (await topology.exec(ns, ['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const keys = (lines[0] ?? '').split(/\s+/).slice(1);
  const values = (lines[1] ?? '').split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, values[i] ?? 0]));
}

const topology = await createTopology({ containers: 1, prefix: `lxs-${randomBytes(3).toString('hex')}`, bridgeAddress: NET.bridgeCidr, wan: false });
try {
  const load = topology.containers[0]!;
  await topology.exec(load.ns, ['ip', 'addr', 'add', NET.loadCidr, 'dev', 'eth0'], { check: true });
  const dir = join(topology.tmpDir, 'server');
  mkdirSync(dir, { recursive: true });
  const resolvConf = join(topology.tmpDir, 'resolv.conf');
  writeFileSync(resolvConf, 'nameserver 198.51.100.1\n');
  const server =
    which === 'kea'
      ? await startKea(topology, dir)
      : which === 'dnsmasq'
        ? await startDnsmasq(topology, dir, { logDhcp: false, ping: false })
        : await startLxcDhcpd(topology, dir, { probe: true, leaseDb: join(dir, 'leases.db'), resolvConf, extraArgs: process.argv.slice(4) });
  const pid = server.proc.pid!;
  const base = '02:aa:00:00:00:00';
  await runPerfdhcp(topology, load.ns, NET.serverIp, { rate: 500, clients: 1000, baseMac: base, seconds: 3 });
  for (const rate of rates) {
    await waitIdle(pid);
    const before = { udp: await udpCounters(topology, load.ns), cpu: cpuTicks(pid), machine: machineTicks(), at: Date.now() };
    const r = await runPerfdhcp(topology, load.ns, NET.serverIp, { rate, clients: 1000, baseMac: base, seconds: SECONDS });
    const seconds = (Date.now() - before.at) / 1000;
    const machine = machineTicks();
    const udp = await udpCounters(topology, load.ns);
    const delta = (k: string): number => (udp[k] ?? 0) - (before.udp[k] ?? 0);
    process.stdout.write(
      `${JSON.stringify({
        server: which,
        rate,
        completion: Number(r.completion.toFixed(3)),
        achieved: Math.round(r.achievedRate),
        perfdhcpSentPerSecond: Math.round(delta('OutDatagrams') / SECONDS),
        repliesDroppedAtPerfdhcp: delta('RcvbufErrors'),
        serverCpu: Number(((cpuTicks(pid) - before.cpu) / 100 / seconds).toFixed(2)),
        machineBusy: Number((1 - (machine[1] - before.machine[1]) / (machine[0] - before.machine[0])).toFixed(2)),
        discoverOfferMs: r.discoverOfferAvgMs,
        requestAckMs: r.requestAckAvgMs,
      })}\n`,
    );
  }
  await server.stop();
} finally {
  await topology.destroy();
}
