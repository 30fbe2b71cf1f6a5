// A real etcd 3.4 cluster (Debian etcd-server) for the multi-host tests of issue 16: a "wan" namespace holding a
// bridge, one namespace per etcd member attached to it, addresses from the RFC 2544 benchmarking range 198.18.0.0/24
// (never routed anywhere, so nothing here can reach a real network). Data directories live on tmpfs (/dev/shm) when
// it exists, because fsync on a shared disk makes raft commits slow and flaky. Members can be killed (SIGKILL),
// stopped (SIGTERM) and restarted with the same data directory; destroy() (and, failing that, process exit through
// netns.ts) kills every process and removes every namespace and file. Other namespaces (the cluster "hosts") join the
// same wan bridge through attachToWan().
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createTopology, inNamespace, type RunResult, randomPrefix, run, runChecked, type SpawnedProcess, type Topology } from './netns.ts';

/** The wan subnet: RFC 2544 benchmarking addresses, /24. */
export const WAN_PREFIX = '198.18.0';
export const WAN_PREFIX_LENGTH = 24;
/** The wan bridge's own address in wanNs. */
export const WAN_GATEWAY = `${WAN_PREFIX}.1`;
/** etcd member i (1-based) gets WAN_PREFIX.(10 + i). */
const MEMBER_ADDRESS_BASE = 10;
const CLIENT_PORT = 2379;
const PEER_PORT = 2380;
/** Debian's etcd 3.4 takes a few seconds to elect a leader on a busy 2-core machine. */
const HEALTH_TIMEOUT_MS = 30_000;

export interface EtcdMember {
  /** e1, e2, ... */
  readonly name: string;
  readonly ns: string;
  readonly address: string;
  readonly clientUrl: string;
  readonly dataDir: string;
  /** null while stopped. */
  readonly process: SpawnedProcess | null;
}

