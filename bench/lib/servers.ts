// The servers under test, each started by hand inside the topology's host namespace with its output going to a file
// (not through a pipe into the bench process, which would compete for the same two cores).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { SpawnedProcess, Topology } from '../../test/harness/netns.ts';

export const REPO = resolve(import.meta.dirname, '..', '..');
/** LXC_DHCPD_BIN=path runs another build (a worktree of an older commit) in the same harness, for A/B runs. */
export const LXC_DHCPD_BIN = process.env.LXC_DHCPD_BIN ?? join(REPO, 'bin', 'lxc-dhcpd.js');

/**
 * Whether the build at LXC_DHCPD_BIN has --relay (relayed requests are dropped without it). Builds from before the flag
 * serve every relay in the subnet and would refuse the unknown flag, so an A/B run against them leaves it out.
 */
function buildHasRelayFlag(): boolean {
  try {
    // The flag table's key, quoted or not (the formatter drops quotes a key does not need); in src/serve-flags.ts since
    // the yargs-free serve parser, in src/cli.ts before.
    const src = join(dirname(LXC_DHCPD_BIN), '..', 'src');
    const tables = ['serve-flags.ts', 'cli.ts'].map((f) => join(src, f)).filter((f) => existsSync(f));
    return tables.length === 0 || tables.some((f) => /^\s*'?relay'?: \{/m.test(readFileSync(f, 'utf8')));
  } catch {
    return true;
  }
}
const RELAY_FLAG = buildHasRelayFlag();

/** Shared addressing of the bench (see docs/performance.md). */
export const NET = {
  bridgeCidr: '10.0.0.1/8',
  serverIp: '10.0.0.1',
  loadCidr: '10.0.0.2/8',
  /** The load container's address: perfdhcp and first-offer.ts act as a relay from it (giaddr = source = this). */
  loadIp: '10.0.0.2',
  rangeFirst: '10.0.1.0',
  rangeLast: '10.15.255.254',
  /** lxc-dhcpd only, for the lease-store scale figures. */
  scaleRangeFirst: '10.1.0.0',
  scaleRangeLast: '10.2.255.255',
  leaseSeconds: 3600,
} as const;

/**
 * Addressing of the DHCPv6 scenario: a ULA /64 on the bridge and a pool of 2^20 addresses, as many as the IPv4 range
 * holds, so neither server runs out during a run.
 */
export const NET6 = {
  bridgeCidr: 'fd00:bec4::1/64',
  prefix: 'fd00:bec4::/64',
  rangeFirst: 'fd00:bec4::1:0',
  rangeLast: 'fd00:bec4::10:ffff',
} as const;

/** Whether the build at LXC_DHCPD_BIN has IPv6 (--range6 in its --help); the DHCPv6 scenario skips it otherwise. */
export function buildHasRange6(): boolean {
  const help = spawnSync(process.execPath, [LXC_DHCPD_BIN, '--help'], { encoding: 'utf8', timeout: 30_000 });
  return `${help.stdout ?? ''}${help.stderr ?? ''}`.includes('--range6');
}

export interface ServerProcess {
  name: string;
  proc: SpawnedProcess;
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until UDP ports are bound in ns (checked with ss), or throws with the log. */
async function waitForPorts(topology: Topology, ns: string, ports: number[], proc: SpawnedProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitStatus !== null) break;
    const out = (await topology.exec(ns, ['ss', '-Hlun'])).stdout;
    if (ports.every((p) => new RegExp(`:${p}\\s`).test(out))) return;
    await sleep(50);
  }
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '';
  throw new Error(`${proc.argv.join(' ')} did not bind UDP ${ports.join(',')} (exit ${JSON.stringify(proc.exitStatus)}):\n${log}`);
}

async function spawnLogged(
  topology: Topology,
  ns: string,
  name: string,
  argv: readonly string[],
  logFile: string,
  readyPorts: number[],
  env?: NodeJS.ProcessEnv,
): Promise<ServerProcess> {
  const proc = topology.spawn(ns, ['sh', '-c', `exec "$@" >>'${logFile}' 2>&1`, 'sh', ...argv], env ? { env } : {});
  await waitForPorts(topology, ns, readyPorts, proc, logFile, 20_000);
  return {
    name,
    proc,
    logFile,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stop: async () => {
      await proc.stop({ signal: 'SIGTERM', graceMs: 3000 });
    },
  };
}

