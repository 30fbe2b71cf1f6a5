/**
 * The serve command's flag table (one list: yargs, the config file keys and the parser below all read it) and a
 * parser of the serve command line that needs no yargs. yargs with its help renderer (cliui, string-width, y18n) costs
 * about 14 MB of RSS that a running daemon keeps for its whole life (ES modules are never unloaded), more than the
 * daemon's whole budget over bare Node (docs/performance.md). So a command line that is plainly "serve with these
 * flags" is read here with Node's own util.parseArgs from the same table, and everything else (--help, a subcommand,
 * any error, any spelling only yargs reads, such as camelCase or `--host A B`) returns null and goes to yargs, which
 * then decides and words the error exactly as before. test/unit/serve-flags.test.ts checks both give the same flags.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { InferredOptionTypes, Options } from 'yargs';
import { parseConfigFile } from './config/file.ts';
import { MAX_STATIC_ROUTES } from './dhcp/routes.ts';
import { PORT_LEASE_LIMIT } from './dhcp/server.ts';
import { RRL_RESPONSES_PER_SECOND } from './dns/server.ts';
import type { LogLevel } from './log.ts';

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const satisfies readonly LogLevel[];
const DEFAULT_LOG_LEVEL: LogLevel = 'info';

/** The serve command's flags; config-file keys and which of them repeat are derived from this one list. */
export const SERVE_FLAGS = {
  bridge: { type: 'string', demandOption: true, describe: 'bridge the containers are attached to' },
  range: { type: 'string', demandOption: true, describe: 'addresses to lease, e.g. 10.0.0.100-200 or 10.0.0.100-10.0.0.200' },
  'lease-time': { type: 'number', default: 3600, describe: 'lease length in seconds' },
  domain: { type: 'string', default: 'lxc', describe: 'domain given to containers (option 15 and 119)' },
  'lease-db': { type: 'string', describe: 'lease database path [default: /var/lib/lxc-dhcpd/BRIDGE.db]' },
  host: { type: 'string', array: true, default: [] as string[], describe: 'static reservation MAC,IP[,[IP6]][,NAME], or NAME,IP by host name; repeatable' },
  'hosts-file': { type: 'string', describe: 'file of --host lines (MAC,IP[,[IP6]][,NAME] or NAME,IP; # comments), re-read on SIGHUP' },
  'log-level': { choices: LOG_LEVELS, default: DEFAULT_LOG_LEVEL, describe: 'log verbosity' },
  probe: { type: 'boolean', default: true, describe: 'ARP-probe never-leased addresses before offering them (--no-probe to skip)' },
  'probe-timeout': { type: 'number', default: 200, describe: 'milliseconds to wait for an ARP answer (a host on the bridge answers in well under 1 ms)' },
  'rapid-commit': { type: 'boolean', default: true, describe: 'answer DISCOVER+rapid-commit (RFC 4039) with an ACK' },
  'decline-time': { type: 'number', default: 600, describe: 'seconds a declined or conflicting address is quarantined' },
  route: {
    type: 'string',
    array: true,
    default: [] as string[],
    describe: `classless static route CIDR,GATEWAY for containers (DHCP options 121/249; the default route via the bridge address is added); repeatable, at most ${MAX_STATIC_ROUTES}`,
  },
  relay: {
    type: 'string',
    array: true,
    default: [] as string[],
    describe: 'serve requests relayed by this relay agent IP (giaddr and source); repeatable [default: relayed requests are dropped]',
  },
  'port-lease-limit': {
    type: 'number',
    default: PORT_LEASE_LIMIT,
    describe: 'new leases one bridge port may take per hour, and at once (0: no limit); renewals and returning clients are not counted',
  },
  'host-setup': {
    type: 'boolean',
    default: true,
    describe: 'create/reuse the bridge, its address, forwarding and NAT (--no-host-setup: serve on a bridge you configured)',
  },
  address: { type: 'string', describe: 'bridge address with prefix, e.g. 10.0.0.1/24 [default: first address of the /--netmask holding the range]' },
  netmask: { type: 'number', default: 24, describe: 'prefix length of the default bridge address' },
  uplink: { type: 'string', describe: 'masquerade only traffic leaving through this interface [default: any non-bridge interface]' },
  nat: { type: 'boolean', default: true, describe: 'masquerade container traffic leaving the subnet (--no-nat to skip)' },
  ipv6: {
    type: 'string',
    describe: 'IPv6 on the bridge: auto (a stable ULA /64 from /etc/machine-id and the bridge name, PREFIX::1 on the bridge), none, or ADDR/64 [default: auto]',
  },
  range6: {
    type: 'string',
    describe: 'stateful DHCPv6 addresses FIRST-LAST in the bridge /64, or ::100-::1ff within it [default: none, SLAAC + stateless DHCPv6]',
  },
  nat6: { type: 'boolean', describe: 'masquerade container IPv6 leaving the bridge (--no-nat6 to skip) [default: on for a ULA prefix, off for a global one]' },
  firewall: { type: 'boolean', default: true, describe: 'accept DHCP/DNS from the bridge and forwarding to/from it (--no-firewall to skip)' },
  dns: { type: 'boolean', default: true, describe: 'serve DNS on the bridge address (--no-dns to turn off)' },
  'dns-port': { type: 'number', default: 53, describe: 'DNS port on the bridge address' },
  'dns-rate-limit': {
    type: 'number',
    default: RRL_RESPONSES_PER_SECOND,
    describe: 'UDP answers a second to each /24 outside the bridge subnet and host (response rate limiting; 0 = off)',
  },
  'dns-record': {
    type: 'string',
    array: true,
    default: [] as string[],
    describe:
      'static DNS record NAME,A,IP | NAME,AAAA,IP6 | NAME,CNAME,TARGET | NAME,TXT,TEXT | NAME,SRV,"PRIO WEIGHT PORT TARGET"; a NAME without a dot is in --domain; a container holding the name wins; repeatable',
  },
  'bridge-mac': {
    type: 'string',
    describe: 'the MAC of a bridge lxc-dhcpd creates (lxc-net: LXC_BRIDGE_MAC, 00:16:3e:00:00:00); a bridge that exists keeps its own',
  },
  'lxc-net': {
    type: 'string',
    describe:
      'serve what lxc-net would: read its configuration (FILE, default /etc/default/lxc-net, after /etc/default/lxc) for the bridge, address, range, domain, IPv6 and LXC_DHCP_CONFILE; flags given here win; on the command line only',
  },
  'dnsmasq-conf': {
    type: 'string',
    describe: 'read a dnsmasq conf file for reservations (dhcp-host), records, server=, routes and no-ping; every line it cannot serve is listed at start',
  },
  'bare-names': {
    type: 'boolean',
    describe: "answer a container's single-label name (web) as web.DOMAIN, and other single-label A/AAAA/ANY as NXDOMAIN, not forwarded [default: off]",
  },
  upstream: {
    type: 'string',
    array: true,
    default: [] as string[],
    describe: 'upstream DNS server IP[:PORT], repeatable [default: nameservers of --resolv-conf]',
  },
  'resolv-conf': { type: 'string', default: '/etc/resolv.conf', describe: 'where to read upstream nameservers (re-read when it changes)' },
  'control-socket': { type: 'string', describe: 'root-only control socket for leases/release/reserve ("" for none) [default: /run/lxc-dhcpd/BRIDGE.sock]' },
  metrics: { type: 'string', describe: 'serve Prometheus metrics on [ADDR:]PORT (loopback unless an address is given), e.g. 9167' },
  'dnsmasq-leasefile': { type: 'string', describe: 'also keep a lease file in dnsmasq format at PATH, for tools that parse it' },
  resolved: { type: 'boolean', describe: 'register the bridge with systemd-resolved for *.DOMAIN [default: when resolved runs]' },
  'cluster-etcd': {
    type: 'string',
    describe: 'join the cluster kept in etcd at URL[,URL...] (v3 endpoints): names and routes across hosts (docs/cluster.md) [default: no cluster]',
  },
  'etcd-cacert': { type: 'string', describe: "CA certificate (PEM) that signed the etcd servers' certificates: https endpoints" },
  'etcd-cert': { type: 'string', describe: 'client certificate (PEM) for etcd, with --etcd-key' },
  'etcd-key': { type: 'string', describe: 'client key (PEM) for etcd, with --etcd-cert' },
  'cluster-host': { type: 'string', describe: "this host's name in the cluster, a DNS label [default: the host name's first label]" },
  'cluster-address': { type: 'string', describe: "the IPv4 address other hosts route this bridge's subnet to [default: the address etcd is reached from]" },
  'cluster-ttl': { type: 'number', default: 5, describe: "seconds this host's records outlive it in etcd (its etcd lease, kept alive every third of it)" },
  'cluster-routes': {
    type: 'boolean',
    default: true,
    describe: "route to the other hosts' subnets, no NAT between them (--no-cluster-routes: the network routes)",
  },
} satisfies Record<string, Options>;
/** The serve command's parsed flags, as the table above makes yargs parse them. */
export type ServeArgs = InferredOptionTypes<typeof SERVE_FLAGS>;
const SERVE_OPTIONS: ReadonlySet<string> = new Set(Object.keys(SERVE_FLAGS));
const REPEATABLE_OPTIONS: ReadonlySet<string> = new Set(
  Object.entries(SERVE_FLAGS)
    .filter(([, o]) => 'array' in o && o.array)
    .map(([k]) => k),
);
const NUMBER_OPTIONS: ReadonlySet<string> = new Set(
  Object.entries(SERVE_FLAGS)
    .filter(([, o]) => 'type' in o && o.type === 'number')
    .map(([k]) => k),
);

