/**
 * Issue 11, "no crash, no leftover", with the real daemon and host set-up (it creates the bridge, turns forwarding on
 * and installs its nft table): bad reservations stop it before it changes anything; SIGTERM while a DISCOVER waits on
 * an ARP probe (the probe's end then produces a late OFFER while the sockets close: main exited 1 there and left
 * forwarding and the bridge behind) tears everything down and exits 0, repeated signals notwithstanding; and a bug
 * (an exception or a rejection nobody catches, injected through a preloaded module) still tears everything down before
 * the exit with status 1.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { MessageType } from '../../src/dhcp/constants.ts';
import { LXC_DHCPD_BIN, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, type ExitStatus, type Topology } from '../harness/netns.ts';
import { openRawDhcpPort, request } from '../harness/raw-dhcp.ts';

/** Long enough that the SIGTERM surely lands while the probe still waits. */
const PROBE_TIMEOUT_MS = 3000;

let topology: Topology;
let container: Container;

async function hostExec(...argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return topology.exec(topology.hostNs, argv, { timeoutMs: 15_000 });
}
function exitWithin(exited: Promise<ExitStatus>, ms: number): Promise<ExitStatus | 'still running'> {
  return Promise.race([exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), ms).unref())]);
}
const linkExists = async (name: string): Promise<boolean> => (await hostExec('ip', 'link', 'show', name)).code === 0;

