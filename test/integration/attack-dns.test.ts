/**
 * The DNS side of issue 11 seen from an attacker: a hostile container on the bridge and an off-subnet host (the wan
 * namespace, routed through the host's wan0) against the real daemon, whose only upstream is a fake server in the wan
 * namespace (test/harness/fake-upstream.ts: a black hole, or a recorder that answers). The attacks come from
 * test/harness/dns-flood.ts (bounded by count and time). Each test asserts what a victim container sees meanwhile
 * (its UDP queries answered within 1 s, TCP answers, a new container still getting a lease) and that the daemon's
 * memory (VmRSS of its processes, from /proc) stays under RSS_BOUND_MB. If a test leaves the daemon unresponsive, the
 * next one restarts it, so that each test's verdict is its own.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { type DhcpClient, udhcpc } from '../harness/clients.ts';
import { LXC_DHCPD_BIN } from '../harness/lxc-dhcpd.ts';
import { type Container, createTopology, processTree, type SpawnedProcess, type Topology } from '../harness/netns.ts';

const HARNESS = resolve(import.meta.dirname, '..', 'harness');
const FLOOD = resolve(HARNESS, 'dns-flood.ts');
const FAKE_UPSTREAM = resolve(HARNESS, 'fake-upstream.ts');
const UDP_QUERY = resolve(HARNESS, 'udp-query.ts');

const SERVER = '10.0.0.1';
const ATTACKER_ADDRESS = '10.0.0.50';
/**
 * The daemon's whole memory under any of these attacks. It starts at ~90 MB; the issue measured 730 MB after 20 s of
 * unread TCP answers and ~7.5 KB per query waiting upstream (65 536 of them: ~490 MB).
 */
const RSS_BOUND_MB = 250;
/**
 * What one TCP client that never reads may add to the daemon's memory. Once the daemon stops reading at its output
 * threshold, that is a few hundred KB per connection; before, it grew ~100-300 MB in 20 s on 2 loaded cores.
 */
const UNREAD_TCP_GROWTH_MB = 80;
/** A victim's query must be answered within this, during and after every attack. */
const VICTIM_TIMEOUT_MS = 1000;

let topology: Topology;
let daemon: { process: SpawnedProcess; log(): string };
let upstream: SpawnedProcess | null = null;
let attacker: Container;
let victim: Container;
let victimClient: DhcpClient;
const clients: DhcpClient[] = [];
let wanNs: string;

const node = (script: string, ...args: string[]): string[] => [process.execPath, '--import', 'tsx', script, ...args];

/**
 * The daemon as test/harness/lxc-dhcpd.ts starts it, but logging at info as deployed: at debug every failed forward is
 * a synchronous line on a pipe, which under a flood of 90 000 queries measures the test's log reader, not the daemon.
 */
async function startDaemon(): Promise<void> {
  const leaseDb = join(topology.tmpDir, 'leases.db');
  const argv = [
    process.execPath,
    LXC_DHCPD_BIN,
    '--bridge',
    topology.bridge,
    '--range',
    '10.0.0.100-200',
    '--lease-db',
    leaseDb,
    '--log-level',
    'info',
    '--control-socket',
    join(topology.tmpDir, 'control.sock'),
    '--no-probe',
    '--upstream',
    '198.51.100.1',
  ];
  const proc = topology.spawn(topology.hostNs, argv);
  await proc.waitForOutput(/serving DHCP on/, { stream: 'stderr', timeoutMs: 15_000 });
  daemon = { process: proc, log: () => proc.stderr };
}

async function startUpstream(mode: 'blackhole' | 'answer'): Promise<SpawnedProcess> {
  await upstream?.stop();
  upstream = topology.spawn(wanNs, node(FAKE_UPSTREAM, '--address', '198.51.100.1', '--mode', mode, ...(mode === 'blackhole' ? ['--quiet'] : [])), {
    timeoutMs: 5 * 60_000,
  });
  await upstream.waitForOutput(/^listening/m, { stream: 'stdout', timeoutMs: 15_000 });
  return upstream;
}

/** Runs one dns-flood plan in `ns` to its end and returns its result object. */
async function flood(ns: string, plan: Record<string, unknown>): Promise<Record<string, unknown>> {
  const durationMs = Number(plan.durationMs ?? 0);
  const proc = topology.spawn(ns, node(FLOOD, JSON.stringify(plan)), { timeoutMs: durationMs + 30_000 });
  await proc.exited;
  const line = proc.stdout.split('\n').find((l) => l.startsWith('{"result"'));
  assert.ok(line, `dns-flood ${JSON.stringify(plan)} printed no result:\n${proc.stdout}\n${proc.stderr}`);
  return (JSON.parse(line) as { result: Record<string, unknown> }).result;
}