/** --config FILE as flag values (yargs config hook and the parser below): a parse error becomes the one-line error of the whole command. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read --config ${path}: ${(e as Error).message}`);
  }
  const parsed = parseConfigFile(text, path, REPEATABLE_OPTIONS, SERVE_OPTIONS);
  if (!parsed.ok) throw new Error(parsed.error);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed.value)) {
    out[key] = typeof value === 'string' && NUMBER_OPTIONS.has(key) ? Number(value) : value;
  }
  return out;
}
type ParseArgsOptions = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** util.parseArgs's view of the table: numbers arrive as text; each boolean also has its `no-` form, as in yargs. */
function parseArgsOptions(): ParseArgsOptions {
  const options: ParseArgsOptions = { config: { type: 'string' } };
  for (const [key, spec] of Object.entries(SERVE_FLAGS) as [string, Options][]) {
    const boolean = spec.type === 'boolean';
    options[key] = { type: boolean ? 'boolean' : 'string', multiple: spec.array === true };
    if (boolean) options[`no-${key}`] = { type: 'boolean' };
  }
  return options;
}

/** yargs reads a string flag with no value (`--lxc-net --bridge br0`) as ''; util.parseArgs would refuse it. */
function withEmptyValues(args: readonly string[]): string[] {
  return args.map((arg, i) => {
    const next = args[i + 1];
    const spec = (SERVE_FLAGS as Record<string, Options>)[arg.slice(2)];
    const takesText = arg.startsWith('--') && spec !== undefined && spec.type !== 'boolean';
    return takesText && (next === undefined || next.startsWith('-')) ? `${arg}=` : arg;
  });
}

