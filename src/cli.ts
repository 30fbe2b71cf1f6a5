/** Command line: `lxc-dhcpd --bridge br0 --range 10.0.0.100-200` serves; `lxc-dhcpd leases` lists the lease table. */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Argv } from 'yargs';
import { isLabel } from './cluster/records.ts';
import { checkConfigReport } from './config/check-config.ts';
import { parseDnsRecords } from './config/dns-records.ts';
import { type DnsmasqSettings, MAX_DNSMASQ_CONF_BYTES, parseDnsmasqConf } from './config/dnsmasq-conf.ts';
import { type Ipv6Flags, parseIpv6Flags } from './config/ipv6.ts';
import { lxcNetFlags, parseLxcNet, type ShellFile } from './config/lxc-net.ts';
import { type AddressRange, checkRangeInSubnet, parseRange } from './config/range.ts';
import { type HostEntry, parseHostEntry } from './config/reservations.ts';
import { MAX_SHELL_FILE_BYTES } from './config/shell-assignments.ts';
import { ControlError, controlRequest } from './control/client.ts';
import { type ControlRequest, type ControlResponse, defaultControlSocketPath } from './control/protocol.ts';
import { type DaemonConfig, type RunningDaemon, StartupError, startDaemon } from './daemon.ts';
import { MAX_STATIC_ROUTES, parseRoute, type StaticRoute } from './dhcp/routes.ts';
import { PORT_LEASE_LIMIT } from './dhcp/server.ts';
import { readResolvConf } from './dns/forward/resolv-conf.ts';
import { parseUpstream, type Upstream } from './dns/forward/upstream.ts';
import { createRecursor } from './dns/recursor.ts';
import { RRL_RESPONSES_PER_SECOND } from './dns/server.ts';
import { defaultBridgeAddress } from './host/default-address.ts';
import { netnsSuffix } from './host/netns-identity.ts';
import { dnsmasqRecordToLease, parseDnsmasqLeases } from './leases/dnsmasq-format.ts';
import type { Lease } from './leases/lease.ts';
import type { StoredLease6 } from './leases/lease6.ts';
import { formatLeaseTable, type LeaseRow, leaseRows, leases6AsJson, leasesAsJson } from './leases/report.ts';
import { LeaseStore, readLeases6ReadOnly, readLeasesReadOnly, readReservationsReadOnly } from './leases/store.ts';
import { createLogger } from './log.ts';
import { type IPv4, parseIPv4, parseMac } from './net/address.ts';
import { parseServeArgs, readConfigFile, SERVE_FLAGS, type ServeArgs } from './serve-flags.ts';
import { createShutdown, installShutdownHandlers } from './shutdown.ts';
import { createNotifier, isUnderSystemd } from './systemd/notify.ts';
import { startWatchdog, type Watchdog } from './systemd/watchdog.ts';
import { VERSION } from './version.ts';

function parseCidr(text: string): { ip: number; prefixLength: number } | null {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  const ip = m ? parseIPv4(m[1] as string) : null;
  const prefixLength = m ? Number(m[2]) : NaN;
  return ip === null || !(prefixLength >= 1 && prefixLength <= 30) ? null : { ip, prefixLength };
}

const PROGRAM = 'lxc-dhcpd';

function die(message: string): never {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
  process.exit(2);
}

function defaultLeaseDb(bridge: string): string {
  return `/var/lib/lxc-dhcpd/${bridge}${netnsSuffix()}.db`;
}

function defaultControlSocket(bridge: string): string {
  return defaultControlSocketPath(`${bridge}${netnsSuffix()}`);
}

