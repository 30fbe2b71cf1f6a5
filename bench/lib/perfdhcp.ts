// perfdhcp runs and the rate search. perfdhcp acts as a relay (giaddr = its own address, source port 67), so it runs
// in the load container, which has a static address on the bridge subnet.
import type { Topology } from '../../test/harness/netns.ts';

export interface PerfdhcpResult {
  offeredRate: number;
  /**
   * Completed 4-way exchanges per second of sending time (ACKs / -p seconds). perfdhcp's own "Rate:" divides by the
   * whole run including the -W wait after the last request, so it is kept apart as perfdhcpRate.
   */
  achievedRate: number;
  perfdhcpRate: number;
  discoversSent: number;
  offersReceived: number;
  requestsSent: number;
  acksReceived: number;
  /** acksReceived / discoversSent. */
  completion: number;
  /** ms, null when perfdhcp printed n/a. */
  discoverOfferAvgMs: number | null;
  requestAckAvgMs: number | null;
}

/**
 * perfdhcp's statistics sections of the two exchanges: DHCPv4 DORA, DHCPv6 SARR (RFC 8415 §18.2.1/§18.2.2). For -6 the
 * result's discover/offer/request/ack fields hold Solicit/Advertise/Request/Reply.
 */
const SECTIONS = { 4: ['DISCOVER-OFFER', 'REQUEST-ACK'], 6: ['SOLICIT-ADVERTISE', 'REQUEST-REPLY'] } as const;

/** Parses perfdhcp -4 (or, with family 6, perfdhcp -6) output; throws when the sections it needs are missing. */
export function parsePerfdhcp(text: string, offeredRate: number, sendSeconds: number, family: 4 | 6 = 4): PerfdhcpResult {
  const rate = /Rate:\s*([-\d.e+]+|nan|-nan|inf)\s+4-way exchanges\/second/i.exec(text);
  if (!rate) throw new Error(`perfdhcp output has no "Rate:" line:\n${text.slice(0, 2000)}`);
  const section = (name: string): string => {
    const start = text.indexOf(`***Statistics for: ${name}***`);
    if (start < 0) return '';
    const next = text.indexOf('***Statistics for:', start + 10);
    return text.slice(start, next < 0 ? undefined : next);
  };
  const num = (block: string, label: string): number => {
    const m = new RegExp(`^\\s*${label}:\\s*([-\\d.e+]+)`, 'mi').exec(block);
    const v = m ? Number(m[1]) : Number.NaN;
    return Number.isFinite(v) ? v : 0;
  };
  /** "avg delay: 17.888 ms"; perfdhcp prints "avg delay: min delay: n/a" garbage when nothing came back. */
  const avg = (block: string): number | null => {
    const m = /^\s*avg delay:\s*([\d.]+)\s*ms/m.exec(block);
    return m ? Number(m[1]) : null;
  };
  const [first, second] = SECTIONS[family];
  const dora = section(first);
  const rack = section(second);
  if (dora === '') throw new Error(`perfdhcp output has no ${first} statistics:\n${text.slice(0, 2000)}`);
  const achieved = Number(rate[1]);
  const discoversSent = num(dora, 'sent packets');
  const acksReceived = num(rack, 'received packets');
  return {
    offeredRate,
    achievedRate: acksReceived / sendSeconds,
    perfdhcpRate: Number.isFinite(achieved) ? achieved : 0,
    discoversSent,
    offersReceived: num(dora, 'received packets'),
    requestsSent: num(rack, 'sent packets'),
    acksReceived,
    completion: discoversSent > 0 ? acksReceived / discoversSent : 0,
    discoverOfferAvgMs: avg(dora),
    requestAckAvgMs: avg(rack),
  };
}

export interface PerfdhcpRun {
  rate: number;
  /** -R: number of distinct clients (MACs base, base+1, ...). */
  clients: number;
  seconds: number;
  /** -b mac=...; different bases give clients the server never saw. */
  baseMac: string;
  /** -W in µs; default EXIT_WAIT_US. */
  exitWaitUs?: number;
}

const EXIT_WAIT_US = 1_000_000;

export async function runPerfdhcp(topology: Topology, ns: string, serverIp: string, opts: PerfdhcpRun): Promise<PerfdhcpResult> {
  const argv = [
    'perfdhcp',
    '-4',
    '-l',
    'eth0',
    '-r',
    String(opts.rate),
    '-R',
    String(opts.clients),
    '-b',
    `mac=${opts.baseMac}`,
    '-p',
    String(opts.seconds),
    // after the last DISCOVER, wait up to 1 s (perfdhcp's drop time) for the answers still on their way; without it
    // the replies to the last requests of a run count as lost, which penalises servers that delay OFFERs
    '-W',
    String(opts.exitWaitUs ?? EXIT_WAIT_US),
    // One thread. perfdhcp's default on a machine with 2+ CPUs is a sending thread that spins at 100 % plus a receiving
    // thread: on 2 cores that left the server under test less than a core and capped every server near 7000
    // exchanges/s (Kea 6800, `bench/saturate.ts kea`); in one thread perfdhcp offers up to ~16 000/s here.
    '-g',
    'single',
    serverIp,
  ];
  const result = await topology.exec(ns, argv, { timeoutMs: (opts.seconds + 20) * 1000 });
  return parsePerfdhcp(`${result.stdout}\n${result.stderr}`, opts.rate, opts.seconds);
}

