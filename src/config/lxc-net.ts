/**
 * lxc-net's configuration as lxc 5.0's `/usr/libexec/lxc/lxc-net` reads it: its own defaults, then
 * `/etc/default/lxc`, which sources `/etc/default/lxc-net` (Debian's `[ ! -f … ] || . …` line; read at that line, or
 * after the lxc file when it has none). Assignments are parsed, never executed (shell-assignments.ts). Each value is
 * checked where it was set, so an error names the file and line of the assignment; lxcNetFlags() then maps the
 * settings onto the serve flags (the table is in docs/migrating.md).
 */

import { isIPv6 } from 'node:net';
import { formatIPv4, type IPv4, networkOf, parseIPv4, parseMac } from '../net/address.ts';
import { formatIPv6, parseIPv6, prefixOf } from '../net/address6.ts';
import { isDomainName } from '../net/dns-name.ts';
import { type Checked, fail, ok } from '../result.ts';
import { netmaskPrefixLength, parseDhcpRange } from './dnsmasq-values.ts';
import { IPV6_PREFIX_LENGTH, parseIpv6Mode } from './ipv6.ts';
import { type AddressRange, checkRangeInSubnet } from './range.ts';
import { parseShellLine, shellFileProblem } from './shell-assignments.ts';

/** A file's path and text, as read by the caller (the parser never touches the file system). */
export interface ShellFile {
  path: string;
  text: string;
}

export interface LxcNetSettings {
  bridge: string;
  bridgeMac: string;
  address: IPv4;
  prefixLength: number;
  range: AddressRange;
  /** A lease time written in LXC_DHCP_RANGE; null: dnsmasq's default of one hour. */
  leaseSeconds: number | null;
  leaseMax: number;
  /** LXC_DHCP_CONFILE; null when empty (lxc-net then gives dnsmasq /dev/null). */
  confFile: string | null;
  ping: boolean;
  /** LXC_DOMAIN; null when empty (lxc-net's dnsmasq then has no domain). */
  domain: string | null;
  /** Set when LXC_IPV6_ADDR, _MASK and _NETWORK are all non-empty, as lxc-net's start_ipv6 requires. */
  ipv6: { address: string; prefixLength: typeof IPV6_PREFIX_LENGTH; nat: boolean } | null;
  useBridge: boolean;
  /** LXC_* variables set in the files that lxc 5.0's lxc-net does not read (a typo, or a newer lxc's), as FILE:LINE NAME. */
  unread: string[];
}

/** lxc 5.0's defaults (config/init/common/lxc-net.in on stable-5.0, Debian's 1:5.0.2-1+deb12u4 unchanged). */
export const LXC_NET_DEFAULTS: Readonly<Record<string, string>> = {
  USE_LXC_BRIDGE: 'true',
  LXC_BRIDGE: 'lxcbr0',
  LXC_BRIDGE_MAC: '00:16:3e:00:00:00',
  LXC_ADDR: '10.0.3.1',
  LXC_NETMASK: '255.255.255.0',
  LXC_NETWORK: '10.0.3.0/24',
  LXC_DHCP_RANGE: '10.0.3.2,10.0.3.254',
  LXC_DHCP_MAX: '253',
  LXC_DHCP_CONFILE: '',
  LXC_DHCP_PING: 'true',
  LXC_DOMAIN: '',
  LXC_USE_NFT: 'true',
  LXC_IPV6_ADDR: '',
  LXC_IPV6_MASK: '',
  LXC_IPV6_NETWORK: '',
  LXC_IPV6_NAT: 'false',
};

/** Variables of /etc/default/lxc that lxc-containers reads; set there, they are no typo. */
const LXC_CONTAINERS_VARIABLES = new Set(['LXC_AUTO', 'BOOTGROUPS', 'SHUTDOWNDELAY', 'OPTIONS', 'STOPOPTS']);
/** Linux IFNAMSIZ is 16 with the NUL: 15 characters, no '/' or whitespace. */
const INTERFACE_NAME = /^(?!\.{1,2}$)[A-Za-z0-9_.:-]{1,15}$/;

interface Assigned {
  value: string;
  /** FILE:LINE of the assignment, or "lxc-net's default". */
  where: string;
}

type Variables = Map<string, Assigned>;