/** The limit flags' bounds; each message says what is wrong and the default. */
function checkLimits(argv: ServeArgs): void {
  if (!Number.isInteger(argv['port-lease-limit']) || argv['port-lease-limit'] < 0) {
    die(`--port-lease-limit ${argv['port-lease-limit']} is not a whole number >= 0 (default ${PORT_LEASE_LIMIT}; 0: no limit)`);
  }
  if (!Number.isInteger(argv['dns-port']) || argv['dns-port'] < 1 || argv['dns-port'] > 65535) {
    die(`--dns-port ${argv['dns-port']} is not a port number 1-65535 (default 53)`);
  }
  if (!Number.isInteger(argv['dns-rate-limit']) || argv['dns-rate-limit'] < 0) {
    die(`--dns-rate-limit ${argv['dns-rate-limit']} is not a whole number of answers a second (0 turns it off; default ${RRL_RESPONSES_PER_SECOND})`);
  }
}

function parseHosts(texts: string[]): HostEntry[] {
  return texts.map((text) => {
    const r = parseHostEntry(text);
    if (!r.ok) die(`--host ${r.error}`);
    return r.value;
  });
}

function parseRoutes(texts: string[]): StaticRoute[] {
  if (texts.length > MAX_STATIC_ROUTES) die(`--route given ${texts.length} times: at most ${MAX_STATIC_ROUTES} routes fit in one DHCP option`);
  return texts.map((text) => {
    const r = parseRoute(text);
    if (!r.ok) die(`--route ${r.error}`);
    return r.value;
  });
}

function parseRelays(texts: string[]): IPv4[] {
  return texts.map((text) => {
    const relay = parseIPv4(text);
    if (relay === null || relay === 0) die(`--relay ${JSON.stringify(text)} is not an IPv4 address (e.g. --relay 10.0.0.2)`);
    return relay;
  });
}

function parseUpstreams(texts: string[]): Upstream[] {
  return texts.map((text) => {
    try {
      return parseUpstream(text);
    } catch (e) {
      return die(`--upstream: ${(e as Error).message} (e.g. --upstream 192.0.2.53 or --upstream 192.0.2.53:5353)`);
    }
  });
}

/** --ipv6, --range6, --nat6; ADDR/64 configures the host like --address, so it needs host set-up. */
function ipv6From(argv: ServeArgs): Ipv6Flags {
  const flags = parseIpv6Flags({ ipv6: argv.ipv6, range6: argv.range6, nat6: argv.nat6 });
  if (!flags.ok) die(flags.error);
  if (!argv['host-setup'] && flags.value.mode.kind === 'static') {
    die('--ipv6 ADDR/64 configures the host: with --no-host-setup give --ipv6 auto (the address the bridge has) or --ipv6 none');
  }
  return flags.value;
}

/** --host-setup and what configures it (--address or the default address, --uplink, --nat, --firewall). */
function hostSetupFrom(argv: ServeArgs, range: AddressRange): DaemonConfig['hostSetup'] {
  if (!argv['host-setup']) {
    if (argv.address !== undefined || argv.uplink !== undefined) {
      die('--address and --uplink configure the host: they cannot be combined with --no-host-setup');
    }
    return null;
  }
  let address: { ip: number; prefixLength: number };
  if (argv.address !== undefined) {
    const parsed = parseCidr(argv.address);
    if (!parsed) die(`--address ${JSON.stringify(argv.address)} is not an address with prefix length, e.g. 10.0.0.1/24`);
    address = parsed;
  } else {
    const chosen = defaultBridgeAddress(range, argv.netmask);
    if (!chosen.ok) die(chosen.error);
    address = chosen.value;
  }
  const rangeError = checkRangeInSubnet(range, address.ip, address.prefixLength);
  if (rangeError !== null) die(argv.address !== undefined ? rangeError.replace('the bridge subnet', `--address ${argv.address}'s subnet`) : rangeError);
  const bridgeMac = argv['bridge-mac'] === undefined ? undefined : parseMac(argv['bridge-mac']);
  if (bridgeMac === null || (bridgeMac !== undefined && (Number.parseInt(bridgeMac.slice(0, 2), 16) & 1) === 1)) {
    die(`--bridge-mac ${JSON.stringify(argv['bridge-mac'])} is not a unicast MAC address like 00:16:3e:00:00:00`);
  }
  return {
    address,
    ...(bridgeMac !== undefined ? { bridgeMac } : {}),
    ...(argv.uplink !== undefined ? { uplink: argv.uplink } : {}),
    nat: argv.nat,
    firewall: argv.firewall,
  };
}

