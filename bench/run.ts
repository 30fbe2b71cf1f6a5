// npm run bench [-- --quick] [-- --profile] [-- --no-kea] [-- --installed] [-- --only=memory,dhcp,dns,scale,storm,dhcp6,ra,cpu,cluster] [-- --servers=lxc-dhcpd,kea] [-- --storm=N]
// lxc-dhcpd against dnsmasq and Kea on this machine, in namespaces of its own (see docs/performance.md).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { LeaseStore, readLeasesReadOnly } from '../src/leases/store.ts';
import { parseIPv4 } from '../src/net/address.ts';
import { addBridgeAddress6, enableContainerIpv6 } from '../test/harness/clients6.ts';
import { type Container, createTopology, type Topology } from '../test/harness/netns.ts';
import { packAndInstall } from '../test/harness/package.ts';
import { clusterGoalLines, clusterRows, runClusterBench } from './lib/cluster-bench.ts';
import { type CpuRun, cpuGoals, cpuPlan, cpuRows, describeGoal, measureDhcpCpu, measureDnsCpu, runDnsperfAt } from './lib/cpu-bench.ts';
import { type ProfileEntry, topFunctions } from './lib/cpuprofile.ts';
import { type DnsperfResult, runDnsperf } from './lib/dnsperf.ts';
import { goalVerdict, IDLE_OVER_BARE_GOAL_MB, IDLE_RSS_GOAL_MB, type IdleMemory, measureIdleMemory } from './lib/idle-memory.ts';
import { type PerfdhcpResult, type PerfdhcpRun, runPerfdhcp, runPerfdhcp6, type SearchResult, type StepResult, searchRate } from './lib/perfdhcp.ts';
import { daemonHasRange6, describeRa, hasPerfdhcp, measureRaLatency, prepareIpv6Bridge, type RaRunResult } from './lib/ra-bench.ts';
import { markdownTable, type Row, ratioSvg, textTable } from './lib/report.ts';
import {
  buildHasRange6,
  LXC_DHCPD_BIN,
  NET,
  NET6,
  REPO,
  type ServerProcess,
  startDnsmasq,
  startKea,
  startKea6,
  startLxcDhcpd,
  startLxcDhcpd6,
  startUpstream,
  waitIdle,
} from './lib/servers.ts';
import {
  describeStorm,
  runStorm,
  STORM_DEFAULT,
  STORM_MAX,
  STORM_QUICK,
  type StormResult,
  type StormServer,
  stormContainers,
  stormGoal,
  stormRows,
} from './lib/storm.ts';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const PROFILE = args.has('--profile');
const WITH_KEA = !args.has('--no-kea');
/** Creates the directory (and its parents) and returns its path, for a server's start-up argument list. */
function madeDir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

/** `--only=memory,dhcp,dns,scale,storm,dhcp6,ra,cpu,cluster` runs just those parts; `--servers=ID,…` just those DHCP servers (ids as in the table). */
function listArg(name: string): Set<string> | null {
  const a = [...args].find((x) => x.startsWith(`--${name}=`));
  return a === undefined
    ? null
    : new Set(
        a
          .slice(name.length + 3)
          .split(',')
          .filter((x) => x !== ''),
      );
}
const ONLY = listArg('only');
const SERVERS = listArg('servers');
const PARTIAL = ONLY !== null || SERVERS !== null;
const runs = (part: 'memory' | 'dhcp' | 'dns' | 'scale' | 'storm' | 'dhcp6' | 'ra' | 'cpu' | 'cluster'): boolean => ONLY === null || ONLY.has(part);
/** `--storm=N`: containers started at once in the boot-storm scenario (bench/lib/storm.ts). */
const STORM_N = ((): number => {
  const a = [...args].find((x) => x.startsWith('--storm='));
  const n = a === undefined ? (QUICK ? STORM_QUICK : STORM_DEFAULT) : Number(a.slice('--storm='.length));
  if (!(Number.isInteger(n) && n >= 1 && n <= STORM_MAX)) throw new Error(`--storm=N takes 1..${STORM_MAX}`);
  return n;
})();
const BUDGET_MS = QUICK ? 60_000 : 600_000;
const startedAt = Date.now();

const P = QUICK
  ? {
      seconds: 1,
      runsPerStep: 1,
      maxSteps: 1,
      searchSeconds: 0,
      knownStart: 500,
      newStart: 250,
      knownClients: 200,
      heatSeconds: 0,
      exitWaitUs: 500_000,
      dnsSeconds: 1,
      names: 200,
      fwdNames: 100,
      scale: [100_000],
      raCount: 200,
      raRate: 200,
      raLoad6Rate: 200,
    }
  : {
      seconds: 3,
      runsPerStep: 3,
      maxSteps: 6,
      searchSeconds: 50,
      knownStart: 4000,
      newStart: 2000,
      knownClients: 1000,
      heatSeconds: 2,
      exitWaitUs: 500_000,
      dnsSeconds: 5,
      names: 1000,
      fwdNames: 100,
      scale: [0, 10_000, 100_000],
      raCount: 2000,
      raRate: 200,
      raLoad6Rate: 1000,
    };
const MAX_RATE = 16_000;
/** Issue 15's goals for the lease-store scale figures (the 100 000-lease run). */
const SCALE_GOAL_LEASES = 100_000;
const SCALE_RSS_GOAL_MB = 80;
const SCALE_FIRST_OFFER_GOAL_MS = 300;
/** Seconds after the idle daemon is ready at which both RSS figures are read; the last one is the table's. */
const IDLE_SAMPLE_SECONDS = QUICK ? [3, 6] : [5, 10, 20];
const FLOOR_RATE = 50;
/** Leases one server may hand out to new clients before it is restarted with an empty store (range holds 65 278). */
const NEW_CLIENT_BUDGET = 1_000_000;