export interface EtcdClusterOptions {
  /** Default 3. */
  members?: number;
  /** Namespace prefix; default "lxe-" + random hex. */
  prefix?: string;
  /** etcd's own log level; default "warn" (its info lines are many). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export interface EtcdCluster {
  /** The namespace holding the wan bridge (`wan`, WAN_GATEWAY/24: etcdctl runs from there). */
  readonly wanNs: string;
  readonly wanBridge: string;
  readonly members: readonly EtcdMember[];
  /** Client URLs of every member, for --cluster-etcd (comma-joined) or etcdctl --endpoints. */
  readonly endpoints: readonly string[];
  /** Runs etcdctl (API v3) against the given endpoints (default: all), from wanNs unless `ns` is given. */
  etcdctl(args: readonly string[], opts?: { endpoints?: readonly string[]; ns?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Waits until every running member reports healthy (`etcdctl endpoint health`). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** SIGKILL to member i (0-based); resolves when it is gone. */
  kill(index: number): Promise<void>;
  /** SIGTERM to member i, SIGKILL after a grace period. */
  stop(index: number): Promise<void>;
  /** Starts member i again on its data directory (rejoins the cluster as an existing member). */
  restart(index: number): Promise<void>;
  /** Stops every member (SIGTERM). */
  stopAll(): Promise<void>;
  /** Restarts every stopped member and waits until all are healthy. */
  restartAll(): Promise<void>;
  /** Puts a namespace on the wan bridge: a veth `ifname` in `ns` with `address`/24, the bridge end in wanNs. */
  attachToWan(ns: string, address: string, ifname?: string): Promise<void>;
  /** Kills everything, removes the namespaces and data directories. Idempotent. */
  destroy(): Promise<void>;
}

class MemberImpl implements EtcdMember {
  process: SpawnedProcess | null = null;
  constructor(
    readonly name: string,
    readonly ns: string,
    readonly address: string,
    readonly dataDir: string,
  ) {}
  get clientUrl(): string {
    return `http://${this.address}:${CLIENT_PORT}`;
  }
  get peerUrl(): string {
    return `http://${this.address}:${PEER_PORT}`;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Data roots outside a topology's tmpDir, removed at exit if destroy() never ran. */
const liveRoots = new Set<string>();
process.on('exit', () => {
  for (const root of liveRoots) rmSync(root, { recursive: true, force: true });
});

/** tmpfs when there is one: fsync on a shared disk stalls raft. */
function dataRoot(fallback: string): string {
  if (!existsSync('/dev/shm')) {
    const dir = join(fallback, 'etcd');
    mkdirSync(dir);
    return dir;
  }
  const dir = mkdtempSync(join('/dev/shm', 'lxc-dhcpd-etcd-'));
  liveRoots.add(dir);
  return dir;
}

class EtcdClusterImpl implements EtcdCluster {
  readonly members: MemberImpl[] = [];
  readonly wanBridge: string;
  private attachedCount = 0;
  private destroyed = false;

  constructor(
    private readonly wan: Topology,
    private readonly root: string,
    private readonly logLevel: string,
  ) {
    this.wanBridge = wan.bridge;
  }

  get wanNs(): string {
    return this.wan.hostNs;
  }

  get endpoints(): readonly string[] {
    return this.members.map((m) => m.clientUrl);
  }

  async addMember(index: number): Promise<void> {
    const port = await this.wan.addContainer();
    const address = `${WAN_PREFIX}.${MEMBER_ADDRESS_BASE + index + 1}`;
    await runChecked(['ip', '-n', port.ns, 'addr', 'add', `${address}/${WAN_PREFIX_LENGTH}`, 'dev', 'eth0']);
    const dataDir = join(this.root, `e${index + 1}`);
    this.members.push(new MemberImpl(`e${index + 1}`, port.ns, address, dataDir));
  }

  private argv(member: MemberImpl, state: 'new' | 'existing'): string[] {
    const initialCluster = this.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    return [
      'etcd',
      '--name',
      member.name,
      '--data-dir',
      member.dataDir,
      '--listen-client-urls',
      member.clientUrl,
      '--advertise-client-urls',
      member.clientUrl,
      '--listen-peer-urls',
      member.peerUrl,
      '--initial-advertise-peer-urls',
      member.peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      this.wan.prefix,
      '--initial-cluster-state',
      state,
      '--logger',
      'zap',
      '--log-level',
      this.logLevel,
    ];
  }

  startMember(member: MemberImpl, state: 'new' | 'existing'): void {
    if (member.process !== null && member.process.exitStatus === null) return;
    member.process = this.wan.spawn(member.ns, this.argv(member, state));
  }

  etcdctl(args: readonly string[], opts: { endpoints?: readonly string[]; ns?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    const endpoints = (opts.endpoints ?? this.endpoints).join(',');
    const ns = opts.ns ?? this.wanNs;
    const env = { ...process.env, ETCDCTL_API: '3' };
    return run(inNamespace(ns, ['etcdctl', '--endpoints', endpoints, '--dial-timeout=1s', '--command-timeout=3s', ...args]), {
      env,
      timeoutMs: opts.timeoutMs ?? 10_000,
    });
  }

  async waitHealthy(timeoutMs = HEALTH_TIMEOUT_MS): Promise<void> {
    const running = this.members.filter((m) => m.process !== null && m.process.exitStatus === null);
    const deadline = Date.now() + timeoutMs;
    let last: RunResult | null = null;
    while (Date.now() < deadline) {
      last = await this.etcdctl(['endpoint', 'health'], { endpoints: running.map((m) => m.clientUrl) });
      if (last.code === 0) return;
      const dead = running.find((m) => m.process?.exitStatus !== null);
      if (dead !== undefined) throw new Error(`etcd ${dead.name} exited: ${dead.process?.stderr.slice(-2000)}`);
      await sleep(200);
    }
    throw new Error(`etcd not healthy within ${timeoutMs} ms: ${last?.stdout ?? ''}${last?.stderr ?? ''}`);
  }

  private member(index: number): MemberImpl {
    const member = this.members[index];
    if (member === undefined) throw new Error(`no etcd member ${index}`);
    return member;
  }

  async kill(index: number): Promise<void> {
    const member = this.member(index);
    await member.process?.stop({ signal: 'SIGKILL', graceMs: 0 });
  }

  async stop(index: number): Promise<void> {
    const member = this.member(index);
    await member.process?.stop({ signal: 'SIGTERM', graceMs: 3000 });
  }

  async restart(index: number): Promise<void> {
    this.startMember(this.member(index), 'existing');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.stop(i)));
  }

  async restartAll(): Promise<void> {
    for (const member of this.members) this.startMember(member, 'existing');
    await this.waitHealthy();
  }

  async attachToWan(ns: string, address: string, ifname = 'wan0'): Promise<void> {
    this.attachedCount += 1;
    const bridgeEnd = `up${this.attachedCount}`;
    const ip = (...args: string[]): Promise<RunResult> => runChecked(['ip', ...args]);
    await ip('-n', this.wanNs, 'link', 'add', bridgeEnd, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns);
    await ip('-n', this.wanNs, 'link', 'set', bridgeEnd, 'master', this.wanBridge);
    await ip('-n', this.wanNs, 'link', 'set', bridgeEnd, 'up');
    await ip('-n', ns, 'addr', 'add', `${address}/${WAN_PREFIX_LENGTH}`, 'dev', ifname);
    await ip('-n', ns, 'link', 'set', ifname, 'up');
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.wan.destroy();
    rmSync(this.root, { recursive: true, force: true });
    liveRoots.delete(this.root);
  }
}

/** Starts an N-member etcd cluster (default 3) and waits until it is healthy; on failure everything is removed. */
export async function startEtcdCluster(opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const count = opts.members ?? 3;
  const wan = await createTopology({
    prefix: opts.prefix ?? randomPrefix('lxe-'),
    containers: 0,
    bridge: 'wan',
    bridgeAddress: `${WAN_GATEWAY}/${WAN_PREFIX_LENGTH}`,
  });
  let root: string | null = null;
  let cluster: EtcdClusterImpl | null = null;
  try {
    root = dataRoot(wan.tmpDir);
    cluster = new EtcdClusterImpl(wan, root, opts.logLevel ?? 'warn');
    for (let i = 0; i < count; i++) await cluster.addMember(i);
    for (const member of cluster.members) cluster.startMember(member, 'new');
    await cluster.waitHealthy();
    return cluster;
  } catch (error) {
    if (cluster !== null) await cluster.destroy();
    else {
      await wan.destroy();
      if (root !== null) {
        rmSync(root, { recursive: true, force: true });
        liveRoots.delete(root);
      }
    }
    throw error;
  }
}