async function metricsFrom(argv: ServeArgs): Promise<DaemonConfig['metrics']> {
  if (argv.metrics === undefined) return null;
  // Imported here: metrics.ts brings prom-client, whose loading would slow every start without --metrics.
  const { parseMetricsListen } = await import('./metrics.ts');
  const listen = parseMetricsListen(argv.metrics);
  if (!listen.ok) die(listen.error);
  return { address: listen.value.address, port: listen.value.port };
}

/** --dnsmasq-conf read and parsed (its domain: --domain); null without the flag. A bad line ends the command. */
function dnsmasqConfFrom(path: string | undefined, domain: string): DnsmasqSettings | null {
  if (path === undefined) return null;
  const text = readBounded(path, MAX_DNSMASQ_CONF_BYTES);
  if (text === null) die(`--dnsmasq-conf ${path} does not exist`);
  const parsed = parseDnsmasqConf(text, path, domain);
  if (!parsed.ok) die(parsed.error);
  return parsed.value;
}

/** What the daemon logs at start about the dnsmasq conf file: every line not served, and settings it does not take. */
function dnsmasqConfNotices(path: string | undefined, conf: DnsmasqSettings | null): string[] {
  if (path === undefined || conf === null) return [];
  return [
    ...conf.unsupported.map((u) => `${u.file}:${u.line}: ${u.option} not served (${u.reason})`),
    ...(conf.range ? [`${path}: its dhcp-range is not served: --range (or LXC_DHCP_RANGE) is the one range`] : []),
    ...(conf.domain !== null ? [`${path}: domain=${conf.domain} is not served: give --domain`] : []),
    ...(conf.leaseMax !== null ? [`${path}: dhcp-lease-max is not served: the range bounds the leases`] : []),
  ];
}

/** Longest --cluster-ttl: a dead host's names outlive it this long. The shortest, 2 s: etcd grants no shorter lease. */
const MAX_CLUSTER_TTL = 600;

/** --cluster-host's default: the host name's first label, lower-cased, when it is a DNS label. */
function defaultClusterHost(): string | null {
  const label = (hostname().split('.')[0] ?? '').toLowerCase();
  return isLabel(label) ? label : null;
}

/** --cluster-etcd and the flags that go with it; null without it (any other cluster flag is then an error). */
function clusterFrom(argv: ServeArgs): DaemonConfig['cluster'] {
  const given = ['etcd-cacert', 'etcd-cert', 'etcd-key', 'cluster-host', 'cluster-address'] as const;
  if (argv['cluster-etcd'] === undefined) {
    const stray = given.find((flag) => argv[flag] !== undefined);
    if (stray) die(`--${stray} needs --cluster-etcd URL`);
    return null;
  }
  const endpoints = argv['cluster-etcd'].split(',').map((e) => e.trim());
  const tls = argv['etcd-cacert'] !== undefined;
  for (const e of endpoints) {
    if (!/^https?:\/\/[^/\s]+(:\d+)?\/?$/.test(e)) die(`--cluster-etcd ${JSON.stringify(e)} is not an etcd endpoint URL like http://192.0.2.10:2379`);
    if (tls !== e.startsWith('https:'))
      die(`--cluster-etcd ${e}: ${tls ? 'with --etcd-cacert give https:// endpoints' : 'an https:// endpoint needs --etcd-cacert'}`);
  }
  if ((argv['etcd-cert'] === undefined) !== (argv['etcd-key'] === undefined)) die('--etcd-cert and --etcd-key go together');
  const host = argv['cluster-host'] ?? defaultClusterHost();
  if (host === null || !isLabel(host.toLowerCase()))
    die(`--cluster-host ${JSON.stringify(host ?? '')} is not a DNS label (letters, digits, hyphens; give --cluster-host NAME)`);
  const address = argv['cluster-address'] === undefined ? null : parseIPv4(argv['cluster-address']);
  if (address === 0 || (argv['cluster-address'] !== undefined && address === null))
    die(`--cluster-address ${JSON.stringify(argv['cluster-address'])} is not an IPv4 address`);
  const ttl = argv['cluster-ttl'];
  if (!Number.isInteger(ttl) || ttl < 2 || ttl > MAX_CLUSTER_TTL) die(`--cluster-ttl ${ttl} is not whole seconds 2-${MAX_CLUSTER_TTL} (default 5)`);
  return {
    endpoints,
    tls: tls ? { cacert: argv['etcd-cacert'] as string, cert: argv['etcd-cert'] ?? null, key: argv['etcd-key'] ?? null } : null,
    host: host.toLowerCase(),
    address,
    ttlSeconds: ttl,
    routes: argv['cluster-routes'],
  };
}

