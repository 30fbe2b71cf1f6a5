/** Starts the real lxc-dhcpd (bin/lxc-dhcpd.js) inside a topology's host namespace. */
import { join, resolve } from 'node:path';
import type { SpawnedProcess, Topology } from './netns.ts';

const REPO = resolve(import.meta.dirname, '..', '..');
export const LXC_DHCPD_BIN = join(REPO, 'bin', 'lxc-dhcpd.js');

export interface DaemonOptions {
  range?: string;
  leaseDb?: string;
  extraArgs?: readonly string[];
  /** Default true: tests mostly want new clients served without waiting for ARP probes. */
  noProbe?: boolean;
}

export interface RunningLxcDhcpd {
  process: SpawnedProcess;
  leaseDb: string;
  /** The daemon's control socket (per topology: /run is shared by every namespace). */
  controlSocket: string;
  /** Everything the daemon logged so far. */
  log(): string;
  /** Waits until the log matches (e.g. an ACK line for a MAC). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

export async function startLxcDhcpd(topology: Topology, opts: DaemonOptions = {}): Promise<RunningLxcDhcpd> {
  const leaseDb = opts.leaseDb ?? join(topology.tmpDir, 'leases.db');
  const controlSocket = join(topology.tmpDir, 'control.sock');
  const argv = [
    process.execPath,
    LXC_DHCPD_BIN,
    '--bridge',
    topology.bridge,
    '--range',
    opts.range ?? '10.0.0.100-200',
    '--lease-db',
    leaseDb,
    '--log-level',
    'debug',
    '--control-socket',
    controlSocket,
    ...(opts.noProbe === false ? [] : ['--no-probe']),
    ...(opts.extraArgs ?? []),
  ];
  const proc = topology.spawn(topology.hostNs, argv);
  await proc.waitForOutput(/serving DHCP on/, { stream: 'stderr', timeoutMs: 15_000 });
  return {
    process: proc,
    leaseDb,
    controlSocket,
    log: () => proc.stderr,
    waitForLog: (pattern, timeoutMs = 10_000) => proc.waitForOutput(pattern, { stream: 'stderr', timeoutMs }),
    stop: async () => {
      await proc.stop({ signal: 'SIGTERM', graceMs: 3000 });
    },
  };
}
