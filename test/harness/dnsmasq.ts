// dnsmasq as a reference DHCP/DNS server in a topology's host namespace (command line as in
// TESTING-NOTES.md: no daemon, no config file, bound to the bridge only).
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SpawnedProcess, Topology } from './netns.ts';

export interface DnsmasqOptions {
  /** --dhcp-range value. Default "10.0.0.100,10.0.0.200,1h". */
  range?: string;
  /** Adds --log-dhcp. Default true (the log is how tests see what dnsmasq did). */
  logDhcp?: boolean;
  /** Adds --no-ping (skips the ~3 s ping check before offering a new address). Default true. */
  noPing?: boolean;
  /** Default "lxc". */
  domain?: string;
  extraArgs?: readonly string[];
  startTimeoutMs?: number;
}

export interface Dnsmasq {
  readonly process: SpawnedProcess;
  readonly argv: readonly string[];
  readonly leaseFile: string;
  readonly pidFile: string;
  /** Everything dnsmasq logged so far (it logs to stderr with --no-daemon). */
  log(): string;
  /** Current content of the lease file. */
  leases(): string;
  stop(): Promise<void>;
}

export function dnsmasqArgv(topology: Topology, dir: string, opts: DnsmasqOptions = {}): string[] {
  const domain = opts.domain ?? 'lxc';
  const argv = [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    `--interface=${topology.bridge}`,
    '--bind-interfaces',
    `--domain=${domain}`,
    `--local=/${domain}/`,
    `--dhcp-range=${opts.range ?? '10.0.0.100,10.0.0.200,1h'}`,
    `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`,
    `--pid-file=${join(dir, 'dnsmasq.pid')}`,
  ];
  if (opts.logDhcp ?? true) argv.push('--log-dhcp');
  if (opts.noPing ?? true) argv.push('--no-ping');
  argv.push(...(opts.extraArgs ?? []));
  return argv;
}

/** Starts dnsmasq in the topology's host namespace and waits until its DHCP socket is set up. */
export async function startDnsmasq(topology: Topology, opts: DnsmasqOptions = {}): Promise<Dnsmasq> {
  const dir = mkdtempSync(join(topology.tmpDir, 'dnsmasq-'));
  const argv = dnsmasqArgv(topology, dir, opts);
  const child = topology.spawn(topology.hostNs, argv);
  try {
    await child.waitForOutput(/DHCP, (IP range|sockets bound)/, { stream: 'stderr', timeoutMs: opts.startTimeoutMs ?? 5000 });
  } catch (error) {
    await child.stop();
    throw new Error(`dnsmasq did not start: ${(error as Error).message}`);
  }
  const leaseFile = join(dir, 'dnsmasq.leases');
  return {
    process: child,
    argv,
    leaseFile,
    pidFile: join(dir, 'dnsmasq.pid'),
    log: () => child.stderr,
    leases: () => {
      try {
        return readFileSync(leaseFile, 'utf8');
      } catch {
        return '';
      }
    },
    stop: async () => {
      await child.stop();
    },
  };
}
