// CPU per DHCP exchange and per DNS answer (issue 15 item 4, `npm run bench -- --only=cpu`): every server is offered the
// same fixed rate, below its ceiling, for a fixed time, and what it cost is read from the kernel's accounting of the
// server's processes (utime + stime in /proc/PID/stat, every thread, every child) before and after, divided by the
// exchanges or answers the load generator got back. A rate search measures how much a server can do; this measures
// what each answer costs it, whatever the load generator's ceiling.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { processTree, type Topology } from '../../test/harness/netns.ts';
import { type DnsperfResult, parseDnsperf } from './dnsperf.ts';
import type { PerfdhcpResult, PerfdhcpRun } from './perfdhcp.ts';
import type { Row } from './report.ts';
import { type ServerProcess, waitIdle } from './servers.ts';

/**
 * The offered rates. 300 exchanges/s is the one rate below every DHCP server's ceiling for known clients: dnsmasq
 * completes 99 % of them up to 470/s here (it rewrites its whole lease file on every change; 450/s with --log-dhcp),
 * lxc-dhcpd and Kea above 11 000/s. 2000/s is where lxc-dhcpd and Kea do real work but stay far below their ceilings
 * even on a machine shared with other work (both passed 4000/s in every search so far); it is the rate of the goal
 * against Kea. New clients only at 2000/s, for lxc-dhcpd and Kea: dnsmasq's new-client ceiling is 120/s with --no-ping
 * and nil with its ping check (3 s, longer than perfdhcp's 1-s drop time). 20 000 queries/s for DNS: under half of
 * dnsmasq's ceiling here (45 000–68 000 q/s), a fifth of lxc-dhcpd's.
 */
const CPU_RATES = { dhcpCommon: 300, dhcp: 2000, dns: 20_000 } as const;
/**
 * Seconds of each measured run, and of the unmeasured heat run before it (a cold process: JIT, caches, files growing,
 * costs more). Long enough that the 10-ms clock tick of utime/stime is about 1 % of what the cheapest server spends
 * (lxc-dhcpd at 300/s: about 1 s of CPU in 20 s). --quick: a smoke test of the harness, figures not worth comparing.
 */
interface CpuPlan {
  dhcpCommonSeconds: number;
  dhcpSeconds: number;
  dnsSeconds: number;
  heatSeconds: number;
}

export function cpuPlan(quick: boolean): CpuPlan {
  return quick
    ? { dhcpCommonSeconds: 2, dhcpSeconds: 2, dnsSeconds: 2, heatSeconds: 1 }
    : { dhcpCommonSeconds: 20, dhcpSeconds: 10, dnsSeconds: 10, heatSeconds: 3 };
}
/** Known clients: -R of perfdhcp, given leases by a warm-up first (as in the rate search). */
const KNOWN_CLIENTS = 1000;
/** A run that completes fewer than this was not below the ceiling (the server's, or the load generator's on a busy machine): noted. */
const BELOW_CEILING_COMPLETION = 0.98;

