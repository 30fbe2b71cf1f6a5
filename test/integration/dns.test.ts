/**
 * The DNS side with real clients and real dig: names from leases with AA, reverse lookups, NODATA/NXDOMAIN with SOA,
 * TCP, name ownership, reservations, forwarding to a real upstream (dnsmasq in a "wan" namespace) with a cache that
 * survives the upstream going away, TC → TCP retry, REFUSED for outsiders, and malformed queries.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { type DhcpClient, dhclient, dhcpcd, udhcpc } from '../harness/clients.ts';
import { type RunningLxcDhcpd, startLxcDhcpd } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, type SpawnedProcess, type Topology } from '../harness/netns.ts';

const UDP_QUERY = resolve(import.meta.dirname, '..', 'harness', 'udp-query.ts');
const BIG_TXT = Array.from({ length: 8 }, (_, i) => `${String(i).repeat(200)}`);

let topology: Topology;
let daemon: RunningLxcDhcpd;
let upstream: SpawnedProcess;
let c1: Container;
let c2: Container;
let c3: Container;
/** A container with a lease and no name, from which the other containers' names are looked up. */
let observer: Container;
const clients: DhcpClient[] = [];

async function dig(ns: string, ...args: string[]): Promise<string> {
  const r = await topology.exec(ns, ['dig', '@10.0.0.1', '+time=3', '+tries=1', ...args], { timeoutMs: 15_000 });
  return r.stdout;
}

const status = (out: string): string | undefined => /status: (\w+)/.exec(out)?.[1];
const answerLines = (out: string): string[] => out.split('\n').filter((l) => l && !l.startsWith(';') && /\sIN\s/.test(l));

before(async () => {
  topology = await createTopology({ containers: 5, wan: true });
  [c1, c2, c3, observer] = topology.containers as [Container, Container, Container, Container];
  const wanNs = topology.wanNs as string;
  upstream = topology.spawn(wanNs, [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--listen-address=198.51.100.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--local-ttl=300',
    '--address=/example.test/198.51.100.7',
    ...BIG_TXT.map((t) => `--txt-record=big.example.test,${t}`),
    '--log-queries',
  ]);
  await upstream.waitForOutput(/started, version/, { stream: 'stderr', timeoutMs: 10_000 });
  // The host's resolv.conf for the daemon: the upstream in the wan namespace, plus our own address (must be ignored).
  const resolvConf = join(topology.tmpDir, 'resolv.conf');
  writeFileSync(resolvConf, 'nameserver 10.0.0.1\nnameserver 198.51.100.1\n');
  daemon = await startLxcDhcpd(topology, {
    extraArgs: ['--resolv-conf', resolvConf, '--host', '02:1a:b0:00:00:09,10.0.0.9,resv'],
  });
  clients.push(await udhcpc(c1, { hostname: 'test' }));
  clients.push(await dhclient(c2, { hostname: 'dhtest' }));
  clients.push(await udhcpc(observer));
});

after(async () => {
  for (const c of clients) await c.stop().catch(() => undefined);
  await topology?.destroy();
});

test('dig NAME.lxc from another container: the lease address with aa; case-insensitive', async () => {
  const out = await dig(observer.ns, 'TEST.lxc');
  assert.equal(status(out), 'NOERROR');
  assert.match(out, /flags: qr aa rd ra/);
  const lines = answerLines(out);
  assert.equal(lines.length, 1);
  assert.match(lines[0] as string, new RegExp(`^TEST\\.lxc\\.\\s+\\d+\\s+IN\\s+A\\s+${clients[0]?.lease.ip.replace(/\./g, '\\.')}$`));
  const dh = await dig(observer.ns, '+short', 'dhtest.lxc');
  assert.equal(dh.trim(), clients[1]?.lease.ip);
});

test('dig from the host itself, dig -x, and +tcp', async () => {
  assert.equal((await dig(topology.hostNs, '+short', 'test.lxc')).trim(), clients[0]?.lease.ip);
  assert.equal((await dig(observer.ns, '+short', '-x', clients[0]?.lease.ip as string)).trim(), 'test.lxc.');
  assert.equal((await dig(observer.ns, '+short', '+tcp', 'test.lxc')).trim(), clients[0]?.lease.ip);
});

test('AAAA of a name with an A record is NODATA with SOA; a missing name is NXDOMAIN with SOA', async () => {
  const aaaa = await dig(observer.ns, 'test.lxc', 'AAAA');
  assert.equal(status(aaaa), 'NOERROR');
  assert.match(aaaa, /ANSWER: 0,/);
  assert.match(aaaa, /lxc\.\s+\d+\s+IN\s+SOA\s+ns\.lxc\. hostmaster\.lxc\./);
  const missing = await dig(observer.ns, 'nosuch.lxc');
  assert.equal(status(missing), 'NXDOMAIN');
  assert.match(missing, /IN\s+SOA/);
  assert.match(missing, /flags: qr aa/);
});

test('a name sent in the client FQDN option (81) by dhcpcd resolves, reduced to its first label', async () => {
  const fqdnClient = await dhcpcd(topology.containers[4] as Container, { hostname: 'Fq-Host', fqdn: 'both' });
  clients.push(fqdnClient);
  assert.equal((await dig(observer.ns, '+short', 'fq-host.lxc')).trim(), fqdnClient.lease.ip);
});

test('a static reservation name resolves before any lease exists', async () => {
  assert.equal((await dig(observer.ns, '+short', 'resv.lxc')).trim(), '10.0.0.9');
});

