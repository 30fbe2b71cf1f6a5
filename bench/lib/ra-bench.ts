// Router-advertisement answer latency (issue 13 item 7: "RA answer latency to a router solicitation <= 5 ms p99 under
// DHCPv6 load"). A probe client in a container namespace on the bench bridge sends router solicitations at a steady
// rate through a packet socket of its own (src/wire/packet-socket.ts), each from another made-up host (ra-probe.ts),
// and times each to the unicast RA that answers it. The answering side is either RaService + Ipv6Port alone in a child
// process (bench/ra-server.ts, target "service") or the daemon started with --ipv6/--range6 (target "daemon", once the
// daemon has those flags), optionally with perfdhcp -6 loading the bridge from another container. Used by
// bench/ra-latency.ts (standalone) and bench/run.ts (--only=ra).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PacketSocket } from '../../src/wire/packet-socket.ts';
import { inNamespace, runChecked, type SpawnedProcess, type Topology } from '../../test/harness/netns.ts';
import {
  advertisementFilter,
  answeredProbe,
  dueCount,
  MAX_PROBE_HOSTS,
  type Percentiles,
  pairCapture,
  percentiles,
  probeMac,
  solicitationFrame,
} from './ra-probe.ts';
import { LXC_DHCPD_BIN, REPO, type ServerProcess, startLxcDhcpd } from './servers.ts';

/** The prefix the bench advertises: the bridge's IPv6 address in a ULA documentation-style /64. */
const RA_BRIDGE_CIDR = 'fd00:db8:1::1/64';
const RA_BRIDGE_ADDRESS = 'fd00:db8:1::1';
/** --range6 for the daemon target (overridable: the flag's syntax is the DHCPv6 helper's). */
export const RA_DEFAULT_RANGE6 = 'fd00:db8:1::1000-fd00:db8:1::ffff';
/** Probe solicitations one run may send, and the highest rate: the run stays bounded in time and in bridge FDB size. */
const RA_MAX_COUNT = 100_000;
const RA_MAX_RATE = 5_000;
/** How long after the last solicitation an answer may still come before it counts as unanswered. */
const RA_ANSWER_WAIT_MS = 1_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ProbeOptions {
  ns: string;
  ifname: string;
  count: number;
  ratePerSecond: number;
  /** Second MAC byte of the made-up hosts: another per probe run, so no host is reused. */
  macPrefix: number;
  answerWaitMs?: number;
}

export interface ProbeResult {
  sent: number;
  /** send() returned false (the socket's queue was full): not counted as sent. */
  notSent: number;
  answered: number;
  unanswered: number;
  /** Further RAs to a probe host that was already answered. */
  duplicates: number;
  /** Frames seen that answer no probe (multicast RAs, flooded load traffic). */
  otherFrames: number;
  /** Solicitation sent → its RA read by the probe's socket callback, ms. */
  latencyMs: Percentiles;
  /** How late each send was against the steady schedule, ms: large values mean the probe itself lagged. */
  sendLatenessMs: Percentiles;
  /** Time of each send() call, µs. */
  sendCallUs: Percentiles;
  /** Solicitations per second really sent (first to last). */
  achievedRate: number;
}

interface ProbeState {
  hosts: Map<string, number>;
  sentAt: Float64Array;
  answeredAt: Float64Array;
  duplicates: number;
  otherFrames: number;
}

function probeState(count: number, macPrefix: number): { state: ProbeState; frames: Buffer[] } {
  const hosts = new Map<string, number>();
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const mac = probeMac(macPrefix, i);
    hosts.set(mac, i);
    frames.push(solicitationFrame(mac));
  }
  const state = {
    hosts,
    sentAt: new Float64Array(count).fill(Number.NaN),
    answeredAt: new Float64Array(count).fill(Number.NaN),
    duplicates: 0,
    otherFrames: 0,
  };
  return { state, frames };
}