function log(line: string): void {
  const s = ((Date.now() - startedAt) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${s}s] ${line}\n`);
}

function version(argv: string[], pattern: RegExp): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const m = pattern.exec(`${r.stdout ?? ''}\n${r.stderr ?? ''}`);
  return m?.[1] ?? 'not installed';
}

function installDeps(): void {
  const r = spawnSync('bash', [join(REPO, 'bench', 'install-deps.sh')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('bench/install-deps.sh failed');
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

function macOf(prefix: number, i: number): string {
  const b = [0x02, prefix, (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function ipOf(base: string, offset: number): string {
  const n = (parseIPv4(base) as number) + offset;
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

// ---------------------------------------------------------------------------------------------

interface DhcpFigures {
  search: SearchResult;
  /** Median DISCOVER→OFFER / REQUEST→ACK average delay of the best passing step (or of the lowest step tried). */
  discoverOfferMs: number | null;
  requestAckMs: number | null;
}

function latencyOf(s: SearchResult): { d: number | null; r: number | null } {
  const step: StepResult | undefined = s.best ?? [...s.steps].sort((a, b) => a.rate - b.rate)[0];
  if (!step) return { d: null, r: null };
  const med = (xs: (number | null)[]): number | null => {
    const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
    return v.length === 0 ? null : (v[Math.floor(v.length / 2)] ?? null);
  };
  return { d: med(step.runs.map((r) => r.discoverOfferAvgMs)), r: med(step.runs.map((r) => r.requestAckAvgMs)) };
}

function describeStep(label: string, s: StepResult): void {
  const runs = s.runs.map((r: PerfdhcpResult) => `${r.achievedRate.toFixed(0)}/s ${(r.completion * 100).toFixed(1)}%`).join(', ');
  log(`  ${label} @${s.rate}/s: ${s.pass ? 'pass' : 'FAIL'} (${runs})`);
}

interface Server {
  id: string;
  start(dir: string): Promise<ServerProcess>;
  known: boolean;
  fresh: boolean;
  leaseCount(dir: string): number;
}

let macPrefixCounter = 0x10;
/** Total time spent waiting for servers to drain their backlog between runs (ms), per server id. */
const drainMs: Record<string, number> = {};

async function settle(proc: ServerProcess, id: string): Promise<void> {
  const waited = await waitIdle(proc.proc.pid);
  drainMs[id] = (drainMs[id] ?? 0) + waited;
  if (waited > 1000) log(`  (${id} was busy for ${(waited / 1000).toFixed(1)} s after the previous run)`);
}

/** One perfdhcp run against the server under test: -4 relayed to NET.serverIp, or -6 on the link (runPerfdhcp6). */
type Perf = (opts: PerfdhcpRun) => Promise<PerfdhcpResult>;

async function measureDhcp(
  perf: Perf,
  server: Server,
  dir: string,
): Promise<{ known: DhcpFigures | null; fresh: DhcpFigures | null; knownLeasesAfterWarmup: number | null }> {
  mkdirSync(dir, { recursive: true });
  let knownFig: DhcpFigures | null = null;
  let freshFig: DhcpFigures | null = null;
  let knownLeases: number | null = null;
  let proc = await server.start(dir);
  try {
    if (server.known) {
      const base = '02:aa:00:00:00:00';
      const clients = P.knownClients;
      // warm-up: every client gets a lease (perfdhcp -R picks MACs base, base+1, ... in turn)
      const warm = await perf({
        rate: 500,
        clients,
        baseMac: base,
        seconds: Math.max(1, Math.ceil((clients * 1.5) / 500)),
      });
      knownLeases = server.leaseCount(dir);
      log(`${server.id}: warm-up ${warm.acksReceived} ACKs, ${knownLeases} leases in the store`);
      // Not measured: the first seconds at a high rate are slower than later ones for every server (a cold process:
      // JIT, caches, files growing for the first time), and the search's first high steps would measure that.
      if (P.heatSeconds > 0) {
        await perf({ rate: P.knownStart, clients, baseMac: base, seconds: P.heatSeconds, exitWaitUs: P.exitWaitUs });
        await settle(proc, server.id);
      }
      const search = await searchRate(
        {
          startRate: P.knownStart,
          maxRate: MAX_RATE,
          floorRate: FLOOR_RATE,
          maxSteps: P.maxSteps,
          runsPerStep: P.runsPerStep,
          resolution: 1.25,
          deadline: Date.now() + P.searchSeconds * 1000,
        },
        async (rate) => {
          await settle(proc, server.id);
          return perf({ rate, clients, baseMac: base, seconds: P.seconds, exitWaitUs: P.exitWaitUs });
        },
        (s) => describeStep(`${server.id} known`, s),
      );
      const l = latencyOf(search);
      knownFig = { search, discoverOfferMs: l.d, requestAckMs: l.r };
    }
    if (server.fresh) {
      let issued = Number.POSITIVE_INFINITY; // restart before the first new-client run: empty store
      const search = await searchRate(
        {
          startRate: P.newStart,
          maxRate: MAX_RATE,
          floorRate: FLOOR_RATE,
          maxSteps: P.maxSteps,
          runsPerStep: P.runsPerStep,
          resolution: 1.25,
          deadline: Date.now() + P.searchSeconds * 1000,
        },
        async (rate) => {
          const want = rate * P.seconds;
          if (issued + want > NEW_CLIENT_BUDGET) {
            await proc.stop();
            proc = await server.start(join(dir, `fresh-${macPrefixCounter}`));
            issued = 0;
          }
          issued += want;
          await settle(proc, server.id);
          const prefix = macPrefixCounter++ & 0xff;
          return perf({
            rate,
            clients: 1_000_000,
            baseMac: macOf(prefix, 0).replace(/^02/, '06'),
            seconds: P.seconds,
            exitWaitUs: P.exitWaitUs,
          });
        },
        (s) => describeStep(`${server.id} new`, s),
      );
      const l = latencyOf(search);
      freshFig = { search, discoverOfferMs: l.d, requestAckMs: l.r };
    }
  } finally {
    await proc.stop();
  }
  return { known: knownFig, fresh: freshFig, knownLeasesAfterWarmup: knownLeases };
}

/** Kea's memfile appends a line per lease update: count distinct addresses. */
function keaLeases(f: string): number {
  return existsSync(f)
    ? new Set(
        readFileSync(f, 'utf8')
          .split('\n')
          .slice(1)
          .filter((l) => l.trim() !== '')
          .map((l) => l.split(',')[0]),
      ).size
    : -1;
}

type DhcpResult = Awaited<ReturnType<typeof measureDhcp>>;

/**
 * The DHCPv6 scenario: perfdhcp -6 SARR exchanges against Kea DHCPv6 and lxc-dhcpd --range6, the same search as for
 * DHCPv4. IPv6 is turned on in the host and load namespaces only here (after the IPv4 parts, which ran on quiet links).
 * lxc-dhcpd is skipped, saying so, when its build has no --range6.
 */
async function measureDhcp6(topology: Topology, load: Container, dir: (name: string) => string, files: DnsFiles, withKea: boolean): Promise<Dhcp6Figures> {
  await addBridgeAddress6(topology, NET6.bridgeCidr);
  // accept_ra 0: the load container needs only its link-local address (perfdhcp -6 sends from it), no SLAAC
  await enableContainerIpv6(load, 0);
  const servers: Server[] = [];
  if (buildHasRange6()) {
    servers.push({
      id: 'lxc-dhcpd',
      known: true,
      fresh: true,
      // the store's IPv6 half has no read-only reader yet: the warm-up log shows -1
      leaseCount: () => -1,
      start: (d) => {
        mkdirSync(d, { recursive: true });
        return startLxcDhcpd6(topology, d, { probe: true, leaseDb: join(d, 'leases.db'), resolvConf: files.resolvConf });
      },
    });
  } else {
    log(`DHCPv6: lxc-dhcpd skipped: ${LXC_DHCPD_BIN} --help has no --range6 (this build serves no DHCPv6 yet)`);
  }
  if (withKea) {
    servers.push({
      id: 'kea',
      known: true,
      fresh: true,
      leaseCount: (d) => keaLeases(join(d, 'kea-leases6.csv')),
      start: (d) => {
        mkdirSync(d, { recursive: true });
        return startKea6(topology, d);
      },
    });
  } else {
    log('DHCPv6: Kea skipped (--no-kea or kea-dhcp6 not installed)');
  }
  const out: Dhcp6Figures = { dhcp: {} };
  for (const s of servers) {
    if (SERVERS !== null && !SERVERS.has(s.id)) continue;
    log(`DHCPv6: ${s.id}`);
    out.dhcp[s.id] = await measureDhcp((o) => runPerfdhcp6(topology, load.ns, o), s, dir(`v6-${s.id.replace(/[^a-z0-9]+/g, '-')}`));
  }
  return out;
}

interface Dhcp6Figures {
  dhcp: Record<string, DhcpResult>;
}

/** Table rows of the DHCPv6 scenario: lxc-dhcpd against Kea (lxc-dhcpd's cells stay empty when it was skipped). */
function dhcp6Rows(figures: Dhcp6Figures | null): Row[] {
  if (figures === null) return [];
  const dhcp6 = figures.dhcp;
  const rows: Row[] = [];
  const kea = dhcp6.kea;
  const lxc = dhcp6['lxc-dhcpd'];
  for (const [mode, label] of [
    ['known', 'known clients'],
    ['fresh', 'new clients'],
  ] as const) {
    const k = kea?.[mode] ?? null;
    const l = lxc?.[mode] ?? null;
    if (k === null && l === null) continue;
    for (const [metric, unit, hib, pick] of [
      [`DHCPv6 ${label}: max rate`, 'SARR/s', true, (f: DhcpFigures) => f.search.bestRate],
      [`DHCPv6 ${label}: Solicit→Advertise avg`, 'ms', false, (f: DhcpFigures) => f.discoverOfferMs],
      [`DHCPv6 ${label}: Request→Reply avg`, 'ms', false, (f: DhcpFigures) => f.requestAckMs],
    ] as const) {
      rows.push({ metric, unit, higherIsBetter: hib, lxcLabel: 'lxc-dhcpd', lxc: l ? pick(l) : null, peer: 'kea', peerValue: k ? pick(k) : null });
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------

interface DnsFigures {
  names: DnsperfResult;
  nxdomain: DnsperfResult;
  forwarded: DnsperfResult;
  warmup: DnsperfResult;
}

async function measureDns(topology: Topology, loadNs: string, label: string, start: () => Promise<ServerProcess>, files: DnsFiles): Promise<DnsFigures> {
  const proc = await start();
  try {
    // warm the forward cache: every forwarded name once, then check that a second pass is all NOERROR
    await topology.exec(loadNs, ['dnsperf', '-s', NET.serverIp, '-d', files.fwd, '-n', '1', '-Q', '1000', '-t', '2'], { timeoutMs: 20_000 });
    const warmup = await runDnsperf(topology, loadNs, NET.serverIp, files.fwd, 1);
    const names = await runDnsperf(topology, loadNs, NET.serverIp, files.names, P.dnsSeconds);
    const nxdomain = await runDnsperf(topology, loadNs, NET.serverIp, files.nx, P.dnsSeconds);
    const forwarded = await runDnsperf(topology, loadNs, NET.serverIp, files.fwd, P.dnsSeconds);
    for (const [what, r] of [
      ['names', names],
      ['nxdomain', nxdomain],
      ['forwarded', forwarded],
    ] as const) {
      log(`  ${label} DNS ${what}: ${r.qps.toFixed(0)} qps, lost ${r.lost}, avg ${r.avgLatencyMs.toFixed(3)} ms, rcodes ${JSON.stringify(r.rcodes)}`);
    }
    return { names, nxdomain, forwarded, warmup };
  } finally {
    await proc.stop();
  }
}

interface DnsFiles {
  names: string;
  nx: string;
  fwd: string;
  lxcHosts: string;
  dnsmasqHosts: string;
  upstreamHosts: string;
  resolvConf: string;
}

function writeDnsFiles(dir: string): DnsFiles {
  const f: DnsFiles = {
    names: join(dir, 'q-names.txt'),
    nx: join(dir, 'q-nx.txt'),
    fwd: join(dir, 'q-fwd.txt'),
    lxcHosts: join(dir, 'lxc-hosts'),
    dnsmasqHosts: join(dir, 'dnsmasq-hosts'),
    upstreamHosts: join(dir, 'upstream-hosts'),
    resolvConf: join(dir, 'resolv.conf'),
  };
  const names: string[] = [];
  const lxc: string[] = [];
  const dm: string[] = [];
  for (let i = 0; i < P.names; i++) {
    const ip = ipOf('10.0.200.0', i);
    names.push(`c${i}.lxc A`);
    lxc.push(`${macOf(0xcc, i)},${ip},c${i}`);
    dm.push(`${ip} c${i}.lxc`);
  }
  writeFileSync(f.names, `${names.join('\n')}\n`);
  writeFileSync(f.lxcHosts, `${lxc.join('\n')}\n`);
  writeFileSync(f.dnsmasqHosts, `${dm.join('\n')}\n`);
  writeFileSync(f.nx, `${Array.from({ length: P.names }, (_, i) => `nx${i}.lxc A`).join('\n')}\n`);
  const up: string[] = [];
  const fwd: string[] = [];
  for (let i = 0; i < P.fwdNames; i++) {
    up.push(`${ipOf('192.0.2.0', (i % 250) + 1)} f${i}.example.com`);
    fwd.push(`f${i}.example.com A`);
  }
  writeFileSync(f.upstreamHosts, `${up.join('\n')}\n`);
  writeFileSync(f.fwd, `${fwd.join('\n')}\n`);
  writeFileSync(f.resolvConf, `nameserver 198.51.100.1\n`);
  return f;
}

// ---------------------------------------------------------------------------------------------

interface ScaleFigures {
  leases: number;
  rssMB: number;
  firstOfferMs: number | null;
  seedSeconds: number;
}

function seedStore(path: string, count: number): number {
  const t0 = Date.now();
  const store = LeaseStore.open(path);
  const first = parseIPv4(NET.scaleRangeFirst) as number;
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    store.stage({
      ip: first + i,
      mac: macOf(0xdd, i),
      clientId: null,
      hostname: `s${i}`,
      state: 'bound',
      expiresAt: now + 3_600_000,
      updatedAt: now,
    });
  }
  store.commit();
  store.close();
  return (Date.now() - t0) / 1000;
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s*(\d+)\s*kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function measureScale(topology: Topology, loadNs: string, dir: string, files: DnsFiles, count: number): Promise<ScaleFigures> {
  mkdirSync(dir, { recursive: true });
  const db = join(dir, `scale-${count}.db`);
  const seedSeconds = count > 0 ? seedStore(db, count) : 0;
  // a known client (its lease is in the store), so no ARP probe sits between start and OFFER
  const mac = count > 0 ? macOf(0xdd, Math.floor(count / 2)) : macOf(0xde, 1);
  const client = topology.spawn(loadNs, [process.execPath, '--import', 'tsx', join(REPO, 'bench', 'first-offer.ts'), '10.0.0.2', NET.serverIp, mac, '30000']);
  await client.waitForOutput(/ready/, { stream: 'stdout', timeoutMs: 10_000 });
  const t0 = Date.now();
  const proc = await startLxcDhcpd(topology, dir, {
    probe: true,
    leaseDb: db,
    resolvConf: files.resolvConf,
    range: `${NET.scaleRangeFirst}-${NET.scaleRangeLast}`,
  });
  try {
    const m = await client.waitForOutput(/(offer (\d+))|timeout/, { stream: 'stdout', timeoutMs: 35_000 });
    const firstOfferMs = m[2] ? Number(m[2]) - t0 : null;
    await new Promise((r) => setTimeout(r, 1500));
    const rssMB = rssOf(proc.proc.pid);
    log(`  lxc-dhcpd with ${count} leases: RSS ${rssMB.toFixed(1)} MB, first OFFER ${firstOfferMs} ms after start (seeded in ${seedSeconds.toFixed(1)} s)`);
    return { leases: count, rssMB, firstOfferMs, seedSeconds };
  } finally {
    await client.stop();
    await proc.stop();
  }
}

function poolAlloc(): { mean: number; p99: number; fillSeconds: number } | null {
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'pool-alloc.ts')], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    const j = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { mean: number; p99: number; fillSeconds: number };
    return { mean: j.mean, p99: j.p99, fillSeconds: j.fillSeconds };
  } catch (e) {
    log(`pool-alloc failed: ${(e as Error).message}`);
    return null;
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * The boot storm (bench/lib/storm.ts): STORM_N containers start at once against lxc-dhcpd (probing on, its default),
 * dnsmasq as users run it (ping check on, --domain=lxc --local=/lxc/ as lxc-net gives, names from its leases) and Kea.
 */
async function measureStorm(topology: Topology, loadNs: string, files: DnsFiles, dir: (name: string) => string, withKea: boolean): Promise<StormResult[]> {
  log(`storm: ${STORM_N} container namespaces (not timed)`);
  const containers = await stormContainers(topology, STORM_N, topology.containers.length);
  const servers: StormServer[] = [
    {
      id: 'lxc-dhcpd',
      dns: true,
      start: (d) => startLxcDhcpd(topology, madeDir(d), { probe: true, leaseDb: join(d, 'leases.db'), resolvConf: files.resolvConf }),
    },
    { id: 'dnsmasq', dns: true, start: (d) => startDnsmasq(topology, madeDir(d), { logDhcp: false, ping: true }) },
  ];
  if (withKea) servers.push({ id: 'kea', dns: false, start: (d) => startKea(topology, madeDir(d)) });
  const out: StormResult[] = [];
  for (const s of servers) {
    if (SERVERS !== null && !SERVERS.has(s.id)) continue;
    log(`storm: ${s.id}`);
    const r = await runStorm(topology, loadNs, containers, s, dir(`storm-${s.id}`));
    log(`  ${describeStorm(r)}`);
    out.push(r);
  }
  log(stormGoal(out));
  return out;
}

// ---------------------------------------------------------------------------------------------

/**
 * RS → unicast RA latency (bench/lib/ra-bench.ts) from a new probe container: against lxc-dhcpd with --ipv6/--range6
 * under perfdhcp -6 when the build has them, else against RaService + Ipv6Port alone (bench/ra-server.ts), unloaded.
 */
async function measureRa(topology: Topology, dir: string): Promise<RaRunResult> {
  const daemon = daemonHasRange6();
  if (!daemon) log('  lxc-dhcpd --help lists no --range6: measuring RaService + Ipv6Port alone (bench/ra-server.ts), no DHCPv6 load');
  const load6 = daemon && hasPerfdhcp() ? P.raLoad6Rate : null;
  if (daemon && load6 === null) log('  perfdhcp is not installed: no DHCPv6 load');
  const probe = await topology.addContainer();
  const load = load6 === null ? null : await topology.addContainer();
  await prepareIpv6Bridge(topology);
  const r = await measureRaLatency(topology, {
    target: daemon ? 'daemon' : 'service',
    count: P.raCount,
    ratePerSecond: P.raRate,
    load6Rate: load6,
    dir,
    probeNs: probe.ns,
    loadNs: load?.ns ?? null,
  });
  for (const line of describeRa(r).split('\n')) log(`  ${line.trim()}`);
  return r;
}

function raRows(r: RaRunResult): Row[] {
  const label = r.target === 'daemon' ? 'lxc-dhcpd' : 'RaService alone';
  const under = r.load6Rate === null ? 'no load' : `perfdhcp -6 ${r.load6Rate}/s`;
  const row = (metric: string, unit: string, value: number | null): Row => ({
    metric,
    unit,
    higherIsBetter: false,
    lxcLabel: label,
    lxc: value,
    peer: '',
    peerValue: null,
  });
  return [
    row(`RS→RA p50, ${r.ratePerSecond} RS/s, ${under}`, 'ms', r.probe.latencyMs.p50),
    row(`RS→RA p99, ${r.ratePerSecond} RS/s, ${under}`, 'ms', r.probe.latencyMs.p99),
    row(`RS→RA p99 by tcpdump's kernel stamps, ${under}`, 'ms', r.capture?.latencyMs.p99 ?? null),
    row(`RS unanswered of ${r.probe.sent}`, '', r.probe.unanswered),
  ];
}