interface LxcDhcpdOptions {
  probe: boolean;
  leaseDb: string;
  hostsFile?: string;
  resolvConf: string;
  /** Unix socket path, in the run's temp directory. */
  controlSocket: string;
  range?: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /**
   * Run LXC_DHCPD_BIN as a command (its `#!/usr/bin/env -S node FLAGS` line, as the installed lxc-dhcpd and the systemd
   * units run it), not as `node BIN`: the V8 flags of that line then apply. nodeFlags are ignored.
   */
  asCommand?: boolean;
  extraArgs?: string[];
}

function lxcDhcpdArgv(topology: Topology, o: LxcDhcpdOptions): string[] {
  return [
    ...(o.asCommand === true ? [] : [process.execPath, ...(o.nodeFlags ?? [])]),
    LXC_DHCPD_BIN,
    '--bridge',
    topology.bridge,
    '--range',
    o.range ?? `${NET.rangeFirst}-${NET.rangeLast}`,
    '--lease-time',
    String(NET.leaseSeconds),
    '--lease-db',
    o.leaseDb,
    '--log-level',
    'warn',
    // the bench builds the bridge and its address itself, like for the peers: no NAT/firewall set-up
    '--no-host-setup',
    // the default /run/lxc-dhcpd/BRIDGE.sock is outside the namespaces and shared with anything else serving a br0
    '--control-socket',
    o.controlSocket,
    '--resolv-conf',
    o.resolvConf,
    // perfdhcp relays every request: only relays named with --relay are served
    ...(RELAY_FLAG ? ['--relay', NET.loadIp] : []),
    ...(o.probe ? [] : ['--no-probe']),
    ...(o.hostsFile ? ['--hosts-file', o.hostsFile] : []),
    ...(o.extraArgs ?? []),
  ];
}

export function startLxcDhcpd(topology: Topology, dir: string, o: Omit<LxcDhcpdOptions, 'controlSocket'>): Promise<ServerProcess> {
  return spawnLogged(
    topology,
    topology.hostNs,
    'lxc-dhcpd',
    lxcDhcpdArgv(topology, { ...o, controlSocket: join(dir, 'control.sock') }),
    join(dir, 'lxc-dhcpd.log'),
    [67, 53],
  );
}

const DNSMASQ_LEASE_MAX = 70_000;

interface DnsmasqBenchOptions {
  logDhcp: boolean;
  ping: boolean;
  addnHosts?: string;
  upstream?: string;
}