/** Sends frames[i] at start + i / rate (ms clock), as steadily as timers allow; records each send's time and cost. */
async function sendSteadily(socket: PacketSocket, frames: Buffer[], ratePerSecond: number, state: ProbeState) {
  const lateness: number[] = [];
  const callUs: number[] = [];
  let notSent = 0;
  let next = 0;
  const start = performance.now() + 20;
  const intervalMs = 1000 / ratePerSecond;
  while (next < frames.length) {
    const due = dueCount(performance.now() - start, ratePerSecond, frames.length);
    for (; next < due; next++) {
      const t0 = performance.now();
      const ok = socket.send(frames[next] as Buffer);
      const t1 = performance.now();
      lateness.push(t0 - (start + next * intervalMs));
      callUs.push((t1 - t0) * 1000);
      if (ok) state.sentAt[next] = t0;
      else notSent++;
    }
    if (next < frames.length) await sleep(Math.max(0, Math.floor(start + next * intervalMs - performance.now())));
  }
  return { lateness, callUs, notSent, firstAt: start, lastAt: performance.now() };
}

/** Runs one probe: `count` solicitations at `ratePerSecond` from ns/ifname, each timed to its unicast RA. */
async function probeRaLatency(o: ProbeOptions): Promise<ProbeResult> {
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > Math.min(RA_MAX_COUNT, MAX_PROBE_HOSTS))
    throw new RangeError(`count ${o.count}: 1..${RA_MAX_COUNT}`);
  if (!(o.ratePerSecond > 0 && o.ratePerSecond <= RA_MAX_RATE)) throw new RangeError(`rate ${o.ratePerSecond}: up to ${RA_MAX_RATE}/s`);
  const { state, frames } = probeState(o.count, o.macPrefix);
  const socket = PacketSocket.open({
    ifname: o.ifname,
    netns: o.ns,
    filter: advertisementFilter(),
    onFrames: (received) => {
      const t = performance.now();
      for (const f of received) {
        const i = answeredProbe(f.data, state.hosts);
        if (i === null) state.otherFrames++;
        else if (Number.isNaN(state.answeredAt[i] as number)) state.answeredAt[i] = t;
        else state.duplicates++;
      }
    },
  });
  try {
    const s = await sendSteadily(socket, frames, o.ratePerSecond, state);
    const sent = o.count - s.notSent;
    const answered = (): number => state.answeredAt.reduce((n, t) => (Number.isNaN(t) ? n : n + 1), 0);
    const waitUntil = performance.now() + (o.answerWaitMs ?? RA_ANSWER_WAIT_MS);
    while (answered() < sent && performance.now() < waitUntil) await sleep(10);
    const latencies = Array.from(state.answeredAt, (t, i) => t - (state.sentAt[i] as number));
    const got = answered();
    return {
      sent,
      notSent: s.notSent,
      answered: got,
      unanswered: sent - got,
      duplicates: state.duplicates,
      otherFrames: state.otherFrames,
      latencyMs: percentiles(latencies),
      sendLatenessMs: percentiles(s.lateness),
      sendCallUs: percentiles(s.callUs),
      achievedRate: o.count > 1 ? ((o.count - 1) * 1000) / Math.max(1e-9, s.lastAt - s.firstAt) : 0,
    };
  } finally {
    socket.close();
  }
}

