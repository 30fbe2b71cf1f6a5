/**
 * IPv6 names end to end in namespaces: a bridge with a ULA /64 (assigned here, nodad), containers with static IPv6
 * addresses in it and IPv4 lease names, the neighbour watcher learning their addresses from the kernel once they
 * ping the bridge, and dig answering NAME.lxc AAAA and the ip6.arpa PTRs over UDP and TCP, on the bridge's IPv4 and
 * IPv6 addresses. The daemon's --ipv6 wiring lands separately, so the service runs as test/harness/dns6-server.ts
 * (the same classes the daemon will construct) inside the test's host namespace.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Container, createTopology, type SpawnedProcess, type Topology } from '../harness/netns.ts';

const PREFIX = 'fd42:13:4:5';
const BRIDGE6 = `${PREFIX}::1`;
const C1_ADDRESSES = [`${PREFIX}::c1`, `${PREFIX}:a8b1:22ff:fe33:4455`];
const C2_ADDRESS = `${PREFIX}::c2`;
const SCRIPT = join(import.meta.dirname, '..', 'harness', 'dns6-server.ts');

let topology: Topology;
let c1: Container;
let c2: Container;
let c3: Container;
let server: SpawnedProcess;

async function sh(ns: string, ...argv: string[]): Promise<string> {
  const r = await topology.exec(ns, argv, { timeoutMs: 15_000, check: true });
  return r.stdout;
}

async function enableIpv6(ns: string, ifname: string): Promise<void> {
  await sh(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0', `net.ipv6.conf.${ifname}.disable_ipv6=0`);
  await sh(ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${ifname}.accept_ra=0`, `net.ipv6.conf.${ifname}.accept_dad=0`);
}

async function dig(ns: string, server: string, ...args: string[]): Promise<string> {
  const r = await topology.exec(ns, ['dig', `@${server}`, '+time=3', '+tries=1', ...args], { timeoutMs: 15_000 });
  return r.stdout;
}

const sorted = (text: string): string[] => text.trim().split('\n').filter(Boolean).sort();

before(async () => {
  topology = await createTopology({ containers: 3 });
  [c1, c2, c3] = topology.containers as [Container, Container, Container];
  const host = topology.hostNs;
  await enableIpv6(host, topology.bridge);
  await sh(host, 'ip', 'addr', 'add', `${BRIDGE6}/64`, 'dev', topology.bridge, 'nodad');
  const names = [
    { c: c1, ip: '10.0.0.11', name: 'one' },
    { c: c2, ip: '10.0.0.12', name: 'two' },
    { c: c3, ip: '10.0.0.13', name: 'three' },
  ];
  for (const { c, ip } of names) await sh(c.ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
  await enableIpv6(c1.ns, 'eth0');
  for (const a of C1_ADDRESSES) await sh(c1.ns, 'ip', 'addr', 'add', `${a}/64`, 'dev', 'eth0', 'nodad');
  await enableIpv6(c2.ns, 'eth0');
  await sh(c2.ns, 'ip', 'addr', 'add', `${C2_ADDRESS}/64`, 'dev', 'eth0', 'nodad');
  // c3 keeps IPv6 disabled: a container with a name and no IPv6 address.
  const config = {
    bridge: topology.bridge,
    ipv4: '10.0.0.1',
    prefixLength: 24,
    ipv6: BRIDGE6,
    names: names.map(({ c, ip, name }) => ({ mac: c.mac, ip, name })),
  };
  server = topology.spawn(host, [process.execPath, '--import', 'tsx', SCRIPT, JSON.stringify(config)]);
  await server.waitForOutput(/^ready \d+/m, { timeoutMs: 20_000 });
  // The containers talk to the bridge from each address: the kernel learns them as neighbours (no guessing).
  for (const a of C1_ADDRESSES) await sh(c1.ns, 'ping', '-6', '-c', '1', '-W', '2', '-I', a, BRIDGE6);
  await sh(c2.ns, 'ping', '-6', '-c', '1', '-W', '2', BRIDGE6);
  for (const a of [...C1_ADDRESSES, C2_ADDRESS]) await server.waitForOutput(new RegExp(`^learned added \\S+ ${a} neighbour`, 'm'), { timeoutMs: 10_000 });
});

after(async () => {
  await server?.stop().catch(() => undefined);
  await topology?.destroy();
});

test('NAME.lxc AAAA gives the addresses the container uses, on the bridge IPv6 and IPv4 addresses, UDP and TCP', async () => {
  for (const at of [BRIDGE6, '10.0.0.1']) {
    for (const transport of ['+notcp', '+tcp']) {
      const what = `@${at} ${transport}`;
      assert.deepEqual(sorted(await dig(c1.ns, at, transport, '+short', 'one.lxc', 'AAAA')), [...C1_ADDRESSES].sort(), what);
      assert.deepEqual(sorted(await dig(c1.ns, at, transport, '+short', 'two.lxc', 'AAAA')), [C2_ADDRESS], what);
      const full = await dig(c1.ns, at, transport, 'one.lxc', 'AAAA');
      assert.match(full, /flags: qr aa/, `${what}: authoritative`);
    }
  }
});

test('dig -x an address gives NAME.lxc., over UDP and TCP, from both address families', async () => {
  for (const at of [BRIDGE6, '10.0.0.1']) {
    for (const transport of ['+notcp', '+tcp']) {
      for (const a of C1_ADDRESSES) assert.equal((await dig(c2.ns, at, transport, '+short', '-x', a)).trim(), 'one.lxc.', `${a} @${at} ${transport}`);
      assert.equal((await dig(c1.ns, at, transport, '+short', '-x', C2_ADDRESS)).trim(), 'two.lxc.');
      assert.equal((await dig(c1.ns, at, transport, '+short', '-x', BRIDGE6)).trim(), 'ns.lxc.');
      const unknown = await dig(c1.ns, at, transport, '-x', `${PREFIX}::dead`);
      assert.match(unknown, /status: NXDOMAIN/);
      assert.match(unknown, /AUTHORITY: 1/, 'NXDOMAIN with the SOA');
    }
  }
});

test('a watcher started later finds the same entries in its initial dump (RTM_GETNEIGH)', async () => {
  const config = { bridge: topology.bridge, ipv4: '10.0.0.1', prefixLength: 24, ipv6: BRIDGE6, names: [], dumpOnly: true };
  const r = await sh(topology.hostNs, process.execPath, '--import', 'tsx', SCRIPT, JSON.stringify(config));
  for (const a of C1_ADDRESSES) assert.match(r, new RegExp(`^dump ${a} ${c1.mac}$`, 'm'));
  assert.match(r, new RegExp(`^dump ${C2_ADDRESS} ${c2.mac}$`, 'm'));
  assert.doesNotMatch(r, /^dump fe80/m, 'link-local entries are not reported');
});

test('a container without IPv6 gets NODATA with the SOA for its AAAA (its A still answers)', async () => {
  for (const transport of ['+notcp', '+tcp']) {
    const full = await dig(c3.ns, '10.0.0.1', transport, 'three.lxc', 'AAAA');
    assert.match(full, /status: NOERROR/);
    assert.match(full, /flags: qr aa/);
    assert.match(full, /ANSWER: 0, AUTHORITY: 1/);
    assert.equal((await dig(c3.ns, '10.0.0.1', transport, '+short', 'three.lxc', 'A')).trim(), '10.0.0.13');
  }
});

test('an entry the administrator deletes goes through FAILED: the address leaves at once and comes back with traffic', async () => {
  // `ip neigh del` sets the entry FAILED before removing it (the kernel's neigh_delete); the garbage collector's
  // deletion of an idle STALE entry keeps its state instead, which Learned6 answers through the grace period
  // (test/unit/host/neighbours.test.ts and test/unit/leases/learned6.test.ts: the namespace cannot trigger the GC,
  // its thresholds are the root namespace's).
  await sh(topology.hostNs, 'ip', 'neigh', 'del', C2_ADDRESS, 'dev', topology.bridge);
  await server.waitForOutput(new RegExp(`^learned removed \\S+ ${C2_ADDRESS} failed`, 'm'), { timeoutMs: 5_000 });
  const gone = await dig(c1.ns, BRIDGE6, 'two.lxc', 'AAAA');
  assert.match(gone, /ANSWER: 0, AUTHORITY: 1/);
  await sh(c2.ns, 'ping', '-6', '-c', '1', '-W', '2', BRIDGE6);
  await server.waitForOutput(new RegExp(`learned added \\S+ ${C2_ADDRESS} neighbour[^]*learned added \\S+ ${C2_ADDRESS} neighbour`), { timeoutMs: 5_000 });
  assert.deepEqual(sorted(await dig(c1.ns, BRIDGE6, '+short', 'two.lxc', 'AAAA')), [C2_ADDRESS]);
});

test('IPv6 sources outside the /64 are outsiders: no recursion, no reverse zone', async () => {
  // c1 asks from a second prefix it holds; the host namespace routes that prefix to the bridge for the answer.
  await sh(c1.ns, 'ip', 'addr', 'add', 'fd99::c1/64', 'dev', 'eth0', 'nodad');
  await sh(topology.hostNs, 'ip', '-6', 'route', 'add', 'fd99::/64', 'dev', topology.bridge);
  const refused = await dig(c1.ns, BRIDGE6, '-b', 'fd99::c1', '-x', C2_ADDRESS);
  assert.match(refused, /status: REFUSED/);
  const name = await dig(c1.ns, BRIDGE6, '-b', 'fd99::c1', '+short', 'two.lxc', 'AAAA');
  assert.equal(name.trim(), C2_ADDRESS, 'names are answered to everyone, as on IPv4');
});