/** The daemon's configuration from the parsed flags; a flag that makes no sense ends the command with one line. */
async function daemonConfig(argv: ServeArgs): Promise<DaemonConfig> {
  const range = parseRange(argv.range);
  if (!range.ok) die(range.error);
  if (!Number.isInteger(argv['lease-time']) || argv['lease-time'] < 60) {
    die(`--lease-time ${argv['lease-time']} is too short: give whole seconds, at least 60 (default 3600)`);
  }
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(argv.domain)) {
    die(`--domain ${JSON.stringify(argv.domain)} is not a domain name (e.g. lxc)`);
  }
  const conf = dnsmasqConfFrom(argv['dnsmasq-conf'], argv.domain.toLowerCase());
  const hosts = [...parseHosts(argv.host), ...(conf?.reservations ?? []), ...(conf?.nameReservations ?? [])];
  const relays = parseRelays(argv.relay);
  const routes = [...parseRoutes(argv.route), ...(conf?.routes ?? [])];
  checkLimits(argv);
  const upstreams = [...parseUpstreams(argv.upstream), ...(conf?.upstreams ?? [])];
  const records = parseDnsRecords(argv['dns-record'], argv.domain.toLowerCase());
  if (!records.ok) die(records.error);
  const dnsRecords = [...records.value, ...(conf?.records ?? [])];
  const hostSetup = hostSetupFrom(argv, range.value);
  const ipv6 = ipv6From(argv);
  const metrics = await metricsFrom(argv);
  return {
    hostSetup,
    ipv6,
    controlSocket: argv['control-socket'] === '' ? null : (argv['control-socket'] ?? defaultControlSocket(argv.bridge)),
    metrics,
    dnsmasqLeaseFile: argv['dnsmasq-leasefile'] ?? null,
    notices: [...LXC_NET.notes, ...dnsmasqConfNotices(argv['dnsmasq-conf'], conf)],
    importLeasesFrom: LXC_NET.active ? `/var/lib/misc/dnsmasq.${argv.bridge}.leases` : null,
    resolved: argv.resolved ?? 'auto',
    cluster: clusterFrom(argv),
    bridge: argv.bridge,
    range: range.value,
    leaseSeconds: argv['lease-time'],
    domain: argv.domain.toLowerCase(),
    leaseDb: argv['lease-db'] ?? defaultLeaseDb(argv.bridge),
    hosts,
    hostsFile: argv['hosts-file'] ?? null,
    rapidCommit: argv['rapid-commit'],
    probe: argv.probe && (conf?.ping ?? true),
    probeTimeoutMs: argv['probe-timeout'],
    declineQuarantineSeconds: argv['decline-time'],
    relays,
    routes,
    portLeaseLimit: argv['port-lease-limit'],
    dnsServersWhenOff: (upstreams.length > 0 ? upstreams : readResolvConf(argv['resolv-conf']))
      .filter((u) => u.family === 4 && !u.address.startsWith('127.'))
      .map((u) => parseIPv4(u.address) as number),
    dns: argv.dns
      ? {
          port: argv['dns-port'],
          records: dnsRecords,
          rateLimit: argv['dns-rate-limit'],
          bareNames: argv['bare-names'] ?? false,
          recursor: (own, observer, log) => createRecursor({ upstreams, resolvConf: argv['resolv-conf'], ignore: own, log, ...(observer ? { observer } : {}) }),
        }
      : null,
  };
}

