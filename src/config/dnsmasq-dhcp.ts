/**
 * The DHCP options of a dnsmasq conf file that map onto lxc-dhcpd: `dhcp-host` (by MAC, by name; several MACs,
 * client ids, `ignore` and per-host lease times are recognised and reported) and `dhcp-option` for the options we
 * serve (3, 6, 15, 26, 42, 119, 121, by number or `option:NAME`). Each parser returns what it took plus the parts it
 * could not take (one reason each, for the caller's unsupported list), or one error for a value that is wrong.
 * Syntax from dnsmasq(8) 2.90, --dhcp-host and --dhcp-option.
 */

import { MAX_STATIC_ROUTES, parseRoute, type StaticRoute } from '../dhcp/routes.ts';
import { formatIPv4, type IPv4, parseIPv4, parseMac } from '../net/address.ts';
import { isDnsLabel } from '../net/dns-name.ts';
import { type Checked, fail, ok } from '../result.ts';
import { isLeaseTime, parseLeaseTime } from './dnsmasq-values.ts';
import { type NameReservation, parseReservation, type Reservation } from './reservations.ts';

/** A reservation by host name (`dhcp-host=NAME,IP`): the first client sending NAME gets IP (issue 14 item 3). */

/** What one line gave: at most one reservation of either kind, and the reasons for what it left out. */
interface HostLine {
  reservation: Reservation | null;
  nameReservation: NameReservation | null;
  unsupported: string[];
}

interface HostFields {
  macs: string[];
  ip: IPv4 | null;
  ip6: string | null;
  name: string | null;
  lease: boolean;
  ignore: boolean;
  /** A reason the whole line cannot be served (a client id, a tag, a wildcard MAC, a dotted name). */
  whole: string | null;
}

/** Sorts one field of a dhcp-host line into `f`; returns an error for a field that is wrong. */
function hostField(field: string, f: HostFields): string | null {
  const lower = field.toLowerCase();
  if (field === '') return null;
  const mac = parseMac(field);
  if (mac !== null) f.macs.push(mac);
  else if (lower === 'id:*')
    return null; // "use MACs only": what lxc-dhcpd always does
  else if (lower.startsWith('id:')) f.whole ??= 'a reservation by client id: lxc-dhcpd reserves by MAC (the frame source) or name';
  else if (/^(set|tag):/.test(lower)) f.whole ??= 'tags (set:, tag:) are not supported';
  else if (/^([0-9a-f]{2}-)?([0-9a-f*]{1,2}[:-]){5}[0-9a-f*]{1,2}$/i.test(field)) f.whole ??= 'wildcard or ARP-typed MACs are not supported';
  else if (parseIPv4(field) !== null) {
    if (f.ip !== null) return `two IPv4 addresses (${field})`;
    f.ip = parseIPv4(field);
  } else if (field.startsWith('[')) f.ip6 = field;
  else if (lower === 'ignore') f.ignore = true;
  else if (isLeaseTime(field)) {
    const lease = parseLeaseTime(field);
    if (!lease.ok && lower !== 'infinite') return lease.error;
    f.lease = true;
  } else if (isDnsLabel(field)) {
    if (f.name !== null) return `two host names (${f.name}, ${field})`;
    f.name = lower;
  } else if (/^[\d.]+$/.test(field)) return `${field} is not an IPv4 address`;
  else if (/^[a-z0-9.-]+$/i.test(field) && field.includes('.')) f.whole ??= `the dotted name ${field}: reservations name a single label`;
  else return `${JSON.stringify(field)} is not a MAC, address, host name, lease time or keyword`;
  return null;
}

/** One `dhcp-host=` value. */
export function parseDhcpHost(value: string): Checked<HostLine> {
  const f: HostFields = { macs: [], ip: null, ip6: null, name: null, lease: false, ignore: false, whole: null };
  for (const field of value.split(',').map((s) => s.trim())) {
    const error = hostField(field, f);
    if (error !== null) return fail(error);
  }
  const none: HostLine = { reservation: null, nameReservation: null, unsupported: [] };
  if (f.whole !== null) return ok({ ...none, unsupported: [f.whole] });
  if (f.ignore) return ok({ ...none, unsupported: ['ignore: lxc-dhcpd has no per-host ignore, the container gets an address'] });
  if (f.ip === null) {
    return ok({ ...none, unsupported: ['no IPv4 address: lxc-dhcpd reserves a MAC or name with an address (the name alone comes from the client)'] });
  }
  const unsupported = f.lease ? ['a per-host lease time: the reservation is kept, its lease is --lease-time long'] : [];
  const [mac, ...others] = f.macs;
  if (mac === undefined) {
    if (f.name === null) return fail('names neither a MAC nor a host name');
    if (f.ip6 !== null) unsupported.push(`the IPv6 address ${f.ip6} of a name reservation: reserve it by MAC`);
    return ok({ reservation: null, nameReservation: { name: f.name, ip: f.ip }, unsupported });
  }
  if (others.length > 0) unsupported.push(`more MACs than one (${others.join(', ')}): the address is reserved for ${mac} only`);
  const fields = [mac, formatIPv4(f.ip), f.ip6, f.name].filter((x) => x !== null);
  const reservation = parseReservation(fields.join(','));
  return reservation.ok ? ok({ reservation: reservation.value, nameReservation: null, unsupported }) : fail(reservation.error);
}

