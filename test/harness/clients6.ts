// IPv6 clients and checks for namespace tests: the kernel's own SLAAC, ISC dhclient -6 (stateful and -S stateless),
// dhcpcd 9 (RA + DHCPv6, IPv6 only, in a private mount namespace), busybox udhcpc6 when the installed busybox has it,
// rdisc6 (ndisc6) parsed into the router advertisement's fields, and the checksum check of a `tcpdump -n -vv` capture
// for every RA and DHCPv6 reply. Each client run records its hook events (NUL-separated environments, as in clients.ts)
// in its own directory; hooks configure only the leased address, never /etc/resolv.conf. Flags and sysctls follow
// TESTING-NOTES "IPv6 in namespaces".
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import type { CapturedPacket } from './capture.ts';
import { DhcpClientError, dhcpcdArgv, eventCount, exitedFailure, type HookEvent, prepareRunDir, processOutput, RECORD_EVENT, waitForEvent } from './clients.ts';
import { adoptPid, type Container, inNamespace, killAdoptedPid, nsSpawn, run, runChecked, type Topology } from './netns.ts';

const DEFAULT_TIMEOUT_SEC = 15;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Addresses and namespace set-up

/** tcpdump filter for what these checks look at: ICMPv6 (RS/RA/ND) and DHCPv6 both ways. */
export const RA_DHCP6_FILTER = 'icmp6 or udp port 546 or udp port 547';

