// Network-namespace topologies for integration tests: a "host" namespace with a bridge, one
// namespace per container (veth pair, eth0 inside), optional stray ports and a WAN namespace.
// Everything created here is removed by Topology.destroy() or, failing that, at process exit.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// ---------------------------------------------------------------------------------------------
// Running commands

export interface RunOptions {
  /** Kill the command (SIGKILL) after this many milliseconds. Default 10 000. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Throw a CommandError when the command exits non-zero or times out. Default false. */
  check?: boolean;
}

export interface RunResult {
  /** Exit code, or null when the command was killed by a signal (including the timeout). */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    const status = result.timedOut ? 'timed out' : result.signal ? `killed by ${result.signal}` : `exited ${result.code}`;
    super(`${argv.join(' ')} ${status}${result.stderr.trim() ? `: ${result.stderr.trim()}` : ''}`);
  }
}

const DEFAULT_RUN_TIMEOUT_MS = 10_000;

/** Runs argv (no shell) and collects its output. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('run: empty argv');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const errorCode = error === null ? 0 : (error as NodeJS.ErrnoException & { code?: unknown }).code;
      if (typeof errorCode === 'string') {
        // spawn failure (ENOENT...), not an exit status
        reject(new Error(`${argv.join(' ')}: ${error?.message ?? errorCode}`));
        return;
      }
      const signal = error === null ? null : ((error as { signal?: NodeJS.Signals | null }).signal ?? null);
      const result: RunResult = {
        code: error === null ? 0 : typeof errorCode === 'number' ? errorCode : null,
        signal,
        timedOut: error !== null && (error as { killed?: boolean }).killed === true && signal === 'SIGKILL',
        stdout,
        stderr,
      };
      if (opts.check === true && (result.code !== 0 || result.timedOut)) reject(new CommandError(argv, result));
      else resolve(result);
    });
  });
}

/** Like run() with check: true. */
export function runChecked(argv: readonly string[], opts: Omit<RunOptions, 'check'> = {}): Promise<RunResult> {
  return run(argv, { ...opts, check: true });
}

/** argv that runs `argv` inside network namespace `ns`. */
export function inNamespace(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}

// ---------------------------------------------------------------------------------------------
// Long-running processes, tracked so that nothing outlives the test

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** Kill the process (SIGTERM, then SIGKILL) after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
}

export interface WaitForOutputOptions {
  stream?: 'stdout' | 'stderr' | 'both';
  timeoutMs?: number;
}

export interface StopOptions {
  signal?: NodeJS.Signals;
  /** Time between the first signal and SIGKILL. Default 2000 ms. */
  graceMs?: number;
}

/** A process started in a namespace by nsSpawn; killed at Topology.destroy() or process exit. */
export interface SpawnedProcess {
  readonly ns: string;
  readonly argv: readonly string[];
  readonly child: ChildProcess;
  readonly pid: number;
  /** Output collected so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** null while running. */
  readonly exitStatus: ExitStatus | null;
  readonly exited: Promise<ExitStatus>;
  /** Resolves with the first match of pattern in the output; rejects on timeout or exit without a match. */
  waitForOutput(pattern: RegExp, opts?: WaitForOutputOptions): Promise<RegExpMatchArray>;
  signal(signal: NodeJS.Signals): void;
  /** Sends `signal` (default SIGTERM) to the process and its descendants, SIGKILL after the grace period. */
  stop(opts?: StopOptions): Promise<ExitStatus>;
}

/** A pid the harness did not spawn itself but must kill (e.g. a client that daemonized). */
interface AdoptedPid {
  ns: string;
  pid: number;
}

const liveProcesses = new Set<TrackedProcess>();
const adoptedPids = new Set<AdoptedPid>();
const liveTopologies = new Set<TopologyImpl>();

