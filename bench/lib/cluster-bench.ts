// The cluster part of `npm run bench` (`--only=cluster`, issue 16 item 7): runs bench/cluster-propagation.ts (3 hosts,
// a 3-member etcd: lease ACKed on h1 → NAME.lxc answered on h2 and h3) and bench/cluster-sim.ts (100 simulated hosts ×
// 100 names through etcd, one real daemon watching: its RSS and CPU, and DNS qps on a remote name against a local one)
// as child processes. Each builds and removes its own namespaces, so they run after the main topology is gone; this
// file only reads their JSON and turns it into table rows and goal lines.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Row } from './report.ts';

/** Issue 16's goals. */
const PROPAGATION_P99_GOAL_MS = 100;
const REMOTE_QPS_GOAL = 0.95;
/** Each script stops itself well before this; it only keeps a hung child from holding the bench forever. */
const CHILD_TIMEOUT_MS = 600_000;

interface Percentiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

interface Propagation {
  samples: number;
  latencyMs: Percentiles;
  fromRequestMs: Percentiles;
  unanswered: number;
  machineBusy: number;
}

interface Simulation {
  hosts: number;
  namesPerHost: number;
  publishMs: number;
  allVisibleMs: number;
  whileLoading: { rssKb: number; cpuSeconds: number };
  idle10sWithNames: { rssKb: number; cpuSeconds: number };
  qpsLocal: number;
  qpsRemote: number;
  remoteOverLocal: number;
}

interface ClusterBench {
  propagation: Propagation | null;
  simulation: Simulation | null;
  errors: string[];
}

/** The last line of stdout that parses as a JSON object (the scripts print a human line first). */
function lastJson(stdout: string): unknown {
  const trimmed = stdout.trim();
  try {
    return JSON.parse(trimmed);
  } catch {
    const line = trimmed
      .split('\n')
      .reverse()
      .find((l) => l.startsWith('{'));
    return line === undefined ? null : JSON.parse(line);
  }
}

function runScript(repo: string, script: string, args: string[], log: (line: string) => void): { value: unknown; error: string | null } {
  log(`cluster: ${script} ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'bench', script), ...args], {
    cwd: repo,
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    maxBuffer: 16 << 20,
  });
  if (r.status !== 0)
    return { value: null, error: `${script} exited ${String(r.status ?? r.signal)}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}` };
  try {
    return { value: lastJson(r.stdout), error: null };
  } catch (e) {
    return { value: null, error: `${script}: no JSON result (${(e as Error).message})` };
  }
}

export function runClusterBench(repo: string, quick: boolean, log: (line: string) => void): ClusterBench {
  const errors: string[] = [];
  const p = runScript(repo, 'cluster-propagation.ts', [`--samples=${quick ? 10 : 100}`], log);
  if (p.error) errors.push(p.error);
  const s = runScript(repo, 'cluster-sim.ts', quick ? ['--hosts=10', '--names=10', '--seconds=3', '--json'] : ['--json'], log);
  if (s.error) errors.push(s.error);
  return { propagation: p.value as Propagation | null, simulation: s.value as Simulation | null, errors };
}

function verdict(ok: boolean, by: string): string {
  return ok ? 'met' : `NOT met (${by})`;
}

export function clusterGoalLines(c: ClusterBench): string[] {
  const out = c.errors.map((e) => `cluster: ${e}`);
  const p99 = c.propagation?.latencyMs.p99 ?? null;
  if (p99 !== null)
    out.push(
      `cluster name propagation p99 ${p99.toFixed(1)} ms from the ACK (${(c.propagation?.fromRequestMs.p99 ?? 0).toFixed(1)} ms from the REQUEST), goal ≤ ${PROPAGATION_P99_GOAL_MS} ms: ${verdict(p99 <= PROPAGATION_P99_GOAL_MS, `by ${(p99 - PROPAGATION_P99_GOAL_MS).toFixed(1)} ms`)}`,
    );
  const sim = c.simulation;
  if (sim)
    out.push(
      `cluster remote-name qps ${sim.remoteOverLocal.toFixed(2)}× a local name's, goal ≥ ${REMOTE_QPS_GOAL}: ${verdict(sim.remoteOverLocal >= REMOTE_QPS_GOAL, `by ${(REMOTE_QPS_GOAL - sim.remoteOverLocal).toFixed(2)}`)}`,
    );
  return out;
}

export function clusterRows(c: ClusterBench): Row[] {
  const rows: Row[] = [];
  const one = (metric: string, unit: string, value: number | null, higherIsBetter = false): void => {
    rows.push({ metric, unit, higherIsBetter, lxcLabel: 'lxc-dhcpd', lxc: value, peer: '', peerValue: null });
  };
  const prop = c.propagation;
  if (prop) {
    one(`cluster: name propagation p50, 3 hosts (${prop.samples} samples)`, 'ms', prop.latencyMs.p50);
    one(`cluster: name propagation p99 (goal ≤ ${PROPAGATION_P99_GOAL_MS} ms)`, 'ms', prop.latencyMs.p99);
  }
  const sim = c.simulation;
  if (sim) {
    const label = `${sim.hosts} hosts × ${sim.namesPerHost} names`;
    one(`cluster: ${label}, all visible to one daemon`, 'ms', sim.allVisibleMs);
    one(`cluster: ${label}, daemon RSS`, 'MB', sim.idle10sWithNames.rssKb / 1024);
    one(`cluster: ${label}, daemon CPU while they arrived`, 's', sim.whileLoading.cpuSeconds);
    rows.push({
      metric: `cluster: DNS qps, remote name (goal ≥ ${REMOTE_QPS_GOAL}× local)`,
      unit: 'q/s',
      higherIsBetter: true,
      lxcLabel: 'lxc-dhcpd remote name',
      lxc: sim.qpsRemote,
      peer: 'lxc-dhcpd local name',
      peerValue: sim.qpsLocal,
    });
  }
  return rows;
}