interface Sample {
  atMs: number;
  latencyMs: number | null;
  rcode: number | null;
  ancount: number | null;
}

/** The victim's view: one UDP query for NAME every interval for durationMs. */
async function probe(name: string, durationMs: number, intervalMs = 250): Promise<Sample[]> {
  const result = await flood(victim.ns, { mode: 'probe', host: SERVER, name, qtype: 1, intervalMs, timeoutMs: VICTIM_TIMEOUT_MS, durationMs });
  return result.samples as Sample[];
}

/** What went wrong with the victim's probes, or null when each got a one-record NOERROR answer within the timeout. */
function missedProbes(samples: Sample[]): string | null {
  if (samples.length < 3) return `only ${samples.length} probes ran`;
  const missed = samples.filter((s) => s.latencyMs === null);
  if (missed.length > 0) {
    return `${missed.length} of ${samples.length} victim queries got no answer within ${VICTIM_TIMEOUT_MS} ms (sent at ms: ${missed.map((s) => s.atMs).join(' ')})`;
  }
  const wrong = samples.filter((s) => s.rcode !== 0 || s.ancount !== 1);
  if (wrong.length > 0) return `${wrong.length} victim answers were not NOERROR with one record: ${JSON.stringify(wrong.slice(0, 3))}`;
  return null;
}

/** VmRSS of the daemon and all its descendants, in MB. */
function daemonRssMb(): number {
  let kb = 0;
  for (const pid of processTree(daemon.process.pid)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      kb += Number(m?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return kb / 1024;
}

/** Samples daemonRssMb() every 200 ms until stop() is called; returns the peak. */
function watchRss(): { stop(): number } {
  let peak = daemonRssMb();
  const timer = setInterval(() => {
    peak = Math.max(peak, daemonRssMb());
  }, 200);
  timer.unref(); // a test failing before stop() must not keep the runner alive
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, daemonRssMb());
    },
  };
}

async function dig(ns: string, ...args: string[]): Promise<string> {
  const r = await topology.exec(ns, ['dig', `@${SERVER}`, '+time=3', '+tries=1', ...args], { timeoutMs: 15_000 });
  return r.stdout + r.stderr;
}

/** The daemon's exit status and last log lines, for failure messages. */
function daemonState(): string {
  const tail = daemon
    .log()
    .trimEnd()
    .split('\n')
    .slice(-8)
    .map((l) => `  | ${l.slice(0, 300)}`);
  return `daemon pid ${daemon.process.pid}, exit status ${JSON.stringify(daemon.process.exitStatus)}, last log lines:\n${tail.join('\n')}`;
}

/** Collects what is wrong so that one failure names every broken property, then fails once. */
class Findings {
  private readonly list: string[] = [];
  check(ok: boolean, message: string): void {
    if (!ok) this.list.push(message);
  }
  assertNone(context: string): void {
    assert.deepEqual(this.list, [], `${context}\n- ${this.list.join('\n- ')}\n${daemonState()}`);
  }
}

const status = (out: string): string | undefined => /status: (\w+)/.exec(out)?.[1];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface UpstreamQuery {
  name: string;
  port: number;
  do: boolean;
  transport: string;
}

/** What the recording fake upstream has reported so far. */
function upstreamQueries(recorder: SpawnedProcess): UpstreamQuery[] {
  return recorder.stdout
    .split('\n')
    .filter((l) => l.startsWith('{"query"'))
    .map((l) => (JSON.parse(l) as { query: UpstreamQuery }).query);
}

/** A query with RD set for the udp-query harness (hex). */
function queryHex(id: number, name: string, type: string, opts: { opcode?: number } = {}): string {
  const q = Buffer.from(
    dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' } as dnsPacket.Question] }),
  );
  if (opts.opcode !== undefined) q[2] = ((q[2] as number) & 0x87) | (opts.opcode << 3);
  return q.toString('hex');
}

async function udpQueries(ns: string, hex: string[]): Promise<string[]> {
  const r = await topology.exec(ns, node(UDP_QUERY, SERVER, '53', ...hex), { timeoutMs: 10_000 + 2000 * hex.length, check: true });
  return r.stdout.trim().split('\n');
}