const DEFAULT_GRACE_MS = 2000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** False for exited processes, zombies included: a daemonized client's parent is PID 1, which may never reap it. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Parent pid of every process, read from /proc/PID/stat. */
function parentPids(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // the command name (field 2) may contain spaces and parentheses: parse after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const parent = Number(fields[1]);
      if (Number.isInteger(parent)) parents.set(Number(entry), parent);
    } catch {
      // exited while we looked
    }
  }
  return parents;
}

/** pid and all its descendants, parents first. */
export function processTree(pid: number): number[] {
  const parents = parentPids();
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** Kills pid and its descendants: `signal` first, SIGKILL for whatever is left after graceMs. */
export async function killProcessTree(pid: number, signal: NodeJS.Signals = 'SIGTERM', graceMs = DEFAULT_GRACE_MS): Promise<void> {
  const tree = processTree(pid);
  for (const member of tree) sendSignal(member, signal);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && tree.some(isAlive)) await sleep(25);
  for (const member of tree) if (isAlive(member)) sendSignal(member, 'SIGKILL');
}

class TrackedProcess implements SpawnedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  exitStatus: ExitStatus | null = null;
  private stdoutText = '';
  private stderrText = '';
  private readonly outputListeners = new Set<() => void>();

  constructor(
    readonly ns: string,
    readonly argv: readonly string[],
    opts: SpawnOptions,
  ) {
    const [file, ...args] = inNamespace(ns, argv);
    this.child = spawn(file!, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error(`could not start ${argv.join(' ')} in ${ns}`);
    this.pid = this.child.pid;
    liveProcesses.add(this);
    installExitHooks();
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => this.append('stdout', text));
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => this.append('stderr', text));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.exitStatus = { code, signal };
        liveProcesses.delete(this);
        for (const listener of this.outputListeners) listener();
        resolve(this.exitStatus);
      });
      this.child.on('error', () => {
        // 'close' follows and records the status
      });
    });
    if (opts.timeoutMs !== undefined) {
      const timer = setTimeout(() => void this.stop(), opts.timeoutMs);
      timer.unref();
      void this.exited.then(() => clearTimeout(timer));
    }
  }

  get stdout(): string {
    return this.stdoutText;
  }

  get stderr(): string {
    return this.stderrText;
  }

  private append(stream: 'stdout' | 'stderr', text: string): void {
    if (stream === 'stdout') this.stdoutText += text;
    else this.stderrText += text;
    for (const listener of this.outputListeners) listener();
  }

  waitForOutput(pattern: RegExp, opts: WaitForOutputOptions = {}): Promise<RegExpMatchArray> {
    const stream = opts.stream ?? 'both';
    const timeoutMs = opts.timeoutMs ?? 5000;
    const text = (): string => (stream === 'stdout' ? this.stdoutText : stream === 'stderr' ? this.stderrText : `${this.stdoutText}\n${this.stderrText}`);
    return new Promise((resolve, reject) => {
      const finish = (outcome: () => void): void => {
        clearTimeout(timer);
        this.outputListeners.delete(check);
        outcome();
      };
      const check = (): void => {
        const match = text().match(pattern);
        if (match) finish(() => resolve(match));
        else if (this.exitStatus !== null) {
          finish(() => reject(new Error(`${this.describe()} exited (${JSON.stringify(this.exitStatus)}) before printing ${pattern}`)));
        }
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`${this.describe()}: no ${pattern} within ${timeoutMs} ms`))), timeoutMs);
      this.outputListeners.add(check);
      check();
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exitStatus === null) sendSignal(this.pid, signal);
  }

  async stop(opts: StopOptions = {}): Promise<ExitStatus> {
    if (this.exitStatus !== null) return this.exitStatus;
    await killProcessTree(this.pid, opts.signal ?? 'SIGTERM', opts.graceMs ?? DEFAULT_GRACE_MS);
    return this.exited;
  }

  describe(): string {
    return `[${this.ns}] ${this.argv.join(' ')}\n--- stdout:\n${this.stdoutText}\n--- stderr:\n${this.stderrText}`;
  }
}