/** Reads one file's assignments into `vars`; a source line of the lxc-net file calls `onSource` there. */
function readFile(file: ShellFile, vars: Variables, onSource: ((path: string, where: string) => string | null) | null): string | null {
  const problem = shellFileProblem(file.text, file.path);
  if (problem !== null) return problem;
  const lookup = (name: string): string | undefined => vars.get(name)?.value;
  for (const [i, text] of file.text.split('\n').entries()) {
    const where = `${file.path}:${i + 1}`;
    const parsed = parseShellLine(text, i + 1, lookup);
    if (!parsed.ok) return `${where}: ${parsed.error}`;
    const line = parsed.value;
    if (line.kind === 'assign') vars.set(line.name, { value: line.value, where });
    if (line.kind === 'source') {
      const error = onSource === null ? `${where}: sourcing ${line.path} is not read: put the assignments here` : onSource(line.path, where);
      if (error !== null) return error;
    }
  }
  return null;
}

/** All assignments in lxc-net's order: defaults, /etc/default/lxc, and /etc/default/lxc-net where lxc sources it. */
function readVariables(lxcNet: ShellFile, lxc: ShellFile | null): Checked<Variables> {
  const vars: Variables = new Map(Object.entries(LXC_NET_DEFAULTS).map(([k, v]) => [k, { value: v, where: "lxc-net's default" }]));
  let sourced = false;
  const onSource = (path: string, where: string): string | null => {
    if (sourced || !/(^|\/)lxc-net$/.test(path)) return `${where}: sourcing ${path} is not read: only the lxc-net file is`;
    sourced = true;
    return readFile(lxcNet, vars, null);
  };
  const error = (lxc === null ? null : readFile(lxc, vars, onSource)) ?? (sourced ? null : readFile(lxcNet, vars, null));
  return error === null ? ok(vars) : fail(error);
}

/** Reads a variable and checks it with `check`; the error names where the value was set. */
function checked<T>(vars: Variables, name: string, check: (value: string) => Checked<T>): Checked<T> {
  const v = vars.get(name) as Assigned;
  const result = check(v.value);
  return result.ok ? result : fail(`${v.where}: ${name}=${JSON.stringify(v.value)}: ${result.error}`);
}

const test =
  <T>(parse: (v: string) => T | null, what: string) =>
  (v: string): Checked<T> => {
    const parsed = parse(v);
    return parsed === null ? fail(`is not ${what}`) : ok(parsed);
  };

function parseNetmask(value: string): number | null {
  const mask = parseIPv4(value);
  const length = mask === null ? null : netmaskPrefixLength(mask);
  return length !== null && length >= 1 && length <= 30 ? length : null;
}

/** LXC_NETWORK is only lxc-net's NAT source; we masquerade the bridge subnet, so it must be that subnet. */
function checkNetwork(vars: Variables, address: IPv4, prefixLength: number): Checked<null> {
  const subnet = `${formatIPv4(networkOf(address, prefixLength))}/${prefixLength}`;
  return checked(vars, 'LXC_NETWORK', (v) => {
    const m = /^([\d.]+)\/(\d{1,2})$/.exec(v);
    const ip = m ? parseIPv4(m[1] as string) : null;
    if (ip === null || Number(m?.[2]) !== prefixLength || networkOf(ip, prefixLength) !== networkOf(address, prefixLength)) {
      return fail(`is not LXC_ADDR/LXC_NETMASK's subnet ${subnet}: lxc-dhcpd masquerades the bridge subnet, make them agree`);
    }
    return ok(null);
  });
}