/** Expands an IPv6 text address to its 8 groups (numbers); throws on a malformed address (test input, not network). */
export function ipv6Groups(address: string): number[] {
  const text = address.split('%')[0] ?? '';
  if (!isIPv6(text)) throw new Error(`not an IPv6 address: ${address}`);
  const [head = '', tail] = text.split('::');
  const part = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** True when address lies in prefix (CIDR text, e.g. "fd12:3456:789a:1::/64"). */
export function inPrefix6(address: string, prefix: string): boolean {
  const [base = '', lengthText = '128'] = prefix.split('/');
  const length = Number(lengthText);
  const a = ipv6Groups(address);
  const b = ipv6Groups(base);
  for (let bit = 0; bit < length; bit++) {
    const group = Math.floor(bit / 16);
    const mask = 0x8000 >> (bit % 16);
    if (((a[group] ?? 0) & mask) !== ((b[group] ?? 0) & mask)) return false;
  }
  return true;
}

/** A random ULA /64 (RFC 4193 fd00::/8 + 40 random bits + subnet 1), so parallel test files never share a prefix. */
export function randomUlaPrefix(): { prefix: string; bridgeAddress: string; bridgeCidr: string } {
  const r = randomBytes(5);
  // RFC 5952 text: groups without leading zeros
  const group = (hi: number, lo: number): string => ((hi << 8) | lo).toString(16);
  const base = `${group(0xfd, r[0] ?? 0)}:${group(r[1] ?? 0, r[2] ?? 0)}:${group(r[3] ?? 0, r[4] ?? 0)}:1`;
  return { prefix: `${base}::/64`, bridgeAddress: `${base}::1`, bridgeCidr: `${base}::1/64` };
}

/** Turns IPv6 on in a namespace the test created (the topology turns it off everywhere to keep captures quiet). */
export async function enableIpv6(ns: string): Promise<void> {
  await runChecked(inNamespace(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']));
  // the per-interface switch of interfaces that existed before (eth0, br0, wan0) does not follow "all"
  const links = JSON.parse((await runChecked(['ip', '-n', ns, '-j', 'link', 'show'])).stdout) as { ifname: string }[];
  for (const { ifname } of links) await run(inNamespace(ns, ['sysctl', '-q', '-w', `net.ipv6.conf.${ifname}.disable_ipv6=0`]));
}

/** A container with IPv6 on; acceptRa 1 lets the kernel do SLAAC and take the default route from RAs (0: a client does it). */
export async function enableContainerIpv6(container: Container, acceptRa: 0 | 1 = 1): Promise<string> {
  await enableIpv6(container.ns);
  await runChecked(inNamespace(container.ns, ['sysctl', '-q', '-w', `net.ipv6.conf.${container.ifname}.accept_ra=${acceptRa}`]));
  // a fresh link-local address is only usable (by dhclient, rdisc6, perfdhcp) once duplicate address detection is over
  return waitForLinkLocal(container.ns, container.ifname);
}

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  tentative?: boolean;
  dadfailed?: boolean;
  dynamic?: boolean;
}

/** The interface's IPv6 addresses as `ip -j addr` reports them. */
export async function addresses6(ns: string, ifname: string): Promise<AddrInfo[]> {
  const out = await runChecked(['ip', '-n', ns, '-j', '-6', 'addr', 'show', 'dev', ifname]);
  const links = JSON.parse(out.stdout) as { addr_info?: AddrInfo[] }[];
  return (links[0]?.addr_info ?? []).filter((a) => a.family === 'inet6');
}

/** Waits until ifname has a link-local address that passed DAD; returns it. */
export async function waitForLinkLocal(ns: string, ifname: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const linkLocal = (await addresses6(ns, ifname)).find((a) => a.scope === 'link' && a.tentative !== true);
    if (linkLocal) return linkLocal.local;
    if (Date.now() > deadline) throw new Error(`${ns}/${ifname}: no usable link-local address within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * The host namespace side of a test that brings its own IPv6 server (a peer such as dnsmasq or Kea): IPv6 on, an
 * address on the bridge without DAD, and accept_ra 0 on the bridge so the host never configures itself from the RAs
 * the server under test sends (a router does not listen to its own advertisements).
 */
export async function addBridgeAddress6(topology: Topology, cidr: string): Promise<void> {
  await enableIpv6(topology.hostNs);
  await runChecked(inNamespace(topology.hostNs, ['sysctl', '-q', '-w', `net.ipv6.conf.${topology.bridge}.accept_ra=0`]));
  await runChecked(['ip', '-n', topology.hostNs, 'addr', 'add', cidr, 'dev', topology.bridge, 'nodad']);
  await waitForLinkLocal(topology.hostNs, topology.bridge);
}

/** IPv6 on the topology's wan link (documentation prefix, RFC 3849), for NAT66 tests. */
export interface Wan6 {
  hostAddress: '2001:db8:ff::2';
  wanAddress: '2001:db8:ff::1';
}

/** Adds 2001:db8:ff::2/64 on the host's wan0, 2001:db8:ff::1/64 in the wan namespace and the host's default route to it. */
export async function addWan6(topology: Topology): Promise<Wan6> {
  if (!topology.wanNs || !topology.wan) throw new Error('addWan6: the topology has no wan namespace');
  const wan: Wan6 = { hostAddress: '2001:db8:ff::2', wanAddress: '2001:db8:ff::1' };
  await enableIpv6(topology.hostNs);
  await enableIpv6(topology.wanNs);
  await runChecked(['ip', '-n', topology.hostNs, 'addr', 'add', `${wan.hostAddress}/64`, 'dev', topology.wan.hostIfname, 'nodad']);
  await runChecked(['ip', '-n', topology.wanNs, 'addr', 'add', `${wan.wanAddress}/64`, 'dev', 'eth0', 'nodad']);
  await runChecked(['ip', '-n', topology.hostNs, '-6', 'route', 'add', 'default', 'via', wan.wanAddress]);
  return wan;
}

// ---------------------------------------------------------------------------------------------
// Kernel SLAAC

export interface Slaac {
  /** Global addresses in the prefix (kernel SLAAC: "dynamic"). */
  addresses: string[];
  /** Gateway of the IPv6 default route (the router's link-local address), null when there is none. */
  gateway: string | null;
}

/** Gateway of the namespace's IPv6 default route, or null. */
export async function defaultRoute6(ns: string): Promise<string | null> {
  const out = await runChecked(['ip', '-n', ns, '-j', '-6', 'route', 'show', 'default']);
  const routes = JSON.parse(out.stdout === '' ? '[]' : out.stdout) as { gateway?: string }[];
  return routes.find((r) => r.gateway !== undefined)?.gateway ?? null;
}

/** Waits (polling) until the kernel configured an address in prefix from an RA and, unless needGateway is false, a default route. */
export async function waitForSlaac(container: Container, prefix: string, opts: { timeoutMs?: number; needGateway?: boolean } = {}): Promise<Slaac> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await addresses6(container.ns, container.ifname)).filter(
      (a) => a.scope === 'global' && a.dynamic === true && a.tentative !== true && inPrefix6(a.local, prefix),
    );
    const gateway = await defaultRoute6(container.ns);
    if (found.length > 0 && (gateway !== null || opts.needGateway === false)) return { addresses: found.map((a) => a.local), gateway };
    if (Date.now() > deadline) {
      const all = (await addresses6(container.ns, container.ifname)).map((a) => `${a.local}/${a.prefixlen} ${a.scope}`);
      throw new Error(
        `${container.ns}: no SLAAC address in ${prefix} with a default route within ${timeoutMs} ms (addresses: ${all.join(', ')}; gateway ${gateway})`,
      );
    }
    await sleep(200);
  }
}

/** Waits until the namespace has no IPv6 default route (e.g. after an RA with router lifetime 0). */
export async function waitForNoDefaultRoute6(ns: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gateway = await defaultRoute6(ns);
    if (gateway === null) return;
    if (Date.now() > deadline) throw new Error(`${ns}: default route via ${gateway} still there after ${timeoutMs} ms`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// DHCPv6 clients: shared lease shape and hooks

export type Client6Kind = 'dhclient6' | 'dhcpcd6' | 'udhcpc6';

export interface Dhcp6Lease {
  /** IA_NA address, null for a stateless (Information-Request) exchange. */
  address: string | null;
  dns: string[];
  domainSearch: string[];
  /** Valid lifetime of the address in seconds, null when stateless. */
  validLifetime: number | null;
  /** Hook event that reported it (dhclient BOUND6/RENEW6/..., dhcpcd BOUND6/INFORM6, udhcpc6 bound/renew). */
  event: string;
  env: Record<string, string>;
}

export interface Dhcp6Client {
  readonly kind: Client6Kind;
  readonly container: Container;
  readonly dir: string;
  readonly lease: Dhcp6Lease;
  output(): string;
  /** Sends a Release (dhclient -r, dhcpcd -k, udhcpc6 SIGUSR2) and stops the client. */
  release(): Promise<void>;
  /** Stops the client without releasing. Idempotent. */
  stop(): Promise<void>;
}

function words(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter(Boolean);
}

/** Domain names without the trailing dot dhclient prints ("lxc." -> "lxc"). */
function domains(value: string | undefined): string[] {
  return words(value).map((name) => (name.length > 1 ? name.replace(/\.$/, '') : name));
}

function numberOrNull(value: string | undefined): number | null {
  return value === undefined || value === '' ? null : Number(value);
}

/** Reads the lease out of one hook event of each client (the variable names are the clients' own). */
export function lease6FromEvent(kind: Client6Kind, event: { name: string; env: Record<string, string> }): Dhcp6Lease {
  const env = event.env;
  if (kind === 'dhclient6') {
    return {
      address: env.new_ip6_address ?? null,
      dns: words(env.new_dhcp6_name_servers),
      domainSearch: domains(env.new_dhcp6_domain_search),
      validLifetime: numberOrNull(env.new_max_life),
      event: event.name,
      env,
    };
  }
  if (kind === 'dhcpcd6') {
    return {
      address: env.new_dhcp6_ia_na1_ia_addr1 ?? null,
      dns: words(env.new_dhcp6_name_servers),
      domainSearch: domains(env.new_dhcp6_domain_search),
      validLifetime: numberOrNull(env.new_dhcp6_ia_na1_ia_addr1_vltime),
      event: event.name,
      env,
    };
  }
  return { address: env.ipv6 ?? null, dns: words(env.dns), domainSearch: domains(env.search), validLifetime: numberOrNull(env.lease), event: event.name, env };
}

const HOOK6_BODIES: Record<Client6Kind, string> = {
  // Debian's dhclient-script adds the IA_NA address as /128 (the on-link prefix comes from the RA); so do we
  dhclient6: `EVENT=$reason
case "$reason" in
  BOUND6|RENEW6|REBIND6|REBOOT6)
    [ -n "$new_ip6_address" ] && ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" nodad ;;
  EXPIRE6|RELEASE6|STOP6)
    [ -n "$old_ip6_address" ] && ip -6 addr del "$old_ip6_address/$old_ip6_prefixlen" dev "$interface" ;;
esac`,
  // dhcpcd configures addresses and routes itself
  dhcpcd6: 'EVENT=$reason',
  udhcpc6: `EVENT=$1
case "$1" in
  bound|renew) [ -n "$ipv6" ] && ip -6 addr replace "$ipv6/128" dev "$interface" nodad ;;
esac`,
};

function writeHook6(kind: Client6Kind, dir: string): string {
  const path = join(dir, 'hook.sh');
  // dhclient clears the environment of its script: everything the hook needs is in the file
  writeFileSync(
    path,
    `#!/bin/sh\n# generated by test/harness/clients6.ts for one ${kind} run\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\nRUN_DIR='${dir}'\n${HOOK6_BODIES[kind]}\n${RECORD_EVENT}`,
  );
  chmodSync(path, 0o755);
  return path;
}

