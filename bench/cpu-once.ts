// One lxc-dhcpd, one fixed perfdhcp rate: server CPU per exchange (utime and stime apart), for A/B runs of two builds
// (LXC_DHCPD_BIN=/path/to/other/checkout/bin/lxc-dhcpd.js), interleaved, on the same machine. Not part of
// `npm run bench` (its `--only=cpu` measures every server); see docs/performance.md, "CPU per exchange and per answer".
//
//   node --import tsx bench/cpu-once.ts RATE [SECONDS] [--new] [-- extra lxc-dhcpd flags]
// prints one JSON line.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTopology } from '../test/harness/netns.ts';
import { treeCpuSeconds } from './lib/cpu-bench.ts';
import { runPerfdhcp } from './lib/perfdhcp.ts';
import { NET, startLxcDhcpd, waitIdle } from './lib/servers.ts';

const dash = process.argv.indexOf('--');
const own = dash < 0 ? process.argv.slice(2) : process.argv.slice(2, dash);
const extraArgs = dash < 0 ? [] : process.argv.slice(dash + 1);
const positional = own.filter((a) => !a.startsWith('--'));
const RATE = Number(positional[0] ?? 2000);
const SECONDS = Number(positional[1] ?? 10);
const FRESH = own.includes('--new');

/** [utime, stime] of pid in clock ticks. */
function ticks(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]), Number(f[12])];
}

const topology = await createTopology({ containers: 1, prefix: `lxo-${randomBytes(3).toString('hex')}`, bridgeAddress: NET.bridgeCidr, wan: false });
try {
  const load = topology.containers[0]!;
  await topology.exec(load.ns, ['ip', 'addr', 'add', NET.loadCidr, 'dev', 'eth0'], { check: true });
  const dir = join(topology.tmpDir, 'server');
  mkdirSync(dir, { recursive: true });
  const resolvConf = join(topology.tmpDir, 'resolv.conf');
  writeFileSync(resolvConf, 'nameserver 198.51.100.1\n');
  const server = await startLxcDhcpd(topology, dir, { probe: true, leaseDb: join(dir, 'leases.db'), resolvConf, extraArgs });
  const pid = server.proc.pid;
  const base = '02:aa:00:00:00:00';
  const perf = (baseMac: string, clients: number, seconds: number) => runPerfdhcp(topology, load.ns, NET.serverIp, { rate: RATE, clients, baseMac, seconds });
  await runPerfdhcp(topology, load.ns, NET.serverIp, { rate: 500, clients: 1000, baseMac: base, seconds: 3 });
  await perf(FRESH ? '06:76:00:00:00:00' : base, FRESH ? 1_000_000 : 1000, 3);
  await waitIdle(pid);
  const [u0, s0] = ticks(pid);
  const c0 = treeCpuSeconds(pid);
  const r = await perf(FRESH ? '06:77:00:00:00:00' : base, FRESH ? 1_000_000 : 1000, SECONDS);
  await waitIdle(pid, 3000);
  const cpu = treeCpuSeconds(pid) - c0;
  const [u1, s1] = ticks(pid);
  await server.stop();
  const out = {
    rate: RATE,
    seconds: SECONDS,
    clients: FRESH ? 'new' : 'known',
    acks: r.acksReceived,
    completion: Number(r.completion.toFixed(3)),
    cpuSeconds: cpu,
    utimeTicks: u1 - u0,
    stimeTicks: s1 - s0,
    usPerExchange: Number(((cpu * 1e6) / r.acksReceived).toFixed(1)),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  await topology.destroy();
}
