/**
 * `lxc-dhcpd --lxc-net` in lxc-net's place with a real LXC container (issue 14 item 6): Debian's lxc package and its
 * offline busybox template create a container (lxcpath and rootfs in the test's tmp dir) whose veth is on lxcbr0 in the
 * test's host namespace, and whose boot-time udhcpc sends the container's name. The LXC_DHCP_CONFILE reserves
 * 10.0.3.123 for that name, as lxc-net users write it (`dhcp-host=NAME,IP`): the container must boot with that
 * address, and the bare name and NAME.lxc must answer it from 10.0.3.1. lxc-start runs under `ip netns exec` in a
 * private mount namespace where /sys/fs/cgroup is bound back (ip netns exec remounts /sys, which hides it), as
 * TESTING-NOTES.md "Real LXC containers" describes; lxc-attach/-info/-stop run in the same network namespace because
 * LXC's command socket is an abstract unix socket, which belongs to a network namespace.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LXC_NET_SERVER, lxcNetFile, startLxcNetDaemon } from '../harness/lxc-net.ts';
import { createTopology, type RunResult, type SpawnedProcess, type Topology } from '../harness/netns.ts';

const NAME = 'bb14';
const RESERVED_IP = '10.0.3.123';
/** Boot and DHCP of the busybox container take about 2 s here; 30 s leaves room for a loaded CI machine. */
const BOOT_TIMEOUT_MS = 30_000;
const POLL_MS = 250;

let topology: Topology;
let daemon: SpawnedProcess | null = null;
let lxcPath = '';
let created = false;
let lxcStart: ChildProcess | null = null;
/** lxc-start's output: the container's console. */
let consoleLog = '';

function inHost(argv: readonly string[], timeoutMs = 15_000): Promise<RunResult> {
  return topology.exec(topology.hostNs, argv, { timeoutMs });
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** The template's boot script runs a bare `/bin/udhcpc`; containers of lxc-net users send their name (Debian images do). */
function sendNameAtBoot(rootfs: string): void {
  const rcS = join(rootfs, 'etc/init.d/rcS');
  const before = readFileSync(rcS, 'utf8');
  const after = before.replace(/^\/bin\/udhcpc$/m, `/bin/udhcpc -x hostname:${NAME}`);
  assert.notEqual(after, before, `the busybox template's rcS has no bare /bin/udhcpc line:\n${before}`);
  writeFileSync(rcS, after);
}

/**
 * lxc-start in the foreground (`-F`, as lxc@.service runs it), in a private mount namespace: /sys/fs/cgroup is bound
 * aside before `ip netns exec` (which remounts /sys) and bound back inside it, so LXC finds its cgroup hierarchy; the
 * container's veth goes on the host namespace's lxcbr0. In the foreground lxc-start stays this test's child (a
 * daemonized monitor would be left to init to reap) and the container's console is its output.
 */
function startContainer(): ChildProcess {
  const cgroup = join(topology.tmpDir, 'cgroup');
  mkdirSync(cgroup);
  const inner = 'mount --rbind "$0" /sys/fs/cgroup && exec lxc-start -F -P "$1" -n "$2" -o "$1/$2.log" -l INFO';
  const outer = `mount --rbind /sys/fs/cgroup "$0" && exec ip netns exec "$1" sh -c '${inner}' "$0" "$2" "$3"`;
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', outer, cgroup, topology.hostNs, lxcPath, NAME], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    consoleLog += text;
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    consoleLog += text;
  });
  child.on('close', (code, signal) => {
    consoleLog += `\n[lxc-start exited: ${code ?? signal}]\n`;
  });
  return child;
}

/** Stops the container (lxc-stop, then lxc-start's own PID if that failed: both are processes this test started). */
async function stopContainer(): Promise<void> {
  const stop = await inHost(['lxc-stop', '-P', lxcPath, '-n', NAME, '-k'], 20_000);
  if (lxcStart === null || lxcStart.exitCode !== null || lxcStart.signalCode !== null) return;
  const exited = new Promise((resolve) => lxcStart?.once('close', resolve));
  if (stop.code !== 0) lxcStart.kill('SIGKILL');
  await Promise.race([exited, sleep(10_000)]);
}