// ---------------------------------------------------------------------------------------------

/**
 * CPU per DHCP exchange and per DNS answer at fixed offered rates (bench/lib/cpu-bench.ts): the DHCP servers of the
 * table, then lxc-dhcpd and dnsmasq as DNS servers with the DNS part's names and upstream. Not dnsmasq --log-dhcp, and
 * not dnsmasq with its ping check: its known clients cannot be made with perfdhcp (each first lease waits 3 s for the
 * ping, perfdhcp gives up after 1 s), and a known client is never pinged, so its CPU per exchange is --no-ping's.
 */
async function measureCpu(topology: Topology, loadNs: string, servers: Server[], dir: (name: string) => string, files: DnsFiles): Promise<CpuRun[]> {
  const plan = cpuPlan(QUICK);
  const runsOut: CpuRun[] = [];
  const perf = (o: PerfdhcpRun): Promise<PerfdhcpResult> => runPerfdhcp(topology, loadNs, NET.serverIp, o);
  for (const s of servers) {
    if (s.id.startsWith('dnsmasq') && s.id !== 'dnsmasq --no-ping') continue;
    if (SERVERS !== null && !SERVERS.has(s.id)) continue;
    log(`CPU: ${s.id}`);
    const d = dir(`cpu-${s.id.replace(/[^a-z0-9]+/g, '-')}`);
    const high = s.id.startsWith('lxc-dhcpd') || s.id === 'kea';
    runsOut.push(...(await measureDhcpCpu({ id: s.id, high, start: () => s.start(d) }, plan, perf, log)));
  }
  const dnsperf = (file: string, qps: number, seconds: number): Promise<DnsperfResult> => runDnsperfAt(topology, loadNs, NET.serverIp, file, qps, seconds);
  const dnsServers: [string, () => Promise<ServerProcess>][] = [
    [
      'lxc-dhcpd',
      () =>
        startLxcDhcpd(topology, madeDir(dir('cpu-dns-lxc')), {
          probe: true,
          leaseDb: join(dir('cpu-dns-lxc'), 'leases.db'),
          resolvConf: files.resolvConf,
          hostsFile: files.lxcHosts,
        }),
    ],
    [
      'dnsmasq',
      () =>
        startDnsmasq(topology, madeDir(dir('cpu-dns-dnsmasq')), {
          logDhcp: false,
          ping: true,
          addnHosts: files.dnsmasqHosts,
          upstream: topology.wan!.wanAddress,
        }),
    ],
  ];
  for (const [id, start] of dnsServers) {
    if (SERVERS !== null && !SERVERS.has(id)) continue;
    log(`CPU: ${id} DNS`);
    const proc = await start();
    try {
      runsOut.push(...(await measureDnsCpu(id, proc, plan, files, dnsperf, log)));
    } finally {
      await proc.stop();
    }
  }
  return runsOut;
}