function ipv6Settings(vars: Variables): Checked<LxcNetSettings['ipv6']> {
  const set = ['LXC_IPV6_ADDR', 'LXC_IPV6_MASK', 'LXC_IPV6_NETWORK'].every((n) => vars.get(n)?.value !== '');
  if (!set) return ok(null);
  const address = checked(vars, 'LXC_IPV6_ADDR', (v) => {
    const mode = parseIpv6Mode(`${v}/${IPV6_PREFIX_LENGTH}`);
    if (parseIPv6(v) === null) return fail('is not an IPv6 address');
    if (!mode.ok) return fail(mode.error.replace(/^--ipv6 \S+: /, ''));
    return mode.value.kind === 'static' ? ok(mode.value.address.address) : fail('is not an IPv6 address');
  });
  if (!address.ok) return address;
  const mask = checked(vars, 'LXC_IPV6_MASK', (v) =>
    v === String(IPV6_PREFIX_LENGTH) ? ok(IPV6_PREFIX_LENGTH) : fail('only 64 is supported: SLAAC needs a /64 (RFC 4862 §5.5.3)'),
  );
  if (!mask.ok) return mask;
  const prefix = `${formatIPv6(prefixOf(address.value, IPV6_PREFIX_LENGTH))}/${IPV6_PREFIX_LENGTH}`;
  const network = checked(vars, 'LXC_IPV6_NETWORK', (v) => {
    const [net, length] = v.split('/');
    const parsed = net !== undefined && isIPv6(net) ? parseIPv6(net) : null;
    const same =
      parsed !== null && length === String(IPV6_PREFIX_LENGTH) && prefixOf(parsed, IPV6_PREFIX_LENGTH).equals(prefixOf(address.value, IPV6_PREFIX_LENGTH));
    return same ? ok(null) : fail(`is not LXC_IPV6_ADDR's prefix ${prefix}: make them agree`);
  });
  if (!network.ok) return network;
  return ok({ address: formatIPv6(address.value), prefixLength: IPV6_PREFIX_LENGTH, nat: vars.get('LXC_IPV6_NAT')?.value === 'true' });
}

/** The IPv4 side: bridge, address, netmask, network, range (in the subnet, as dnsmasq needs), lease cap. */
function ipv4Settings(vars: Variables): Checked<Pick<LxcNetSettings, 'address' | 'prefixLength' | 'range' | 'leaseSeconds' | 'leaseMax'>> {
  const address = checked(vars, 'LXC_ADDR', test(parseIPv4, 'an IPv4 address'));
  if (!address.ok) return address;
  const prefixLength = checked(vars, 'LXC_NETMASK', test(parseNetmask, 'a netmask like 255.255.255.0 (prefix length 1-30)'));
  if (!prefixLength.ok) return prefixLength;
  const network = checkNetwork(vars, address.value, prefixLength.value);
  if (!network.ok) return network;
  const range = checked(vars, 'LXC_DHCP_RANGE', (v) => {
    const r = parseDhcpRange(v);
    if (!r.ok) return r;
    const problem = checkRangeInSubnet(r.value, address.value, prefixLength.value);
    if (problem !== null) return fail(problem.replace(/^--range \S+ /, ''));
    if (r.value.netmask !== null && netmaskPrefixLength(r.value.netmask) !== prefixLength.value) return fail('its netmask is not LXC_NETMASK');
    return r;
  });
  if (!range.ok) return range;
  const leaseMax = checked(
    vars,
    'LXC_DHCP_MAX',
    test((v) => (/^\d{1,7}$/.test(v) && Number(v) > 0 ? Number(v) : null), 'a number of leases'),
  );
  if (!leaseMax.ok) return leaseMax;
  const { first, last, leaseSeconds } = range.value;
  return ok({ address: address.value, prefixLength: prefixLength.value, range: { first, last }, leaseSeconds, leaseMax: leaseMax.value });
}

/** The LXC_* variables set in a file that lxc-net does not read. */
function unreadVariables(vars: Variables): string[] {
  return [...vars.entries()]
    .filter(([name, v]) => name.startsWith('LXC_') && v.where !== "lxc-net's default" && !(name in LXC_NET_DEFAULTS) && !LXC_CONTAINERS_VARIABLES.has(name))
    .map(([name, v]) => `${v.where} ${name}`);
}

/**
 * lxc-net's settings from the lxc-net file and, when it exists, /etc/default/lxc (null: absent). Errors name the
 * file and line of the assignment at fault (or of the line that cannot be read).
 */