/** IPv6 on in a namespace of the bench: "all", "default" and the named interfaces (which do not follow "all"). */
async function enableIpv6(ns: string, ifnames: readonly string[], extra: readonly string[] = []): Promise<void> {
  await runChecked(inNamespace(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0', ...extra]));
  for (const ifname of ifnames) await runChecked(inNamespace(ns, ['sysctl', '-q', '-w', `net.ipv6.conf.${ifname}.disable_ipv6=0`]));
}

/** The bench bridge with IPv6: RA_BRIDGE_CIDR added (no DAD), waits until its link-local address is usable. */
export async function prepareIpv6Bridge(topology: Topology): Promise<void> {
  const h = topology.hostNs;
  await enableIpv6(h, [topology.bridge]);
  await runChecked(inNamespace(h, ['sysctl', '-q', '-w', `net.ipv6.conf.${topology.bridge}.accept_ra=0`]));
  await runChecked(['ip', '-n', h, 'addr', 'replace', RA_BRIDGE_CIDR, 'dev', topology.bridge, 'nodad']);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const out = await topology.exec(h, ['ip', '-6', 'addr', 'show', 'dev', topology.bridge, 'scope', 'link']);
    if (/inet6 fe80::/.test(out.stdout) && !/tentative/.test(out.stdout)) return;
    if (Date.now() > deadline) throw new Error(`no usable link-local address on ${topology.bridge}:\n${out.stdout}`);
    await sleep(100);
  }
}

/** Whether the lxc-dhcpd at LXC_DHCPD_BIN has IPv6 wired (its --help lists --range6). */
export function daemonHasRange6(): boolean {
  const r = spawnSync(process.execPath, [LXC_DHCPD_BIN, '--help'], { encoding: 'utf8', timeout: 20_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.includes('--range6');
}

export function hasPerfdhcp(): boolean {
  return spawnSync('sh', ['-c', 'command -v perfdhcp']).status === 0;
}

export type RaTarget = 'service' | 'daemon';

/** Something answering solicitations on the bench bridge, and how to stop it (with what it said at exit). */
interface RaResponder {
  label: string;
  pid: number;
  stop(): Promise<string>;
}

/** Target "service": bench/ra-server.ts in the host namespace, ready once it has the bridge's link-local address. */
async function startRaService(topology: Topology): Promise<RaResponder> {
  const proc: SpawnedProcess = topology.spawn(topology.hostNs, [
    process.execPath,
    '--import',
    'tsx',
    join(REPO, 'bench', 'ra-server.ts'),
    topology.bridge,
    RA_BRIDGE_ADDRESS,
  ]);
  await proc.waitForOutput(/^ready$/m, { stream: 'stdout', timeoutMs: 20_000 });
  return {
    label: 'RaService + Ipv6Port (child process)',
    pid: proc.pid,
    stop: async () => {
      await proc.stop({ signal: 'SIGTERM', graceMs: 3000 });
      return proc.stdout.trim().split('\n').pop() ?? '';
    },
  };
}

/** Target "daemon": lxc-dhcpd with --ipv6 auto and --range6 in the host namespace (the caller checked daemonHasRange6). */
async function startRaDaemon(topology: Topology, dir: string, range6: string): Promise<RaResponder> {
  mkdirSync(dir, { recursive: true });
  const resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, 'nameserver 198.51.100.1\n');
  const server: ServerProcess = await startLxcDhcpd(topology, dir, {
    probe: false,
    leaseDb: join(dir, 'leases.db'),
    resolvConf,
    // The bench puts RA_BRIDGE_CIDR on the bridge itself (prepareIpv6Bridge), as it does the IPv4 address; with
    // --no-host-setup the daemon takes the address the bridge has ("auto") and refuses to be told one. perfdhcp -6's
    // clients all come in on one bridge port: without --port-lease-limit 0 all but 16 would get NoAddrsAvail.
    extraArgs: ['--ipv6', 'auto', '--range6', range6, '--port-lease-limit', '0'],
  });
  return {
    label: 'lxc-dhcpd --ipv6 auto --range6',
    pid: server.proc.pid,
    stop: async () => {
      await server.stop();
      return server.log().slice(-2000);
    },
  };
}

/**
 * Waits until the responder answers a solicitation (the link-local address, the socket and the first multicast RA
 * are all in place), trying a new made-up host every half second for at most `timeoutMs`.
 */
async function waitForRa(ns: string, ifname: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const r = await probeRaLatency({ ns, ifname, count: 1, ratePerSecond: 1, macPrefix: 0xf0 + (attempt % 0x0f), answerWaitMs: 500 });
    if (r.answered === 1) return;
  }
  throw new Error(`no router advertisement answered a solicitation from ${ns} within ${timeoutMs} ms`);
}

/**
 * perfdhcp -6 from `ns` (IPv6 on, no DAD so its link-local address is usable at once) at `rate` for `seconds`:
 * Solicit/Advertise/Request/Reply against whatever DHCPv6 server is on the bridge (none for target "service": then it
 * is ingress load on the bridge port socket only).
 */
async function startLoad6(topology: Topology, ns: string, rate: number, seconds: number): Promise<SpawnedProcess> {
  await enableIpv6(ns, ['eth0'], ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.eth0.accept_dad=0']);
  await runChecked(['ip', '-n', ns, 'link', 'set', 'eth0', 'down']);
  await runChecked(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  await sleep(200);
  return topology.spawn(ns, ['perfdhcp', '-6', '-l', 'eth0', '-r', String(rate), '-R', '100000', '-p', String(seconds), '-g', 'single'], {
    timeoutMs: (seconds + 30) * 1000,
  });
}

/** Lets perfdhcp end on its own (-p): at most 10 s more, then stops it; returns the tail of its report. */
async function finishLoad(load: SpawnedProcess): Promise<string> {
  await Promise.race([load.exited, sleep(10_000)]);
  await load.stop({ signal: 'SIGINT', graceMs: 3000 });
  return `${load.stdout}\n${load.stderr}`.trim().slice(-3000);
}

/**
 * tcpdump in the probe's namespace for the kernel's stamps of each solicitation leaving and each RA arriving (see
 * pairCapture); null when tcpdump is not installed.
 */
async function startCapture(topology: Topology, ns: string): Promise<SpawnedProcess | null> {
  if (spawnSync('sh', ['-c', 'command -v tcpdump']).status !== 0) return null;
  const filter = 'icmp6 and (ip6[40] == 133 or ip6[40] == 134)';
  const proc = topology.spawn(ns, ['tcpdump', '-e', '-n', '-tt', '--time-stamp-precision=nano', '--immediate-mode', '-l', '-B', '8192', '-i', 'eth0', filter], {
    timeoutMs: 10 * 60_000,
  });
  await proc.waitForOutput(/listening on/, { stream: 'stderr', timeoutMs: 10_000 });
  return proc;
}

/** Stops the capture and pairs what it saw with the run's probe hosts. */
async function captureFigures(capture: SpawnedProcess, count: number, macPrefix: number): Promise<RaRunResult['capture']> {
  await sleep(200);
  await capture.stop({ signal: 'SIGINT', graceMs: 3000 });
  const hosts = new Map(Array.from({ length: count }, (_, i) => [probeMac(macPrefix, i), i] as [string, number]));
  const paired = pairCapture(capture.stdout, hosts);
  const dropped = /(\d+) packets? dropped by kernel/.exec(capture.stderr);
  return {
    solicitations: paired.solicitations,
    answered: paired.latencies.length,
    droppedByKernel: dropped ? Number(dropped[1]) : null,
    latencyMs: percentiles(paired.latencies),
  };
}

interface RaRunOptions {
  target: RaTarget;
  count: number;
  ratePerSecond: number;
  /** perfdhcp -6 rate in the background, or null for none. */
  load6Rate: number | null;
  range6?: string;
  /** Scratch directory for the daemon target. */
  dir: string;
  probeNs: string;
  /** Namespace perfdhcp runs in (another container than the probe's). */
  loadNs: string | null;
  macPrefix?: number;
}

export interface RaRunResult {
  target: RaTarget;
  responder: string;
  count: number;
  ratePerSecond: number;
  load6Rate: number | null;
  loadAverage: { before: number; after: number };
  probe: ProbeResult;
  /** ra-server.ts's counters line, or the tail of the daemon's log. */
  responderSaid: string;
  /** perfdhcp's summary, when it ran. */
  load6Output: string | null;
  /** The same solicitations timed from tcpdump's kernel stamps in the probe namespace; null without tcpdump. */
  capture: { solicitations: number; answered: number; droppedByKernel: number | null; latencyMs: Percentiles } | null;
}

/** One full measurement on an existing topology whose bridge is ready (prepareIpv6Bridge). */
export async function measureRaLatency(topology: Topology, o: RaRunOptions): Promise<RaRunResult> {
  const before = Number((loadavg()[0] ?? 0).toFixed(2));
  const responder = o.target === 'service' ? await startRaService(topology) : await startRaDaemon(topology, o.dir, o.range6 ?? RA_DEFAULT_RANGE6);
  let load: SpawnedProcess | null = null;
  let capture: SpawnedProcess | null = null;
  let stopped = false;
  try {
    await waitForRa(o.probeNs, 'eth0', 15_000);
    if (o.load6Rate !== null && o.loadNs !== null) {
      load = await startLoad6(topology, o.loadNs, o.load6Rate, Math.ceil(o.count / o.ratePerSecond) + 3);
      await sleep(1000);
    }
    const macPrefix = o.macPrefix ?? 0x52;
    capture = await startCapture(topology, o.probeNs);
    const probe = await probeRaLatency({ ns: o.probeNs, ifname: 'eth0', count: o.count, ratePerSecond: o.ratePerSecond, macPrefix });
    const captured = capture === null ? null : await captureFigures(capture, o.count, macPrefix);
    capture = null;
    const load6Output = load === null ? null : await finishLoad(load);
    load = null;
    stopped = true;
    const responderSaid = await responder.stop();
    const after = Number((loadavg()[0] ?? 0).toFixed(2));
    return {
      target: o.target,
      responder: responder.label,
      count: o.count,
      ratePerSecond: o.ratePerSecond,
      load6Rate: o.load6Rate,
      loadAverage: { before, after },
      probe,
      responderSaid,
      load6Output,
      capture: captured,
    };
  } finally {
    if (load !== null) await load.stop();
    if (capture !== null) await capture.stop();
    if (!stopped) await responder.stop();
  }
}

/** The figures as one line for the log. */
export function describeRa(r: RaRunResult): string {
  const p = r.probe;
  const f = (v: number | null, digits = 3): string => (v === null ? '—' : v.toFixed(digits));
  return [
    `${r.responder}: ${p.sent} solicitations at ${r.ratePerSecond}/s (achieved ${p.achievedRate.toFixed(1)}/s)${r.load6Rate === null ? '' : `, perfdhcp -6 at ${r.load6Rate}/s`}`,
    `  RS→RA ms: p50 ${f(p.latencyMs.p50)} p90 ${f(p.latencyMs.p90)} p99 ${f(p.latencyMs.p99)} max ${f(p.latencyMs.max)}; answered ${p.answered}, unanswered ${p.unanswered}, not sent ${p.notSent}, duplicates ${p.duplicates}, other frames ${p.otherFrames}`,
    `  probe send lateness ms: p50 ${f(p.sendLatenessMs.p50)} p99 ${f(p.sendLatenessMs.p99)} max ${f(p.sendLatenessMs.max)}; send() µs: p50 ${f(p.sendCallUs.p50, 1)} p99 ${f(p.sendCallUs.p99, 1)} max ${f(p.sendCallUs.max, 1)}`,
    `  RS→RA ms from tcpdump's kernel stamps: ${r.capture === null ? 'no tcpdump' : `p50 ${f(r.capture.latencyMs.p50)} p90 ${f(r.capture.latencyMs.p90)} p99 ${f(r.capture.latencyMs.p99)} max ${f(r.capture.latencyMs.max)}; ${r.capture.answered} of ${r.capture.solicitations} paired, ${r.capture.droppedByKernel ?? '?'} dropped by the kernel`}`,
    `  load average ${r.loadAverage.before} before, ${r.loadAverage.after} after; responder said: ${r.responderSaid.split('\n').slice(-1)[0] ?? ''}`,
  ].join('\n');
}
