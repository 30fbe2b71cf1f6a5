// Host setup (src/host) against a real kernel, inside namespaces created by the harness: the library
// runs in a child process under `ip netns exec HOST` (its netlink sockets then talk to that namespace)
// and everything is checked from outside with ip(8), nft(8), /proc and tcpdump.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startCapture } from '../harness/capture.ts';
import { createTopology, randomPrefix, runChecked, type Topology } from '../harness/netns.ts';

const SRC_HOST = fileURLToPath(new URL('../../src/host/', import.meta.url));
const SRC_NET = fileURLToPath(new URL('../../src/net/', import.meta.url));
const BRIDGE = 'lxbr0';

/**
 * Runs `body` (JavaScript, with our modules bound to `bridge`, `forwarding`, `nftables`, `diagnostics`,
 * `address` and `input` = the JSON given) in the host namespace; returns what it printed as JSON.
 */
async function inHost(topology: Topology, body: string, input: unknown = null): Promise<unknown> {
  const script = `
    const [bridge, forwarding, nftables, diagnostics, address] = await Promise.all([
      import(${JSON.stringify(`${SRC_HOST}bridge.ts`)}),
      import(${JSON.stringify(`${SRC_HOST}forwarding.ts`)}),
      import(${JSON.stringify(`${SRC_HOST}nftables.ts`)}),
      import(${JSON.stringify(`${SRC_HOST}diagnostics.ts`)}),
      import(${JSON.stringify(`${SRC_NET}address.ts`)}),
    ]);
    const input = JSON.parse(process.env.HOST_SUBJECT_INPUT);
    const result = await (async () => { ${body} })();
    process.stdout.write(JSON.stringify(result ?? null));
  `;
  const result = await topology.exec(topology.hostNs, ['node', '--import', 'tsx', '--input-type=module', '--eval', script], {
    env: { ...process.env, HOST_SUBJECT_INPUT: JSON.stringify(input) },
    timeoutMs: 30_000,
  });
  if (result.code !== 0) throw new Error(`host subject failed (${result.code}): ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as unknown;
}

async function hostOutput(topology: Topology, argv: string[]): Promise<string> {
  return (await topology.exec(topology.hostNs, argv, { check: true })).stdout;
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

const SETUP = `
  const ip = address.parseIPv4('10.0.0.1');
  const state = await bridge.ensureBridge(${JSON.stringify(BRIDGE)}, { ip, prefixLength: 24 }, '00:16:3e:00:00:00');
  const forwardingChange = forwarding.enableForwarding();
  const options = { bridge: ${JSON.stringify(BRIDGE)}, subnet: ip, prefixLength: 24, uplink: 'wan0', nat: true, firewall: true };
  const installed = await nftables.installRules(options);
  await nftables.installRules(options); // a second install must replace, not duplicate
  const warnings = await diagnostics.runDiagnostics({ bridge: ${JSON.stringify(BRIDGE)}, bridgeAddress: ip, uplink: 'wan0' });
  return { state, forwardingChange, installed, warnings };
`;

interface SetupResult {
  state: { name: string; ifindex: number; created: boolean; addedAddress: boolean; mtu: number };
  forwardingChange: { previous: string; changed: boolean };
  installed: { table: string; rules: string[] };
  warnings: string[];
}

describe('host setup through netlink, in a namespace', () => {
  let topology: Topology;
  let setup: SetupResult;
  let userTableBefore: string;

  before(async () => {
    topology = await createTopology({ containers: 1, wan: true, bridgeAddress: null, prefix: randomPrefix('lxn-') });
    // A user's own table, with a forward chain that drops, must survive untouched (and be diagnosed).
    await topology.exec(topology.hostNs, ['nft', 'add table ip usertable'], { check: true });
    await topology.exec(topology.hostNs, ['nft', 'add chain ip usertable userforward { type filter hook forward priority 10; policy accept; }'], {
      check: true,
    });
    await topology.exec(topology.hostNs, ['nft', 'add rule ip usertable userforward tcp dport 8080 counter accept'], { check: true });
    await topology.exec(topology.hostNs, ['nft', 'add table inet dropper'], { check: true });
    await topology.exec(topology.hostNs, ['nft', 'add chain inet dropper fw { type filter hook forward priority 20; policy drop; }'], { check: true });
    userTableBefore = await hostOutput(topology, ['nft', 'list', 'table', 'ip', 'usertable']);
    setup = (await inHost(topology, SETUP)) as SetupResult;
  });

  after(async () => {
    await topology?.destroy();
  });

  it('creates the bridge, up, with its address and the MAC asked for (lxc-net: LXC_BRIDGE_MAC), STP off and no forward delay', async () => {
    assert.equal(setup.state.created, true);
    assert.equal(setup.state.addedAddress, true);
    assert.equal(setup.state.mtu, 1500);
    const link = JSON.parse(await hostOutput(topology, ['ip', '-j', '-d', 'link', 'show', BRIDGE])) as Array<{
      ifindex: number;
      address: string;
      flags: string[];
      linkinfo: { info_kind: string; info_data: { stp_state: number; forward_delay: number } };
    }>;
    assert.equal(link[0]?.ifindex, setup.state.ifindex);
    assert.equal(link[0]?.linkinfo.info_kind, 'bridge');
    assert.equal(link[0]?.address, '00:16:3e:00:00:00');
    assert.ok(link[0]?.flags.includes('UP'), `flags ${link[0]?.flags.join(',')}`);
    assert.equal(link[0]?.linkinfo.info_data.stp_state, 0);
    assert.equal(link[0]?.linkinfo.info_data.forward_delay, 0);
    const addresses = await hostOutput(topology, ['ip', '-4', '-o', 'addr', 'show', 'dev', BRIDGE]);
    assert.match(addresses, /inet 10\.0\.0\.1\/24 brd 10\.0\.0\.255 /);
  });

  it('enables forwarding in that namespace only', async () => {
    assert.deepEqual(setup.forwardingChange, { path: '/proc/sys/net/ipv4/ip_forward', previous: '0', changed: true });
    assert.equal((await hostOutput(topology, ['cat', '/proc/sys/net/ipv4/ip_forward'])).trim(), '1');
  });

  it('installs exactly one copy of our rules, and leaves the user table alone', async () => {
    const ours = await hostOutput(topology, ['nft', 'list', 'table', 'ip', 'lxc-dhcpd']);
    assert.equal(count(ours, 'ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 oifname "wan0" masquerade'), 1, ours);
    assert.equal(count(ours, 'iifname "lxbr0" udp dport 67 accept'), 1, ours);
    assert.equal(count(ours, 'iifname "lxbr0" udp dport 53 accept'), 1, ours);
    assert.equal(count(ours, 'iifname "lxbr0" tcp dport 53 accept'), 1, ours);
    assert.equal(count(ours, 'iifname "lxbr0" accept'), 1, ours);
    assert.equal(count(ours, 'oifname "lxbr0" accept'), 1, ours);
    assert.match(ours, /chain postrouting \{\n\s+type nat hook postrouting priority srcnat; policy accept;/);
    assert.match(ours, /chain input \{\n\s+type filter hook input priority filter; policy accept;/);
    assert.match(ours, /chain forward \{\n\s+type filter hook forward priority filter; policy accept;/);
    assert.equal(await hostOutput(topology, ['nft', 'list', 'table', 'ip', 'usertable']), userTableBefore);
    assert.deepEqual(setup.installed.rules.length, 6);
  });

  it("diagnoses the other table's forward chain that drops, and nothing else here", () => {
    assert.equal(setup.warnings.length, 1, setup.warnings.join('\n'));
    assert.match(setup.warnings[0] ?? '', /^table inet dropper chain fw drops forwarded packets by default/);
  });

  it('refuses a name that exists but is not a bridge', async () => {
    await assert.rejects(
      inHost(topology, `return bridge.ensureBridge('wan0', { ip: address.parseIPv4('10.9.0.1'), prefixLength: 24 });`),
      /wan0 exists but is not a bridge/,
    );
    assert.doesNotMatch(await hostOutput(topology, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'wan0']), /10\.9\.0\.1/);
  });

  it('masquerades a container on the bridge behind the uplink address', async () => {
    await topology.exec(topology.hostNs, ['nft', 'delete table inet dropper'], { check: true });
    const container = topology.containers[0] ?? assert.fail('no container');
    await runChecked(['ip', '-n', topology.hostNs, 'link', 'set', container.hostIfname, 'nomaster']);
    await runChecked(['ip', '-n', topology.hostNs, 'link', 'set', container.hostIfname, 'master', BRIDGE]);
    await runChecked(['ip', '-n', container.ns, 'addr', 'add', '10.0.0.50/24', 'dev', 'eth0']);
    await runChecked(['ip', '-n', container.ns, 'route', 'add', 'default', 'via', '10.0.0.1']);
    const wanNs = topology.wanNs ?? assert.fail('no wan namespace');
    const capture = await startCapture(wanNs, 'eth0', 'udp port 9999');
    try {
      const send = `
        const socket = require('node:dgram').createSocket('udp4');
        let sent = 0;
        const timer = setInterval(() => socket.send('lxc-dhcpd nat test', 9999, '198.51.100.1', () => { if (++sent === 5) { clearInterval(timer); socket.close(); } }), 200);
      `;
      const sender = await topology.exec(container.ns, ['node', '--eval', send], { timeoutMs: 10_000 });
      assert.equal(sender.code, 0, sender.stderr);
      const packet = await capture.waitFor((p) => p.destination?.port === 9999, 5000);
      assert.equal(packet.destination?.address, '198.51.100.1');
      assert.equal(packet.source?.address, '198.51.100.2', packet.summary);
    } finally {
      await capture.stop();
    }
  });

  it('at exit: keeps a bridge with ports (dropping only our address), then deletes it once empty, and deletes only our table', async () => {
    const container = topology.containers[0] ?? assert.fail('no container');
    const kept = (await inHost(topology, `await nftables.deleteTable(); return bridge.removeBridgeIfOurs(input);`, setup.state)) as {
      removedBridge: boolean;
      removedAddress: boolean;
      keptBecause?: string;
    };
    assert.deepEqual(kept, { removedBridge: false, removedAddress: true, keptBecause: `ports still attached: ${container.hostIfname}` });
    assert.doesNotMatch(await hostOutput(topology, ['ip', '-4', '-o', 'addr', 'show', 'dev', BRIDGE]), /10\.0\.0\.1/);
    const tables = await hostOutput(topology, ['nft', 'list', 'tables']);
    assert.doesNotMatch(tables, /lxc-dhcpd/);
    assert.match(tables, /table ip usertable/);
    assert.equal(await hostOutput(topology, ['nft', 'list', 'table', 'ip', 'usertable']), userTableBefore);

    await runChecked(['ip', '-n', topology.hostNs, 'link', 'set', container.hostIfname, 'nomaster']);
    const removed = (await inHost(
      topology,
      `await nftables.deleteTable(); return bridge.removeBridgeIfOurs({ ...input, addedAddress: false });`,
      setup.state,
    )) as {
      removedBridge: boolean;
    };
    assert.equal(removed.removedBridge, true);
    const links = await topology.exec(topology.hostNs, ['ip', 'link', 'show', BRIDGE]);
    assert.notEqual(links.code, 0, `${BRIDGE} still exists: ${links.stdout}`);
  });

  it('reuses an existing bridge without adding a present address, and never deletes it', async () => {
    // br0 (made by the harness, no address) is someone else's bridge.
    const reused = (await inHost(
      topology,
      `
      const ip = address.parseIPv4('10.1.0.1');
      const first = await bridge.ensureBridge('br0', { ip, prefixLength: 24 });
      const second = await bridge.ensureBridge('br0', { ip, prefixLength: 24 });
      const removal = await bridge.removeBridgeIfOurs(first);
      return { first, second, removal };
    `,
    )) as {
      first: { created: boolean; addedAddress: boolean };
      second: { created: boolean; addedAddress: boolean };
      removal: { removedBridge: boolean; removedAddress: boolean };
    };
    assert.deepEqual([reused.first.created, reused.first.addedAddress], [false, true]);
    assert.deepEqual([reused.second.created, reused.second.addedAddress], [false, false]);
    assert.deepEqual(reused.removal, { removedBridge: false, removedAddress: true });
    assert.equal((await topology.exec(topology.hostNs, ['ip', 'link', 'show', 'br0'])).code, 0);
  });
});