export function parseLxcNet(lxcNet: ShellFile, lxc: ShellFile | null): Checked<LxcNetSettings> {
  const read = readVariables(lxcNet, lxc);
  if (!read.ok) return read;
  const vars = read.value;
  const bridge = checked(
    vars,
    'LXC_BRIDGE',
    test((v) => (INTERFACE_NAME.test(v) ? v : null), 'an interface name (1-15 letters, digits, . _ - :)'),
  );
  if (!bridge.ok) return bridge;
  const bridgeMac = checked(vars, 'LXC_BRIDGE_MAC', test(parseMac, 'a MAC address like 00:16:3e:00:00:00'));
  if (!bridgeMac.ok) return bridgeMac;
  const v4 = ipv4Settings(vars);
  if (!v4.ok) return v4;
  const domain = checked(
    vars,
    'LXC_DOMAIN',
    test((v) => (v === '' || isDomainName(v) ? v.toLowerCase() : null), 'a domain name like lxc'),
  );
  if (!domain.ok) return domain;
  const ipv6 = ipv6Settings(vars);
  if (!ipv6.ok) return ipv6;
  const value = (name: string): string => (vars.get(name) as Assigned).value;
  return ok({
    bridge: bridge.value,
    bridgeMac: bridgeMac.value,
    ...v4.value,
    confFile: value('LXC_DHCP_CONFILE') === '' ? null : value('LXC_DHCP_CONFILE'),
    // lxc-net tests `"x$LXC_DHCP_PING" = "xfalse"` and `"x$USE_LXC_BRIDGE" = "xtrue"`: anything else is the other way.
    ping: value('LXC_DHCP_PING') !== 'false',
    domain: domain.value === '' ? null : domain.value,
    ipv6: ipv6.value,
    useBridge: value('USE_LXC_BRIDGE') === 'true',
    unread: unreadVariables(vars),
  });
}

/** The domain used when LXC_DOMAIN is empty: names still answer bare (as dnsmasq's did) and as NAME.lxc. */
const LXC_NET_EMPTY_DOMAIN = 'lxc';

/** The serve flags (SERVE_FLAGS names, flag syntax) that serve what lxc-net served; the table is docs/migrating.md. */
export interface LxcNetFlags {
  bridge: string;
  /** LXC_BRIDGE_MAC, set on the bridge when lxc-dhcpd creates it, as lxc-net does. */
  'bridge-mac': string;
  address: string;
  range: string;
  /** Only when LXC_DHCP_RANGE names a lease time (--lease-time's default is dnsmasq's one hour). */
  'lease-time'?: number;
  domain: string;
  /** Always on: dnsmasq answers a lease's bare name whatever the domain (dnsmasq(8), --domain). */
  'bare-names': boolean;
  probe: boolean;
  /** ADDR/64 from LXC_IPV6_*, or none: lxc 5.0's lxc-net serves no IPv6 unless they are set. */
  ipv6: string;
  nat6?: boolean;
  /** LXC_DHCP_CONFILE, to read as --dnsmasq-conf; null: none. */
  'dnsmasq-conf': string | null;
  /** What lxc-dhcpd serves differently, one sentence each, for check-config and the start-up log. */
  notes: string[];
}

export function lxcNetFlags(s: LxcNetSettings): LxcNetFlags {
  const rangeSize = s.range.last - s.range.first + 1;
  const notes = [
    ...(s.useBridge ? [] : ['USE_LXC_BRIDGE is not "true": lxc-net would not run, lxc-dhcpd serves the bridge anyway']),
    ...(s.leaseMax < rangeSize
      ? [`LXC_DHCP_MAX=${s.leaseMax} is below the range's ${rangeSize} addresses: lxc-dhcpd has no lease cap, the range bounds the leases`]
      : []),
    ...(s.domain === null
      ? [`LXC_DOMAIN is empty: containers get domain ${LXC_NET_EMPTY_DOMAIN} (option 15) and answer as NAME and NAME.${LXC_NET_EMPTY_DOMAIN}`]
      : []),
    ...s.unread.map((u) => `${u} is not read by lxc 5.0's lxc-net, nor by lxc-dhcpd`),
  ];
  return {
    bridge: s.bridge,
    'bridge-mac': s.bridgeMac,
    address: `${formatIPv4(s.address)}/${s.prefixLength}`,
    range: `${formatIPv4(s.range.first)}-${formatIPv4(s.range.last)}`,
    ...(s.leaseSeconds === null ? {} : { 'lease-time': s.leaseSeconds }),
    domain: s.domain ?? LXC_NET_EMPTY_DOMAIN,
    'bare-names': true,
    probe: s.ping,
    ipv6: s.ipv6 === null ? 'none' : `${s.ipv6.address}/${s.ipv6.prefixLength}`,
    ...(s.ipv6 === null ? {} : { nat6: s.ipv6.nat }),
    'dnsmasq-conf': s.confFile,
    notes,
  };
}