export function startDnsmasq(topology: Topology, dir: string, o: DnsmasqBenchOptions): Promise<ServerProcess> {
  const leaseFile = join(dir, 'dnsmasq.leases');
  rmSync(leaseFile, { force: true });
  const argv = [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    `--interface=${topology.bridge}`,
    '--bind-interfaces',
    '--domain=lxc',
    '--local=/lxc/',
    `--dhcp-range=${NET.rangeFirst},${NET.rangeLast},${NET.leaseSeconds / 3600}h`,
    // dnsmasq's default --dhcp-lease-max is 1000: it stops handing out leases there, far below the range's 65 278
    `--dhcp-lease-max=${DNSMASQ_LEASE_MAX}`,
    `--dhcp-leasefile=${leaseFile}`,
    `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    '--no-hosts',
    ...(o.logDhcp ? ['--log-dhcp'] : []),
    ...(o.ping ? [] : ['--no-ping']),
    ...(o.addnHosts ? [`--addn-hosts=${o.addnHosts}`] : []),
    ...(o.upstream ? ['--no-resolv', `--server=${o.upstream}`] : ['--no-resolv']),
  ];
  return spawnLogged(topology, topology.hostNs, 'dnsmasq', argv, join(dir, 'dnsmasq.log'), [67, 53]);
}

/** Kea DHCPv4 by hand: raw sockets on the bridge, memfile lease file, the same subnet, pool and lease time. */
export function startKea(topology: Topology, dir: string): Promise<ServerProcess> {
  const leaseFile = join(dir, 'kea-leases4.csv');
  rmSync(leaseFile, { force: true });
  rmSync(`${leaseFile}.2`, { force: true });
  const config = {
    Dhcp4: {
      'interfaces-config': { interfaces: [topology.bridge], 'dhcp-socket-type': 'raw' },
      'lease-database': { type: 'memfile', persist: true, name: leaseFile, 'lfc-interval': 0 },
      'valid-lifetime': NET.leaseSeconds,
      subnet4: [
        {
          id: 1,
          subnet: '10.0.0.0/8',
          pools: [{ pool: `${NET.rangeFirst} - ${NET.rangeLast}` }],
          'option-data': [
            { name: 'routers', data: NET.serverIp },
            { name: 'domain-name-servers', data: NET.serverIp },
          ],
        },
      ],
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: join(dir, 'kea.log') }], severity: 'WARN' }],
    },
  };
  const configFile = join(dir, 'kea-dhcp4.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const env = { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir, KEA_LOGGER_DESTINATION: join(dir, 'kea.log') };
  return spawnLogged(topology, topology.hostNs, 'kea', ['kea-dhcp4', '-c', configFile], join(dir, 'kea.out'), [67], env);
}

/**
 * lxc-dhcpd serving DHCPv6 from --range6 on the bench's bridge (set up by the bench: --no-host-setup, the address
 * given with --ipv6). perfdhcp -6 sends every client from one bridge port without a relay, so the per-port limit on new
 * leases is off (--port-lease-limit 0), as it must be for any load generator on one port.
 */
export function startLxcDhcpd6(topology: Topology, dir: string, o: Omit<LxcDhcpdOptions, 'controlSocket'>): Promise<ServerProcess> {
  const extraArgs = ['--ipv6', 'auto', '--range6', `${NET6.rangeFirst}-${NET6.rangeLast}`, '--port-lease-limit', '0', ...(o.extraArgs ?? [])];
  return startLxcDhcpd(topology, dir, { ...o, extraArgs });
}

/**
 * Kea DHCPv6 by hand: the same /64, pool and lifetimes; memfile with persist on (every lease written to its CSV file,
 * the closest Kea comes to our leases committed before the Reply); its server DUID kept in the run's directory.
 */
export function startKea6(topology: Topology, dir: string): Promise<ServerProcess> {
  const leaseFile = join(dir, 'kea-leases6.csv');
  rmSync(leaseFile, { force: true });
  rmSync(`${leaseFile}.2`, { force: true });
  const config = {
    Dhcp6: {
      'data-directory': dir,
      'interfaces-config': { interfaces: [topology.bridge] },
      'lease-database': { type: 'memfile', persist: true, name: leaseFile, 'lfc-interval': 0 },
      'preferred-lifetime': NET.leaseSeconds,
      'valid-lifetime': NET.leaseSeconds,
      subnet6: [
        {
          id: 1,
          subnet: NET6.prefix,
          // clients on the link (no relay): Kea picks the subnet by the interface the Solicit came in on
          interface: topology.bridge,
          pools: [{ pool: `${NET6.rangeFirst} - ${NET6.rangeLast}` }],
          'option-data': [
            { name: 'dns-servers', data: NET6.bridgeCidr.split('/')[0] },
            { name: 'domain-search', data: 'lxc' },
          ],
        },
      ],
      loggers: [{ name: 'kea-dhcp6', output_options: [{ output: join(dir, 'kea.log') }], severity: 'WARN' }],
    },
  };
  const configFile = join(dir, 'kea-dhcp6.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const env = { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir, KEA_LOGGER_DESTINATION: join(dir, 'kea.log') };
  return spawnLogged(topology, topology.hostNs, 'kea6', ['kea-dhcp6', '-c', configFile], join(dir, 'kea.out'), [547], env);
}

/** The DNS upstream in the wan namespace: answers every forwarded name from a hosts file with TTL 3600. */
export function startUpstream(topology: Topology, dir: string, hostsFile: string): Promise<ServerProcess> {
  if (!topology.wanNs || !topology.wan) throw new Error('topology has no wan namespace');
  const argv = [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    `--listen-address=${topology.wan.wanAddress}`,
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    `--addn-hosts=${hostsFile}`,
    '--local-ttl=3600',
    `--pid-file=${join(dir, 'upstream.pid')}`,
  ];
  return spawnLogged(topology, topology.wanNs, 'upstream', argv, join(dir, 'upstream.log'), [53]);
}

/** CPU time (utime + stime, clock ticks) of pid, or null when it is gone. */
function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/**
 * Waits until the server has used less than 10 % of a CPU over 200 ms (at most maxMs): a server that fell behind
 * still has the previous run's requests queued in its socket buffer, and answering them would count against the next
 * run. Returns how long it waited.
 */
export async function waitIdle(pid: number, maxMs = 15_000): Promise<number> {
  const start = Date.now();
  let last = cpuTicks(pid);
  while (last !== null && Date.now() - start < maxMs) {
    await sleep(200);
    const now = cpuTicks(pid);
    if (now === null || now - last <= 2) break;
    last = now;
  }
  return Date.now() - start;
}
