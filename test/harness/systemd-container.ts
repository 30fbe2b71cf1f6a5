/**
 * Debian 12 system containers with systemd as init, for test/integration/systemd.test.ts (issue 15 item 5): a root
 * file system built once with mmdebstrap and cached as a tarball under /var/cache/lxc-dhcpd-test (named by a hash of
 * the suite, variant and package list, so a changed list builds a new one), unpacked per container into the test's
 * own tmp dir, and started with Debian's lxc in the foreground (`lxc-start -F`) under `ip netns exec NS` in a private
 * mount namespace where /sys/fs/cgroup is bound back (ip netns exec remounts /sys), as the busybox container test
 * does. The containers are privileged (no user namespace): systemd needs its cgroup tree, and the daemon under test
 * needs CAP_NET_ADMIN in the container's own network namespace. installPackedDaemon() is a stand-in for the package
 * helper's packAndInstall(): `npm pack` of this checkout unpacked as `npm install -g` would lay it out, with the
 * production dependencies and the addon from this checkout (built against the same node, which is copied in).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunResult, run, runChecked } from './netns.ts';

/** What the containers need: systemd as init, resolved (for --resolved and resolvectl), D-Bus (busctl), ip, and
 * node's one library that minbase lacks (`ldd /usr/bin/node`: libstdc++; libc, libm and libgcc_s are in minbase). */
const ROOTFS_PACKAGES = ['systemd', 'systemd-sysv', 'systemd-resolved', 'dbus', 'iproute2', 'libstdc++6'] as const;
const SUITE = 'bookworm';
const VARIANT = 'minbase';
const CACHE_DIR = '/var/cache/lxc-dhcpd-test';
/** mmdebstrap took 39 s here with a warm network; a slow mirror or a loaded machine gets ten times that. */
const MMDEBSTRAP_TIMEOUT_MS = 600_000;
/** systemd reaches "running" in about 2 s in an idle container; 120 s covers a CI machine under full load. */
const BOOT_TIMEOUT_MS = 120_000;
const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** The cached tarball for this package list (pure: the name changes whenever the list does). */
function rootfsCachePath(packages: readonly string[] = ROOTFS_PACKAGES): string {
  const key = createHash('sha256')
    .update(`${SUITE} ${VARIANT} ${[...packages].sort().join(',')}`)
    .digest('hex')
    .slice(0, 16);
  return join(CACHE_DIR, `${SUITE}-systemd-${key}.tar.zst`);
}

/** The cached root file system tarball, built first when it is missing (written aside, then renamed into place). */
export async function cachedRootfs(): Promise<string> {
  const path = rootfsCachePath();
  if (existsSync(path)) return path;
  mkdirSync(CACHE_DIR, { recursive: true });
  const partial = `${path}.${process.pid}.partial.tar.zst`;
  try {
    await runChecked(['mmdebstrap', `--variant=${VARIANT}`, `--include=${ROOTFS_PACKAGES.join(',')}`, SUITE, partial], {
      timeoutMs: MMDEBSTRAP_TIMEOUT_MS,
    });
    renameSync(partial, path);
  } finally {
    rmSync(partial, { force: true });
  }
  return path;
}