async function serve(argv: ServeArgs): Promise<void> {
  const config = await daemonConfig(argv);
  const log = createLogger(argv['log-level'], undefined, isUnderSystemd() ? 'journald' : 'plain');
  const notifier = createNotifier({ onError: (e) => log.debug(`sd_notify: ${e.message}`) });
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(config, log);
  } catch (e) {
    if (e instanceof StartupError) die(e.message);
    throw e;
  }
  // problem is set exactly when NOTIFY_SOCKET is set but notifications are impossible (enabled is false then).
  if (notifier.problem) log.warn(`systemd notification: ${notifier.problem}`);
  if (notifier.enabled) void notifier.ready(daemon.summary);
  let watchdog: Watchdog | null = null;
  const shutdown = createShutdown({
    log,
    teardown: () => daemon.close(),
    exit: (code) => process.exit(code),
    onStopping: () => {
      watchdog?.stop();
      if (notifier.enabled) void notifier.stopping();
    },
  });
  installShutdownHandlers(shutdown);
  process.on('SIGHUP', () => {
    if (shutdown.stopping) return;
    if (notifier.enabled) void notifier.reloading();
    daemon.reload();
    if (notifier.enabled) void notifier.ready(daemon.summary);
  });
  watchdog = startWatchdog(notifier);
  if (watchdog) log.info(`systemd watchdog: WATCHDOG=1 every ${Math.round(watchdog.intervalMs)} ms`);
}

function controlPath(argv: { bridge: string; 'control-socket': string | undefined }): string {
  return argv['control-socket'] ?? defaultControlSocket(argv.bridge);
}

async function askDaemon(argv: { bridge: string; 'control-socket': string | undefined }, request: ControlRequest): Promise<void> {
  let response: ControlResponse;
  try {
    response = await controlRequest(controlPath(argv), request);
  } catch (e) {
    die(`${(e as Error).message} (is lxc-dhcpd running for --bridge ${argv.bridge}?)`);
  }
  if (!response.ok) die(response.error);
  process.stdout.write(`${'message' in response ? response.message : JSON.stringify('leases' in response ? response.leases : response.cluster)}\n`);
}

/** `lxc-dhcpd cluster`: the running daemon's view of the cluster (hosts, their names), as a table or JSON. */
async function showCluster(argv: { bridge: string; 'control-socket': string | undefined; json: boolean }): Promise<void> {
  let response: ControlResponse;
  try {
    response = await controlRequest(controlPath(argv), { op: 'cluster' }, 2000);
  } catch (e) {
    die(`${(e as Error).message} (is lxc-dhcpd running for --bridge ${argv.bridge}?)`);
  }
  if (!response.ok) die(response.error);
  if (!('cluster' in response)) die('the daemon answered without a cluster view');
  const { formatClusterReport } = await import('./cluster/report.ts');
  process.stdout.write(argv.json ? `${JSON.stringify(response.cluster, null, 2)}\n` : formatClusterReport(response.cluster));
}

/** Imports a dnsmasq lease file into the lease database, so every container keeps its address after a migration. */
async function importDnsmasq(argv: { file: string; bridge: string; 'lease-db': string | undefined; 'control-socket': string | undefined }): Promise<void> {
  try {
    await controlRequest(controlPath(argv), { op: 'leases' }, 1000);
    die(`lxc-dhcpd is running for ${argv.bridge}: stop it first (systemctl stop lxc-dhcpd@${argv.bridge}), import, start it again`);
  } catch (e) {
    if (!(e instanceof ControlError)) throw e;
  }
  let text: string;
  try {
    text = readFileSync(argv.file, 'utf8');
  } catch (e) {
    die(`cannot read ${argv.file}: ${(e as Error).message}`);
  }
  const parsed = parseDnsmasqLeases(text);
  if (parsed.errors.length > 0) {
    const first = parsed.errors[0] as { line: number; message: string };
    die(`${argv.file}:${first.line}: ${first.message} (${parsed.errors.length} bad line(s); nothing imported)`);
  }
  const path = argv['lease-db'] ?? defaultLeaseDb(argv.bridge);
  const store = LeaseStore.open(path);
  const now = Date.now();
  for (const record of parsed.records) store.stage(dnsmasqRecordToLease(record, now));
  const written = store.commit();
  store.close();
  process.stdout.write(`imported ${parsed.records.length} leases from ${argv.file} into ${path} (${written} rows written)\n`);
}