function clientError(kind: Client6Kind, container: Container, error: unknown, output: string): DhcpClientError {
  return new DhcpClientError(`${kind} in ${container.ns}: ${(error as Error).message}`, output);
}

// ---------------------------------------------------------------------------------------------
// ISC dhclient -6

export interface Dhclient6Options {
  /** -S: Information-Request only (DNS servers, domain list), no address. Default false (stateful IA_NA). */
  stateless?: boolean;
  timeoutSec?: number;
  configLines?: readonly string[];
}

const DHCLIENT6_EVENTS = ['BOUND6', 'RENEW6', 'REBIND6', 'REBOOT6'];

/** `dhclient -6 [-S] -v -1 -cf CONF -sf HOOK -pf PID -lf LEASES eth0`; the daemon it leaves is stopped through its pid file. */
export async function dhclient6(container: Container, opts: Dhclient6Options = {}): Promise<Dhcp6Client> {
  const timeoutSec = opts.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
  const dir = prepareRunDir(container, 'dhclient6');
  const hook = writeHook6('dhclient6', dir);
  const config = join(dir, 'dhclient6.conf');
  const lines = [`timeout ${timeoutSec};`, 'retry 60;', 'initial-interval 1;', 'request dhcp6.name-servers, dhcp6.domain-search;', ...(opts.configLines ?? [])];
  writeFileSync(config, `${lines.join('\n')}\n`);
  const pidFile = join(dir, 'dhclient6.pid');
  const files = ['-cf', config, '-sf', hook, '-pf', pidFile, '-lf', join(dir, 'dhclient6.leases')];
  const mode = opts.stateless === true ? ['-S'] : [];
  let output = '';
  const daemonPid = (): number | null => {
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : Number.NaN;
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  };
  const stopDaemon = async (): Promise<void> => {
    const pid = daemonPid();
    if (pid !== null) await killAdoptedPid(pid);
  };
  const result = await run(inNamespace(container.ns, ['dhclient', '-6', ...mode, '-v', '-1', ...files, container.ifname]), {
    timeoutMs: (timeoutSec + 5) * 1000,
  });
  output += result.stdout + result.stderr;
  const pid = daemonPid();
  if (pid !== null) adoptPid(container.ns, pid);
  let lease: Dhcp6Lease;
  try {
    if (result.code !== 0) throw new Error(`got nothing (${result.timedOut ? 'timed out' : `exit ${result.code}`})`);
    lease = lease6FromEvent('dhclient6', await waitForEvent({ dir, names: DHCLIENT6_EVENTS, after: 0, timeoutSec: 2 }));
  } catch (error) {
    await stopDaemon();
    throw clientError('dhclient6', container, error, output);
  }
  return {
    kind: 'dhclient6',
    container,
    dir,
    lease,
    output: () => output,
    async release() {
      const released = await run(inNamespace(container.ns, ['dhclient', '-6', ...mode, '-v', '-r', ...files, container.ifname]), {
        timeoutMs: timeoutSec * 1000,
      });
      output += released.stdout + released.stderr;
      await stopDaemon();
      if (released.code !== 0) throw new DhcpClientError(`dhclient -6 -r in ${container.ns} failed (exit ${released.code})`, output);
    },
    stop: stopDaemon,
  };
}