before(async () => {
  topology = await createTopology({ containers: 2, wan: true });
  [attacker, victim] = topology.containers as [Container, Container];
  wanNs = topology.wanNs as string;
  await topology.exec(attacker.ns, ['ip', 'addr', 'add', `${ATTACKER_ADDRESS}/24`, 'dev', 'eth0'], { check: true });
  // The off-subnet host reaches the bridge through the host's wan0, as a machine on the uplink would.
  await topology.exec(wanNs, ['ip', 'route', 'add', '10.0.0.0/24', 'via', '198.51.100.2'], { check: true });
  await startUpstream('answer');
  await startDaemon();
  victimClient = await udhcpc(victim, { hostname: 'victim' });
  clients.push(victimClient);
});

after(async () => {
  for (const c of clients) await c.stop().catch(() => undefined);
  await topology?.destroy();
});

/**
 * Each test starts with a daemon that answers and is not bloated: one left hung, dead or holding the memory of the
 * previous attack (before the fixes) is replaced, so that each test's verdict and RSS figures are its own.
 */
beforeEach(async () => {
  const out = await dig(victim.ns, '+time=1', '+tries=2', 'lxc', 'SOA');
  if (daemon.process.exitStatus === null && status(out) === 'NOERROR' && daemonRssMb() < RSS_BOUND_MB * 0.8) return;
  await daemon.process.stop({ signal: 'SIGKILL' });
  await startDaemon();
  const check = await dig(victim.ns, '+short', 'victim.lxc');
  assert.equal(check.trim(), victimClient.lease.ip, `the restarted daemon knows the victim's name again: ${check}`);
});

test('NOTIMP for an unknown opcode copies RD and echoes the opcode', { timeout: 60_000 }, async () => {
  const [notimp] = await udpQueries(victim.ns, [queryHex(0x2222, 'victim.lxc', 'A', { opcode: 2 })]);
  assert.notEqual(notimp, 'timeout');
  const n = Buffer.from(notimp as string, 'hex');
  assert.equal(n.readUInt16BE(0), 0x2222);
  assert.equal((n[3] as number) & 0x0f, 4, 'opcode STATUS → NOTIMP');
  assert.equal((n[2] as number) & 0x01, 1, 'NOTIMP copies RD from the query');
  assert.equal(((n[2] as number) >> 3) & 0x0f, 2, 'the opcode is echoed');
});

test('REFUSED carries RA=0', { timeout: 60_000 }, async () => {
  const [refused] = await udpQueries(wanNs, [queryHex(0x1111, 'www.example.test', 'A')]);
  assert.notEqual(refused, 'timeout', 'the off-subnet host got an answer');
  const r = Buffer.from(refused as string, 'hex');
  assert.equal((r[3] as number) & 0x0f, 5, 'a foreign name asked from off the subnet is REFUSED');
  assert.equal((r[3] as number) & 0x80, 0, 'RA is clear on REFUSED: no recursion is offered to this client');
});

test('off-subnet: the reverse zone is REFUSED while the forward zone answers; on the bridge both answer', { timeout: 60_000 }, async () => {
  const ip = victimClient.lease.ip;
  const inside = await dig(victim.ns, '+short', '-x', ip);
  assert.equal(inside.trim(), 'victim.lxc.', 'a container can look up reverse names');
  const outside = await dig(wanNs, '-x', ip);
  assert.equal(status(outside), 'REFUSED', `reverse lookup of ${ip} from the wan side:\n${outside}`);
  const outsideWalk = await dig(wanNs, '-x', '10.0.0.77');
  assert.equal(status(outsideWalk), 'REFUSED', 'no NXDOMAIN either: the reverse zone cannot be walked from outside');
  const forward = await dig(wanNs, '+short', 'victim.lxc');
  assert.equal(forward.trim(), ip, 'the forward zone still answers off-subnet hosts');
});

test('a flood of 2000 "lxc ANY" from off the subnet is rate limited (TC slips); the same flood from a container is answered in full', {
  timeout: 60_000,
}, async () => {
  const plan = { mode: 'udp', host: SERVER, name: 'lxc', qtype: 255, count: 2000, burst: 20, intervalMs: 10, durationMs: 5000, lingerMs: 1500 };
  const inside = await flood(attacker.ns, plan);
  assert.equal(Number(inside.truncated), 0, `on-subnet: no TC: ${JSON.stringify(inside)}`);
  // UDP on a loaded 2-core machine: allow a datagram or two lost in the kernel, never a rate limit.
  assert.ok(Number(inside.full) >= Number(inside.sent) * 0.98, `on-subnet: every query gets a full answer: ${JSON.stringify(inside)}`);

  const outside = await flood(wanNs, plan);
  const sent = Number(outside.sent);
  assert.equal(sent, 2000);
  const findings = new Findings();
  findings.check(Number(outside.full) <= sent / 4, `${outside.full} full answers to ${sent} queries in ~1 s (RRL should leave far fewer)`);
  findings.check(Number(outside.truncated) > 0, 'no answer slipped as TC=1');
  findings.check(Number(outside.received) < sent, 'no answer was dropped');
  findings.assertNone(`off-subnet flood of "lxc ANY" (${JSON.stringify(outside)}):`);
});