test('a second client claiming a held name gets a lease but not the name', async () => {
  const thief = await udhcpc(c3, { hostname: 'test' });
  clients.push(thief);
  assert.notEqual(thief.lease.ip, clients[0]?.lease.ip);
  assert.equal((await dig(observer.ns, '+short', 'test.lxc')).trim(), clients[0]?.lease.ip);
  await daemon.waitForLog(/DHCPACK \S+ 02:1a:b0:00:00:03 - \(selecting; name "test" is held by the lease of 02:1a:b0:00:00:01/, 5000);
  await thief.release();
});

test('forwarding: answered through the upstream, then from cache after the upstream stops, TTL counting down', async () => {
  const first = answerLines(await dig(c1.ns, 'www.example.test'));
  assert.match(first[0] ?? '', /^www\.example\.test\.\s+(\d+)\s+IN\s+A\s+198\.51\.100\.7$/);
  const ttl1 = Number(/\s(\d+)\s+IN/.exec(first[0] as string)?.[1]);
  assert.ok(ttl1 <= 300 && ttl1 > 200, `first TTL ${ttl1}`);

  // Large answer: the upstream truncates over UDP, we retry over TCP; dig gets TC from us and retries over TCP too.
  const big = await dig(c1.ns, 'big.example.test', 'TXT');
  assert.equal(status(big), 'NOERROR');
  assert.equal(answerLines(big).length, BIG_TXT.length);

  await upstream.stop();
  await new Promise((r) => setTimeout(r, 2100));
  const cached = answerLines(await dig(c1.ns, 'www.example.test'));
  assert.match(cached[0] ?? '', /198\.51\.100\.7$/);
  const ttl2 = Number(/\s(\d+)\s+IN/.exec(cached[0] as string)?.[1]);
  assert.ok(ttl2 <= ttl1 - 2, `TTL counted down: ${ttl1} then ${ttl2}`);

  const uncached = await dig(c1.ns, 'other.invalid');
  assert.equal(status(uncached), 'SERVFAIL', 'nothing cached and no upstream left');
});

test('a query from outside the bridge subnet is REFUSED for names outside our zones', async () => {
  const wanNs = topology.wanNs as string;
  await topology.exec(wanNs, ['ip', 'route', 'add', '10.0.0.0/24', 'via', '198.51.100.2'], { check: true });
  const foreign = await topology.exec(wanNs, ['dig', '@10.0.0.1', '+time=3', '+tries=1', 'www.example.test'], { timeoutMs: 15_000 });
  assert.equal(status(foreign.stdout), 'REFUSED');
  const local = await topology.exec(wanNs, ['dig', '@10.0.0.1', '+time=3', '+tries=1', '+short', 'test.lxc'], { timeoutMs: 15_000 });
  assert.equal(local.stdout.trim(), clients[0]?.lease.ip);
  // The reverse zone is for the bridge subnet and the host: walking it from outside is refused, and RA is never set.
  const reverse = await topology.exec(wanNs, ['dig', '@10.0.0.1', '+time=3', '+tries=1', '-x', clients[0]?.lease.ip as string], { timeoutMs: 15_000 });
  assert.equal(status(reverse.stdout), 'REFUSED');
  assert.doesNotMatch(reverse.stdout, /flags:[^;]* ra[ ;]/);
  const inside = await dig(observer.ns, '+short', '-x', clients[0]?.lease.ip as string);
  assert.equal(inside.trim(), 'test.lxc.');
});

test('malformed queries get FORMERR/BADVERS/NOTIMP or silence, and the server keeps answering', async () => {
  const good = '4242010000010000000000000474657374036c78630000010001'; // id 0x4242, RD, test.lxc A
  const truncated = good.slice(0, 30);
  const loop = '42430100000100000000000' + '0c00c0001' + '0001'; // name is a pointer to itself
  const badLabel = `42440100000100000000000050${'61'.repeat(10)}0000010001`;
  const ednsV1 = '424501000001000000000001' + '0474657374036c78630000010001' + '0000290200000100000000';
  const notify = '42462000000100000000000004746573740' + '36c78630000010001';
  const twoQuestions = `424701000002000000000000${'0474657374036c78630000010001'.repeat(2)}`;
  const r = await topology.exec(
    observer.ns,
    [process.execPath, '--import', 'tsx', UDP_QUERY, '10.0.0.1', '53', truncated, loop, badLabel, ednsV1, notify, twoQuestions, good],
    {
      timeoutMs: 30_000,
      check: true,
    },
  );
  const answers = r.stdout.trim().split('\n');
  assert.equal(answers.length, 7);
  const rcodeOf = (hex: string): number => (hex === 'timeout' ? -1 : parseInt(hex.slice(6, 8), 16) & 0xf);
  assert.equal(rcodeOf(answers[0] as string), 1, 'truncated → FORMERR');
  assert.ok([1, -1].includes(rcodeOf(answers[1] as string)), 'compression loop → FORMERR or silence');
  assert.ok([1, -1].includes(rcodeOf(answers[2] as string)), 'bad label → FORMERR or silence');
  assert.match(answers[3] as string, /0000290[0-9a-f]{3}01/, 'EDNS version 1 → BADVERS (extended rcode 1 in OPT)');
  assert.equal(rcodeOf(answers[4] as string), 4, 'NOTIFY opcode → NOTIMP');
  assert.equal(rcodeOf(answers[5] as string), 1, 'two questions → FORMERR');
  assert.equal(rcodeOf(answers[6] as string), 0, 'a good query afterwards is answered');
  assert.equal(daemon.process.exitStatus, null);
});

test('after release the name is gone', async () => {
  await clients[0]?.release();
  const out = await dig(observer.ns, 'test.lxc');
  assert.equal(status(out), 'NXDOMAIN');
  assert.equal(status(await dig(observer.ns, '-x', clients[0]?.lease.ip as string)), 'NXDOMAIN');
});
