// Router advertisement answer latency (issue 13 item 7: RS → RA ≤ 5 ms p99 under DHCPv6 load). rdisc6 sends one
// router solicitation at a time from the load container; tcpdump in the same namespace stamps every RS and RA, and each
// RS is paired with the first RA after it that goes to the solicitor or to all nodes (a router may answer either way,
// RFC 4861 §6.2.6). An unsolicited RA that happens to follow an RS is counted as its answer: the figure can only err low
// by the time to that RA, which a run at ~10 solicitations a second makes rare.
import type { Topology } from '../../test/harness/netns.ts';

export interface RaLatency {
  solicitations: number;
  answered: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/** One `tcpdump -tt -n` line of an RS or RA: epoch seconds, source, destination, kind. */
const LINE = /^(\d+\.\d+) IP6 (\S+) > (\S+): ICMP6, router (solicitation|advertisement)/;

/** Latencies (ms) of each RS answered, in order, from `tcpdump -tt -n` output; unanswered RSs are left out. */
export function pairRaLatencies(text: string): { latencies: number[]; solicitations: number } {
  const latencies: number[] = [];
  let pending: { at: number; from: string } | null = null;
  let solicitations = 0;
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const at = Number(m[1]);
    if (m[4] === 'solicitation') {
      solicitations++;
      pending = { at, from: m[2] as string };
    } else if (pending !== null && (m[3] === pending.from || m[3] === 'ff02::1')) {
      latencies.push((at - pending.at) * 1000);
      pending = null;
    }
  }
  return { latencies, solicitations };
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? null;
}

export function summarize(latencies: number[], solicitations: number): RaLatency {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { solicitations, answered: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted[sorted.length - 1] ?? null };
}

/** Sends `count` solicitations from eth0 of `ns`, one after the other with `gapMs` between them, and times the answers. */
export async function measureRaLatency(topology: Topology, ns: string, count: number, gapMs = 100): Promise<RaLatency> {
  const tcpdump = topology.spawn(ns, ['tcpdump', '-tt', '-n', '-l', '--immediate-mode', '-i', 'eth0', 'icmp6 and (ip6[40] == 133 or ip6[40] == 134)'], {
    timeoutMs: (count * (gapMs + 300) + 10_000) | 0,
  });
  await tcpdump.waitForOutput(/listening on/, { stream: 'stderr', timeoutMs: 5000 });
  try {
    for (let i = 0; i < count; i++) {
      await topology.exec(ns, ['rdisc6', '-1', '-r', '1', '-w', '200', 'eth0'], { timeoutMs: 5000 });
      await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    await tcpdump.stop({ signal: 'SIGINT' });
  }
  const { latencies, solicitations } = pairRaLatencies(tcpdump.stdout);
  return summarize(latencies, solicitations);
}