test('forwarded queries: a fresh source port each, 0x20 case, answers delivered; DO forwarded and RRSIG returned', { timeout: 60_000 }, async () => {
  const recorder = await startUpstream('answer');
  const names = Array.from({ length: 50 }, (_, i) => `fwd${i}.example.test`);
  const answers = await udpQueries(
    victim.ns,
    names.map((name, i) => queryHex(0x3000 + i, name, 'A')),
  );
  assert.equal(answers.length, names.length);
  answers.forEach((hex, i) => {
    assert.notEqual(hex, 'timeout', `no answer for ${names[i]}`);
    const packet = dnsPacket.decode(Buffer.from(hex, 'hex')) as dnsPacket.DecodedPacket & { rcode: string };
    assert.equal(packet.id, 0x3000 + i);
    assert.equal(packet.rcode, 'NOERROR', `${names[i]}: ${packet.rcode}`);
    assert.equal(packet.questions?.[0]?.name, names[i], 'the question comes back as the client sent it');
    assert.deepEqual(
      packet.answers?.map((a) => (a as { data: unknown }).data),
      ['198.51.100.7'],
      `answer for ${names[i]}`,
    );
  });

  const seen = upstreamQueries(recorder);
  const forwarded = seen.filter((q) => /^fwd\d+\.example\.test$/i.test(q.name) && q.transport === 'udp');
  const findings = new Findings();
  findings.check(forwarded.length >= names.length, `the upstream saw ${forwarded.length} of the ${names.length} names`);
  const ports = new Set(forwarded.map((q) => q.port));
  findings.check(
    ports.size >= 45,
    `RFC 5452: ${ports.size} distinct source ports for ${forwarded.length} forwarded queries (want >= 45): ${[...ports].join(', ')}`,
  );
  const mixedCase = forwarded.filter((q) => q.name !== q.name.toLowerCase());
  findings.check(
    mixedCase.length >= names.length / 2,
    `0x20: ${mixedCase.length} of ${forwarded.length} names reached the upstream in mixed case, e.g. ${forwarded[0]?.name}`,
  );

  const signed = await dig(victim.ns, '+dnssec', 'sig.example.test', 'A');
  const asked = upstreamQueries(recorder).filter((q) => q.name.toLowerCase() === 'sig.example.test');
  findings.check(asked.length > 0, 'sig.example.test was forwarded');
  findings.check(asked.length > 0 && asked.every((q) => q.do), `the DO bit of dig +dnssec reaches the upstream: ${JSON.stringify(asked)}`);
  findings.check(status(signed) === 'NOERROR', `dig +dnssec sig.example.test: status ${status(signed)}`);
  findings.check(/sig\.example\.test\.\s+\d+\s+IN\s+RRSIG\s+A\s/i.test(signed), "the upstream's RRSIG comes back to the client (dig +dnssec shows no RRSIG)");
  findings.assertNone('forwarding as RFC 5452 and DNSSEC-validating containers need it:');
});

test('TCP without reading: 20 s of pipelined "lxc ANY" keep RSS under the bound; others still answered', { timeout: 90_000 }, async () => {
  const rss = watchRss();
  const before = daemonRssMb();
  const [attack, samples] = await Promise.all([
    flood(attacker.ns, { mode: 'tcp', host: SERVER, name: 'lxc', qtype: 255, connections: 4, count: 50_000_000, read: false, durationMs: 20_000 }),
    sleep(1000).then(() => probe('victim.lxc', 18_000, 500)),
  ]);
  const overTcp = await dig(victim.ns, '+tcp', '+short', 'victim.lxc');
  const peak = rss.stop();
  assert.ok(Number(attack.sent) > 0, `the attack ran: ${JSON.stringify(attack)}`);
  const findings = new Findings();
  findings.check(
    peak < RSS_BOUND_MB && peak - before < UNREAD_TCP_GROWTH_MB,
    `daemon RSS went from ${before.toFixed(0)} MB to a peak of ${peak.toFixed(0)} MB (bounds: ${RSS_BOUND_MB} MB, growth ${UNREAD_TCP_GROWTH_MB} MB) while a client pipelined ${attack.sent} queries it never read`,
  );
  findings.check(missedProbes(samples) === null, `during the unread TCP flood: ${missedProbes(samples)}`);
  findings.check(overTcp.trim() === victimClient.lease.ip, `a victim's dig +tcp after the flood: ${overTcp.trim().split('\n').join(' | ')}`);
  findings.check(daemon.process.exitStatus === null, `the daemon exited: ${JSON.stringify(daemon.process.exitStatus)}`);
  findings.assertNone('a TCP client that never reads its answers:');
});