// ---------------------------------------------------------------------------------------------

async function profileLxcDhcpd(topology: Topology, loadNs: string, dir: string, files: DnsFiles): Promise<ProfileEntry[]> {
  mkdirSync(dir, { recursive: true });
  const profDir = join(dir, 'cpuprof');
  const proc = await startLxcDhcpd(topology, dir, {
    probe: true,
    leaseDb: join(dir, 'prof.db'),
    resolvConf: files.resolvConf,
    nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
  });
  try {
    // new clients for 4 s, then known clients for 4 s, at a rate the server does not keep up with
    await runPerfdhcp(topology, loadNs, NET.serverIp, { rate: 4000, clients: 1_000_000, baseMac: '06:ee:00:00:00:00', seconds: 4 });
    await runPerfdhcp(topology, loadNs, NET.serverIp, { rate: 4000, clients: 1000, baseMac: '06:ee:00:00:00:00', seconds: 4 });
  } finally {
    await proc.stop();
  }
  const file = existsSync(profDir) ? readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')) : undefined;
  if (!file) throw new Error(`no .cpuprofile written in ${profDir}`);
  copyFileSync(join(profDir, file), join(REPO, 'bench', 'results', 'lxc-dhcpd-perfdhcp.cpuprofile'));
  return topFunctions(JSON.parse(readFileSync(join(profDir, file), 'utf8')), 10);
}

