// Real DHCP clients (busybox udhcpc, ISC dhclient, dhcpcd 9) run inside a container namespace.
// Each run gets its own directory with a generated hook script that records every event's
// environment into events/NNNN-REASON (NUL-separated `env -0` output); leases are read from there.
// Hook scripts only run `ip addr replace`/`ip route replace`; nothing touches /etc/resolv.conf.
// Client flags follow /work/shared/TESTING-NOTES.md.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adoptPid, type Container, inNamespace, killAdoptedPid, nsSpawn, run, type SpawnedProcess } from './netns.ts';

export type ClientKind = 'udhcpc' | 'dhclient' | 'dhcpcd';

export interface ClientLease {
  ip: string;
  prefixLength: number;
  router: string | null;
  dns: string[];
  domain: string | null;
  /** Seconds, null when the server sent none (e.g. an INFORM reply). */
  leaseTime: number | null;
  serverId: string | null;
  /** Host name option from the server's reply, if the client exposes it. */
  hostname: string | null;
  /** Hook event that reported it: udhcpc bound/renew; dhclient BOUND/RENEW/REBIND/REBOOT; dhcpcd BOUND/RENEW/REBIND/REBOOT/INFORM. */
  event: string;
  /** The hook's full environment for that event. */
  env: Record<string, string>;
}

/** A running (or daemonized) client that holds a lease. */
export interface DhcpClient {
  readonly kind: ClientKind;
  readonly container: Container;
  /** Per-run directory: hook script, events/, config, lease and pid files. */
  readonly dir: string;
  /** The most recent lease. */
  readonly lease: ClientLease;
  /** Client output so far (all runs of this client). */
  output(): string;
  /** udhcpc: SIGUSR1 (unicast renew); dhclient: restart with the same lease file (INIT-REBOOT); dhcpcd: -n (rebind). */
  renew(): Promise<ClientLease>;
  /** udhcpc: SIGUSR2 then stop; dhclient: -r with the same files; dhcpcd: -k. Resolves when the client is gone. */
  release(): Promise<void>;
  /** Stops the client without releasing. Idempotent. */
  stop(): Promise<void>;
}

export class DhcpClientError extends Error {
  override name = 'DhcpClientError';
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(`${message}\n--- client output:\n${output}`);
  }
}

interface CommonOptions {
  hostname?: string;
  /** Upper bound for getting a lease (and for each renew). Default 10. */
  timeoutSec?: number;
}

export interface UdhcpcOptions extends CommonOptions {
  requestIp?: string;
  /** Option 61 as hex, e.g. "01021ab0000001"; default: udhcpc sends 01 + MAC. */
  clientIdHex?: string;
  extraArgs?: readonly string[];
}

export interface DhclientOptions extends CommonOptions {
  /** Option 61 in dhclient.conf syntax: a quoted string ("\"abc\"") or colon-separated hex bytes ("00:11:22"). */
  clientId?: string;
  /** Extra lines for dhclient.conf. */
  configLines?: readonly string[];
  /** Options asked for besides the default list (`also request ...;`), e.g. rfc3442-classless-static-routes. */
  alsoRequest?: readonly string[];
}

export interface DhcpcdOptions extends CommonOptions {
  requestIp?: string;
  /** Client identifier: "duid" (RFC 4361 IAID + DUID, the default) or "clientid" (01 + MAC). */
  clientId?: 'duid' | 'clientid';
  /** Adds `fqdn VALUE` (e.g. "both") so the client sends option 81. */
  fqdn?: string;
  rapidCommit?: boolean;
  /** ARP-probe the offered address before using it (and DECLINE it when in use). Default false: adds `noarp`, saving ~5 s. */
  arpProbe?: boolean;
  /** Extra lines for dhcpcd.conf. */
  configLines?: readonly string[];
  extraArgs?: readonly string[];
}

const DEFAULT_TIMEOUT_SEC = 10;
const LEASE_EVENTS: Record<ClientKind, readonly string[]> = {
  udhcpc: ['bound', 'renew'],
  dhclient: ['BOUND', 'RENEW', 'REBIND', 'REBOOT'],
  dhcpcd: ['BOUND', 'RENEW', 'REBIND', 'REBOOT', 'INFORM'],
};

