// Idle memory: the RSS of a bare `node` (the runtime lxc-dhcpd sits on) and of an idle lxc-dhcpd with no lease, started
// together in the bench's host namespace and read from /proc/PID/status at the same moments, so both see the same
// machine. Issue 15's goals: idle RSS ≤ 48 MB and ≤ 8 MB over the bare node. The daemon runs as a command (its
// shebang's V8 flags apply, as for the installed lxc-dhcpd and the systemd units); whether it ran the compiled dist/
// or the TypeScript sources through tsx is reported, since tsx alone costs more than the whole budget.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Topology } from '../../test/harness/netns.ts';
import { LXC_DHCPD_BIN, startLxcDhcpd } from './servers.ts';

/** Issue 15: an idle daemon holds at most this much RSS. */
export const IDLE_RSS_GOAL_MB = 48;
/** Issue 15: and at most this much over a bare `node` measured in the same run. */
export const IDLE_OVER_BARE_GOAL_MB = 8;

export interface IdleMemory {
  /** RSS (MB) of the bare node and of lxc-dhcpd at each sample, seconds after lxc-dhcpd bound its ports. */
  samples: { afterSeconds: number; bareMB: number; lxcMB: number }[];
  /** The last sample: what the table shows. */
  bareMB: number;
  lxcMB: number;
  /** 'dist' when bin/lxc-dhcpd.js found the compiled code fresh, else 'tsx'. */
  code: 'dist' | 'tsx';
  /** lxc-dhcpd's own breakdown at the last sample (kB): anonymous memory and mapped files (the node binary's pages). */
  lxcAnonKB: number;
  lxcFileKB: number;
}

function statusField(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s*(\\d+)\\s*kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** The same test bin/lxc-dhcpd.js makes: dist/cli.js at least as new as every file under src/. */
function runsDist(): boolean {
  const root = join(dirname(LXC_DHCPD_BIN), '..');
  try {
    return statSync(join(root, 'dist', 'cli.js')).mtimeMs >= newestMtime(join(root, 'src'));
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Starts both, samples at each of sampleSeconds (after lxc-dhcpd is ready: V8 keeps start-up garbage until a later
 * GC, so the last sample is the settled figure), and stops both.
 */
export async function measureIdleMemory(topology: Topology, dir: string, resolvConf: string, sampleSeconds: readonly number[]): Promise<IdleMemory> {
  const bare = topology.spawn(topology.hostNs, [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)']);
  const daemon = await startLxcDhcpd(topology, dir, { probe: true, leaseDb: join(dir, 'leases.db'), resolvConf, asCommand: true });
  const samples: IdleMemory['samples'] = [];
  const t0 = Date.now();
  try {
    for (const s of sampleSeconds) {
      await sleep(Math.max(0, t0 + s * 1000 - Date.now()));
      samples.push({ afterSeconds: s, bareMB: statusField(bare.pid, 'VmRSS') / 1024, lxcMB: statusField(daemon.proc.pid, 'VmRSS') / 1024 });
    }
    const last = samples[samples.length - 1] ?? { bareMB: Number.NaN, lxcMB: Number.NaN };
    return {
      samples,
      bareMB: last.bareMB,
      lxcMB: last.lxcMB,
      code: runsDist() ? 'dist' : 'tsx',
      lxcAnonKB: statusField(daemon.proc.pid, 'RssAnon'),
      lxcFileKB: statusField(daemon.proc.pid, 'RssFile'),
    };
  } finally {
    await daemon.stop();
    await bare.stop();
  }
}

/** "met" or how far from the goal, for the table's note and the log. */
export function goalVerdict(value: number | null, goal: number, unit: string): string {
  if (value === null || !Number.isFinite(value)) return 'not measured';
  return value <= goal ? `met (≤ ${goal} ${unit})` : `NOT met: ${(value - goal).toFixed(1)} ${unit} over ${goal} ${unit}`;
}