/** A DUID-LL (RFC 8415 §11.4, type 3, hardware type 1) for a MAC: perfdhcp -6 -b duid= varies its last octets per client. */
export function duidLlOf(mac: string): string {
  return `00030001${mac.replace(/:/g, '')}`;
}

/**
 * perfdhcp -6: Solicit/Advertise/Request/Reply exchanges from the load container's eth0. Without a server address it
 * sends from its link-local address, port 546, to ff02::1:2 (All_DHCP_Relay_Agents_and_Servers) on -l's interface, so
 * the container needs IPv6 on and its link-local address past DAD; the server answers on the link, no relay involved.
 * Clients are told apart by DUID (-b duid=, its last octets varied over -R clients); every frame has the container's MAC.
 */
export async function runPerfdhcp6(topology: Topology, ns: string, opts: PerfdhcpRun): Promise<PerfdhcpResult> {
  const argv = [
    'perfdhcp',
    '-6',
    '-l',
    'eth0',
    '-r',
    String(opts.rate),
    '-R',
    String(opts.clients),
    '-b',
    `duid=${duidLlOf(opts.baseMac)}`,
    '-p',
    String(opts.seconds),
    '-W',
    String(opts.exitWaitUs ?? EXIT_WAIT_US),
    // one thread, as for -4 (see runPerfdhcp)
    '-g',
    'single',
  ];
  const result = await topology.exec(ns, argv, { timeoutMs: (opts.seconds + 20) * 1000 });
  return parsePerfdhcp(`${result.stdout}\n${result.stderr}`, opts.rate, opts.seconds, 6);
}

const COMPLETION_TARGET = 0.99;
const RATE_TARGET = 0.98;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

export interface StepResult {
  rate: number;
  runs: PerfdhcpResult[];
  pass: boolean;
  medianCompletion: number;
  medianAchieved: number;
}

/**
 * One step: up to `runs` runs at `rate`; the step passes when the median completion and the median achieved/offered
 * ratio meet the targets. With 3 runs, two runs that agree on both criteria decide the median, so the third is skipped.
 */
async function runStep(rate: number, runs: number, once: (rate: number, i: number) => Promise<PerfdhcpResult>): Promise<StepResult> {
  const results: PerfdhcpResult[] = [];
  const summary = (): StepResult => {
    const medianCompletion = median(results.map((r) => r.completion));
    const medianAchieved = median(results.map((r) => r.achievedRate));
    return {
      rate,
      runs: results,
      pass: medianCompletion >= COMPLETION_TARGET && medianAchieved >= RATE_TARGET * rate,
      medianCompletion,
      medianAchieved,
    };
  };
  for (let i = 0; i < runs; i++) {
    results.push(await once(rate, i));
    if (runs === 3 && results.length === 2) {
      const [a, b] = results as [PerfdhcpResult, PerfdhcpResult];
      const c1 = a.completion >= COMPLETION_TARGET === b.completion >= COMPLETION_TARGET;
      const c2 = a.achievedRate >= RATE_TARGET * rate === b.achievedRate >= RATE_TARGET * rate;
      if (c1 && c2) break;
    }
  }
  return summary();
}

interface SearchOptions {
  startRate: number;
  maxRate: number;
  /** Below this the search gives up and reports "< floor". */
  floorRate: number;
  maxSteps: number;
  runsPerStep: number;
  /** Stop when the bracket [best pass, lowest fail] is this tight (ratio). */
  resolution: number;
  /** No new step starts after this epoch ms (the search is bounded in time as well as in steps). */
  deadline: number;
}

export interface SearchResult {
  /** Highest passing rate, or 0 when none passed (then belowFloor or the lowest tried rate failed). */
  bestRate: number;
  best: StepResult | null;
  lowestFail: number | null;
  steps: StepResult[];
}

function roundRate(r: number): number {
  if (r >= 1000) return Math.round(r / 100) * 100;
  if (r >= 100) return Math.round(r / 10) * 10;
  return Math.max(1, Math.round(r));
}

/** Bounded search for the highest passing rate: doubling up, bisecting once a failure is seen. */
export async function searchRate(
  opts: SearchOptions,
  once: (rate: number, i: number) => Promise<PerfdhcpResult>,
  progress: (s: StepResult) => void,
): Promise<SearchResult> {
  const steps: StepResult[] = [];
  let best: StepResult | null = null;
  let lowestFail: number | null = null;
  let rate = opts.startRate;
  for (let n = 0; n < opts.maxSteps && (n === 0 || Date.now() < opts.deadline); n++) {
    const step = await runStep(rate, opts.runsPerStep, once);
    steps.push(step);
    progress(step);
    if (step.pass) {
      best = step;
      if (rate >= opts.maxRate) break;
    } else {
      lowestFail = lowestFail === null ? rate : Math.min(lowestFail, rate);
    }
    const lo = best?.rate ?? 0;
    let next: number;
    if (lowestFail === null) next = Math.min(opts.maxRate, rate * 2);
    else if (lo === 0) {
      // nothing passed yet: go below the exchange rate the server completed ("Rate:" counts complete exchanges)
      next = Math.min(rate / 2, step.medianAchieved * 0.9);
      if (next < opts.floorRate) break;
    } else {
      if (lowestFail / lo <= opts.resolution) break;
      next = Math.sqrt(lo * lowestFail);
    }
    next = roundRate(next);
    if (next === rate || steps.some((s) => s.rate === next)) break;
    rate = next;
  }
  return { bestRate: best?.rate ?? 0, best, lowestFail, steps };
}
