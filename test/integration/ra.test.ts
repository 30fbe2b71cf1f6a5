/**
 * Router advertisements against real clients: RaService and Ipv6Port run in this process with their socket opened in
 * a test namespace H (bridge br0 with IPv6 on, fd00:db8:1::1/64 added by the test), and a container namespace C on the
 * bridge with accept_ra=1. Checks that the kernel in C configures a SLAAC address and a default route via the bridge's
 * link-local address, that rdisc6 reads our fields, that tcpdump in C finds every RA's checksum right, and that the
 * final RA of close() removes the default route. Run as root:
 *   node --import tsx --test --test-concurrency=1 test/integration/ra.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { linkLocalFromIfInet6 } from '../../src/host/link-local.ts';
import { createLogger, RateLimitedCounter } from '../../src/log.ts';
import { formatIPv6, parseIPv6 } from '../../src/net/address6.ts';
import { RaService } from '../../src/ra/service.ts';
import { Ipv6Port } from '../../src/wire/ipv6-port.ts';
import { type Container, createTopology, inNamespace, runChecked, type SpawnedProcess, type Topology } from '../harness/netns.ts';

const PREFIX = 'fd00:db8:1::';
const BRIDGE_CIDR = 'fd00:db8:1::1/64';
const BRIDGE_ADDRESS = 'fd00:db8:1::1';

let topology: Topology;
let container: Container;
let port: Ipv6Port | null = null;
let service: RaService | null = null;
let bridgeLinkLocal = '';
const log = createLogger('warn', (line) => console.error(line));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface AddrInfo {
  family: string;
  local: string;
  scope: string;
  tentative?: boolean;
}

async function addresses6(ns: string, ifname: string): Promise<AddrInfo[]> {
  const out = await topology.exec(ns, ['ip', '-j', '-6', 'addr', 'show', 'dev', ifname]);
  const links = JSON.parse(out.stdout) as { addr_info?: AddrInfo[] }[];
  return (links[0]?.addr_info ?? []).filter((a) => a.family === 'inet6');
}

/** Polls `probe` every 100 ms until it returns a value, or fails after `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** IPv6 on in a namespace of ours: "all", "default" and each existing interface (which do not follow "all"). */
async function enableIpv6(ns: string, ifnames: string[]): Promise<void> {
  await runChecked(inNamespace(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']));
  for (const ifname of ifnames) await runChecked(inNamespace(ns, ['sysctl', '-q', '-w', `net.ipv6.conf.${ifname}.disable_ipv6=0`]));
}

async function defaultRoute(): Promise<string | null> {
  const out = await topology.exec(container.ns, ['ip', '-6', 'route', 'show', 'default']);
  return out.stdout.trim() === '' ? null : out.stdout.trim();
}

before(async () => {
  topology = await createTopology({ containers: 1, bridgeAddress: null });
  container = topology.containers[0] ?? assert.fail('a container');
  const h = topology.hostNs;
  // The bridge side: IPv6 on br0 only (the host's veth ports need none), no RA processing of our own RAs.
  await enableIpv6(h, [topology.bridge]);
  await runChecked(inNamespace(h, ['sysctl', '-q', '-w', `net.ipv6.conf.${topology.bridge}.accept_ra=0`]));
  await runChecked(['ip', '-n', h, 'addr', 'add', BRIDGE_CIDR, 'dev', topology.bridge, 'nodad']);
  bridgeLinkLocal = await waitFor('the bridge link-local address', 5000, async () => {
    const found = (await addresses6(h, topology.bridge)).find((a) => a.scope === 'link' && a.tentative !== true);
    return found ? found.local : null;
  });
  // What the daemon would use (src/host/link-local.ts), read from the real kernel's /proc/net/if_inet6 of H.
  const ifInet6 = (await runChecked(inNamespace(h, ['cat', '/proc/net/if_inet6']))).stdout;
  const linkLocal = linkLocalFromIfInet6(ifInet6, topology.bridge) ?? assert.fail(`no link-local for br0 in\n${ifInet6}`);
  assert.equal(formatIPv6(linkLocal), bridgeLinkLocal, 'if_inet6 and ip agree');
  const drops = new RateLimitedCounter();
  const ra: { service: RaService | null } = { service: null };
  port = new Ipv6Port({
    bridge: topology.bridge,
    netns: h,
    onRouterSolicitation: (packet, from) => ra.service?.handleSolicitation(packet, from),
    onDhcp6: () => undefined,
    drops,
    log,
  });
  const open = port;
  service = new RaService({
    config: {
      prefix: parseIPv6(BRIDGE_ADDRESS) ?? assert.fail(),
      mtu: open.mtu,
      dnsServers: [parseIPv6(BRIDGE_ADDRESS) ?? assert.fail()],
      domains: ['lxc'],
      mode: 'stateless',
    },
    mac: () => open.mac,
    linkLocal: () => linkLocal,
    send: (frame) => open.send(frame),
    log,
    drops,
  });
  ra.service = service;
  service.start();
});

after(async () => {
  service?.close();
  port?.close();
  await topology?.destroy();
});

let capture: SpawnedProcess | null = null;

test('the kernel in the container takes a SLAAC address in the prefix and a default route via the bridge link-local', async () => {
  const c = container.ns;
  // tcpdump first, so the answers to the kernel's own solicitations are captured too.
  capture = topology.spawn(c, ['tcpdump', '-n', '-vv', '-l', '-i', 'eth0', 'icmp6 and ip6[40] == 134']);
  await capture.waitForOutput(/listening on/, { stream: 'stderr', timeoutMs: 5000 });
  await enableIpv6(c, ['eth0']);
  await runChecked(inNamespace(c, ['sysctl', '-q', '-w', 'net.ipv6.conf.eth0.accept_ra=1']));
  // Toggle the link so the kernel solicits now that IPv6 and accept_ra are on.
  await runChecked(['ip', '-n', c, 'link', 'set', 'eth0', 'down']);
  await runChecked(['ip', '-n', c, 'link', 'set', 'eth0', 'up']);
  const global = await waitFor('a SLAAC address in the prefix', 10_000, async () => {
    const found = (await addresses6(c, 'eth0')).find((a) => a.scope === 'global' && a.tentative !== true);
    return found ? found.local : null;
  });
  const address = parseIPv6(global) ?? assert.fail(global);
  assert.equal(address.subarray(0, 8).toString('hex'), (parseIPv6(PREFIX) ?? assert.fail()).subarray(0, 8).toString('hex'), `${global} in ${PREFIX}/64`);
  const route = await waitFor('a default route', 5000, defaultRoute);
  assert.match(route, new RegExp(`^default via ${bridgeLinkLocal} dev eth0 proto ra`), route);
  assert.ok((service?.counters.sentSolicited ?? 0) >= 1, "the kernel's solicitation was answered by unicast");
  assert.equal(service?.counters.rsDropped, 0);
});

test('rdisc6 in the container reads the prefix, RDNSS, DNSSL, MTU, flags and lifetimes', async () => {
  const out = await topology.exec(container.ns, ['rdisc6', '-1', '-n', '-w', '2000', 'eth0'], { timeoutMs: 10_000, check: true });
  const text = out.stdout;
  assert.match(text, /Stateful address conf\.\s*:\s+No/, text);
  assert.match(text, /Stateful other conf\.\s*:\s+Yes/, text);
  assert.match(text, /Router lifetime\s*:\s+1800 \(0x00000708\) seconds/, text);
  assert.match(text, /Hop limit\s*:\s+64/, text);
  assert.match(text, /MTU\s*:\s+1500 bytes/, text);
  assert.match(text, /Prefix\s*:\s+fd00:db8:1::\/64/, text);
  assert.match(text, /On-link\s*:\s+Yes/, text);
  assert.match(text, /Autonomous address conf\.\s*:\s+Yes/, text);
  assert.match(text, /Valid time\s*:\s+86400/, text);
  assert.match(text, /Pref\. time\s*:\s+14400/, text);
  assert.match(text, /Recursive DNS server\s*:\s+fd00:db8:1::1/, text);
  assert.match(text, /DNS search list\s*:\s+lxc/, text);
  assert.match(text, new RegExp(`from ${bridgeLinkLocal}\\s*$`), text);
  assert.match(text, new RegExp(`Source link-layer address\\s*:\\s+${port?.mac}`, 'i'), text);
});

test('tcpdump in the container finds every RA checksum correct', async () => {
  assert.ok(capture, 'capture running');
  await sleep(300);
  const { stdout } = capture;
  const adverts = stdout.match(/router advertisement/g) ?? [];
  assert.ok(adverts.length >= 2, `at least the answer to the kernel and to rdisc6 were captured:\n${stdout}`);
  assert.doesNotMatch(stdout, /bad icmp6 cksum/, stdout);
  assert.equal((stdout.match(/\[icmp6 sum ok\]/g) ?? []).length, adverts.length, stdout);
});

test('close() sends the final RA and the container drops the default route at once', async () => {
  assert.ok(await defaultRoute(), 'a default route before');
  service?.close();
  assert.equal(service?.counters.sentFinal, 1);
  await waitFor('the default route to go', 3000, async () => ((await defaultRoute()) === null ? true : null));
  await sleep(300);
  await capture?.stop();
  assert.match(capture?.stdout ?? '', /router lifetime 0s/, capture?.stdout);
  assert.doesNotMatch(capture?.stdout ?? '', /bad icmp6 cksum/);
});
