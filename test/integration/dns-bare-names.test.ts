/**
 * `--bare-names` with real clients and real dig: a container leasing with `udhcpc -x hostname:web` is answered as
 * `dig @10.0.0.1 web` (UDP and TCP, from the host and from another container), as lxc-net's dnsmasq does; an unknown
 * single label is NXDOMAIN and never reaches the upstream (a dnsmasq in the wan namespace that would answer it);
 * outsiders get REFUSED for it. The same daemon restarted with `--no-bare-names` forwards single labels as before.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DhcpClient, udhcpc } from '../harness/clients.ts';
import { type RunningLxcDhcpd, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, type SpawnedProcess, type Topology } from '../harness/netns.ts';

/** The upstream's answer to any name under `web` or `nosuch`: seen only if we forward the single label. */
const UPSTREAM_ANSWER = '198.51.100.66';

let topology: Topology;
let daemon: RunningLxcDhcpd | undefined;
let upstream: SpawnedProcess;
let web: Container;
let observer: Container;
let resolvConf: string;
const clients: DhcpClient[] = [];

async function dig(ns: string, ...args: string[]): Promise<string> {
  const r = await topology.exec(ns, ['dig', '@10.0.0.1', '+time=3', '+tries=1', ...args], { timeoutMs: 15_000 });
  return r.stdout;
}

const status = (out: string): string | undefined => /status: (\w+)/.exec(out)?.[1];
const answerLines = (out: string): string[] => out.split('\n').filter((l) => l && !l.startsWith(';') && /\sIN\s/.test(l));
/** Whether the upstream dnsmasq logged a question for exactly `name` (`query[A] wEb from ...`: our forwarder randomizes case). */
const upstreamAsked = (name: string): boolean =>
  new RegExp(`query\\[\\w+\\] ${name.replace(/\./g, '\\.')} from`, 'i').test(`${upstream.stdout}\n${upstream.stderr}`);

/**
 * Waits until the upstream has logged everything asked so far (its log is written asynchronously): asks it a two-label
 * name under `web`, which we always forward, and waits for that line. Only then does "not logged" mean "not asked".
 */
async function upstreamLogged(marker: string): Promise<void> {
  await dig(topology.hostNs, '+short', `${marker}.web`);
  await upstream.waitForOutput(new RegExp(`query\\[A\\] ${marker}\\.web from`, 'i'), { timeoutMs: 5000 });
}

async function restart(flag: string): Promise<void> {
  await daemon?.stop();
  daemon = await startLxcDhcpd(topology, { extraArgs: ['--resolv-conf', resolvConf, flag] });
}

before(async () => {
  topology = await createTopology({ containers: 2, wan: true });
  [web, observer] = topology.containers as [Container, Container];
  upstream = topology.spawn(topology.wanNs as string, [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--listen-address=198.51.100.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    `--address=/web/${UPSTREAM_ANSWER}`,
    `--address=/nosuch/${UPSTREAM_ANSWER}`,
    '--log-queries',
  ]);
  await upstream.waitForOutput(/started, version/, { stream: 'stderr', timeoutMs: 10_000 });
  resolvConf = join(topology.tmpDir, 'resolv.conf');
  writeFileSync(resolvConf, 'nameserver 198.51.100.1\n');
  await restart('--bare-names');
  clients.push(await udhcpc(web, { hostname: 'web' }));
  clients.push(await udhcpc(observer));
});

after(async () => {
  for (const c of clients) await c.stop().catch(() => undefined);
  await daemon?.stop().catch(() => undefined);
  await topology?.destroy();
});

test('--bare-names: dig web from the host and from a container answers the lease, AA, over UDP and TCP', async () => {
  const ip = clients[0]?.lease.ip as string;
  for (const ns of [topology.hostNs, observer.ns]) {
    for (const transport of ['+notcp', '+tcp']) {
      const out = await dig(ns, transport, 'web');
      assert.equal(status(out), 'NOERROR', `${ns} ${transport}`);
      assert.match(out, /flags: qr aa rd/, `${ns} ${transport}: authoritative`);
      const lines = answerLines(out);
      assert.equal(lines.length, 1, out);
      assert.match(lines[0] as string, new RegExp(`^web\\.\\s+\\d+\\s+IN\\s+A\\s+${ip.replace(/\./g, '\\.')}$`));
    }
  }
  assert.equal((await dig(observer.ns, '+short', 'WEB')).trim(), ip, 'case-insensitive');
  assert.equal((await dig(observer.ns, '+short', 'web.lxc')).trim(), ip, 'the qualified name as before');
  const aaaa = await dig(observer.ns, 'web', 'AAAA');
  assert.equal(status(aaaa), 'NOERROR', 'no IPv6 here: NODATA');
  assert.match(aaaa, /ANSWER: 0,/);
  assert.match(aaaa, /lxc\.\s+\d+\s+IN\s+SOA\s+ns\.lxc\./);
  await upstreamLogged('marker1');
  assert.equal(upstreamAsked('web'), false, 'web never went upstream');
});

test('--bare-names: an unknown single label is NXDOMAIN with our SOA (UDP and TCP), never forwarded; REFUSED from outside', async () => {
  for (const transport of ['+notcp', '+tcp']) {
    const out = await dig(topology.hostNs, transport, 'nosuch');
    assert.equal(status(out), 'NXDOMAIN', transport);
    assert.match(out, /flags: qr aa/);
    assert.match(out, /lxc\.\s+\d+\s+IN\s+SOA\s+ns\.lxc\./);
  }
  await upstreamLogged('marker2');
  assert.equal(upstreamAsked('nosuch'), false, 'nosuch never went upstream');
  const wanNs = topology.wanNs as string;
  await topology.exec(wanNs, ['ip', 'route', 'add', '10.0.0.0/24', 'via', '198.51.100.2'], { check: true });
  const outside = await topology.exec(wanNs, ['dig', '@10.0.0.1', '+time=3', '+tries=1', 'nosuch'], { timeoutMs: 15_000 });
  assert.equal(status(outside.stdout), 'REFUSED');
  const known = await topology.exec(wanNs, ['dig', '@10.0.0.1', '+time=3', '+tries=1', '+short', 'web'], { timeoutMs: 15_000 });
  assert.equal(known.stdout.trim(), clients[0]?.lease.ip, 'a container bare name, as web.lxc is answered outside');
});

test('--no-bare-names (the default): single labels are forwarded upstream as before', async () => {
  await restart('--no-bare-names');
  for (const name of ['web', 'nosuch']) {
    const out = await dig(topology.hostNs, name);
    assert.equal(status(out), 'NOERROR', name);
    assert.doesNotMatch(out, /flags: qr aa/, `${name}: not ours`);
    assert.match(answerLines(out)[0] ?? '', new RegExp(`^${name}\\.\\s+\\d+\\s+IN\\s+A\\s+198\\.51\\.100\\.66$`));
    await upstream.waitForOutput(new RegExp(`query\\[A\\] ${name} from`, 'i'), { timeoutMs: 5000 });
  }
  assert.equal((await dig(observer.ns, '+short', 'web.lxc')).trim(), clients[0]?.lease.ip, 'the qualified name still answers');
});