const CLOCK_TICKS = ((): number => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout ?? '';
  const n = Number(out.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** utime + stime of one process (all its threads), in seconds; 0 when it is gone. */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields from the state (3rd of stat(5)) on: utime is the 14th, stime the 15th, cutime/cstime (waited-for
    // children that exited) the 16th and 17th
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** CPU seconds used so far by pid and every process below it (`ip netns exec` execs, so pid is the server). */
export function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + processCpuSeconds(p), 0);
}

/** One measured run: the server's CPU time over it and what the load generator got back. */
export interface CpuRun {
  server: string;
  scenario: string;
  offeredRate: number;
  seconds: number;
  cpuSeconds: number;
  /** Completed exchanges (ACKs) or answered queries. */
  completed: number;
  /** Completed / sent: below BELOW_CEILING_COMPLETION the rate was above what the server did here. */
  completion: number;
  /** cpuSeconds / completed, in µs. */
  usPerAnswer: number;
  /** The server's share of one core over the run. */
  coreShare: number;
}

async function measured(
  pid: number,
  what: Omit<CpuRun, 'cpuSeconds' | 'completed' | 'completion' | 'usPerAnswer' | 'coreShare'>,
  run: () => Promise<{ completed: number; completion: number }>,
): Promise<CpuRun> {
  await waitIdle(pid);
  const cpu0 = treeCpuSeconds(pid);
  const t0 = Date.now();
  const r = await run();
  // the last answers may still be on their way out when the generator stops waiting: count them too
  await waitIdle(pid, 3000);
  const cpuSeconds = treeCpuSeconds(pid) - cpu0;
  const wall = (Date.now() - t0) / 1000;
  return {
    ...what,
    cpuSeconds,
    completed: r.completed,
    completion: r.completion,
    usPerAnswer: r.completed > 0 ? (cpuSeconds * 1e6) / r.completed : Number.NaN,
    coreShare: cpuSeconds / wall,
  };
}

/** What the DHCP part needs of the bench: one server to start, and perfdhcp. */
interface CpuDhcpServer {
  id: string;
  start(): Promise<ServerProcess>;
  /** Measured at 2000/s too (known and new clients); else only known clients at the common rate. */
  high: boolean;
}

type Perf = (o: PerfdhcpRun) => Promise<PerfdhcpResult>;
let macBase = 0x40;
const freshMac = (): string => `06:${(macBase++ & 0xff).toString(16).padStart(2, '0')}:00:00:00:00`;

/**
 * Known clients at the common rate (and at 2000/s), then new clients at 2000/s, in one server process: warm-up leases
 * first, an unmeasured heat run before each scenario, the server idle before each measured run.
 */
export async function measureDhcpCpu(server: CpuDhcpServer, plan: CpuPlan, perf: Perf, log: (line: string) => void): Promise<CpuRun[]> {
  const proc = await server.start();
  const pid = proc.proc.pid;
  const out: CpuRun[] = [];
  const known = '02:bb:00:00:00:00';
  const asDone = (r: PerfdhcpResult): { completed: number; completion: number } => ({ completed: r.acksReceived, completion: r.completion });
  try {
    await perf({ rate: 500, clients: KNOWN_CLIENTS, baseMac: known, seconds: Math.ceil((KNOWN_CLIENTS * 1.5) / 500) });
    const knownAt = async (rate: number, seconds: number): Promise<void> => {
      await perf({ rate, clients: KNOWN_CLIENTS, baseMac: known, seconds: plan.heatSeconds });
      const run = await measured(pid, { server: server.id, scenario: 'known clients', offeredRate: rate, seconds }, async () =>
        asDone(await perf({ rate, clients: KNOWN_CLIENTS, baseMac: known, seconds })),
      );
      log(describeRun(run));
      out.push(run);
    };
    await knownAt(CPU_RATES.dhcpCommon, plan.dhcpCommonSeconds);
    if (server.high) {
      await knownAt(CPU_RATES.dhcp, plan.dhcpSeconds);
      const rate = CPU_RATES.dhcp;
      await perf({ rate, clients: 1_000_000, baseMac: freshMac(), seconds: plan.heatSeconds });
      const run = await measured(pid, { server: server.id, scenario: 'new clients', offeredRate: rate, seconds: plan.dhcpSeconds }, async () =>
        asDone(await perf({ rate, clients: 1_000_000, baseMac: freshMac(), seconds: plan.dhcpSeconds })),
      );
      log(describeRun(run));
      out.push(run);
    }
  } finally {
    await proc.stop();
  }
  return out;
}

/** dnsperf at a fixed rate: -Q caps the queries per second, -l the time. */
export async function runDnsperfAt(topology: Topology, ns: string, server: string, dataFile: string, qps: number, seconds: number): Promise<DnsperfResult> {
  const argv = ['dnsperf', '-s', server, '-d', dataFile, '-l', String(seconds), '-Q', String(qps), '-c', '4', '-q', '200', '-t', '1'];
  const result = await topology.exec(ns, argv, { timeoutMs: (seconds + 20) * 1000 });
  return parseDnsperf(`${result.stdout}\n${result.stderr}`);
}

/** Lease names, then cached forwarded names (the cache warmed first by `warm`), each at CPU_RATES.dns. */
export async function measureDnsCpu(
  id: string,
  proc: ServerProcess,
  plan: CpuPlan,
  files: { names: string; fwd: string },
  dnsperf: (file: string, qps: number, seconds: number) => Promise<DnsperfResult>,
  log: (line: string) => void,
): Promise<CpuRun[]> {
  const pid = proc.proc.pid;
  const out: CpuRun[] = [];
  // warms the forward cache (every name), then the process (JIT) at the measured rate
  await dnsperf(files.fwd, 1000, 2);
  for (const [scenario, file] of [
    ['lease names', files.names],
    ['forwarded, cached', files.fwd],
  ] as const) {
    await dnsperf(file, CPU_RATES.dns, plan.heatSeconds);
    const run = await measured(pid, { server: id, scenario, offeredRate: CPU_RATES.dns, seconds: plan.dnsSeconds }, async () => {
      const r = await dnsperf(file, CPU_RATES.dns, plan.dnsSeconds);
      return { completed: r.completed, completion: r.sent > 0 ? r.completed / r.sent : 0 };
    });
    log(describeRun(run));
    out.push(run);
  }
  return out;
}

function describeRun(r: CpuRun): string {
  return `  ${r.server} ${r.scenario} @${r.offeredRate}/s: ${r.usPerAnswer.toFixed(1)} µs each (${r.cpuSeconds.toFixed(2)} s CPU, ${r.completed} done, ${(r.completion * 100).toFixed(1)} %, ${(r.coreShare * 100).toFixed(1)} % of a core)`;
}

/** Issue 15's goals: lxc-dhcpd at most half of Kea's CPU per exchange, half of dnsmasq's per answer. */
const GOAL_RATIO = 0.5;

interface CpuGoal {
  what: string;
  ratio: number;
  goal: number;
  met: boolean;
  /** How much lxc-dhcpd's figure must still fall to meet the goal (0 when met), in %. */
  shortByPercent: number;
}

function find(runs: CpuRun[], server: string, scenario: string, rate: number): CpuRun | undefined {
  return runs.find((r) => r.server === server && r.scenario === scenario && r.offeredRate === rate);
}

function note(r: CpuRun | undefined): string | undefined {
  if (r === undefined || r.completion >= BELOW_CEILING_COMPLETION) return undefined;
  return `completed ${(r.completion * 100).toFixed(1)} % of what was offered: above what the server (or, on a busy machine, the load generator) managed here`;
}

/** Table rows: µs per exchange or answer, lxc-dhcpd (and --no-probe) against each peer that ran the same scenario. */
export function cpuRows(runs: CpuRun[]): Row[] {
  const rows: Row[] = [];
  const scenarios: [string, string, number, string, string[]][] = [
    ['DHCP', 'known clients', CPU_RATES.dhcpCommon, 'µs/exchange', ['kea', 'dnsmasq --no-ping']],
    ['DHCP', 'known clients', CPU_RATES.dhcp, 'µs/exchange', ['kea']],
    ['DHCP', 'new clients', CPU_RATES.dhcp, 'µs/exchange', ['kea']],
    ['DNS', 'lease names', CPU_RATES.dns, 'µs/answer', ['dnsmasq']],
    ['DNS', 'forwarded, cached', CPU_RATES.dns, 'µs/answer', ['dnsmasq']],
  ];
  for (const [proto, scenario, rate, unit, peers] of scenarios) {
    for (const lxcId of ['lxc-dhcpd', 'lxc-dhcpd --no-probe']) {
      const a = find(runs, lxcId, scenario, rate);
      if (a === undefined) continue;
      for (const peer of peers) {
        const b = find(runs, peer, scenario, rate);
        if (b === undefined) continue;
        const n = [note(a), note(b) && `${peer} ${note(b)}`].filter((x) => x !== undefined).join('; ');
        rows.push({
          metric: `${proto} CPU per ${proto === 'DNS' ? 'answer' : 'exchange'}, ${scenario}, ${rate}/s`,
          unit: unit.startsWith('µs') ? 'µs' : unit,
          higherIsBetter: false,
          lxcLabel: lxcId,
          lxc: a.usPerAnswer,
          peer,
          peerValue: b.usPerAnswer,
          ...(n !== '' ? { note: n } : {}),
        });
      }
    }
  }
  return rows;
}

/** The goal lines: lxc-dhcpd (probing on, the default) against Kea for DHCP and dnsmasq for DNS, at every rate. */
export function cpuGoals(runs: CpuRun[]): CpuGoal[] {
  const goals: CpuGoal[] = [];
  for (const [scenario, rate, peer] of [
    ['known clients', CPU_RATES.dhcp, 'kea'],
    ['new clients', CPU_RATES.dhcp, 'kea'],
    ['known clients', CPU_RATES.dhcpCommon, 'kea'],
    ['lease names', CPU_RATES.dns, 'dnsmasq'],
    ['forwarded, cached', CPU_RATES.dns, 'dnsmasq'],
  ] as const) {
    const a = find(runs, 'lxc-dhcpd', scenario, rate);
    const b = find(runs, peer, scenario, rate);
    if (a === undefined || b === undefined || !(b.usPerAnswer > 0)) continue;
    const ratio = a.usPerAnswer / b.usPerAnswer;
    goals.push({
      what: `${scenario} @${rate}/s: lxc-dhcpd ${a.usPerAnswer.toFixed(1)} µs vs ${peer} ${b.usPerAnswer.toFixed(1)} µs`,
      ratio,
      goal: GOAL_RATIO,
      met: ratio <= GOAL_RATIO,
      shortByPercent: ratio <= GOAL_RATIO ? 0 : (1 - GOAL_RATIO / ratio) * 100,
    });
  }
  return goals;
}

export function describeGoal(g: CpuGoal): string {
  const verdict = g.met ? 'met' : `not met: lxc-dhcpd must use ${g.shortByPercent.toFixed(0)} % less CPU`;
  return `CPU goal ≤ ${g.goal}× (${g.what}): ${g.ratio.toFixed(2)}×, ${verdict}`;
}