// ---------------------------------------------------------------------------------------------
// Hook scripts and their event records

/** Shell lines that record the hook's environment as events/NNNN-$EVENT (shared with clients6.ts). */
export const RECORD_EVENT = `
events="$RUN_DIR/events"
name=$(printf '%04d-%s' "$(ls "$events" | wc -l)" "$EVENT")
env -0 > "$events/.partial" && mv "$events/.partial" "$events/$name"
exit 0
`;

const HOOK_BODIES: Record<ClientKind, string> = {
  udhcpc: `EVENT=$1
case "$1" in
  bound|renew)
    ip addr replace "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "\${router%% *}" dev "$interface" ;;
  deconfig)
    ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
esac`,
  dhclient: `EVENT=$reason
mask_to_prefix() {
  bits=0
  for octet in $(echo "$1" | tr . ' '); do
    while [ "$octet" -gt 0 ]; do bits=$((bits + (octet & 1))); octet=$((octet >> 1)); done
  done
  echo "$bits"
}
case "$reason" in
  PREINIT) ip link set "$interface" up ;;
  BOUND|RENEW|REBIND|REBOOT)
    [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ] && ip -4 addr flush dev "$interface"
    ip addr replace "$new_ip_address/$(mask_to_prefix "$new_subnet_mask")" dev "$interface"
    if [ -n "$new_rfc3442_classless_static_routes" ]; then
      # RFC 3442: with option 121 the router option is ignored; each route is the prefix length, its significant
      # destination octets, then the router (as Debian's rfc3442-classless-routes exit hook reads it)
      set -- $new_rfc3442_classless_static_routes
      while [ $# -ge 5 ]; do
        len=$1; shift; dst=0.0.0.0
        if [ "$len" -gt 24 ]; then dst="$1.$2.$3.$4"; shift 4
        elif [ "$len" -gt 16 ]; then dst="$1.$2.$3.0"; shift 3
        elif [ "$len" -gt 8 ]; then dst="$1.$2.0.0"; shift 2
        elif [ "$len" -gt 0 ]; then dst="$1.0.0.0"; shift 1; fi
        ip route replace "$dst/$len" via "$1.$2.$3.$4" dev "$interface"; shift 4
      done
    else
      [ -n "$new_routers" ] && ip route replace default via "\${new_routers%% *}" dev "$interface"
    fi ;;
  EXPIRE|FAIL|RELEASE|STOP)
    [ -n "$old_ip_address" ] && ip -4 addr flush dev "$interface" ;;
esac`,
  // dhcpcd configures addresses and routes itself
  dhcpcd: 'EVENT=$reason',
};

function writeHook(kind: ClientKind, dir: string): string {
  const path = join(dir, 'hook.sh');
  // dhclient clears the environment of its script: everything the hook needs is in the file
  const script = `#!/bin/sh
# generated by test/harness/clients.ts for one ${kind} run
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
RUN_DIR='${dir}'
${HOOK_BODIES[kind]}
${RECORD_EVENT}`;
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return path;
}

export interface HookEvent {
  sequence: number;
  name: string;
  env: Record<string, string>;
}

export function readEvents(dir: string): HookEvent[] {
  const eventsDir = join(dir, 'events');
  return readdirSync(eventsDir)
    .filter((file) => /^\d{4}-/.test(file))
    .sort()
    .map((file) => {
      const env: Record<string, string> = {};
      for (const entry of readFileSync(join(eventsDir, file), 'utf8').split('\0')) {
        const separator = entry.indexOf('=');
        if (separator > 0) env[entry.slice(0, separator)] = entry.slice(separator + 1);
      }
      return { sequence: Number(file.slice(0, 4)), name: file.slice(5), env };
    });
}

function maskToPrefixLength(mask: string): number {
  return mask
    .split('.')
    .map(Number)
    .reduce((bits, octet) => bits + octet.toString(2).replace(/0/g, '').length, 0);
}

function words(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter(Boolean);
}