test('TCP slots: 140 connections trickling a byte every 3 s from one container cannot keep another from answers over TCP', { timeout: 90_000 }, async () => {
  const attack = flood(attacker.ns, { mode: 'slow-tcp', host: SERVER, name: 'lxc', qtype: 6, connections: 140, intervalMs: 3000, durationMs: 14_000 });
  const outcomes: string[] = [];
  const started = Date.now();
  for (const at of [2500, 7000, 11_500]) {
    await sleep(Math.max(0, started + at - Date.now()));
    const asked = Date.now();
    const out = await dig(victim.ns, '+tcp', '+short', 'victim.lxc');
    outcomes.push(`at ~${at} ms (${Date.now() - asked} ms): ${out.trim().split('\n').join(' | ')}`);
  }
  const result = await attack;
  assert.ok(Number(result.opened) > 0, `the attack ran: ${JSON.stringify(result)}`);
  for (const outcome of outcomes) {
    assert.match(
      outcome,
      new RegExp(`\\): ${victimClient.lease.ip.replace(/\./g, '\\.')}$`),
      `victim's dig +tcp while the slots were held: ${outcome}\nattack: ${JSON.stringify(result)}`,
    );
  }
});

test('black-hole upstream and 70 000 distinct names over 4 TCP connections and UDP: DNS and DHCP keep serving, RSS bounded', { timeout: 120_000 }, async () => {
  await startUpstream('blackhole');
  const rss = watchRss();
  const before = daemonRssMb();
  const tcpFlood = flood(attacker.ns, {
    mode: 'tcp',
    host: SERVER,
    name: 'r{i}.example',
    qtype: 1,
    connections: 4,
    count: 70_000,
    read: true,
    durationMs: 15_000,
    lingerMs: 6000,
  });
  // UDP at ~2000/s: forwarded names the daemon can refuse as fast as they come. A faster stream overflows the socket's
  // kernel queue, dropping the victim's datagrams with the attacker's: a volume attack outside this test.
  const udpFlood = flood(attacker.ns, {
    mode: 'udp',
    host: SERVER,
    name: 'u{i}.example',
    qtype: 1,
    count: 10_000,
    burst: 20,
    intervalMs: 10,
    durationMs: 6000,
    lingerMs: 2000,
  });
  const samples = probe('victim.lxc', 22_000);
  // A container that arrives during the flood still gets a lease.
  await sleep(3000);
  const newcomer = await topology.addContainer();
  let leaseError: unknown = null;
  try {
    clients.push(await udhcpc(newcomer, { hostname: 'newcomer', timeoutSec: 10 }));
  } catch (e) {
    leaseError = e;
  }
  const [tcpResult, udpResult, probed] = await Promise.all([tcpFlood, udpFlood, samples]);
  const peak = rss.stop();
  const summary = `TCP flood ${JSON.stringify(tcpResult)}; UDP flood ${JSON.stringify(udpResult)}`;
  const findings = new Findings();
  findings.check(Number(tcpResult.sent) >= 60_000, `the attack could not pipeline its names (sent ${tcpResult.sent})`);
  findings.check(missedProbes(probed) === null, `during and after the flood: ${missedProbes(probed)}`);
  findings.check(leaseError === null, `a new container got no lease during the flood: ${(leaseError as Error | null)?.message.split('\n')[0]}`);
  findings.check(peak < RSS_BOUND_MB, `daemon RSS went from ${before.toFixed(0)} MB to a peak of ${peak.toFixed(0)} MB (bound ${RSS_BOUND_MB} MB)`);
  findings.check(daemon.process.exitStatus === null, `the daemon exited: ${JSON.stringify(daemon.process.exitStatus)}`);
  const afterwards = await dig(victim.ns, 'lxc', 'SOA');
  findings.check(status(afterwards) === 'NOERROR', `after the flood, lxc SOA: ${afterwards.trim().split('\n').slice(-3).join(' | ')}`);
  findings.assertNone(`black-hole upstream flooded (${summary}):`);
});
