// Router-advertisement answer latency, standalone (bench/lib/ra-bench.ts has the how): builds its own namespaces (a
// host namespace with the bridge, a probe container and a load container), starts the answering side there, sends
// COUNT router solicitations at RATE per second from COUNT made-up hosts and prints p50/p90/p99/max of solicitation →
// unicast RA, how many went unanswered, and how steady the probe's own send loop was. Run as root; everything it creates
// is removed at the end, also on failure.
//
//   node --import tsx bench/ra-latency.ts [--count=2000] [--rate=200] [--target=service|daemon] [--load6=RATE]
//        [--range6=FIRST-LAST] [--json]
//
// --target=service (default): RaService + Ipv6Port in a child process (bench/ra-server.ts). --target=daemon: lxc-dhcpd
// (LXC_DHCPD_BIN) with --ipv6 and --range6; skipped with a message when its --help has no --range6. --load6=RATE adds
// perfdhcp -6 at RATE from the load container (skipped with a message when perfdhcp is not installed).

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createTopology } from '../test/harness/netns.ts';
import { daemonHasRange6, describeRa, hasPerfdhcp, measureRaLatency, prepareIpv6Bridge, RA_DEFAULT_RANGE6, type RaTarget } from './lib/ra-bench.ts';
import { NET } from './lib/servers.ts';

function arg(name: string): string | undefined {
  return process.argv
    .slice(2)
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3);
}

const count = Number(arg('count') ?? 2000);
const rate = Number(arg('rate') ?? 200);
const target = (arg('target') ?? 'service') as RaTarget;
let load6Rate: number | null = arg('load6') === undefined ? null : Number(arg('load6'));
const range6 = arg('range6') ?? RA_DEFAULT_RANGE6;
const json = process.argv.includes('--json');
// A reader that goes away early (`| head`) must not make a write throw past the finally that removes the namespaces.
process.stdout.on('error', () => undefined);

if (target !== 'service' && target !== 'daemon') {
  process.stderr.write(`--target=${target}: service or daemon\n`);
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  process.stderr.write('ra-latency: run as root (it builds network namespaces)\n');
  process.exit(2);
}
if (target === 'daemon' && !daemonHasRange6()) {
  process.stdout.write('skipped: lxc-dhcpd --help lists no --range6 (the daemon has no IPv6 wired yet); use --target=service\n');
  process.exit(0);
}
if (load6Rate !== null && !hasPerfdhcp()) {
  process.stdout.write('perfdhcp is not installed (Debian kea-admin): measuring without the DHCPv6 load\n');
  load6Rate = null;
}

const topology = await createTopology({ containers: 2, prefix: `lxr-${randomBytes(3).toString('hex')}`, bridgeAddress: NET.bridgeCidr, wan: false });
try {
  const [probe, load] = topology.containers;
  if (!probe || !load) throw new Error('the topology has no containers');
  // The daemon target serves perfdhcp's relayed DHCPv4 only from NET.loadIp; the address is harmless otherwise.
  await topology.exec(load.ns, ['ip', 'addr', 'add', NET.loadCidr, 'dev', 'eth0'], { check: true });
  await prepareIpv6Bridge(topology);
  const result = await measureRaLatency(topology, {
    target,
    count,
    ratePerSecond: rate,
    load6Rate,
    range6,
    dir: join(topology.tmpDir, 'daemon'),
    probeNs: probe.ns,
    loadNs: load.ns,
  });
  process.stdout.write(`${describeRa(result)}\n`);
  if (result.load6Output !== null) process.stdout.write(`perfdhcp -6:\n${result.load6Output}\n`);
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await topology.destroy();
}
