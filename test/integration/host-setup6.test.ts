// IPv6 host set-up (src/host/setup.ts + setup6.ts) against a real kernel, inside namespaces created by the harness:
// setupHost runs in a long-lived child under `ip netns exec HOST` (so teardown runs in the same process that set up,
// as in the daemon) and everything is checked from outside with ip(8), nft(8), /proc, ping and tcpdump. A client
// namespace on the bridge has a static address in the /64 (SLAAC is the RA part's test) and pings a wan namespace
// through NAT66.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ulaFor } from '../../src/host/ula.ts';
import { formatIPv6 } from '../../src/net/address6.ts';
import { startCapture } from '../harness/capture.ts';
import { LXC_DHCPD_BIN, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { createTopology, randomPrefix, runChecked, type SpawnedProcess, type Topology } from '../harness/netns.ts';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const BRIDGE = 'lxbr0';
const TEST_MACHINE_ID = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const WAN_HOST = '2001:db8::2';
const WAN_PEER = '2001:db8::1';

interface Started {
  ipv6: { address: string; prefix: string; prefixLength: number; uniqueLocal: boolean; nat6: boolean } | null;
  warnings: string[];
}

/** setupHost in the host namespace; prints READY + JSON, tears down on SIGTERM and prints DONE. */
const SETUP_SCRIPT = `
  const { setupHost } = await import(${JSON.stringify(`${SRC}host/setup.ts`)});
  const { parseIPv4 } = await import(${JSON.stringify(`${SRC}net/address.ts`)});
  const { formatIPv6 } = await import(${JSON.stringify(`${SRC}net/address6.ts`)});
  const input = JSON.parse(process.env.HOST6_INPUT);
  const log = { info: (m) => process.stderr.write(m + '\\n'), warn: (m) => process.stderr.write('WARN ' + m + '\\n') };
  let host;
  try {
    host = await setupHost({ bridge: input.bridge, address: { ip: parseIPv4('10.0.0.1'), prefixLength: 24 }, nat: true, firewall: true, ipv6: input.ipv6 }, log);
  } catch (e) {
    process.stdout.write('FAILED ' + JSON.stringify(e.message) + '\\n');
    process.exit(3);
  }
  const v6 = host.ipv6;
  const ipv6 = v6 && { address: formatIPv6(v6.address), prefix: formatIPv6(v6.prefix), prefixLength: v6.prefixLength, uniqueLocal: v6.uniqueLocal, nat6: v6.nat6 };
  process.stdout.write('READY ' + JSON.stringify({ ipv6, warnings: host.warnings }) + '\\n');
  const keepAlive = setInterval(() => undefined, 60_000);
  process.on('SIGUSR2', async () => {
    await host.restoreBridge();
    process.stdout.write('RESTORED\\n');
  });
  process.on('SIGTERM', async () => {
    await host.teardown(log);
    clearInterval(keepAlive);
    process.stdout.write('DONE\\n');
  });
`;

async function startSetup(topology: Topology, ipv6: unknown): Promise<{ process: SpawnedProcess; started: Started }> {
  const child = topology.spawn(topology.hostNs, ['node', '--import', 'tsx', '--input-type=module', '--eval', SETUP_SCRIPT], {
    env: { ...process.env, HOST6_INPUT: JSON.stringify({ bridge: BRIDGE, ipv6 }) },
    timeoutMs: 120_000,
  });
  const line = await child.waitForOutput(/(READY|FAILED) (.*)\n/, { timeoutMs: 30_000 }).catch((e: Error) => assert.fail(`${e.message}\n${child.stderr}`));
  if (line[1] === 'FAILED') return { process: child, started: { ipv6: null, warnings: [`FAILED ${JSON.parse(line[2] ?? '""') as string}`] } };
  return { process: child, started: JSON.parse(line[2] ?? 'null') as Started };
}

async function stopSetup(child: SpawnedProcess): Promise<void> {
  await child.stop({ graceMs: 10_000 });
  assert.match(child.stdout, /DONE/, child.stderr);
}

async function out(topology: Topology, ns: string, argv: string[]): Promise<string> {
  return (await topology.exec(ns, argv, { check: true })).stdout;
}

const sysctl = (topology: Topology, path: string): Promise<string> =>
  out(topology, topology.hostNs, ['cat', `/proc/sys/net/ipv6/${path}`]).then((t) => t.trim());

async function enableIpv6(topology: Topology, ns: string): Promise<void> {
  await topology.exec(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0'], { check: true });
}

describe('IPv6 host set-up, in namespaces', () => {
  let topology: Topology;
  let machineIdPath: string;
  const ula = ulaFor(TEST_MACHINE_ID, BRIDGE);
  const bridgeAddress = formatIPv6(ula.address);
  const client = formatIPv6(Buffer.concat([ula.prefix.subarray(0, 8), Buffer.from('0000000000000050', 'hex')]));
  const auto = (): unknown => ({ mode: { kind: 'auto', explicit: false }, nat6: null, machineIdPath });

  before(async () => {
    topology = await createTopology({ containers: 1, wan: true, bridgeAddress: null, prefix: randomPrefix('lx6-') });
    machineIdPath = join(topology.tmpDir, 'machine-id');
    writeFileSync(machineIdPath, `${TEST_MACHINE_ID}\n`);
  });

  after(async () => {
    await topology?.destroy();
  });

  it('with IPv6 disabled in the namespace, the default auto turns IPv6 off with a warning; an explicit --ipv6 is an error, rolled back', async () => {
    const implicit = await startSetup(topology, auto());
    assert.equal(implicit.started.ipv6, null);
    assert.ok(
      implicit.started.warnings.some((w) => /^IPv6 off: IPv6 is disabled in this network namespace/.test(w)),
      implicit.started.warnings.join('\n'),
    );
    assert.match(await out(topology, topology.hostNs, ['ip', '-4', '-o', 'addr', 'show', 'dev', BRIDGE]), /10\.0\.0\.1\/24/);
    await stopSetup(implicit.process);

    const explicit = await startSetup(topology, { mode: { kind: 'auto', explicit: true }, nat6: null, machineIdPath });
    assert.match(
      explicit.started.warnings[0] ?? '',
      /^FAILED host setup failed, changes rolled back: IPv6 is disabled in this network namespace.*pass --ipv6 none/,
    );
    await explicit.process.exited;
    assert.notEqual((await topology.exec(topology.hostNs, ['ip', 'link', 'show', BRIDGE])).code, 0, 'the bridge made for this start is gone');
    assert.doesNotMatch(await out(topology, topology.hostNs, ['nft', 'list', 'tables']), /lxc-dhcpd/);
  });

  it('bad --ipv6/--range6/--nat6 values: one line naming the fix, exit 2, before anything is set up', async () => {
    const cases: [string[], RegExp][] = [
      [['--ipv6', 'fd00:1::1/48'], /only \/64 prefixes work, SLAAC needs a 64-bit interface identifier \(RFC 4862 §5\.5\.3, RFC 7421\)/],
      [['--ipv6', 'maybe'], /--ipv6 "maybe" is not auto, none or an IPv6 address with \/64/],
      [['--ipv6', 'none', '--range6', '::100-::1ff'], /--range6 hands out IPv6 addresses, which --ipv6 none turns off/],
      [['--ipv6', 'fd00:1::1/64', '--range6', 'fd00:2::10-fd00:2::20'], /--range6 fd00:2::10-fd00:2::20 is outside the bridge's fd00:1::\/64/],
      [['--ipv6', 'fd00:1::1/64', '--no-host-setup'], /--ipv6 ADDR\/64 configures the host/],
    ];
    for (const [flags, message] of cases) {
      const argv = [process.execPath, LXC_DHCPD_BIN, '--bridge', 'lxbad0', '--range', '10.0.0.100-200', '--lease-db', join(topology.tmpDir, 'x.db'), ...flags];
      const run = await topology.exec(topology.hostNs, argv, { timeoutMs: 15_000 });
      assert.equal(run.code, 2, `${flags.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    }
    assert.notEqual((await topology.exec(topology.hostNs, ['ip', 'link', 'show', 'lxbad0'])).code, 0);
  });

  describe('with IPv6 on', () => {
    let setup: { process: SpawnedProcess; started: Started };
    const wanNs = (): string => topology.wanNs ?? assert.fail('no wan namespace');
    const clientNs = (): string => topology.containers[0]?.ns ?? assert.fail('no container');

    before(async () => {
      for (const ns of [topology.hostNs, wanNs(), clientNs()]) await enableIpv6(topology, ns);
      await runChecked(['ip', '-n', wanNs(), 'addr', 'add', `${WAN_PEER}/64`, 'dev', 'eth0', 'nodad']);
      await runChecked(['ip', '-n', topology.hostNs, 'addr', 'add', `${WAN_HOST}/64`, 'dev', 'wan0', 'nodad']);
      await runChecked(['ip', '-n', topology.hostNs, '-6', 'route', 'add', 'default', 'via', WAN_PEER, 'dev', 'wan0']);
      setup = await startSetup(topology, auto());
      const port = topology.containers[0]?.hostIfname ?? assert.fail('no container');
      await runChecked(['ip', '-n', topology.hostNs, 'link', 'set', port, 'master', BRIDGE]);
      await topology.exec(clientNs(), ['sysctl', '-q', '-w', 'net.ipv6.conf.eth0.accept_ra=0'], { check: true });
      await runChecked(['ip', '-n', clientNs(), 'addr', 'add', `${client}/64`, 'dev', 'eth0', 'nodad']);
      await runChecked(['ip', '-n', clientNs(), '-6', 'route', 'add', 'default', 'via', bridgeAddress]);
    });

    after(async () => {
      if (setup?.process.exitStatus === null) await setup.process.stop();
    });

    it('returns the ULA of the (test) machine id and bridge, PREFIX::1/64, with NAT66 on by default', () => {
      assert.deepEqual(setup.started.ipv6, {
        address: bridgeAddress,
        prefix: formatIPv6(ula.prefix),
        prefixLength: 64,
        uniqueLocal: true,
        nat6: true,
      });
      assert.match(bridgeAddress, /^fd[0-9a-f]{2}:/);
    });

    it('puts the address on the bridge without DAD, with IPv6 enabled on it', async () => {
      const text = await out(topology, topology.hostNs, ['ip', '-6', '-o', 'addr', 'show', 'dev', BRIDGE]);
      const global = text.split('\n').find((line) => line.includes(`inet6 ${bridgeAddress}/64`)) ?? assert.fail(text);
      assert.match(global, /scope global nodad/);
      assert.doesNotMatch(global, /tentative/);
      assert.equal(await sysctl(topology, `conf/${BRIDGE}/disable_ipv6`), '0');
    });

    it('turns forwarding on and keeps the uplink taking router advertisements (accept_ra 2)', async () => {
      assert.equal(await sysctl(topology, 'conf/all/forwarding'), '1');
      assert.equal(await sysctl(topology, 'conf/wan0/accept_ra'), '2');
    });

    it('installs the ip6 table with ND, DHCPv6, DNS, forward and NAT66 rules, and keeps the ip table', async () => {
      const table = await out(topology, topology.hostNs, ['nft', 'list', 'table', 'ip6', 'lxc-dhcpd']);
      for (const rule of [
        `ip6 saddr ${formatIPv6(ula.prefix)}/64 oifname != "${BRIDGE}" masquerade`,
        `iifname "${BRIDGE}" icmpv6 type nd-router-solicit accept`,
        `iifname "${BRIDGE}" icmpv6 type nd-neighbor-advert accept`,
        `iifname "${BRIDGE}" icmpv6 type mld2-listener-report accept`,
        `iifname "${BRIDGE}" udp dport 547 accept`,
        `iifname "${BRIDGE}" udp dport 53 accept`,
        `iifname "${BRIDGE}" tcp dport 53 accept`,
        `iifname "${BRIDGE}" accept`,
        `oifname "${BRIDGE}" ct state established,related accept`,
      ]) {
        assert.ok(table.includes(rule), `missing ${rule} in\n${table}`);
      }
      assert.match(table, /chain postrouting \{\n\s+type nat hook postrouting priority srcnat; policy accept;/);
      assert.match(await out(topology, topology.hostNs, ['nft', 'list', 'table', 'ip', 'lxc-dhcpd']), /iifname "lxbr0" udp dport 67 accept/);
    });

    it('a container pings the wan through NAT66: the wan sees the host address as source', async () => {
      const capture = await startCapture(wanNs(), 'eth0', 'icmp6 and ip6[40] == 128');
      try {
        const ping = await topology.exec(clientNs(), ['ping', '-6', '-c1', '-W3', WAN_PEER], { timeoutMs: 10_000 });
        assert.equal(ping.code, 0, ping.stdout + ping.stderr);
        const packet = await capture.waitFor((p) => /echo request/.test(p.lines.join(' ')), 5000);
        assert.match(packet.lines.join(' '), new RegExp(`${WAN_HOST} > ${WAN_PEER}: .*echo request`));
      } finally {
        await capture.stop();
      }
    });

    it('a bridge deleted and re-created while we run gets IPv6 enabled and its address back (restoreBridge)', async () => {
      const port = topology.containers[0]?.hostIfname ?? assert.fail('no container');
      const ip = (...args: string[]): Promise<unknown> => runChecked(['ip', '-n', topology.hostNs, ...args]);
      await ip('link', 'del', BRIDGE);
      // A bridge made by someone else, in a namespace whose new interfaces start with IPv6 disabled.
      await topology.exec(topology.hostNs, ['sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1'], { check: true });
      await ip('link', 'add', BRIDGE, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
      await topology.exec(topology.hostNs, ['sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=0'], { check: true });
      assert.equal(await sysctl(topology, `conf/${BRIDGE}/disable_ipv6`), '1');
      setup.process.signal('SIGUSR2');
      await setup.process.waitForOutput(/RESTORED/, { timeoutMs: 10_000 });
      assert.equal(await sysctl(topology, `conf/${BRIDGE}/disable_ipv6`), '0');
      assert.match(
        await out(topology, topology.hostNs, ['ip', '-6', '-o', 'addr', 'show', 'dev', BRIDGE]),
        new RegExp(`inet6 ${bridgeAddress}/64 scope global nodad`),
      );
      await ip('link', 'set', port, 'master', BRIDGE);
      const ping = await topology.exec(clientNs(), ['ping', '-6', '-c1', '-W3', WAN_PEER], { timeoutMs: 10_000 });
      assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    });

    it('at exit restores forwarding, accept_ra and disable_ipv6, removes the address and the ip6 table', async () => {
      await stopSetup(setup.process);
      assert.equal(await sysctl(topology, 'conf/all/forwarding'), '0');
      assert.equal(await sysctl(topology, 'conf/wan0/accept_ra'), '1');
      assert.doesNotMatch(await out(topology, topology.hostNs, ['ip', '-6', '-o', 'addr', 'show', 'dev', BRIDGE]), new RegExp(bridgeAddress));
      assert.doesNotMatch(await out(topology, topology.hostNs, ['nft', 'list', 'tables']), /lxc-dhcpd/);
      assert.equal(await sysctl(topology, `conf/${BRIDGE}/disable_ipv6`), '1', 'the re-created bridge had IPv6 disabled');
      // The bridge is someone else's now (and has a port), so it stays, without our addresses.
      assert.equal((await topology.exec(topology.hostNs, ['ip', 'link', 'show', BRIDGE])).code, 0);
    });

    it('with --no-nat6 the wan sees the container its own address; a bridge with IPv6 disabled gets it back disabled', async () => {
      await runChecked(['ip', '-n', wanNs(), '-6', 'route', 'replace', `${formatIPv6(ula.prefix)}/64`, 'via', WAN_HOST]);
      assert.equal(await sysctl(topology, `conf/${BRIDGE}/disable_ipv6`), '1');
      setup = await startSetup(topology, { mode: { kind: 'auto', explicit: true }, nat6: false, machineIdPath });
      assert.equal(setup.started.ipv6?.nat6, false);
      assert.doesNotMatch(await out(topology, topology.hostNs, ['nft', 'list', 'table', 'ip6', 'lxc-dhcpd']), /masquerade/);
      const capture = await startCapture(wanNs(), 'eth0', 'icmp6 and ip6[40] == 128');
      try {
        const ping = await topology.exec(clientNs(), ['ping', '-6', '-c1', '-W3', WAN_PEER], { timeoutMs: 10_000 });
        assert.equal(ping.code, 0, ping.stdout + ping.stderr);
        const packet = await capture.waitFor((p) => /echo request/.test(p.lines.join(' ')), 5000);
        assert.match(packet.lines.join(' '), new RegExp(`${client} > ${WAN_PEER}: .*echo request`));
      } finally {
        await capture.stop();
      }
      assert.equal(await sysctl(topology, `conf/${BRIDGE}/disable_ipv6`), '0');
      await stopSetup(setup.process);
      assert.doesNotMatch(await out(topology, topology.hostNs, ['nft', 'list', 'tables']), /lxc-dhcpd/);
      assert.equal(await sysctl(topology, `conf/${BRIDGE}/disable_ipv6`), '1');
    });
  });

  it('the daemon with --ipv6 ADDR/64 (a global prefix: NAT66 off by default) sets IPv6 up and SIGTERM undoes it', async () => {
    await enableIpv6(topology, topology.hostNs);
    const daemon = await startLxcDhcpd(topology, { leaseDb: join(topology.tmpDir, 'daemon.db'), extraArgs: ['--ipv6', '2001:db8:6::1/64'] });
    try {
      await daemon.waitForLog(/IPv6 address 2001:db8:6::1\/64 added/);
      assert.match(
        await out(topology, topology.hostNs, ['ip', '-6', '-o', 'addr', 'show', 'dev', topology.bridge]),
        /inet6 2001:db8:6::1\/64 scope global nodad/,
      );
      const table = await out(topology, topology.hostNs, ['nft', 'list', 'table', 'ip6', 'lxc-dhcpd']);
      assert.match(table, /udp dport 547 accept/);
      assert.doesNotMatch(table, /masquerade/);
      assert.equal(await sysctl(topology, 'conf/all/forwarding'), '1');
      // NODAD: the address is usable at once, even on a bridge without ports (no carrier), so DNS/DHCPv6 can bind.
      const bind = `require('node:dgram').createSocket('udp6').bind(0, '2001:db8:6::1', function () { console.log('bound'); this.close(); })`;
      const bound = await topology.exec(topology.hostNs, [process.execPath, '--eval', bind], { timeoutMs: 10_000 });
      assert.equal(bound.stdout.trim(), 'bound', bound.stderr);
    } finally {
      await daemon.stop();
    }
    assert.doesNotMatch(await out(topology, topology.hostNs, ['ip', '-6', '-o', 'addr', 'show', 'dev', topology.bridge]), /2001:db8:6::1/);
    assert.doesNotMatch(await out(topology, topology.hostNs, ['nft', 'list', 'tables']), /lxc-dhcpd/);
    assert.equal(await sysctl(topology, 'conf/all/forwarding'), '0');
  });
});
