// Cluster "hosts" for the multi-host tests of issue 16: each host is a netns.ts topology (its own namespace with
// bridge br0 on its own /24, by default 10.(40 + i).0.0/24, and container namespaces on it) joined to the etcd harness's wan
// bridge by a veth `wan0` with WAN_PREFIX.(20 + i)/24 and a default route via the wan gateway, so the daemon's
// uplink (and default --cluster-address) is that wan address. Each host runs the real lxc-dhcpd under
// `ip netns exec`; the daemon can be started with cluster flags, stopped, SIGKILLed and started again on the same
// lease database. Everything is removed by destroy() (and at process exit by netns.ts).
import { join } from 'node:path';
import { type EtcdCluster, WAN_GATEWAY, WAN_PREFIX } from './etcd.ts';
import { LXC_DHCPD_BIN, type RunningLxcDhcpd, startLxcDhcpd } from './lxc-dhcpd.ts';
import { createTopology, type ExitStatus, inNamespace, type RunResult, run, runChecked, type SpawnedProcess, type Topology } from './netns.ts';

/** Host i (1-based) gets WAN_PREFIX.(20 + i) on the wan. */
const HOST_ADDRESS_BASE = 20;
/** Host i (1-based) serves 10.(40 + i).0.0/24. */
const HOST_SUBNET_BASE = 40;

export interface ClusterHostsOptions {
  /** Default 2. */
  hosts?: number;
  /** Containers per host, created up front. Default 1. */
  containers?: number;
  /** Base of the namespace prefixes; host i uses `${prefix}${i}`. Default: the etcd cluster's wan prefix + "h". */
  prefix?: string;
  /** Index of the first host (names hN, wan addresses, default subnets follow it). Default 1. */
  firstIndex?: number;
  /** Second octet of each host's 10.X.0.0/24, in order (e.g. to make one overlap another's). Default 40 + index. */
  subnetOctets?: readonly number[];
}

export interface ClusterHost {
  /** 1-based. */
  readonly index: number;
  /** The --cluster-host name: h1, h2, ... */
  readonly name: string;
  readonly topology: Topology;
  /** The host's address on the wan (its uplink). */
  readonly address: string;
  /** The bridge subnet in CIDR form, e.g. 10.41.0.0/24. */
  readonly subnet: string;
  /** The bridge's address (the containers' router and DNS server), e.g. 10.41.0.1. */
  readonly bridgeAddress: string;
  /** --range for this host's subnet. */
  readonly range: string;
  /** The running daemon, or null. */
  readonly daemon: RunningLxcDhcpd | null;
  /** The cluster flags for this host: --cluster-etcd (every member), --cluster-host, --cluster-ttl. */
  clusterArgs(ttlSeconds?: number): string[];
  /** Starts lxc-dhcpd with clusterArgs() plus `extraArgs` and waits for "serving DHCP on". */
  start(opts?: { extraArgs?: readonly string[]; ttlSeconds?: number; cluster?: boolean }): Promise<RunningLxcDhcpd>;
  /**
   * Spawns lxc-dhcpd with the same flags as start() but does not wait for it to serve: for starts that must fail.
   * The process is tracked by the topology (killed at destroy) but is not this host's `daemon`.
   */
  spawnDaemon(opts?: { extraArgs?: readonly string[]; ttlSeconds?: number }): SpawnedProcess;
  /** SIGTERM (graceful exit) or SIGKILL; resolves with the exit status. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<ExitStatus | null>;
  /** Runs a short command in one of this host's namespaces (host or container). */
  exec(ns: string, argv: readonly string[], timeoutMs?: number): Promise<RunResult>;
}

export interface ClusterHosts {
  readonly hosts: readonly ClusterHost[];
  /** Stops every daemon (SIGTERM) and removes every host namespace. Idempotent. */
  destroy(): Promise<void>;
}

class ClusterHostImpl implements ClusterHost {
  daemon: RunningLxcDhcpd | null = null;
  readonly name: string;
  readonly address: string;
  readonly subnet: string;
  readonly bridgeAddress: string;
  readonly range: string;

  constructor(
    readonly index: number,
    octet: number,
    readonly topology: Topology,
    private readonly etcd: EtcdCluster,
  ) {
    this.name = `h${index}`;
    this.address = `${WAN_PREFIX}.${HOST_ADDRESS_BASE + index}`;
    this.subnet = `10.${octet}.0.0/24`;
    this.bridgeAddress = `10.${octet}.0.1`;
    this.range = `10.${octet}.0.100-200`;
  }

  clusterArgs(ttlSeconds = 2): string[] {
    return ['--cluster-etcd', this.etcd.endpoints.join(','), '--cluster-host', this.name, '--cluster-ttl', String(ttlSeconds)];
  }