before(async () => {
  topology = await createTopology({ containers: 1, wan: true, bridgeAddress: null });
  container = topology.containers[0] as Container;
  // No bridge: the daemon creates it (and must remove it again).
  await topology.exec(topology.hostNs, ['ip', 'link', 'del', 'br0'], { check: true });
  await topology.exec(topology.hostNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=0'], { check: true });
});

after(async () => {
  await topology?.destroy();
});

/** What the daemon may have left in the host namespace. */
async function leftovers(): Promise<{ nftTable: string; forwarding: string; bridge: string }> {
  return {
    nftTable: (await hostExec('nft', 'list', 'table', 'ip', 'lxc-dhcpd')).code === 0 ? 'left behind' : 'gone',
    forwarding: (await hostExec('sysctl', '-n', 'net.ipv4.ip_forward')).stdout.trim(),
    bridge: (await linkExists('br0')) ? 'left behind' : 'gone',
  };
}
const NOTHING_LEFT = { nftTable: 'gone', forwarding: '0', bridge: 'gone' };

/** Each test starts from a host without our changes, whatever an earlier (failed) test left. */
beforeEach(async () => {
  await hostExec('ip', 'link', 'del', 'br0');
  await hostExec('nft', 'delete', 'table', 'ip', 'lxc-dhcpd');
  await hostExec('sysctl', '-qw', 'net.ipv4.ip_forward=0');
});

test('a reservation outside the bridge subnet: one line, exit 2, nothing changed on the host', async () => {
  const run = await hostExec(
    process.execPath,
    LXC_DHCPD_BIN,
    '--bridge',
    'br0',
    '--range',
    '10.0.0.100-200',
    '--lease-db',
    join(topology.tmpDir, 'bad.db'),
    '--control-socket',
    join(topology.tmpDir, 'bad.sock'),
    '--host',
    '02:1a:b0:00:00:05,10.0.1.5,web',
  );
  assert.equal(run.code, 2, run.stderr);
  assert.equal(
    run.stderr,
    'lxc-dhcpd: --host 02:1a:b0:00:00:05,10.0.1.5,web: 10.0.1.5 is outside the bridge subnet 10.0.0.0/24: reserve an address inside it\n',
  );
  assert.deepEqual(await leftovers(), NOTHING_LEFT);
});

test('SIGTERM while a DISCOVER waits on its ARP probe: exit 0, nft table, forwarding and bridge undone', async () => {
  const daemon = await startLxcDhcpd(topology, {
    leaseDb: join(topology.tmpDir, 'leases.db'),
    noProbe: false,
    extraArgs: ['--probe-timeout', String(PROBE_TIMEOUT_MS)],
  });
  const started = Date.now();
  await daemon.waitForLog(/bridge br0: created/, 5000);
  assert.equal((await hostExec('nft', 'list', 'table', 'ip', 'lxc-dhcpd')).code, 0, 'the daemon installed its table');
  assert.equal((await hostExec('sysctl', '-n', 'net.ipv4.ip_forward')).stdout.trim(), '1');

  await hostExec('ip', 'link', 'set', container.hostIfname, 'master', 'br0');
  const raw = openRawDhcpPort(container);
  try {
    // Every address of the ready queue is still being probed (they started with the daemon, PROBE_TIMEOUT_MS ago at
    // most), so this DISCOVER waits on a probe.
    raw.sendRequest(request(MessageType.Discover, container.mac, 0x5157));
    await daemon.waitForLog(/received DHCPDISCOVER xid 0x5157/, 2000);
  } finally {
    raw.close();
  }
  // A bridge with a port is kept on purpose; without one it is ours to remove.
  await hostExec('ip', 'link', 'set', container.hostIfname, 'nomaster');
  assert.ok(Date.now() - started < PROBE_TIMEOUT_MS - 500, 'still inside the probe window');
  assert.equal(daemon.log().match(/DHCPOFFER/), null, 'no OFFER yet: the probe is still running');

  // A second SIGTERM and a SIGINT while it tears down change nothing.
  daemon.process.signal('SIGTERM');
  setTimeout(() => daemon.process.signal('SIGTERM'), 5);
  setTimeout(() => daemon.process.signal('SIGINT'), 10);
  const outcome = { exit: await exitWithin(daemon.process.exited, 10_000), ...(await leftovers()) };
  const log = daemon.log();
  assert.deepEqual(outcome, { exit: { code: 0, signal: null }, ...NOTHING_LEFT }, log);
  assert.doesNotMatch(log, /^error:/m, 'nothing failed on the way out');
  // The OFFER the stop's end of the probe decided still left, before the socket closed.
  assert.match(log.slice(log.indexOf('SIGTERM: shutting down')), /DHCPOFFER 10\.0\.0\.\d+ 02:1a:b0:00:00:01/);
});

for (const [kind, bug] of [
  ['uncaught exception', "throw new Error('injected bug')"],
  ['unhandled promise rejection', "Promise.reject(new Error('injected bug'))"],
] as const) {
  test(`an ${kind} (a bug) still tears everything down, then exits 1`, async () => {
    // Preloaded into the daemon's process: the bug fires once the daemon serves.
    const preload = join(topology.tmpDir, `bug-${kind.split(' ')[0]}.mjs`);
    writeFileSync(
      preload,
      `const write = process.stderr.write.bind(process.stderr);
let armed = true;
process.stderr.write = (chunk, ...rest) => {
  const result = write(chunk, ...rest);
  if (armed && String(chunk).includes('serving DHCP on')) {
    armed = false;
    setTimeout(() => { ${bug}; }, 100);
  }
  return result;
};
`,
    );
    const daemon = topology.spawn(topology.hostNs, [
      process.execPath,
      '--import',
      preload,
      LXC_DHCPD_BIN,
      '--bridge',
      'br0',
      '--range',
      '10.0.0.100-200',
      '--no-probe',
      '--lease-db',
      join(topology.tmpDir, 'bug.db'),
      '--control-socket',
      join(topology.tmpDir, 'bug.sock'),
    ]);
    await daemon.waitForOutput(/serving DHCP on/, { stream: 'stderr', timeoutMs: 15_000 });
    const outcome = { exit: await exitWithin(daemon.exited, 10_000), ...(await leftovers()) };
    assert.deepEqual(outcome, { exit: { code: 1, signal: null }, ...NOTHING_LEFT }, daemon.stderr);
    assert.match(daemon.stderr, new RegExp(`error: ${kind}: Error: injected bug`));
    assert.match(daemon.stderr, /bridge br0 removed/);
  });
}
