// dnsperf runs at full speed for a fixed time, and the parser for its summary.
import type { Topology } from '../../test/harness/netns.ts';

export interface DnsperfResult {
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  stddevLatencyMs: number;
  /** Response code counts, e.g. { NOERROR: 10, NXDOMAIN: 0 }. */
  rcodes: Record<string, number>;
  /**
   * dnsperf 2.10 prints no percentiles. This is the normal approximation avg + 2.326 * stddev, marked as such
   * wherever it is shown; latency distributions have long tails, so the real p99 is usually higher.
   */
  p99ApproxMs: number;
}

export function parseDnsperf(text: string): DnsperfResult {
  const grab = (re: RegExp): number => {
    const m = re.exec(text);
    if (!m) throw new Error(`dnsperf output lacks ${re}:\n${text.slice(0, 2000)}`);
    return Number(m[1]);
  };
  const rcodes: Record<string, number> = {};
  const rc = /Response codes:\s*(.*)/.exec(text);
  if (rc) for (const m of (rc[1] ?? '').matchAll(/([A-Z]+)\s+(\d+)/g)) rcodes[m[1] ?? '?'] = Number(m[2]);
  const latency = /Average Latency \(s\):\s*([\d.]+)\s*\(min\s*([\d.]+),\s*max\s*([\d.]+)\)/.exec(text);
  const avg = latency ? Number(latency[1]) * 1000 : Number.NaN;
  const max = latency ? Number(latency[3]) * 1000 : Number.NaN;
  const sd = /Latency StdDev \(s\):\s*([\d.]+)/.exec(text);
  const stddev = sd ? Number(sd[1]) * 1000 : Number.NaN;
  return {
    sent: grab(/Queries sent:\s*(\d+)/),
    completed: grab(/Queries completed:\s*(\d+)/),
    lost: grab(/Queries lost:\s*(\d+)/),
    qps: grab(/Queries per second:\s*([\d.]+)/),
    avgLatencyMs: avg,
    maxLatencyMs: max,
    stddevLatencyMs: stddev,
    rcodes,
    p99ApproxMs: avg + 2.326 * stddev,
  };
}

export async function runDnsperf(topology: Topology, ns: string, server: string, dataFile: string, seconds: number): Promise<DnsperfResult> {
  // -c 4 clients (sockets), up to 200 queries outstanding, 1 s timeout (a later answer counts as lost).
  const argv = ['dnsperf', '-s', server, '-d', dataFile, '-l', String(seconds), '-c', '4', '-q', '200', '-t', '1'];
  const result = await topology.exec(ns, argv, { timeoutMs: (seconds + 20) * 1000 });
  return parseDnsperf(`${result.stdout}\n${result.stderr}`);
}