/**
 * Active leases from the running daemon (control socket: knows every reservation, so the TYPE column is exact), or
 * from the database when the daemon is not running or --all asks for ended records too.
 */
async function listLeases(argv: {
  bridge: string;
  'lease-db': string | undefined;
  'control-socket': string | undefined;
  json: boolean;
  all: boolean;
}): Promise<void> {
  let rows: LeaseRow[] | null = null;
  // An explicit --lease-db means that database, not whatever daemon owns the default socket.
  if (!argv.all && (argv['lease-db'] === undefined || argv['control-socket'] !== undefined)) {
    try {
      const response = await controlRequest(controlPath(argv), { op: 'leases' }, 2000);
      if (response.ok && 'leases' in response) rows = response.leases;
    } catch (e) {
      if (!(e instanceof ControlError)) throw e;
    }
  }
  if (rows === null) {
    const path = argv['lease-db'] ?? defaultLeaseDb(argv.bridge);
    let leases: Lease[];
    let leases6: StoredLease6[];
    let reserved: Set<string>;
    try {
      leases = readLeasesReadOnly(path);
      leases6 = readLeases6ReadOnly(path);
      reserved = new Set(readReservationsReadOnly(path).map((r) => r.mac));
    } catch (e) {
      die(`cannot read lease database ${path}: ${(e as Error).message} (is --bridge or --lease-db right?)`);
    }
    const now = Date.now();
    // Learned (SLAAC) addresses live only in the running daemon: the database holds leases.
    rows = argv.all
      ? [...leasesAsJson(leases, now, reserved), ...leases6AsJson(leases6, now, reserved)]
      : leaseRows(
          leases.filter((l) => l.state === 'bound' && l.expiresAt > now),
          leases6,
          [],
          now,
          reserved,
        );
  }
  process.stdout.write(argv.json ? `${JSON.stringify(rows, null, 2)}\n` : formatLeaseTable(rows));
}