// ---------------------------------------------------------------------------------------------

/** Idle RSS beside the bare node (the ratio column), and the difference, each with its goal in the name. */
function idleRows(idle: IdleMemory): Row[] {
  const common = { unit: 'MB', higherIsBetter: false, lxcLabel: idle.code === 'dist' ? 'lxc-dhcpd' : 'lxc-dhcpd (tsx)' };
  return [
    { ...common, metric: `idle RSS, no lease (goal ≤ ${IDLE_RSS_GOAL_MB} MB)`, lxc: idle.lxcMB, peer: 'bare node', peerValue: idle.bareMB },
    { ...common, metric: `idle RSS over bare node (goal ≤ ${IDLE_OVER_BARE_GOAL_MB} MB)`, lxc: idle.lxcMB - idle.bareMB, peer: '', peerValue: null },
  ];
}

function idleGoalLines(idle: IdleMemory | null): string[] {
  if (idle === null) return [];
  return [
    `idle RSS ${idle.lxcMB.toFixed(1)} MB: ${goalVerdict(idle.lxcMB, IDLE_RSS_GOAL_MB, 'MB')}`,
    `idle RSS over bare node ${(idle.lxcMB - idle.bareMB).toFixed(1)} MB (bare ${idle.bareMB.toFixed(1)} MB): ${goalVerdict(idle.lxcMB - idle.bareMB, IDLE_OVER_BARE_GOAL_MB, 'MB')}`,
  ];
}