/** dnsmasq's names for the options we read (`dnsmasq --help dhcp`). */
const OPTION_NAMES: Readonly<Record<string, number>> = {
  router: 3,
  'dns-server': 6,
  'domain-name': 15,
  mtu: 26,
  'ntp-server': 42,
  'domain-search': 119,
  'classless-static-route': 121,
};

/** What a dhcp-option line gave: routes (121), a domain (15), a search list (119), or only a reason it is not served. */
type OptionLine =
  | { kind: 'routes'; routes: StaticRoute[] }
  | { kind: 'domain'; domain: string }
  | { kind: 'search'; domains: string[] }
  | { kind: 'same' }
  | { kind: 'unsupported'; reason: string };

/** Reasons for options whose value lxc-dhcpd fixes; `0.0.0.0` is dnsmasq's "this server", which is what we send. */
const FIXED: Readonly<Record<number, string>> = {
  3: 'lxc-dhcpd sends the bridge address as router (option 3): drop the line if that is the address',
  6: 'lxc-dhcpd sends the bridge address as DNS server (option 6): drop the line if that is the address; upstreams are server= lines',
  26: "lxc-dhcpd sends the bridge's MTU (option 26)",
  42: 'lxc-dhcpd sends no NTP servers (option 42)',
};

function optionCode(text: string): number | null {
  const lower = text.toLowerCase();
  if (lower.startsWith('option:')) return OPTION_NAMES[lower.slice(7)] ?? null;
  return /^\d{1,3}$/.test(text) ? Number(text) : null;
}

function classlessRoutes(values: string[]): Checked<OptionLine> {
  if (values.length % 2 !== 0) return fail('option 121 takes pairs DESTINATION/LENGTH,GATEWAY');
  const routes: StaticRoute[] = [];
  for (let i = 0; i < values.length; i += 2) {
    const route = parseRoute(`${values[i]},${values[i + 1]}`);
    if (!route.ok) return fail(`option 121: ${route.error}`);
    if (route.value.prefixLength !== 0) routes.push(route.value);
  }
  if (routes.length > MAX_STATIC_ROUTES) return fail(`option 121 has ${routes.length} routes: at most ${MAX_STATIC_ROUTES} fit in one DHCP option`);
  return ok({ kind: 'routes', routes });
}

/** One `dhcp-option=` value. Tags, vendor and encapsulated options and option6 are unsupported, as are codes we do not serve. */
export function parseDhcpOption(value: string): Checked<OptionLine> {
  const fields = value.split(',').map((s) => s.trim());
  const first = (fields[0] as string).toLowerCase();
  if (/^(tag|set|encap|vi-encap|vendor|option6):/.test(first)) return ok({ kind: 'unsupported', reason: `${first.split(':')[0]}: options are not supported` });
  const code = optionCode(fields[0] as string);
  if (code === null || ![3, 6, 15, 26, 42, 119, 121].includes(code))
    return ok({ kind: 'unsupported', reason: `option ${fields[0]} is not served by lxc-dhcpd` });
  const values = fields.slice(1).filter((v) => v !== '');
  if (code === 121) return classlessRoutes(values);
  if (code === 15 || code === 119) {
    if (values.length === 0 || (code === 15 && values.length > 1)) return fail(`option ${code} needs ${code === 15 ? 'one domain' : 'domains'}`);
    return ok(code === 15 ? { kind: 'domain', domain: values[0] as string } : { kind: 'search', domains: values });
  }
  if (code === 26)
    return /^\d{2,5}$/.test(values[0] ?? '') && values.length === 1
      ? ok({ kind: 'unsupported', reason: FIXED[26] as string })
      : fail('option 26 takes one MTU');
  if (values.some((v) => parseIPv4(v) === null)) return fail(`option ${code} takes IPv4 addresses`);
  const self = values.length === 1 && values[0] === '0.0.0.0';
  return ok(self && code !== 42 ? { kind: 'same' } : { kind: 'unsupported', reason: FIXED[code] as string });
}