/** At most `limit` + 1 bytes of a file (so a parser sees it is too large; /dev/zero cannot fill memory); null if absent. */
function readBounded(path: string, limit: number): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    die(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null);
    return buffer.subarray(0, length).toString('utf8');
  } catch (e) {
    return die(`cannot read ${path}: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** `check-config`: what --lxc-net and a dnsmasq conf file would serve, and every line not served; exit 0, or 2 on an error. */
function checkConfig(argv: { 'lxc-net': string | undefined; lxc: string; 'dnsmasq-conf': string | undefined; domain: string }): void {
  const useLxcNet = argv['lxc-net'] !== undefined || argv['dnsmasq-conf'] === undefined;
  let flags: ReturnType<typeof lxcNetFlags> | null = null;
  if (useLxcNet) {
    const path = argv['lxc-net'] || '/etc/default/lxc-net';
    const text = readBounded(path, MAX_SHELL_FILE_BYTES);
    if (text === null) die(`${path} does not exist (give --lxc-net FILE)`);
    const lxcText = readBounded(argv.lxc, MAX_SHELL_FILE_BYTES);
    const lxc: ShellFile | null = lxcText === null ? null : { path: argv.lxc, text: lxcText };
    const settings = parseLxcNet({ path, text }, lxc);
    if (!settings.ok) die(settings.error);
    flags = lxcNetFlags(settings.value);
  }
  const confPath = argv['dnsmasq-conf'] ?? flags?.['dnsmasq-conf'] ?? null;
  let conf: Parameters<typeof checkConfigReport>[1] = null;
  if (confPath !== null) {
    const text = readBounded(confPath, MAX_DNSMASQ_CONF_BYTES);
    if (text === null) die(`${confPath} does not exist`);
    const settings = parseDnsmasqConf(text, confPath, flags?.domain ?? argv.domain);
    if (!settings.ok) die(settings.error);
    conf = { file: confPath, settings: settings.value };
  }
  process.stdout.write(checkConfigReport(flags, conf));
}

/**
 * `--lxc-net [FILE]` on the serve command line: lxc-net's configuration as flag values, which yargs takes below
 * the command line (flags given win, as they do over --config), plus the notes for the start-up log. Read before
 * yargs runs because the flag may come without a value, which a yargs config hook would not see.
 */
function lxcNetFromArgs(args: readonly string[]): { active: boolean; flags: Record<string, string | number | boolean>; notes: string[] } {
  const none = { active: false, flags: {}, notes: [] };
  if (args[0] !== undefined && !args[0].startsWith('-')) return none; // a subcommand (check-config reads it itself)
  const at = args.findIndex((a) => a === '--lxc-net' || a.startsWith('--lxc-net='));
  if (at < 0) return none;
  const given = args[at] as string;
  const next = args[at + 1];
  const path = given.includes('=') ? given.slice('--lxc-net='.length) : next !== undefined && !next.startsWith('-') ? next : '/etc/default/lxc-net';
  const text = readBounded(path, MAX_SHELL_FILE_BYTES);
  if (text === null) die(`--lxc-net: ${path} does not exist`);
  const lxcText = readBounded('/etc/default/lxc', MAX_SHELL_FILE_BYTES);
  const settings = parseLxcNet({ path, text }, lxcText === null ? null : { path: '/etc/default/lxc', text: lxcText });
  if (!settings.ok) die(settings.error);
  const { notes, 'dnsmasq-conf': confFile, ...flags } = lxcNetFlags(settings.value);
  return { active: true, flags: { ...flags, ...(confFile !== null ? { 'dnsmasq-conf': confFile } : {}) }, notes };
}

/** The subcommands that show: leases (from the database or the daemon) and the daemon's cluster view. */
function viewCommands<T>(y: Argv<T>): Argv<T> {
  return y
    .command(
      'leases',
      'list the leases in the database (works while the daemon runs)',
      (y) =>
        y
          .option('bridge', { type: 'string', default: 'br0', describe: 'bridge whose default database to read' })
          .option('lease-db', { type: 'string', describe: 'lease database path' })
          .option('control-socket', { type: 'string', describe: 'ask the running daemon here [default: /run/lxc-dhcpd/BRIDGE.sock]' })
          .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
          .option('all', { type: 'boolean', default: false, describe: 'include released, expired and declined records' }),
      (argv) => listLeases(argv),
    )
    .command(
      'cluster',
      "list the cluster's hosts (subnet, address, last seen) and the names each holds, as the running daemon sees them",
      (y) =>
        y
          .option('bridge', { type: 'string', default: 'br0', describe: 'bridge of the daemon to ask' })
          .option('control-socket', { type: 'string', describe: 'ask the running daemon here [default: /run/lxc-dhcpd/BRIDGE.sock]' })
          .option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
      (argv) => showCluster(argv),
    );
}

/** The operator subcommands (leases, cluster, release, reserve, unreserve, import-dnsmasq, check-config) on a yargs parser. */
function operatorCommands<T>(y: Argv<T>): Argv<T> {
  return viewCommands(y)
    .command(
      'release <target>',
      'end the lease of a MAC, IP or name now (the daemon drops it and its DNS name)',
      (y) =>
        y
          .positional('target', { type: 'string', demandOption: true, describe: 'MAC, IP address or host name' })
          .option('bridge', { type: 'string', default: 'br0' })
          .option('control-socket', { type: 'string' }),
      (argv) => askDaemon(argv, { op: 'release', target: argv.target }),
    )
    .command(
      'reserve <mac> <ip> [name]',
      'always give IP (and NAME.<domain>) to MAC; persisted, applies without a restart',
      (y) =>
        y
          .positional('mac', { type: 'string', demandOption: true })
          .positional('ip', { type: 'string', demandOption: true })
          .positional('name', { type: 'string' })
          .option('ip6', { type: 'string', describe: "also give this IPv6 address of the bridge's /64 to MAC's DHCPv6 requests" })
          .option('bridge', { type: 'string', default: 'br0' })
          .option('control-socket', { type: 'string' }),
      (argv) =>
        askDaemon(argv, {
          op: 'reserve',
          mac: argv.mac,
          ip: argv.ip,
          ...(argv.name !== undefined ? { name: argv.name } : {}),
          ...(argv.ip6 !== undefined ? { ip6: argv.ip6 } : {}),
        }),
    )
    .command(
      'unreserve <target>',
      'remove a reservation made with reserve (by MAC, IP or name)',
      (y) =>
        y
          .positional('target', { type: 'string', demandOption: true })
          .option('bridge', { type: 'string', default: 'br0' })
          .option('control-socket', { type: 'string' }),
      (argv) => askDaemon(argv, { op: 'unreserve', target: argv.target }),
    )
    .command(
      'import-dnsmasq <file>',
      'import a dnsmasq lease file (e.g. /var/lib/misc/dnsmasq.lxcbr0.leases) so every container keeps its address',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true })
          .option('bridge', { type: 'string', default: 'br0' })
          .option('lease-db', { type: 'string' })
          .option('control-socket', { type: 'string' }),
      (argv) => importDnsmasq(argv),
    )
    .command(
      'check-config',
      'print what an lxc-net configuration and a dnsmasq conf file would serve, and every line not served; exit 0, or 2 on an error',
      (y) =>
        y
          .option('lxc-net', { type: 'string', describe: 'lxc-net file [default: /etc/default/lxc-net; read when --dnsmasq-conf is not given]' })
          .option('lxc', { type: 'string', default: '/etc/default/lxc', describe: 'read first, as lxc-net does (sources the lxc-net file)' })
          .option('dnsmasq-conf', { type: 'string', describe: "dnsmasq conf file [default: lxc-net's LXC_DHCP_CONFILE]" })
          .option('domain', { type: 'string', default: 'lxc', describe: 'domain of relative names when neither file sets one' }),
      (argv) => checkConfig(argv),
    );
}

/** Subcommands, --help and every command line parseServeArgs leaves to it: yargs, loaded only then (serve-flags.ts). */
async function runWithYargs(args: readonly string[]): Promise<void> {
  const { default: yargs } = await import('yargs');
  const withServe = yargs(args)
    .scriptName(PROGRAM)
    .usage('$0 --bridge BRIDGE --range FIRST-LAST [options]\n\nDHCP for LXC containers on a Linux bridge.')
    .command(
      '$0',
      'serve DHCP on the bridge',
      (y) =>
        y
          .options(SERVE_FLAGS)
          .option('config', { type: 'string', describe: 'read options from FILE (key = value lines, same names as the flags; flags win)' })
          .config('config', (path: string) => readConfigFile(path))
          .config(LXC_NET.flags)
          .example('$0 --bridge br0 --range 10.0.0.100-200', 'create/reuse br0 with 10.0.0.1/24, serve DHCP+DNS, NAT the subnet')
          .example('$0 --config /etc/lxc-dhcpd/br0.conf', 'the same from a config file')
          .example('$0 --bridge br0 --range 10.0.0.100-200 --host 02:1a:b0:00:00:05,10.0.0.5,web', 'with a reservation'),
      (argv) => serve(argv),
    );
  await operatorCommands(withServe)
    .strict()
    .help()
    .version(VERSION)
    .fail((message, error) => {
      die(error ? error.message : `${message} (see ${PROGRAM} --help)`);
    })
    .parseAsync();
}

const ARGS = process.argv.slice(2);
const LXC_NET = lxcNetFromArgs(ARGS);
const plainServe = parseServeArgs(ARGS, LXC_NET.flags);
if (plainServe === null) await runWithYargs(ARGS);
else await serve(plainServe).catch((e: unknown) => die((e as Error).message));