function numberOrNull(value: string | undefined): number | null {
  return value === undefined || value === '' ? null : Number(value);
}

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}

export function leaseFromEvent(kind: ClientKind, event: { name: string; env: Record<string, string> }): ClientLease {
  const env = event.env;
  if (kind === 'udhcpc') {
    return {
      ip: env.ip ?? '',
      prefixLength: env.mask !== undefined ? Number(env.mask) : maskToPrefixLength(env.subnet ?? ''),
      router: words(env.router)[0] ?? null,
      dns: words(env.dns),
      domain: nonEmpty(env.domain),
      leaseTime: numberOrNull(env.lease),
      serverId: nonEmpty(env.serverid),
      hostname: nonEmpty(env.hostname),
      event: event.name,
      env,
    };
  }
  return {
    ip: env.new_ip_address ?? '',
    prefixLength: env.new_subnet_cidr !== undefined ? Number(env.new_subnet_cidr) : maskToPrefixLength(env.new_subnet_mask ?? ''),
    router: words(env.new_routers)[0] ?? null,
    dns: words(env.new_domain_name_servers),
    domain: nonEmpty(env.new_domain_name),
    leaseTime: numberOrNull(env.new_dhcp_lease_time),
    serverId: nonEmpty(env.new_dhcp_server_identifier),
    hostname: nonEmpty(env.new_host_name),
    event: event.name,
    env,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function eventCount(dir: string): number {
  return readEvents(dir).length;
}

export interface WaitForEventOptions {
  dir: string;
  names: readonly string[];
  after: number;
  timeoutSec: number;
  /** Stop waiting early (with failure) when this returns a reason. */
  failure?: () => string | null;
}

export async function waitForEvent(opts: WaitForEventOptions): Promise<HookEvent> {
  const deadline = Date.now() + opts.timeoutSec * 1000;
  for (;;) {
    const found = readEvents(opts.dir).find((event) => event.sequence >= opts.after && opts.names.includes(event.name));
    if (found) return found;
    const failure = opts.failure?.();
    if (failure !== null && failure !== undefined) throw new Error(failure);
    if (Date.now() > deadline) throw new Error(`no ${opts.names.join('/')} event within ${opts.timeoutSec} s`);
    await sleep(50);
  }
}

export function prepareRunDir(container: Container, kind: string): string {
  const dir = mkdtempSync(join(container.tmpDir, `${kind}-`));
  mkdirSync(join(dir, 'events'));
  return dir;
}

export function processOutput(child: SpawnedProcess): string {
  return `${child.stdout}${child.stderr}`;
}

export function exitedFailure(child: SpawnedProcess): () => string | null {
  return () => (child.exitStatus === null ? null : `client exited (${JSON.stringify(child.exitStatus)})`);
}

// ---------------------------------------------------------------------------------------------
// busybox udhcpc

/** `udhcpc -f -n -i eth0 -s HOOK [-x hostname:NAME] [-r IP]`, kept running for renew (SIGUSR1) and release (SIGUSR2). */
export async function udhcpc(container: Container, opts: UdhcpcOptions = {}): Promise<DhcpClient> {
  const timeoutSec = opts.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
  const dir = prepareRunDir(container, 'udhcpc');
  const hook = writeHook('udhcpc', dir);
  const discoverAttempts = Math.max(1, Math.floor(timeoutSec / 2));
  const argv = ['udhcpc', '-f', '-n', '-i', container.ifname, '-t', String(discoverAttempts), '-T', '2', '-s', hook];
  if (opts.hostname !== undefined) argv.push('-x', `hostname:${opts.hostname}`);
  if (opts.requestIp !== undefined) argv.push('-r', opts.requestIp);
  if (opts.clientIdHex !== undefined) argv.push('-x', `0x3d:${opts.clientIdHex}`);
  argv.push(...(opts.extraArgs ?? []));
  const child = nsSpawn(container.ns, argv, { timeoutMs: 10 * 60_000 });

  const nextLease = async (after: number): Promise<ClientLease> => {
    try {
      const event = await waitForEvent({ dir, names: LEASE_EVENTS.udhcpc, after, timeoutSec, failure: exitedFailure(child) });
      return leaseFromEvent('udhcpc', event);
    } catch (error) {
      throw new DhcpClientError(`udhcpc in ${container.ns}: ${(error as Error).message}`, processOutput(child));
    }
  };

  let lease: ClientLease;
  try {
    lease = await nextLease(0);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return {
    kind: 'udhcpc',
    container,
    dir,
    get lease() {
      return lease;
    },
    output: () => processOutput(child),
    async renew() {
      const after = eventCount(dir);
      child.signal('SIGUSR1');
      lease = await nextLease(after);
      return lease;
    },
    async release() {
      const after = eventCount(dir);
      child.signal('SIGUSR2');
      try {
        await waitForEvent({ dir, names: ['deconfig'], after, timeoutSec, failure: exitedFailure(child) });
      } finally {
        await child.stop();
      }
    },
    async stop() {
      await child.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// ISC dhclient

function dhclientConfig(opts: DhclientOptions, timeoutSec: number): string {
  const lines = [`timeout ${timeoutSec};`, 'retry 60;', 'initial-interval 1;'];
  if (opts.hostname !== undefined) lines.push(`send host-name "${opts.hostname}";`);
  if (opts.clientId !== undefined) lines.push(`send dhcp-client-identifier ${opts.clientId};`);
  lines.push(...(opts.configLines ?? []));
  lines.push('request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, host-name;');
  // after `request`, which replaces the list
  if (opts.alsoRequest?.length) lines.push(`also request ${opts.alsoRequest.join(', ')};`);
  return `${lines.join('\n')}\n`;
}

/** `dhclient -4 -v -1 -cf CONF -sf HOOK -pf PID -lf LEASES eth0`; the daemon it leaves is stopped via its pid file. */
export async function dhclient(container: Container, opts: DhclientOptions = {}): Promise<DhcpClient> {
  const timeoutSec = opts.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
  const dir = prepareRunDir(container, 'dhclient');
  const hook = writeHook('dhclient', dir);
  const config = join(dir, 'dhclient.conf');
  writeFileSync(config, dhclientConfig(opts, timeoutSec));
  const pidFile = join(dir, 'dhclient.pid');
  const files = ['-cf', config, '-sf', hook, '-pf', pidFile, '-lf', join(dir, 'dhclient.leases')];
  let output = '';

  const daemonPid = (): number | null => {
    if (!existsSync(pidFile)) return null;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  };

  // dhclient -1 exits once it has daemonized with a lease (0) or given up (non-zero)
  const obtain = async (): Promise<ClientLease> => {
    const after = eventCount(dir);
    const result = await run(inNamespace(container.ns, ['dhclient', '-4', '-v', '-1', ...files, container.ifname]), {
      timeoutMs: (timeoutSec + 5) * 1000,
    });
    output += result.stdout + result.stderr;
    const pid = daemonPid();
    if (pid !== null) adoptPid(container.ns, pid);
    if (result.code !== 0) {
      throw new DhcpClientError(`dhclient in ${container.ns} got no lease (${result.timedOut ? 'timed out' : `exit ${result.code}`})`, output);
    }
    try {
      return leaseFromEvent('dhclient', await waitForEvent({ dir, names: LEASE_EVENTS.dhclient, after, timeoutSec: 2 }));
    } catch (error) {
      throw new DhcpClientError(`dhclient in ${container.ns}: ${(error as Error).message}`, output);
    }
  };

  const stopDaemon = async (): Promise<void> => {
    const pid = daemonPid();
    if (pid !== null) await killAdoptedPid(pid);
  };

  let lease = await obtain().catch(async (error: unknown) => {
    await stopDaemon();
    throw error;
  });
  return {
    kind: 'dhclient',
    container,
    dir,
    get lease() {
      return lease;
    },
    output: () => output,
    async renew() {
      await stopDaemon();
      lease = await obtain();
      return lease;
    },
    async release() {
      const pid = daemonPid();
      const result = await run(inNamespace(container.ns, ['dhclient', '-4', '-v', '-r', ...files, container.ifname]), {
        timeoutMs: timeoutSec * 1000,
      });
      output += result.stdout + result.stderr;
      if (pid !== null) await killAdoptedPid(pid);
      if (result.code !== 0) throw new DhcpClientError(`dhclient -r in ${container.ns} failed (exit ${result.code})`, output);
    },
    stop: stopDaemon,
  };
}

// ---------------------------------------------------------------------------------------------
// dhcpcd 9

function dhcpcdConfig(opts: DhcpcdOptions): string {
  const lines = ['ipv4only', 'noipv4ll', 'nohook resolv.conf', opts.clientId ?? 'duid', 'option host_name'];
  lines.push('option domain_name_servers, domain_name');
  if (opts.fqdn !== undefined) lines.push(`fqdn ${opts.fqdn}`);
  if (opts.rapidCommit === true) lines.push('option rapid_commit');
  if (opts.arpProbe !== true) lines.push('noarp');
  lines.push(...(opts.configLines ?? []));
  return `${lines.join('\n')}\n`;
}

/**
 * argv running dhcpcd in a private mount namespace whose /var/lib/dhcpcd and /run come from `dir`
 * (dhcpcd uses those fixed paths, and /run/dhcpcd may not exist on the machine).
 */
export function dhcpcdArgv(dir: string, args: readonly string[]): string[] {
  const mounts = 'mount --bind "$0/lib" /var/lib/dhcpcd && mount --bind "$0/run" /run && exec "$@"';
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', mounts, dir, 'dhcpcd', ...args];
}

/** dhcpcd -4 -B (foreground, no -1 so it can be renewed and released) with its own config and directories. */
export async function dhcpcd(container: Container, opts: DhcpcdOptions = {}): Promise<DhcpClient> {
  const timeoutSec = opts.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
  const dir = prepareRunDir(container, 'dhcpcd');
  mkdirSync(join(dir, 'lib'));
  mkdirSync(join(dir, 'run', 'dhcpcd'), { recursive: true });
  const hook = writeHook('dhcpcd', dir);
  const config = join(dir, 'dhcpcd.conf');
  writeFileSync(config, dhcpcdConfig(opts));
  const common = ['-f', config, '-c', hook];
  const args = [...common, '-4', '-B', '-t', String(timeoutSec)];
  if (opts.hostname !== undefined) args.push('-h', opts.hostname);
  if (opts.requestIp !== undefined) args.push('-r', opts.requestIp);
  args.push(...(opts.extraArgs ?? []), container.ifname);
  const child = nsSpawn(container.ns, dhcpcdArgv(dir, args), { timeoutMs: 10 * 60_000 });
  let controlOutput = '';
  const output = (): string => processOutput(child) + controlOutput;

  const control = async (flag: '-n' | '-k'): Promise<void> => {
    const result = await run(inNamespace(container.ns, dhcpcdArgv(dir, [...common, '-4', flag, container.ifname])), {
      timeoutMs: timeoutSec * 1000,
    });
    controlOutput += result.stdout + result.stderr;
  };

  const nextLease = async (after: number): Promise<ClientLease> => {
    try {
      const event = await waitForEvent({ dir, names: LEASE_EVENTS.dhcpcd, after, timeoutSec, failure: exitedFailure(child) });
      return leaseFromEvent('dhcpcd', event);
    } catch (error) {
      throw new DhcpClientError(`dhcpcd in ${container.ns}: ${(error as Error).message}`, output());
    }
  };

  let lease: ClientLease;
  try {
    lease = await nextLease(0);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return {
    kind: 'dhcpcd',
    container,
    dir,
    get lease() {
      return lease;
    },
    output,
    async renew() {
      const after = eventCount(dir);
      await control('-n');
      lease = await nextLease(after);
      return lease;
    },
    async release() {
      await control('-k');
      const exited = await Promise.race([child.exited, sleep(timeoutSec * 1000).then(() => null)]);
      await child.stop();
      if (exited === null) throw new DhcpClientError(`dhcpcd in ${container.ns} did not exit after -k`, output());
    },
    async stop() {
      await child.stop();
    },
  };
}