/** Unpacks the cached tarball as lxcPath/name/rootfs (a copy per container; the cache is never written). */
export async function unpackRootfs(tarball: string, lxcPath: string, name: string): Promise<string> {
  const rootfs = join(lxcPath, name, 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  await runChecked(['tar', '-C', rootfs, '--zstd', '-xpf', tarball], { timeoutMs: 180_000 });
  writeFileSync(join(rootfs, 'etc/hostname'), `${name}\n`);
  return rootfs;
}

/** Top-level package directories (node_modules/X, node_modules/@scope/X) of the checkout's production dependencies. */
async function productionDependencies(): Promise<string[]> {
  // npm ls exits non-zero for extraneous packages; its list is still complete.
  const listed = await run(['npm', 'ls', '--omit=dev', '--all', '--parseable'], { timeoutMs: 60_000 });
  const topLevel = /^node_modules\/(@[^/]+\/)?[^/]+$/;
  const rel = listed.stdout
    .split('\n')
    .filter((line) => line.startsWith('/'))
    .map((line) => relative(REPO_ROOT, line));
  return [...new Set(rel.filter((r) => topLevel.test(r)))].sort();
}

/**
 * Installs `npm pack` of this checkout into rootfs/usr/local as `npm install -g` would (package under
 * lib/node_modules, the command linked in bin), with this checkout's production dependencies, its compiled addon and
 * this node as /usr/bin/node. Returns the tarball's path.
 */
export async function installPackedDaemon(rootfs: string, workDir: string): Promise<string> {
  mkdirSync(workDir, { recursive: true });
  const packed = await runChecked(['sh', '-c', 'cd "$0" && npm pack --silent --pack-destination "$1"', REPO_ROOT, workDir], { timeoutMs: 180_000 });
  const tarball = join(workDir, packed.stdout.trim().split('\n').pop() ?? '');
  const pkg = join(rootfs, 'usr/local/lib/node_modules/lxc-dhcpd');
  mkdirSync(pkg, { recursive: true });
  await runChecked(['tar', '-C', pkg, '--strip-components=1', '-xzf', tarball], { timeoutMs: 60_000 });
  const release = join(REPO_ROOT, 'build/Release');
  mkdirSync(join(pkg, 'build/Release'), { recursive: true });
  for (const f of readdirSync(release).filter((n) => n.endsWith('.node'))) copyFileSync(join(release, f), join(pkg, 'build/Release', f));
  for (const dep of await productionDependencies()) cpSync(join(REPO_ROOT, dep), join(pkg, dep), { recursive: true, verbatimSymlinks: true });
  copyFileSync(realpathSync(process.execPath), join(rootfs, 'usr/bin/node'));
  chmodSync(join(rootfs, 'usr/bin/node'), 0o755);
  mkdirSync(join(rootfs, 'usr/local/bin'), { recursive: true });
  chmodSync(join(pkg, 'bin/lxc-dhcpd.js'), 0o755);
  symlinkSync('../lib/node_modules/lxc-dhcpd/bin/lxc-dhcpd.js', join(rootfs, 'usr/local/bin/lxc-dhcpd'));
  return tarball;
}

/** Writes text to rootfs/path (absolute in the container), creating the directories. */
export function writeInRootfs(rootfs: string, path: string, text: string): void {
  const target = join(rootfs, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
}

interface ContainerNet {
  /** Bridge in the namespace lxc-start runs in, for a veth; null: the container gets a network namespace with only lo. */
  link: string | null;
  hwaddr?: string;
}

/** The LXC config of a privileged system container whose init is systemd. */
export function containerConfig(name: string, rootfs: string, net: ContainerNet): string {
  const lines = [
    `lxc.uts.name = ${name}`,
    `lxc.rootfs.path = dir:${rootfs}`,
    'lxc.include = /usr/share/lxc/config/common.conf',
    'lxc.init.cmd = /lib/systemd/systemd',
    'lxc.apparmor.profile = unconfined',
    'lxc.autodev = 1',
    // no getty on ttys: the test talks to the container through lxc-attach
    'lxc.tty.max = 0',
  ];
  if (net.link === null) lines.push('lxc.net.0.type = empty');
  else lines.push('lxc.net.0.type = veth', `lxc.net.0.link = ${net.link}`, 'lxc.net.0.flags = up', 'lxc.net.0.name = eth0');
  if (net.hwaddr !== undefined) lines.push(`lxc.net.0.hwaddr = ${net.hwaddr}`);
  return `${lines.join('\n')}\n`;
}

export interface SystemContainer {
  readonly name: string;
  /** The container's init (systemd) in the root PID namespace: killing it ends the container. */
  readonly initPid: number;
  /** Runs argv in the container (lxc-attach, a clean environment). */
  attach(argv: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** lxc-start's output and its exit. */
  console(): string;
  /** lxc-stop -k, then SIGKILL to init and lxc-start (processes this test started) if they are still there. */
  stop(): Promise<void>;
}

function spawnLxcStart(netns: string, lxcPath: string, name: string, cgroupDir: string): ChildProcess {
  mkdirSync(cgroupDir, { recursive: true });
  const inner = 'mount --rbind "$0" /sys/fs/cgroup && exec lxc-start -F -P "$1" -n "$2" -o "$1/$2.log" -l INFO';
  const outer = `mount --rbind /sys/fs/cgroup "$0" && exec ip netns exec "$1" sh -c '${inner}' "$0" "$2" "$3"`;
  return spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', outer, cgroupDir, netns, lxcPath, name], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Init PIDs of containers still running, killed at process exit if a test left them (ends their PID namespaces). */
const liveInits = new Set<number>();
process.on('exit', () => {
  for (const pid of liveInits) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

async function waitForInit(
  lxc: (argv: string[]) => Promise<RunResult>,
  name: string,
  lxcPath: string,
  start: ChildProcess,
  output: () => string,
): Promise<number> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  while (Date.now() < deadline && start.exitCode === null && start.signalCode === null) {
    const info = await lxc(['lxc-info', '-P', lxcPath, '-n', name, '-p', '-H']);
    const pid = Number(info.stdout.trim());
    if (info.code === 0 && Number.isInteger(pid) && pid > 1) return pid;
    await sleep(250);
  }
  throw new Error(`container ${name} did not start:\n${output()}`);
}

/** `systemctl is-system-running --wait`, retried while systemd's bus socket is not there yet (early in the boot). */
async function waitForBoot(attach: (argv: readonly string[], timeoutMs?: number) => Promise<RunResult>): Promise<RunResult> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  for (;;) {
    const r = await attach(['systemctl', 'is-system-running', '--wait'], Math.max(1000, deadline - Date.now()));
    if (!/Failed to connect to bus/.test(r.stderr) || Date.now() >= deadline) return r;
    await sleep(250);
  }
}

/**
 * Starts lxcPath/name (its config and rootfs written already) from network namespace `netns` and waits until
 * systemd in it has finished booting (`systemctl is-system-running --wait`: running, or degraded with a failed unit).
 */
export async function startSystemContainer(netns: string, lxcPath: string, name: string): Promise<SystemContainer> {
  const lxc = (argv: readonly string[], timeoutMs = 30_000): Promise<RunResult> => run(['ip', 'netns', 'exec', netns, ...argv], { timeoutMs });
  const start = spawnLxcStart(netns, lxcPath, name, join(lxcPath, `${name}.cgroup`));
  let output = '';
  const collect = (text: string): void => {
    output += text;
  };
  start.stdout?.setEncoding('utf8').on('data', collect);
  start.stderr?.setEncoding('utf8').on('data', collect);
  start.on('close', (code, signal) => collect(`\n[lxc-start ${name} exited: ${code ?? signal}]\n`));
  const initPid = await waitForInit(lxc, name, lxcPath, start, () => output);
  liveInits.add(initPid);
  const attach = (argv: readonly string[], timeoutMs = 30_000): Promise<RunResult> =>
    lxc(['lxc-attach', '-P', lxcPath, '-n', name, '--clear-env', '--', ...argv], timeoutMs);
  const container: SystemContainer = {
    name,
    initPid,
    attach,
    console: () => output,
    async stop() {
      await lxc(['lxc-stop', '-P', lxcPath, '-n', name, '-k'], 20_000);
      if (isAlive(initPid)) process.kill(initPid, 'SIGKILL');
      liveInits.delete(initPid);
      if (start.exitCode !== null || start.signalCode !== null) return;
      const exited = new Promise((done) => start.once('close', done));
      await Promise.race([exited, sleep(10_000)]);
      if (start.exitCode === null && start.signalCode === null) start.kill('SIGKILL');
    },
  };
  const booted = await waitForBoot(attach);
  if (!/^(running|degraded)$/m.test(booted.stdout)) {
    const failed = await attach(['systemctl', '--failed', '--no-pager']);
    await container.stop();
    throw new Error(`systemd in ${name} did not boot: ${booted.stdout}${booted.stderr}\n${failed.stdout}\n${output}`);
  }
  return container;
}