/** What the container, LXC and the daemon said, for a failure message. */
async function diagnostics(): Promise<string> {
  const ps = await inHost(['lxc-attach', '-P', lxcPath, '-n', NAME, '--', 'ps']);
  const lxcLog = readOr(join(lxcPath, `${NAME}.log`), '(no lxc log)')
    .split('\n')
    .slice(-30)
    .join('\n');
  return [
    `console:\n${consoleLog}`,
    `processes:\n${ps.stdout}${ps.stderr}`,
    `lxc log (tail):\n${lxcLog}`,
    `daemon (tail):\n${(daemon?.stderr ?? '').split('\n').slice(-30).join('\n')}`,
  ].join('\n');
}

/** The container's IPv4 addresses on eth0, polled until one is there or BOOT_TIMEOUT_MS has passed. */
async function waitForAddress(): Promise<string> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  while (Date.now() < deadline && lxcStart?.exitCode === null) {
    const r = await inHost(['lxc-attach', '-P', lxcPath, '-n', NAME, '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    const m = /inet (\d+\.\d+\.\d+\.\d+\/\d+)/.exec(r.stdout);
    if (m?.[1]) return m[1];
    await sleep(POLL_MS);
  }
  assert.fail(`the container got no address (within ${BOOT_TIMEOUT_MS} ms, while lxc-start ran)\n${await diagnostics()}`);
}

async function dig(query: string): Promise<string[]> {
  const r = await inHost(['dig', `@${LXC_NET_SERVER}`, '+time=2', '+tries=2', '+short', query, 'A'], 10_000);
  assert.equal(r.code, 0, `dig ${query}: ${r.stdout}${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

before(async () => {
  topology = await createTopology({ containers: 0, bridge: 'lxcbr0', bridgeAddress: null });
  const dir = join(topology.tmpDir, 'lxc-net');
  mkdirSync(join(dir, 'misc'), { recursive: true });
  const conf = join(dir, 'dnsmasq.conf');
  writeFileSync(conf, `dhcp-host=${NAME},${RESERVED_IP}\n`);
  writeFileSync(join(dir, 'lxc-net'), lxcNetFile(conf));
  daemon = startLxcNetDaemon(topology, dir);
  await daemon.waitForOutput(/serving DHCP on/, { stream: 'stderr', timeoutMs: 15_000 });

  lxcPath = join(topology.tmpDir, 'lxc');
  mkdirSync(lxcPath);
  const netConf = join(topology.tmpDir, 'lxc-net.conf');
  writeFileSync(netConf, 'lxc.net.0.type = veth\nlxc.net.0.link = lxcbr0\nlxc.net.0.flags = up\n');
  const create = await inHost(['lxc-create', '-P', lxcPath, '-n', NAME, '-t', 'busybox', '-f', netConf], 60_000);
  created = create.code === 0;
  assert.ok(created, `lxc-create: ${create.stdout}${create.stderr}`);
  sendNameAtBoot(join(lxcPath, NAME, 'rootfs'));
  lxcStart = startContainer();
});

after(async () => {
  if (created) {
    await stopContainer();
    await inHost(['lxc-destroy', '-P', lxcPath, '-n', NAME, '-f'], 20_000);
  }
  await daemon?.stop({ signal: 'SIGTERM', graceMs: 3000 });
  await topology?.destroy();
});

test('a real LXC busybox container on lxcbr0 boots with the address its name reserves (dhcp-host=NAME,IP)', async () => {
  assert.equal(await waitForAddress(), `${RESERVED_IP}/24`);
  const link = await inHost(['ip', '-o', 'link', 'show', 'master', 'lxcbr0']);
  assert.match(link.stdout, /veth/, "the container's veth is a port of lxcbr0 in the host namespace");
});

test("the container's bare name and NAME.lxc answer its address from 10.0.3.1", async () => {
  await waitForAddress();
  assert.deepEqual(await dig(NAME), [RESERVED_IP], 'bare name, as lxc-net with an empty LXC_DOMAIN answers it');
  assert.deepEqual(await dig(`${NAME}.lxc`), [RESERVED_IP]);
});