// ---------------------------------------------------------------------------------------------
// dhcpcd 9, IPv6 only

export interface Dhcpcd6Options {
  /** Ask for an IA_NA address (stateful). Default true; false: only what the RA's O flag leads to (Information-Request). */
  iaNa?: boolean;
  timeoutSec?: number;
  configLines?: readonly string[];
}

export interface Dhcpcd6Client extends Dhcp6Client {
  /** The ROUTERADVERT event's nd1_* variables (dhcpcd's view of the first router's RA). */
  readonly routerAdvert: Record<string, string>;
}

function dhcpcd6Config(opts: Dhcpcd6Options): string {
  const lines = ['ipv6only', 'nohook resolv.conf', 'duid', 'ipv6rs', 'option dhcp6_name_servers, dhcp6_domain_search'];
  if (opts.iaNa !== false) lines.push('ia_na');
  lines.push(...(opts.configLines ?? []));
  return `${lines.join('\n')}\n`;
}

/** dhcpcd -6 -B (foreground) in a private mount namespace; resolves when both the RA and the DHCPv6 answer were seen. */
export async function dhcpcd6(container: Container, opts: Dhcpcd6Options = {}): Promise<Dhcpcd6Client> {
  const timeoutSec = opts.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
  const dir = prepareRunDir(container, 'dhcpcd6');
  mkdirSync(join(dir, 'lib'));
  mkdirSync(join(dir, 'run', 'dhcpcd'), { recursive: true });
  const hook = writeHook6('dhcpcd6', dir);
  const config = join(dir, 'dhcpcd.conf');
  writeFileSync(config, dhcpcd6Config(opts));
  const common = ['-f', config, '-c', hook];
  const child = nsSpawn(container.ns, dhcpcdArgv(dir, [...common, '-6', '-B', '-t', String(timeoutSec), container.ifname]), { timeoutMs: 10 * 60_000 });
  let controlOutput = '';
  const output = (): string => processOutput(child) + controlOutput;
  let routerAdvert: HookEvent;
  let leaseEvent: HookEvent;
  try {
    const names = opts.iaNa === false ? ['INFORM6'] : ['BOUND6'];
    routerAdvert = await waitForEvent({ dir, names: ['ROUTERADVERT'], after: 0, timeoutSec, failure: exitedFailure(child) });
    leaseEvent = await waitForEvent({ dir, names, after: 0, timeoutSec, failure: exitedFailure(child) });
  } catch (error) {
    await child.stop();
    throw clientError('dhcpcd6', container, error, output());
  }
  const nd = Object.fromEntries(Object.entries(routerAdvert.env).filter(([key]) => key.startsWith('nd1_')));
  return {
    kind: 'dhcpcd6',
    container,
    dir,
    lease: lease6FromEvent('dhcpcd6', leaseEvent),
    routerAdvert: nd,
    output,
    async release() {
      const result = await run(inNamespace(container.ns, dhcpcdArgv(dir, [...common, '-6', '-k', container.ifname])), { timeoutMs: timeoutSec * 1000 });
      controlOutput += result.stdout + result.stderr;
      await Promise.race([child.exited, sleep(timeoutSec * 1000)]);
      await child.stop();
    },
    async stop() {
      await child.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// busybox udhcpc6

/**
 * argv prefix that runs udhcpc6, or null when none is installed. Debian 12's busybox and busybox-static are built
 * without it (busybox's own config marks UDHCPC6 "default n, not yet ready"); LXC_DHCPD_UDHCPC6=/path/to/busybox
 * points the tests at a build that has it.
 */
export function udhcpc6Command(): string[] | null {
  const candidates: string[][] = [];
  if (process.env.LXC_DHCPD_UDHCPC6) candidates.push([process.env.LXC_DHCPD_UDHCPC6, 'udhcpc6']);
  candidates.push(['udhcpc6'], ['busybox', 'udhcpc6']);
  for (const argv of candidates) {
    const probe = spawnSync(argv[0] as string, [...argv.slice(1), '--help'], { encoding: 'utf8' });
    if (probe.error === undefined && /udhcpc6/.test(`${probe.stdout}${probe.stderr}`) && !/applet not found/.test(`${probe.stdout}${probe.stderr}`))
      return argv;
  }
  return null;
}

export interface Udhcpc6Options {
  /** Information-Request only (udhcpc6 -l). Default false. */
  stateless?: boolean;
  timeoutSec?: number;
}

/** `udhcpc6 -f -n -i eth0 -s HOOK -O dns -O search`, kept running until release (SIGUSR2) or stop. */
export async function udhcpc6(container: Container, opts: Udhcpc6Options = {}): Promise<Dhcp6Client> {
  const command = udhcpc6Command();
  if (command === null) throw new Error('udhcpc6 is not installed (see udhcpc6Command)');
  const timeoutSec = opts.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
  const dir = prepareRunDir(container, 'udhcpc6');
  const hook = writeHook6('udhcpc6', dir);
  const attempts = String(Math.max(1, Math.floor(timeoutSec / 2)));
  const argv = [...command, '-f', '-n', '-i', container.ifname, '-t', attempts, '-T', '2', '-s', hook, '-O', 'dns', '-O', 'search'];
  if (opts.stateless === true) argv.push('-l');
  const child = nsSpawn(container.ns, argv, { timeoutMs: 10 * 60_000 });
  let lease: Dhcp6Lease;
  try {
    lease = lease6FromEvent('udhcpc6', await waitForEvent({ dir, names: ['bound', 'renew'], after: 0, timeoutSec, failure: exitedFailure(child) }));
  } catch (error) {
    await child.stop();
    throw clientError('udhcpc6', container, error, processOutput(child));
  }
  return {
    kind: 'udhcpc6',
    container,
    dir,
    lease,
    output: () => processOutput(child),
    async release() {
      const after = eventCount(dir);
      child.signal('SIGUSR2');
      await waitForEvent({ dir, names: ['deconfig'], after, timeoutSec: 5 }).catch(() => undefined);
      await child.stop();
    },
    async stop() {
      await child.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// rdisc6

export interface RaPrefix {
  prefix: string;
  onLink: boolean;
  autonomous: boolean;
  /** Seconds; 0xffffffff (infinite) as 4294967295. */
  validLifetime: number;
  preferredLifetime: number;
}

export interface RouterAdvertisement {
  hopLimit: number | null;
  managed: boolean;
  other: boolean;
  preference: string;
  routerLifetime: number;
  prefixes: RaPrefix[];
  mtu: number | null;
  rdnss: string[];
  rdnssLifetime: number | null;
  dnssl: string[];
  dnsslLifetime: number | null;
  sourceLinkLayer: string | null;
  /** The router's (link-local) address, from the "from ..." line. */
  from: string;
}

/** "3600 (0x00000e10) seconds" / "infinite (0xffffffff)" / "unspecified (0x00000000)" -> number of seconds. */
function rdisc6Seconds(value: string): number {
  const hex = /\(\s*0x([0-9a-f]+)\)/i.exec(value);
  if (hex) return Number.parseInt(hex[1] as string, 16);
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) ? n : Number.NaN;
}

function emptyRa(): RouterAdvertisement {
  return {
    hopLimit: null,
    managed: false,
    other: false,
    preference: '',
    routerLifetime: Number.NaN,
    prefixes: [],
    mtu: null,
    rdnss: [],
    rdnssLifetime: null,
    dnssl: [],
    dnsslLifetime: null,
    sourceLinkLayer: null,
    from: '',
  };
}

/** Applies one "Label : value" line of rdisc6's output to the advertisement being read. */
function applyRdisc6Field(ra: RouterAdvertisement, label: string, value: string): void {
  const prefix = ra.prefixes[ra.prefixes.length - 1];
  const yes = /^Yes/.test(value);
  if (label === 'Hop limit') ra.hopLimit = Number.parseInt(value, 10);
  else if (label === 'Stateful address conf.') ra.managed = yes;
  else if (label === 'Stateful other conf.') ra.other = yes;
  else if (label === 'Router preference') ra.preference = value;
  else if (label === 'Router lifetime') ra.routerLifetime = rdisc6Seconds(value);
  else if (label === 'Prefix') ra.prefixes.push({ prefix: value, onLink: false, autonomous: false, validLifetime: Number.NaN, preferredLifetime: Number.NaN });
  else if (label === 'On-link' && prefix) prefix.onLink = yes;
  else if (label === 'Autonomous address conf.' && prefix) prefix.autonomous = yes;
  else if (label === 'Valid time' && prefix) prefix.validLifetime = rdisc6Seconds(value);
  else if (label === 'Pref. time' && prefix) prefix.preferredLifetime = rdisc6Seconds(value);
  else if (label === 'MTU') ra.mtu = Number.parseInt(value, 10);
  else if (label === 'Source link-layer address') ra.sourceLinkLayer = value.toLowerCase();
  else if (label === 'Recursive DNS server') ra.rdnss.push(value);
  else if (label === 'DNS server lifetime') ra.rdnssLifetime = rdisc6Seconds(value);
  else if (label === 'DNS search list') ra.dnssl.push(...words(value));
  else if (label === 'DNS search list lifetime') ra.dnsslLifetime = rdisc6Seconds(value);
}

/** Parses `rdisc6` output (ndisc6 1.0.x): one advertisement per "from ADDRESS" line, which ends it. */
export function parseRdisc6(text: string): RouterAdvertisement[] {
  const found: RouterAdvertisement[] = [];
  let current = emptyRa();
  for (const line of text.split('\n')) {
    const from = /^\s*from\s+(\S+)/.exec(line);
    if (from) {
      current.from = from[1] as string;
      found.push(current);
      current = emptyRa();
      continue;
    }
    const field = /^\s*([^:]+?)\s*:\s*(.*?)\s*$/.exec(line);
    if (field) applyRdisc6Field(current, field[1] as string, field[2] as string);
  }
  return found;
}

/** `rdisc6 -1 eth0` in the container (one solicitation, the first answer); throws when no router answered. */
export async function rdisc6(container: Container, opts: { retries?: number; waitMs?: number } = {}): Promise<RouterAdvertisement> {
  const argv = ['rdisc6', '-1', '-r', String(opts.retries ?? 3), '-w', String(opts.waitMs ?? 1000), container.ifname];
  const result = await run(inNamespace(container.ns, argv), { timeoutMs: 15_000 });
  const first = parseRdisc6(result.stdout)[0];
  if (result.code !== 0 || first === undefined)
    throw new Error(`rdisc6 in ${container.ns}: no router advertisement (exit ${result.code}):\n${result.stdout}${result.stderr}`);
  return first;
}

// ---------------------------------------------------------------------------------------------
// Capture checks

export type Packet6Kind = 'ra' | 'rs' | 'dhcp6-server' | 'dhcp6-client' | 'other';

export interface Packet6 {
  kind: Packet6Kind;
  /** Checksum of the ICMPv6 or UDP payload as tcpdump -vv judged it; 'none' when it printed no verdict. */
  checksum: 'ok' | 'bad' | 'none';
  source: string | null;
  destination: string | null;
  /** DHCPv6 message name as tcpdump prints it (advertise, reply, solicit...). */
  dhcp6Type: string | null;
  packet: CapturedPacket;
}

const DHCP6_ENDPOINTS = /\s([0-9a-f:]+)\.(\d+) > ([0-9a-f:]+)\.(\d+):/i;
const ICMP6_ENDPOINTS = /\)\s([0-9a-f:]+) > ([0-9a-f:]+):/i;

/** Classifies one packet of a `tcpdump -n -vv` capture made with RA_DHCP6_FILTER. */
export function classify6(packet: CapturedPacket): Packet6 {
  const text = packet.lines.join('\n');
  const udp = DHCP6_ENDPOINTS.exec(text);
  if (udp && /\bdhcp6\b/.test(text)) {
    const kind: Packet6Kind = udp[2] === '547' ? 'dhcp6-server' : 'dhcp6-client';
    const checksum = text.includes('[udp sum ok]') ? 'ok' : /\[bad udp cksum [^\]]*\]/.test(text) ? 'bad' : 'none';
    return { kind, checksum, source: udp[1] ?? null, destination: udp[3] ?? null, dhcp6Type: /\bdhcp6 ([a-z-]+)/.exec(text)?.[1] ?? null, packet };
  }
  const icmp = ICMP6_ENDPOINTS.exec(text);
  const kind: Packet6Kind = /router advertisement/.test(text) ? 'ra' : /router solicitation/.test(text) ? 'rs' : 'other';
  const checksum = text.includes('[icmp6 sum ok]') ? 'ok' : /\[bad icmp6 cksum [^\]]*\]/.test(text) ? 'bad' : 'none';
  return { kind, checksum, source: icmp?.[1] ?? null, destination: icmp?.[2] ?? null, dhcp6Type: null, packet };
}

export interface ChecksumCheck {
  /** The packets of the kinds checked. */
  checked: Packet6[];
  bad: Packet6[];
  /** Checked packets on which tcpdump printed no checksum verdict (cannot be judged: a failure too). */
  unjudged: Packet6[];
  /** Per kind: how many were seen. */
  counts: Record<string, number>;
}

/** Sorts the RA and DHCPv6 server packets of a capture by checksum verdict. */
export function checkChecksums6(packets: readonly CapturedPacket[], kinds: readonly Packet6Kind[] = ['ra', 'dhcp6-server']): ChecksumCheck {
  const checked = packets.map(classify6).filter((p) => kinds.includes(p.kind));
  const counts: Record<string, number> = {};
  for (const p of checked) counts[p.kind] = (counts[p.kind] ?? 0) + 1;
  return { checked, bad: checked.filter((p) => p.checksum === 'bad'), unjudged: checked.filter((p) => p.checksum === 'none'), counts };
}

/**
 * Throws unless every RA and DHCPv6 reply in the capture has a correct checksum AND at least `minimum[kind]` packets
 * of each kind were seen (default: one RA and one DHCPv6 reply): a capture that saw nothing proves nothing.
 */
export function assertChecksumsGood6(
  packets: readonly CapturedPacket[],
  minimum: Partial<Record<Packet6Kind, number>> = { ra: 1, 'dhcp6-server': 1 },
): ChecksumCheck {
  const kinds = Object.keys(minimum) as Packet6Kind[];
  const result = checkChecksums6(packets, kinds);
  const problems: string[] = [];
  for (const kind of kinds) {
    const seen = result.counts[kind] ?? 0;
    if (seen < (minimum[kind] ?? 0)) problems.push(`${seen} ${kind} packet(s) captured, want at least ${minimum[kind]}`);
  }
  for (const p of result.bad) problems.push(`bad checksum: ${p.packet.lines[0]}`);
  for (const p of result.unjudged) problems.push(`no checksum verdict: ${p.packet.lines[0]}`);
  if (problems.length > 0) throw new Error(`capture check failed:\n${problems.join('\n')}`);
  return result;
}