/** Starts a long-running process inside namespace `ns`, tracked for cleanup. */
export function nsSpawn(ns: string, argv: readonly string[], opts: SpawnOptions = {}): SpawnedProcess {
  return new TrackedProcess(ns, argv, opts);
}

/** Registers a pid (e.g. a daemonized client) to be killed when its namespace is destroyed. */
export function adoptPid(ns: string, pid: number): void {
  adoptedPids.add({ ns, pid });
}

/** Kills an adopted pid now (SIGTERM, SIGKILL after grace) and forgets it. */
export async function killAdoptedPid(pid: number, graceMs = DEFAULT_GRACE_MS): Promise<void> {
  for (const adopted of adoptedPids) if (adopted.pid === pid) adoptedPids.delete(adopted);
  await killProcessTree(pid, 'SIGTERM', graceMs);
}

// ---------------------------------------------------------------------------------------------
// Topologies

export interface TopologyOptions {
  /** Number of containers created up front. Default 1. */
  containers?: number;
  /** Namespace-name prefix, [a-z0-9-]; default "lxt-" + random hex. */
  prefix?: string;
  /** Default "br0". */
  bridge?: string;
  /** Address of the bridge in CIDR form, or null for none. Default "10.0.0.1/24". */
  bridgeAddress?: string | null;
  /** Adds a WAN namespace, see WanLink. Default false. */
  wan?: boolean;
  /** Number of stray containers whose host-side veth is not on the bridge. Default 0. */
  strayPorts?: number;
}

export interface Container {
  /** Network namespace of the container. */
  ns: string;
  ifname: 'eth0';
  /** 02:1a:b0:00:00:NN for containers, 02:1a:b0:00:01:NN for strays (NN = index in hex). */
  mac: string;
  /** 1-based for containers, 0-based for strays. */
  index: number;
  /** Name of the veth peer in the host namespace: vethN (on the bridge) or strayN (not on it). */
  hostIfname: string;
  /** Per-container scratch directory, removed at destroy. */
  tmpDir: string;
}

/** WAN namespace linked to the host namespace (documentation addresses, RFC 5737). */
export interface WanLink {
  ns: string;
  /** In the host namespace, 198.51.100.2/24; the host's default route points at wanAddress. */
  hostIfname: 'wan0';
  hostAddress: '198.51.100.2';
  /** In the WAN namespace on its eth0, 198.51.100.1/24. */
  wanAddress: '198.51.100.1';
}

export interface Topology {
  readonly prefix: string;
  readonly hostNs: string;
  readonly bridge: string;
  readonly bridgeAddress: string | null;
  readonly containers: Container[];
  readonly strays: Container[];
  readonly wanNs?: string;
  readonly wan?: WanLink;
  /** Scratch directory for this topology, removed at destroy (kept if LXC_DHCPD_KEEP_TMP is set). */
  readonly tmpDir: string;
  /** Every namespace created so far. */
  readonly namespaces: readonly string[];
  addContainer(): Promise<Container>;
  addStray(): Promise<Container>;
  /** Runs a short command inside ns (one of this topology's namespaces). */
  exec(ns: string, argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** nsSpawn restricted to this topology's namespaces. */
  spawn(ns: string, argv: readonly string[], opts?: SpawnOptions): SpawnedProcess;
  /** Kills every process started in its namespaces, deletes the namespaces and temp files. Idempotent. */
  destroy(): Promise<void>;
}

const PREFIX_PATTERN = /^[a-z0-9][a-z0-9-]{0,23}$/;
const CONTAINER_MAC_BASE = '02:1a:b0:00:00';
const STRAY_MAC_BASE = '02:1a:b0:00:01';

export function randomPrefix(base = 'lxt-'): string {
  return base + randomBytes(3).toString('hex');
}

function macFor(base: string, index: number): string {
  if (index < 0 || index > 255) throw new Error(`container index ${index} out of range 0..255`);
  return `${base}:${index.toString(16).padStart(2, '0')}`;
}

function resolvConfDir(ns: string): string {
  return `/etc/netns/${ns}`;
}

class TopologyImpl implements Topology {
  readonly hostNs: string;
  readonly containers: Container[] = [];
  readonly strays: Container[] = [];
  wanNs?: string;
  wan?: WanLink;
  readonly tmpDir: string;
  private readonly created: string[] = [];
  private destroyed = false;