  async start(opts: { extraArgs?: readonly string[]; ttlSeconds?: number; cluster?: boolean } = {}): Promise<RunningLxcDhcpd> {
    if (this.daemon !== null && this.daemon.process.exitStatus === null) throw new Error(`${this.name}: daemon already running`);
    const cluster = opts.cluster === false ? [] : this.clusterArgs(opts.ttlSeconds);
    this.daemon = await startLxcDhcpd(this.topology, {
      range: this.range,
      leaseDb: join(this.topology.tmpDir, 'leases.db'),
      extraArgs: [...cluster, ...(opts.extraArgs ?? [])],
    });
    return this.daemon;
  }

  spawnDaemon(opts: { extraArgs?: readonly string[]; ttlSeconds?: number } = {}): SpawnedProcess {
    const argv = [
      process.execPath,
      LXC_DHCPD_BIN,
      '--bridge',
      this.topology.bridge,
      '--range',
      this.range,
      '--lease-db',
      join(this.topology.tmpDir, 'leases.db'),
      '--control-socket',
      join(this.topology.tmpDir, 'control.sock'),
      '--no-probe',
      ...this.clusterArgs(opts.ttlSeconds),
      ...(opts.extraArgs ?? []),
    ];
    return this.topology.spawn(this.topology.hostNs, argv);
  }

  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<ExitStatus | null> {
    const daemon = this.daemon;
    if (daemon === null) return null;
    this.daemon = null;
    return daemon.process.stop({ signal, graceMs: signal === 'SIGKILL' ? 0 : 5000 });
  }

  exec(ns: string, argv: readonly string[], timeoutMs = 10_000): Promise<RunResult> {
    return this.topology.exec(ns, argv, { timeoutMs });
  }
}

async function createHost(etcd: EtcdCluster, prefix: string, index: number, octet: number, containers: number): Promise<ClusterHostImpl> {
  const topology = await createTopology({ prefix: `${prefix}${index}`, containers, bridgeAddress: `10.${octet}.0.1/24` });
  try {
    const host = new ClusterHostImpl(index, octet, topology, etcd);
    await etcd.attachToWan(topology.hostNs, host.address);
    await runChecked(['ip', '-n', topology.hostNs, 'route', 'add', 'default', 'via', WAN_GATEWAY]);
    return host;
  } catch (error) {
    await topology.destroy();
    throw error;
  }
}

/** Creates the hosts on the etcd cluster's wan; daemons are not started (host.start()). */
export async function createClusterHosts(etcd: EtcdCluster, opts: ClusterHostsOptions = {}): Promise<ClusterHosts> {
  const prefix = opts.prefix ?? `${etcd.wanNs.replace(/-h$/, '')}h`;
  const hosts: ClusterHostImpl[] = [];
  const destroy = async (): Promise<void> => {
    await Promise.allSettled(hosts.map((host) => host.stop('SIGTERM')));
    for (const host of hosts.splice(0)) await host.topology.destroy();
  };
  try {
    const first = opts.firstIndex ?? 1;
    for (let n = 0; n < (opts.hosts ?? 2); n++) {
      const index = first + n;
      hosts.push(await createHost(etcd, prefix, index, opts.subnetOctets?.[n] ?? HOST_SUBNET_BASE + index, opts.containers ?? 1));
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return { hosts: [...hosts], destroy };
}

/** argv that runs `argv` in host `host`'s namespace (for processes the test tracks itself). */
export function inHost(host: ClusterHost, argv: readonly string[]): string[] {
  return inNamespace(host.topology.hostNs, argv);
}

/** `ip route show proto N` in the host's namespace, trimmed lines. */
export async function routesOfProtocol(host: ClusterHost, protocol: number): Promise<string[]> {
  const result = await run(inHost(host, ['ip', 'route', 'show', 'proto', String(protocol)]));
  return result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

/** `dig +short` from a container of `host` to that host's own DNS server (its bridge address); the answer lines. */
export async function digShort(host: ClusterHost, ns: string, name: string, type = 'A'): Promise<string[]> {
  const result = await host.exec(ns, ['dig', `@${host.bridgeAddress}`, '+short', '+time=1', '+tries=1', name, type], 5000);
  return result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith(';'));
}

/**
 * Polls digShort every `intervalMs` until `accept(answer)` holds; resolves with the time it took (ms), rejects with
 * the last answer after `timeoutMs`.
 */
export async function waitForAnswer(
  host: ClusterHost,
  ns: string,
  name: string,
  accept: (answer: string[]) => boolean,
  opts: { timeoutMs?: number; intervalMs?: number; type?: string } = {},
): Promise<number> {
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? 10_000);
  let last: string[] = [];
  for (;;) {
    last = await digShort(host, ns, name, opts.type);
    if (accept(last)) return Date.now() - started;
    if (Date.now() > deadline)
      throw new Error(`${host.name}: ${name} ${opts.type ?? 'A'} still answered ${JSON.stringify(last)} after ${opts.timeoutMs ?? 10_000} ms`);
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 100));
  }
}