function scaleGoalLines(scale: ScaleFigures[]): string[] {
  const s = scale.find((x) => x.leases === SCALE_GOAL_LEASES);
  if (s === undefined) return [];
  return [
    `RSS with ${s.leases} leases ${s.rssMB.toFixed(1)} MB: ${goalVerdict(s.rssMB, SCALE_RSS_GOAL_MB, 'MB')}`,
    `start → first OFFER with ${s.leases} leases ${s.firstOfferMs ?? '—'} ms: ${goalVerdict(s.firstOfferMs, SCALE_FIRST_OFFER_GOAL_MS, 'ms')}`,
  ];
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('npm run bench must run as root (it builds network namespaces)');
  installDeps();
  const kea = WITH_KEA && hasCommand('kea-dhcp4');
  const versions = {
    node: process.version,
    lxcDhcpd: `${(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version} (${spawnSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim()})`,
    dnsmasq: version(['dnsmasq', '--version'], /Dnsmasq version (\S+)/),
    kea: version(['kea-dhcp4', '-v'], /^(\S+)/),
    kea6: version(['kea-dhcp6', '-v'], /^(\S+)/),
    perfdhcp: version(['perfdhcp', '-v'], /(\d+\.\d+\.\d+)/),
    dnsperf: version(['dnsperf', '-h'], /Version (\S+)/),
  };
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '?',
    memGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
    /** 1-minute load average before the bench starts: other work on the machine moves the figures. */
    loadAverageAtStart: Number((loadavg()[0] ?? 0).toFixed(2)),
  };
  log(`machine ${JSON.stringify(machine)}; versions ${JSON.stringify(versions)}; ${QUICK ? 'quick' : 'full'} run`);

  const topology = await createTopology({ containers: 1, prefix: `lxb-${randomBytes(3).toString('hex')}`, bridgeAddress: NET.bridgeCidr, wan: true });
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    quick: QUICK,
    machine,
    versions,
    parameters: { ...P, MAX_RATE, FLOOR_RATE, net: NET },
  };
  const rows: Row[] = [];
  const goalLines: string[] = [];
  try {
    const load = topology.containers[0]!;
    await topology.exec(load.ns, ['ip', 'addr', 'add', NET.loadCidr, 'dev', 'eth0'], { check: true });
    const files = writeDnsFiles(topology.tmpDir);
    const upstream = await startUpstream(topology, join(topology.tmpDir), files.upstreamHosts);
    const dir = (name: string): string => join(topology.tmpDir, name);

    // first, while nothing else of the bench runs
    let idle: IdleMemory | null = null;
    if (runs('memory')) {
      log('memory: bare node and idle lxc-dhcpd (no lease), side by side');
      idle = await measureIdleMemory(topology, madeDir(dir('idle')), files.resolvConf, IDLE_SAMPLE_SECONDS);
      for (const s of idle.samples) log(`  +${s.afterSeconds} s: bare node ${s.bareMB.toFixed(1)} MB, lxc-dhcpd ${s.lxcMB.toFixed(1)} MB`);
      log(
        `  lxc-dhcpd ran ${idle.code === 'dist' ? 'the compiled dist/' : 'src/ through tsx (dist/ missing or stale: npx tsc -p tsconfig.build.json)'}; RssAnon ${idle.lxcAnonKB} kB, RssFile ${idle.lxcFileKB} kB`,
      );
    }
    result.idleMemory = idle;

    const lxcCount = (d: string): number => {
      try {
        return readLeasesReadOnly(join(d, 'leases.db')).filter((l) => l.state === 'bound').length;
      } catch {
        return -1;
      }
    };
    const fileLines = (f: string): number =>
      existsSync(f)
        ? readFileSync(f, 'utf8')
            .split('\n')
            .filter((l) => l.trim() !== '').length
        : -1;
    const servers: Server[] = [
      {
        id: 'lxc-dhcpd',
        known: true,
        fresh: true,
        leaseCount: lxcCount,
        start: (d) => startLxcDhcpd(topology, madeDir(d), { probe: true, leaseDb: join(d, 'leases.db'), resolvConf: files.resolvConf }),
      },
      {
        id: 'lxc-dhcpd --no-probe',
        known: false,
        fresh: !QUICK,
        leaseCount: lxcCount,
        start: (d) => startLxcDhcpd(topology, madeDir(d), { probe: false, leaseDb: join(d, 'leases.db'), resolvConf: files.resolvConf }),
      },
      {
        id: 'dnsmasq',
        known: false,
        fresh: true,
        leaseCount: (d) => fileLines(join(d, 'dnsmasq.leases')),
        start: (d) => startDnsmasq(topology, madeDir(d), { logDhcp: false, ping: true }),
      },
      {
        id: 'dnsmasq --no-ping',
        known: true,
        fresh: true,
        leaseCount: (d) => fileLines(join(d, 'dnsmasq.leases')),
        start: (d) => startDnsmasq(topology, madeDir(d), { logDhcp: false, ping: false }),
      },
      {
        id: 'dnsmasq --no-ping --log-dhcp',
        known: true,
        fresh: !QUICK,
        leaseCount: (d) => fileLines(join(d, 'dnsmasq.leases')),
        start: (d) => startDnsmasq(topology, madeDir(d), { logDhcp: true, ping: false }),
      },
    ];
    if (kea)
      servers.push({
        id: 'kea',
        known: true,
        fresh: true,
        leaseCount: (d) => keaLeases(join(d, 'kea-leases4.csv')),
        start: (d) => startKea(topology, madeDir(d)),
      });

    const dhcp: Record<string, Awaited<ReturnType<typeof measureDhcp>>> = {};
    for (const s of runs('dhcp') ? servers : []) {
      if (SERVERS !== null && !SERVERS.has(s.id)) continue;
      log(`DHCP: ${s.id}`);
      dhcp[s.id] = await measureDhcp((o) => runPerfdhcp(topology, load.ns, NET.serverIp, o), s, dir(s.id.replace(/[^a-z0-9]+/g, '-')));
    }
    result.dhcp = dhcp;
    result.drainMs = drainMs;

    let dnsLxc: Awaited<ReturnType<typeof measureDns>> | null = null;
    if (runs('dns')) {
      log('DNS: lxc-dhcpd');
      dnsLxc = await measureDns(
        topology,
        load.ns,
        'lxc-dhcpd',
        () =>
          startLxcDhcpd(topology, madeDir(dir('dns-lxc')), {
            probe: true,
            leaseDb: join(dir('dns-lxc'), 'leases.db'),
            resolvConf: files.resolvConf,
            hostsFile: files.lxcHosts,
          }),
        files,
      );
    }
    let dnsDm: Awaited<ReturnType<typeof measureDns>> | null = null;
    if (runs('dns') && (SERVERS === null || SERVERS.has('dnsmasq'))) {
      log('DNS: dnsmasq');
      dnsDm = await measureDns(
        topology,
        load.ns,
        'dnsmasq',
        () =>
          startDnsmasq(topology, madeDir(dir('dns-dnsmasq')), {
            logDhcp: false,
            ping: true,
            addnHosts: files.dnsmasqHosts,
            upstream: topology.wan!.wanAddress,
          }),
        files,
      );
    }
    result.dns = { 'lxc-dhcpd': dnsLxc, dnsmasq: dnsDm };
    const cpu = runs('cpu') ? await measureCpu(topology, load.ns, servers, dir, files) : null;
    result.cpu = cpu;
    await upstream.stop();

    const scale: ScaleFigures[] = [];
    if (runs('scale')) log('scale: lxc-dhcpd');
    for (const n of runs('scale') ? P.scale : []) scale.push(await measureScale(topology, load.ns, dir('scale'), files, n));
    result.scale = scale;
    const pool = runs('scale') ? poolAlloc() : null;
    result.poolAlloc = pool;
    log(`  pool-alloc: ${JSON.stringify(pool)}`);

    const dhcp6 = runs('dhcp6') ? await measureDhcp6(topology, load, dir, files, WITH_KEA && hasCommand('kea-dhcp6')) : null;
    result.dhcp6 = dhcp6;
    if (runs('ra')) log('RA: answer latency');
    const ra = runs('ra') ? await measureRa(topology, dir('ra')) : null;
    result.ra = ra;

    // Last: its STORM_N namespaces stay on the bridge until the end, and no other part should run beside them.
    const storm = runs('storm') ? await measureStorm(topology, load.ns, files, dir, kea) : [];
    result.storm = storm;

    if (PROFILE) {
      log('CPU profile of lxc-dhcpd under perfdhcp load');
      const top = await profileLxcDhcpd(topology, load.ns, dir('profile'), files);
      result.cpuProfileTop10 = top;
      for (const t of top) log(`  ${t.selfPercent.toFixed(1).padStart(5)}%  ${t.functionName}  ${t.location}`);
    }

    // ---- table
    const lxc = dhcp['lxc-dhcpd'];
    const noProbe = dhcp['lxc-dhcpd --no-probe'];
    const dhcpRows = (mode: 'known' | 'fresh', label: string, lxcId: string, lxcFig: DhcpFigures | null, peers: string[]): void => {
      for (const [metric, unit, hib, pick] of [
        [`DHCP ${label}: max rate`, 'DORA/s', true, (f: DhcpFigures) => f.search.bestRate],
        [`DHCP ${label}: DISCOVER→OFFER avg`, 'ms', false, (f: DhcpFigures) => f.discoverOfferMs],
        [`DHCP ${label}: REQUEST→ACK avg`, 'ms', false, (f: DhcpFigures) => f.requestAckMs],
      ] as const) {
        for (const p of peers) {
          const pf = dhcp[p]?.[mode];
          if (!pf) continue;
          rows.push({ metric, unit, higherIsBetter: hib, lxcLabel: lxcId, lxc: lxcFig ? pick(lxcFig) : null, peer: p, peerValue: pick(pf) });
        }
      }
    };
    dhcpRows('known', 'known clients', 'lxc-dhcpd', lxc?.known ?? null, ['dnsmasq --no-ping', 'dnsmasq --no-ping --log-dhcp', 'kea']);
    dhcpRows('fresh', 'new clients', 'lxc-dhcpd', lxc?.fresh ?? null, ['dnsmasq', 'dnsmasq --no-ping', 'dnsmasq --no-ping --log-dhcp', 'kea']);
    if (noProbe?.fresh) dhcpRows('fresh', 'new clients', 'lxc-dhcpd --no-probe', noProbe.fresh, ['dnsmasq --no-ping', 'kea']);
    for (const [key, label] of [
      ['names', 'lease names'],
      ['nxdomain', 'NXDOMAIN .lxc'],
      ['forwarded', 'forwarded, cached'],
    ] as const) {
      if (dnsLxc === null) break;
      const a = dnsLxc[key];
      const b = dnsDm?.[key] ?? { qps: null, lost: null, avgLatencyMs: null, p99ApproxMs: null };
      rows.push({ metric: `DNS ${label}: qps`, unit: 'q/s', higherIsBetter: true, lxcLabel: 'lxc-dhcpd', lxc: a.qps, peer: 'dnsmasq', peerValue: b.qps });
      rows.push({ metric: `DNS ${label}: lost`, unit: '', higherIsBetter: false, lxcLabel: 'lxc-dhcpd', lxc: a.lost, peer: 'dnsmasq', peerValue: b.lost });
      rows.push({
        metric: `DNS ${label}: avg latency`,
        unit: 'ms',
        higherIsBetter: false,
        lxcLabel: 'lxc-dhcpd',
        lxc: a.avgLatencyMs,
        peer: 'dnsmasq',
        peerValue: b.avgLatencyMs,
      });
      rows.push({
        metric: `DNS ${label}: p99≈avg+2.33σ`,
        unit: 'ms',
        higherIsBetter: false,
        lxcLabel: 'lxc-dhcpd',
        lxc: a.p99ApproxMs,
        peer: 'dnsmasq',
        peerValue: b.p99ApproxMs,
      });
    }
    rows.push(...dhcp6Rows(dhcp6));
    if (idle) rows.push(...idleRows(idle));
    goalLines.push(...idleGoalLines(idle), ...scaleGoalLines(scale));
    for (const s of scale) {
      rows.push({
        metric: `RSS with ${s.leases} leases stored${s.leases === SCALE_GOAL_LEASES ? ` (goal ≤ ${SCALE_RSS_GOAL_MB} MB)` : ''}`,
        unit: 'MB',
        higherIsBetter: false,
        lxcLabel: 'lxc-dhcpd',
        lxc: s.rssMB,
        peer: '',
        peerValue: null,
      });
    }
    for (const s of scale) {
      if (s.leases === 0) continue;
      rows.push({
        metric: `start → first OFFER, ${s.leases} leases${s.leases === SCALE_GOAL_LEASES ? ` (goal ≤ ${SCALE_FIRST_OFFER_GOAL_MS} ms)` : ''}`,
        unit: 'ms',
        higherIsBetter: false,
        lxcLabel: 'lxc-dhcpd',
        lxc: s.firstOfferMs,
        peer: '',
        peerValue: null,
      });
    }
    rows.push(...stormRows(storm));
    if (storm.length > 0) goalLines.push(stormGoal(storm));
    if (pool) {
      rows.push({
        metric: '/8 pool 99% full: allocate() mean',
        unit: 'µs',
        higherIsBetter: false,
        lxcLabel: 'lxc-dhcpd',
        lxc: pool.mean,
        peer: '',
        peerValue: null,
      });
      rows.push({
        metric: '/8 pool 99% full: allocate() p99',
        unit: 'µs',
        higherIsBetter: false,
        lxcLabel: 'lxc-dhcpd',
        lxc: pool.p99,
        peer: '',
        peerValue: null,
      });
    }
    if (ra) rows.push(...raRows(ra));
    if (cpu) rows.push(...cpuRows(cpu));
    result.rows = rows;
  } finally {
    await topology.destroy();
  }
  // The cluster benches build their own hosts and etcd members, so they run once the main topology is gone.
  if (runs('cluster')) {
    const cluster = runClusterBench(REPO, QUICK, log);
    result.cluster = cluster;
    rows.push(...clusterRows(cluster));
    goalLines.push(...clusterGoalLines(cluster));
  }

  const elapsed = (Date.now() - startedAt) / 1000;
  result.elapsedSeconds = elapsed;
  result.loadAverageAtEnd = Number((loadavg()[0] ?? 0).toFixed(2));
  const header = `${cpusLine(result)}\n${versionsLine(result)}`;
  const table = textTable(rows);
  const cpuRuns = result.cpu as CpuRun[] | null | undefined;
  const cpuGoalList = cpuRuns ? cpuGoals(cpuRuns) : [];
  result.cpuGoals = cpuGoalList;
  goalLines.push(...cpuGoalList.map(describeGoal));
  const notes = rows.filter((r) => r.note).map((r) => `${r.metric} (${r.lxcLabel} vs ${r.peer}): ${r.note}`);
  const goals = goalLines.length > 0 ? `\n\ngoals (issues 15 and 16):\n${goalLines.map((g) => `  ${g}`).join('\n')}` : '';
  process.stdout.write(
    `\n${header}\n\n${table}\n${notes.map((n) => `\n${n}`).join('')}${goals}\n\nelapsed ${elapsed.toFixed(0)} s (budget ${BUDGET_MS / 1000} s)\n`,
  );
  if (elapsed * 1000 > BUDGET_MS) log(`WARNING: the run took ${elapsed.toFixed(0)} s, over its ${BUDGET_MS / 1000} s budget`);

  const stamp = (result.date as string).replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const outDir = join(REPO, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const base = `${stamp}${QUICK ? '-quick' : ''}${PARTIAL ? '-partial' : ''}`;
  writeFileSync(join(outDir, `${base}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(outDir, `${base}.svg`), ratioSvg(rows, `lxc-dhcpd vs peers, ${result.date as string}${QUICK ? ' (quick)' : ''}`));
  log(`wrote bench/results/${base}.json and .svg`);
  if (!QUICK && !PARTIAL) updateDoc(result, rows, base);
}

function cpusLine(r: Record<string, unknown>): string {
  const m = r.machine as { cpus: number; cpuModel: string; memGiB: number; kernel: string };
  return `machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memGiB} GiB, Linux ${m.kernel}; load average ${String((r.machine as { loadAverageAtStart?: number }).loadAverageAtStart)} at start, ${String(r.loadAverageAtEnd)} at end`;
}

function versionsLine(r: Record<string, unknown>): string {
  return `versions: ${Object.entries(r.versions as Record<string, string>)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`;
}

const DOC_BEGIN = '<!-- bench:begin (generated by npm run bench; edit outside these markers) -->';
const DOC_END = '<!-- bench:end -->';

function updateDoc(result: Record<string, unknown>, rows: Row[], base: string): void {
  const path = join(REPO, 'docs', 'performance.md');
  const section = [
    DOC_BEGIN,
    `Latest full run: ${result.date as string}, ${((result.elapsedSeconds as number) ?? 0).toFixed(0)} s.`,
    '',
    `- ${cpusLine(result)}`,
    `- ${versionsLine(result)}`,
    `- raw figures: [bench/results/${base}.json](../bench/results/${base}.json), chart: [bench/results/${base}.svg](../bench/results/${base}.svg)`,
    '',
    markdownTable(rows),
    '',
    `![ratios](../bench/results/${base}.svg)`,
    DOC_END,
  ].join('\n');
  const text = existsSync(path) ? readFileSync(path, 'utf8') : `# Performance\n\n${DOC_BEGIN}\n${DOC_END}\n`;
  const a = text.indexOf(DOC_BEGIN);
  const b = text.indexOf(DOC_END);
  const next = a >= 0 && b > a ? text.slice(0, a) + section + text.slice(b + DOC_END.length) : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, next);
  log('updated docs/performance.md');
}

/**
 * `--installed`: lxc-dhcpd as the npm package installs it, not this checkout. The checkout is packed and installed with
 * `npm install -g` into a temporary prefix (test/harness/package.ts), and the bench runs again in a child whose
 * LXC_DHCPD_BIN (read by lib/servers.ts when it loads) is the installed command; the prefix is removed afterwards.
 */
async function benchInstalledPackage(): Promise<void> {
  log('--installed: packing this checkout and installing the tarball with npm install -g into a temporary prefix');
  const pkg = await packAndInstall();
  log(
    `lxc-dhcpd from ${pkg.packageDir} (${pkg.packed.files.length} files, ${pkg.packed.size} bytes packed; installed in ${(pkg.installMs / 1000).toFixed(1)} s)`,
  );
  try {
    const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, LXC_DHCPD_BIN: pkg.script },
    });
    process.exitCode = child.status ?? 1;
  } finally {
    pkg.cleanup();
  }
}

(args.has('--installed') && process.env.LXC_DHCPD_BIN === undefined ? benchInstalledPackage() : main()).catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