  constructor(
    readonly prefix: string,
    readonly bridge: string,
    readonly bridgeAddress: string | null,
  ) {
    this.hostNs = `${prefix}-h`;
    this.tmpDir = mkdtempSync(join(tmpdir(), `lxc-dhcpd-${prefix}-`));
    liveTopologies.add(this);
  }

  get namespaces(): readonly string[] {
    return this.created;
  }

  private async createNamespace(ns: string): Promise<void> {
    if (this.destroyed) throw new Error(`topology ${this.prefix} is destroyed`);
    await runChecked(['ip', 'netns', 'add', ns]);
    this.created.push(ns);
    mkdirSync(resolvConfDir(ns), { recursive: true });
    writeFileSync(join(resolvConfDir(ns), 'resolv.conf'), '# lxc-dhcpd test namespace: no resolver\n');
    await runChecked(inNamespace(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']));
    await runChecked(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }

  async createHost(): Promise<void> {
    await this.createNamespace(this.hostNs);
    const ip = (...args: string[]): Promise<RunResult> => runChecked(['ip', '-n', this.hostNs, ...args]);
    await ip('link', 'add', this.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    if (this.bridgeAddress !== null) await ip('addr', 'add', this.bridgeAddress, 'dev', this.bridge);
    await ip('link', 'set', this.bridge, 'up');
  }

  private async createPort(kind: 'container' | 'stray'): Promise<Container> {
    const list = kind === 'container' ? this.containers : this.strays;
    const index = kind === 'container' ? list.length + 1 : list.length;
    const ns = kind === 'container' ? `${this.prefix}-c${index}` : `${this.prefix}-s${index}`;
    const hostIfname = kind === 'container' ? `veth${index}` : `stray${index}`;
    const mac = macFor(kind === 'container' ? CONTAINER_MAC_BASE : STRAY_MAC_BASE, index);
    await this.createNamespace(ns);
    await runChecked(['ip', '-n', this.hostNs, 'link', 'add', hostIfname, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    if (kind === 'container') await runChecked(['ip', '-n', this.hostNs, 'link', 'set', hostIfname, 'master', this.bridge]);
    await runChecked(['ip', '-n', this.hostNs, 'link', 'set', hostIfname, 'up']);
    await runChecked(['ip', '-n', ns, 'link', 'set', 'eth0', 'address', mac, 'up']);
    const tmpDirOfPort = join(this.tmpDir, ns);
    mkdirSync(tmpDirOfPort);
    const port: Container = { ns, ifname: 'eth0', mac, index, hostIfname, tmpDir: tmpDirOfPort };
    list.push(port);
    return port;
  }

  addContainer(): Promise<Container> {
    return this.createPort('container');
  }

  addStray(): Promise<Container> {
    return this.createPort('stray');
  }

  async createWan(): Promise<void> {
    const ns = `${this.prefix}-w`;
    await this.createNamespace(ns);
    const link: WanLink = { ns, hostIfname: 'wan0', hostAddress: '198.51.100.2', wanAddress: '198.51.100.1' };
    await runChecked(['ip', '-n', this.hostNs, 'link', 'add', link.hostIfname, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await runChecked(['ip', '-n', this.hostNs, 'addr', 'add', `${link.hostAddress}/24`, 'dev', link.hostIfname]);
    await runChecked(['ip', '-n', this.hostNs, 'link', 'set', link.hostIfname, 'up']);
    await runChecked(['ip', '-n', ns, 'addr', 'add', `${link.wanAddress}/24`, 'dev', 'eth0']);
    await runChecked(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await runChecked(['ip', '-n', this.hostNs, 'route', 'add', 'default', 'via', link.wanAddress]);
    this.wanNs = ns;
    this.wan = link;
  }

  private assertOwn(ns: string): void {
    if (!this.created.includes(ns)) throw new Error(`namespace ${ns} does not belong to topology ${this.prefix}`);
  }

  exec(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.assertOwn(ns);
    return run(inNamespace(ns, argv), opts);
  }

  spawn(ns: string, argv: readonly string[], opts: SpawnOptions = {}): SpawnedProcess {
    this.assertOwn(ns);
    return nsSpawn(ns, argv, opts);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const own = new Set(this.created);
    const stops: Promise<unknown>[] = [];
    for (const tracked of liveProcesses) if (own.has(tracked.ns)) stops.push(tracked.stop());
    for (const adopted of adoptedPids) {
      if (own.has(adopted.ns)) {
        adoptedPids.delete(adopted);
        stops.push(killProcessTree(adopted.pid));
      }
    }
    await Promise.allSettled(stops);
    for (const ns of [...this.created].reverse()) {
      await killNamespaceProcesses(ns);
      await run(['ip', 'netns', 'del', ns]);
      rmSync(resolvConfDir(ns), { recursive: true, force: true });
    }
    if (process.env.LXC_DHCPD_KEEP_TMP === undefined) rmSync(this.tmpDir, { recursive: true, force: true });
    liveTopologies.delete(this);
  }

  /** Synchronous last-resort cleanup for process exit. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const own = new Set(this.created);
    for (const tracked of liveProcesses) if (own.has(tracked.ns)) for (const pid of processTree(tracked.pid)) sendSignal(pid, 'SIGKILL');
    for (const adopted of adoptedPids) if (own.has(adopted.ns)) for (const pid of processTree(adopted.pid)) sendSignal(pid, 'SIGKILL');
    for (const ns of this.created) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
      for (const pid of pids.split(/\s+/).filter(Boolean)) sendSignal(Number(pid), 'SIGKILL');
      spawnSync('ip', ['netns', 'del', ns]);
      rmSync(resolvConfDir(ns), { recursive: true, force: true });
    }
    rmSync(this.tmpDir, { recursive: true, force: true });
    liveTopologies.delete(this);
  }
}

/** Last sweep of a namespace the harness created: anything still running in it was started by a test. */
async function killNamespaceProcesses(ns: string): Promise<void> {
  const listed = await run(['ip', 'netns', 'pids', ns]);
  const pids = listed.stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) sendSignal(pid, 'SIGKILL');
  const deadline = Date.now() + 1000;
  while (Date.now() < deadline && pids.some(isAlive)) await sleep(20);
}

/** Builds the topology; on any failure everything created so far is removed before rethrowing. */
export async function createTopology(opts: TopologyOptions = {}): Promise<Topology> {
  const prefix = opts.prefix ?? randomPrefix();
  if (!PREFIX_PATTERN.test(prefix)) throw new Error(`invalid namespace prefix ${JSON.stringify(prefix)}`);
  const bridge = opts.bridge ?? 'br0';
  const bridgeAddress = opts.bridgeAddress === undefined ? '10.0.0.1/24' : opts.bridgeAddress;
  installExitHooks();
  const topology = new TopologyImpl(prefix, bridge, bridgeAddress);
  try {
    await topology.createHost();
    for (let i = 0; i < (opts.containers ?? 1); i++) await topology.addContainer();
    for (let i = 0; i < (opts.strayPorts ?? 0); i++) await topology.addStray();
    if (opts.wan === true) await topology.createWan();
    return topology;
  } catch (error) {
    await topology.destroy();
    throw error;
  }
}

let exitHooksInstalled = false;

function cleanupEverythingSync(): void {
  for (const topology of [...liveTopologies]) topology.destroySync();
  for (const tracked of liveProcesses) for (const pid of processTree(tracked.pid)) sendSignal(pid, 'SIGKILL');
  for (const adopted of adoptedPids) sendSignal(adopted.pid, 'SIGKILL');
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', cleanupEverythingSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupEverythingSync();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