/** The command line's flags, each named once (a repeat of a single-valued flag is yargs's to judge); null if not plain. */
function commandLineValues(args: readonly string[]): Map<string, unknown> | null {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: withEmptyValues(args), options: parseArgsOptions(), strict: true, allowPositionals: false, tokens: true });
  } catch {
    return null;
  }
  const seen = new Set<string>();
  const values = new Map<string, unknown>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') return null; // `--`
    const negated = token.name.startsWith('no-') && !(token.name in SERVE_FLAGS);
    const key = negated ? token.name.slice(3) : token.name;
    const spec = (SERVE_FLAGS as Record<string, Options>)[key];
    if (spec?.array !== true && seen.has(key)) return null;
    seen.add(key);
    values.set(key, negated ? false : parsed.values[token.name]);
  }
  return values;
}

/** A value as yargs would hold it for this flag, or undefined when only yargs can judge it (it then words the error). */
function typedValue(spec: Options | undefined, value: unknown): unknown {
  if (spec === undefined) return undefined;
  if (spec.type === 'boolean') return typeof value === 'boolean' ? value : undefined;
  if (spec.array === true) return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
  if (spec.type === 'number') {
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    return typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : undefined;
  }
  if (typeof value !== 'string') return undefined;
  return spec.choices === undefined || (spec.choices as readonly unknown[]).includes(value) ? value : undefined;
}

/**
 * The serve command's flags as yargs gives them (command line over --config FILE over `below`, the --lxc-net
 * settings, over the table's defaults), or null when the command line is not plainly "serve" and yargs must decide.
 */
export function parseServeArgs(args: readonly string[], below: Readonly<Record<string, unknown>>): ServeArgs | null {
  const given = commandLineValues(args);
  if (given === null) return null;
  let file: Record<string, unknown> = {};
  const configPath = given.get('config');
  given.delete('config');
  if (typeof configPath === 'string') {
    try {
      file = readConfigFile(configPath);
    } catch {
      return null;
    }
  }
  const flags: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SERVE_FLAGS) as [string, Options][]) {
    const raw = given.has(key) ? given.get(key) : key in file ? file[key] : key in below ? below[key] : spec.default;
    if (raw === undefined) {
      if (spec.demandOption === true) return null;
      continue;
    }
    const value = typedValue(spec, raw);
    if (value === undefined) return null;
    flags[key] = value;
  }
  return flags as ServeArgs; // every key checked against its table entry above
}
